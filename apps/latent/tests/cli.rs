//! The `latent` binary end to end: real MNIST, synthetic data round trips, and clear failures.

use std::path::PathBuf;
use std::process::{Command, Output};

fn latent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_latent"))
        .args(args)
        .env_remove("LATENT_MNIST_DIR")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the latent binary runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs `latent`, expects failure, and expects `needle` in what it printed on stderr.
fn fails_with(args: &[&str], needle: &str) {
    let out = latent(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(err.contains(needle), "{args:?}: no {needle:?} in {err}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latent-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn mnist_summary_of_the_bundled_test_split() {
    let out = stdout(&latent(&[
        "data", "mnist", "--split", "test", "--verify", "--json",
    ]));
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["images"], 10_000);
    assert_eq!(summary["class_counts"][1], 1135);
    let grey = summary["mean_pixel"].as_f64().unwrap();
    let binary = summary["mean_binarised"].as_f64().unwrap();
    // E[Bernoulli(v/255)] = v/255: over 7.84 million pixels the two means agree closely.
    assert!((grey - binary).abs() < 1e-3, "{grey} vs {binary}");
}

#[test]
fn info_checks_every_compiled_backend() {
    let out = stdout(&latent(&["info"]));
    assert!(out.contains("ndarray  compiled in"), "{out}");
    assert!(!out.contains("WRONG"), "{out}");
    assert_eq!(
        out.matches(" ok").count(),
        out.matches("compiled in:").count(),
        "{out}"
    );
}

#[test]
fn synth_then_points_round_trip_through_csv_and_npy() {
    let dir = scratch("synth");
    for ext in ["csv", "npy"] {
        let file = dir.join(format!("blobs.{ext}"));
        let file = file.to_str().unwrap();
        stdout(&latent(&[
            "data", "synth", "--blobs", "3", "--dim", "2", "-n", "600", "--seed", "4", "--out",
            file,
        ]));
        let summary: serde_json::Value =
            serde_json::from_str(&stdout(&latent(&["data", "points", file, "--json"]))).unwrap();
        assert_eq!(
            (summary["n"].as_u64(), summary["d"].as_u64()),
            (Some(600), Some(2))
        );
    }
    let csv = std::fs::read_to_string(dir.join("blobs.csv")).unwrap();
    let npy = dir.join("blobs.npy");
    let from_npy = latent_data_rows(&npy);
    let from_csv: Vec<f64> = csv
        .lines()
        .flat_map(|l| l.split(',').map(|c| c.parse::<f64>().unwrap()))
        .collect();
    assert_eq!(from_csv, from_npy, "same seed, same points in both formats");
}

fn latent_data_rows(path: &std::path::Path) -> Vec<f64> {
    latent_data::read_points(path).unwrap().values().to_vec()
}

#[test]
fn bad_inputs_fail_with_a_message_and_nonzero_exit() {
    let dir = scratch("bad");
    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "1,2\n3\n").unwrap();
    fails_with(
        &["data", "points", ragged.to_str().unwrap()],
        "ragged.csv:2:",
    );
    fails_with(
        &["data", "mnist", "--dir", dir.to_str().unwrap()],
        "train-images-idx3-ubyte.gz",
    );

    fails_with(
        &["data", "mnist", "--split", "test", "--limit", "20000"],
        "only 10000",
    );

    fails_with(
        &[
            "data",
            "synth",
            "-n",
            "5",
            "--out",
            dir.join("x.csv").to_str().unwrap(),
        ],
        "--blobs",
    );
}

/// A small command that needs a device: the first ten test digits.
const TEN_TEST_DIGITS: &[&str] = &["data", "mnist", "--split", "test", "--limit", "10"];

/// A GPU index with a CPU backend is refused, not ignored; `--device` is the same option.
#[test]
fn a_gpu_index_with_a_cpu_backend_is_refused() {
    for (option, backend) in [("--gpu", "flex"), ("--device", "ndarray")] {
        fails_with(
            &[&["--backend", backend, option, "1"], TEN_TEST_DIGITS].concat(),
            &format!("--gpu 1 picks a GPU of the wgpu or cuda backend, but the {backend} backend"),
        );
    }
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn asking_for_a_backend_not_compiled_in_names_the_feature() {
    fails_with(
        &[&["--backend", "wgpu"], TEN_TEST_DIGITS].concat(),
        "--features wgpu",
    );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn asking_for_cuda_without_its_feature_names_the_feature() {
    fails_with(
        &[&["--backend", "cuda"], TEN_TEST_DIGITS].concat(),
        "--features cuda",
    );
    fails_with(
        &[
            "train",
            "vae",
            "--devices",
            "flex,cuda:1",
            "--out",
            "unused",
        ],
        "--features cuda",
    );
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(out)).expect("one JSON object on stdout")
}

#[test]
fn gmm_fit_score_predict_sample_and_select_end_to_end() {
    let dir = scratch("gmm");
    let data = dir.join("blobs.npy");
    let data = data.to_str().unwrap();
    let model = dir.join("model.json");
    let model = model.to_str().unwrap();
    stdout(&latent(&[
        "data", "synth", "--blobs", "3", "--dim", "2", "-n", "900", "--seed", "2", "--out", data,
    ]));
    let fit = json_of(&latent(&[
        "gmm",
        "fit",
        "--data",
        data,
        "--components",
        "3",
        "--covariance",
        "diag",
        "--restarts",
        "2",
        "--seed",
        "1",
        "--out",
        model,
        "--json",
    ]));
    for key in [
        "avg_log_likelihood",
        "bic",
        "aic",
        "converged",
        "n_iter",
        "n_components",
        "covariance",
    ] {
        assert!(fit.get(key).is_some(), "missing {key}: {fit}");
    }
    assert_eq!(fit["covariance"], "diag");
    let score = json_of(&latent(&[
        "gmm", "score", "--model", model, "--data", data, "--json",
    ]));
    assert!(
        (score["avg_log_likelihood"].as_f64().unwrap()
            - fit["avg_log_likelihood"].as_f64().unwrap())
        .abs()
            < 1e-6
    );

    let labels = stdout(&latent(&[
        "gmm", "predict", "--model", model, "--data", data,
    ]));
    assert_eq!(labels.lines().count(), 900);
    assert!(labels.lines().all(|l| matches!(l, "0" | "1" | "2")));
    let proba = stdout(&latent(&[
        "gmm", "predict", "--model", model, "--data", data, "--limit", "4", "--proba",
    ]));
    for line in proba.lines() {
        let total: f64 = line.split(',').map(|v| v.parse::<f64>().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{line}");
    }

    let samples = dir.join("samples.csv");
    stdout(&latent(&[
        "gmm",
        "sample",
        "--model",
        model,
        "-n",
        "50",
        "--out",
        samples.to_str().unwrap(),
    ]));
    assert_eq!(latent_data::read_points(&samples).unwrap().len(), 50);

    let select = json_of(&latent(&[
        "gmm",
        "select",
        "--data",
        data,
        "--components",
        "1..5",
        "--covariance",
        "full",
        "--json",
    ]));
    assert_eq!(select["best"]["n_components"], 3, "{select}");
    assert_eq!(select["fits"].as_array().unwrap().len(), 5);
}

#[test]
fn bmm_on_mnist_writes_the_model_and_pictures() {
    let dir = scratch("bmm");
    let model = dir.join("bmm.json");
    let model = model.to_str().unwrap();
    let fit = json_of(&latent(&[
        "bmm",
        "fit",
        "--data",
        "mnist",
        "--limit",
        "1000",
        "--components",
        "5",
        "--max-iter",
        "10",
        "--out",
        model,
        "--json",
    ]));
    for key in ["means_png", "samples_png"] {
        let png = std::fs::read(fit[key].as_str().unwrap()).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{key}");
    }
    let test = json_of(&latent(&[
        "bmm",
        "score",
        "--model",
        model,
        "--data",
        "mnist:test",
        "--limit",
        "500",
        "--json",
    ]));
    let nats = test["avg_log_likelihood"].as_f64().unwrap();
    assert!(nats < -100.0 && nats > -250.0, "{nats}");
    let samples = dir.join("s.npy");
    stdout(&latent(&[
        "bmm",
        "sample",
        "--model",
        model,
        "-n",
        "7",
        "--out",
        samples.to_str().unwrap(),
    ]));
    let points = latent_data::read_points(&samples).unwrap();
    assert_eq!((points.len(), points.dim()), (7, 784));
}

#[test]
fn sample_weights_weigh_the_points_of_gmm_and_bmm_fits() {
    let dir = scratch("weights");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    stdout(&latent(&[
        "data",
        "synth",
        "--blobs",
        "3",
        "--dim",
        "2",
        "-n",
        "300",
        "--seed",
        "4",
        "--out",
        &path("all.csv"),
    ]));
    let text = std::fs::read_to_string(path("all.csv")).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(rows.len(), 300);
    let weight = |i: usize| if i % 5 == 2 { 0 } else { 1 + i % 3 };
    let mut weights = String::from("weight\n");
    let (mut kept, mut kept_weights) = (String::new(), String::new());
    for (i, row) in rows.iter().enumerate() {
        weights += &format!("{}\n", weight(i));
        if weight(i) > 0 {
            kept += &format!("{row}\n");
            kept_weights += &format!("{}\n", weight(i));
        }
    }
    std::fs::write(path("w.csv"), &weights).unwrap();
    std::fs::write(path("kept.csv"), kept).unwrap();
    std::fs::write(path("kept-w.csv"), kept_weights).unwrap();
    let fit = |data: &str, weights: &str, out: &str| {
        json_of(&latent(&[
            "gmm",
            "fit",
            "--data",
            &path(data),
            "-k",
            "3",
            "--sample-weights",
            &path(weights),
            // Ten iterations each (a tolerance below float32 noise): a stop by tol at the
            // noise level would end one fit before the other.
            "--tol",
            "1e-12",
            "--max-iter",
            "10",
            "--out",
            &path(out),
            "--json",
        ]))
    };
    let with_zeros = fit("all.csv", "w.csv", "a.json");
    let dropped = fit("kept.csv", "kept-w.csv", "b.json");
    let total: usize = (0..300).map(weight).sum();
    assert_eq!(with_zeros["total_weight"].as_f64().unwrap(), total as f64);
    let (a, b) = (
        with_zeros["lower_bound"].as_f64().unwrap(),
        dropped["lower_bound"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-4 * b.abs(), "{a} against {b}");
    assert_eq!(with_zeros["n_iter"], dropped["n_iter"]);
    // The unweighted fit of the same points is another fit.
    let plain = json_of(&latent(&[
        "gmm",
        "fit",
        "--data",
        &path("all.csv"),
        "-k",
        "3",
        "--tol",
        "1e-6",
        "--out",
        &path("c.json"),
        "--json",
    ]));
    assert!(
        (plain["lower_bound"].as_f64().unwrap() - a).abs() > 1e-3,
        "{plain}"
    );
    // Under --limit N the first N weights go with the first N points.
    let limited = json_of(&latent(&[
        "gmm",
        "fit",
        "--data",
        &path("all.csv"),
        "--limit",
        "100",
        "-k",
        "3",
        "--sample-weights",
        &path("w.csv"),
        "--out",
        &path("d.json"),
        "--json",
    ]));
    let first: usize = (0..100).map(weight).sum();
    assert_eq!(limited["total_weight"].as_f64().unwrap(), first as f64);

    // The Bernoulli mixture takes them too.
    let binary: String = (0..40)
        .map(|i| format!("{},{}\n", i % 2, (i / 2) % 2))
        .collect();
    std::fs::write(path("bin.csv"), binary).unwrap();
    let bin_weights: String = (0..40).map(|i| format!("{}\n", i % 4)).collect();
    std::fs::write(path("bin-w.csv"), bin_weights).unwrap();
    let bmm = json_of(&latent(&[
        "bmm",
        "fit",
        "--data",
        &path("bin.csv"),
        "-k",
        "2",
        "--sample-weights",
        &path("bin-w.csv"),
        "--out",
        &path("bmm.json"),
        "--json",
    ]));
    assert_eq!(bmm["total_weight"].as_f64().unwrap(), 60.0);

    // Bad weights: an error naming what is wrong, and no model written.
    std::fs::write(path("short.csv"), "1\n2\n").unwrap();
    std::fs::write(path("negative.csv"), weights.replace("\n3\n", "\n-3\n")).unwrap();
    for (file, needle) in [
        ("short.csv", "2 sample weights for 300 points"),
        (
            "negative.csv",
            "is -3: weights must be finite and 0 or more",
        ),
    ] {
        fails_with(
            &[
                "gmm",
                "fit",
                "--data",
                &path("all.csv"),
                "-k",
                "3",
                "--sample-weights",
                &path(file),
                "--out",
                &path("bad.json"),
            ],
            needle,
        );
        assert!(!dir.join("bad.json").exists(), "{file}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn gmm_fits_scores_and_imputes_a_table_with_missing_values() {
    let dir = scratch("missing");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    stdout(&latent(&[
        "data",
        "synth",
        "--blobs",
        "3",
        "--dim",
        "3",
        "-n",
        "400",
        "--seed",
        "6",
        "--out",
        &path("all.csv"),
    ]));
    let text = std::fs::read_to_string(path("all.csv")).unwrap();
    let rows: Vec<Vec<String>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    // Every seventh cell missing, written as an empty cell, NA or NaN in turn.
    let (mut holey, mut holes) = (String::from("x,y,z\n"), 0);
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(j, cell)| {
                if (i * 3 + j) % 7 == 3 {
                    holes += 1;
                    ["", "NA", "NaN"][holes % 3].to_string()
                } else {
                    cell.clone()
                }
            })
            .collect();
        holey += &(cells.join(",") + "\n");
    }
    std::fs::write(path("holey.csv"), holey).unwrap();
    let fit = json_of(&latent(&[
        "gmm",
        "fit",
        "--data",
        &path("holey.csv"),
        "-k",
        "3",
        "--out",
        &path("m.json"),
        "--json",
    ]));
    assert_eq!(fit["missing_values"], holes);
    let score = json_of(&latent(&[
        "gmm",
        "score",
        "--model",
        &path("m.json"),
        "--data",
        &path("holey.csv"),
        "--json",
    ]));
    let (a, b) = (
        score["avg_log_likelihood"].as_f64().unwrap(),
        fit["avg_log_likelihood"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-9, "{a} against {b}");
    let labels = stdout(&latent(&[
        "gmm",
        "predict",
        "--model",
        &path("m.json"),
        "--data",
        &path("holey.csv"),
    ]));
    assert_eq!(labels.lines().count(), 400);
    latent(&[
        "gmm",
        "impute",
        "--model",
        &path("m.json"),
        "--data",
        &path("holey.csv"),
        "--out",
        &path("filled.csv"),
    ]);
    let filled = std::fs::read_to_string(path("filled.csv")).unwrap();
    let filled: Vec<Vec<f64>> = filled
        .lines()
        .map(|l| l.split(',').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(filled.len(), 400);
    let mut squared = 0.0;
    for (i, (row, truth)) in filled.iter().zip(&rows).enumerate() {
        for (j, (v, t)) in row.iter().zip(truth).enumerate() {
            let t: f64 = t.parse().unwrap();
            if (i * 3 + j) % 7 == 3 {
                squared += (v - t).powi(2);
            } else {
                assert!(
                    (v - t).abs() <= 1e-6 * t.abs().max(1.0),
                    "observed {t} became {v}"
                );
            }
        }
    }
    assert!(squared.is_finite() && squared > 0.0);
    fails_with(
        &[
            "gmm",
            "impute",
            "--model",
            &path("m.json"),
            "--data",
            &path("holey.csv"),
            "--out",
            &path("filled.csv"),
        ],
        "exists",
    );
    std::fs::write(path("empty-row.csv"), "1,2,3\nNA,,NaN\n4,5,6\n2,2,2\n").unwrap();
    fails_with(
        &[
            "gmm",
            "fit",
            "--data",
            &path("empty-row.csv"),
            "-k",
            "1",
            "--out",
            &path("e.json"),
        ],
        "point 2 (counting from 1) is missing every coordinate",
    );
    assert!(!dir.join("e.json").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bayesian_gmm_switches_superfluous_components_off() {
    let dir = scratch("bayesian");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    stdout(&latent(&[
        "data",
        "synth",
        "--blobs",
        "3",
        "--dim",
        "2",
        "-n",
        "600",
        "--seed",
        "1",
        "--out",
        &path("b.csv"),
    ]));
    let fit = json_of(&latent(&[
        "gmm",
        "fit",
        "--data",
        &path("b.csv"),
        "-k",
        "8",
        "--bayesian",
        "--weight-concentration",
        "0.001",
        "--out",
        &path("m.json"),
        "--json",
    ]));
    assert_eq!(fit["bayesian"], "dirichlet-process");
    assert_eq!(fit["effective_components"], 3, "{fit}");
    let weights: Vec<f64> = fit["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_f64().unwrap())
        .collect();
    assert_eq!(weights.len(), 8);
    assert!(
        weights.iter().filter(|w| **w > 0.05).count() == 3,
        "{weights:?}"
    );
    // The saved model is an ordinary mixture for score, predict and sample.
    let score = json_of(&latent(&[
        "gmm",
        "score",
        "--model",
        &path("m.json"),
        "--data",
        &path("b.csv"),
        "--json",
    ]));
    assert_eq!(score["avg_log_likelihood"], fit["avg_log_likelihood"]);
    fails_with(
        &[
            "gmm",
            "fit",
            "--data",
            &path("b.csv"),
            "-k",
            "3",
            "--weight-concentration",
            "0.1",
            "--out",
            &path("x.json"),
        ],
        "--bayesian",
    );
    fails_with(
        &[
            "gmm",
            "fit",
            "--data",
            &path("b.csv"),
            "-k",
            "3",
            "--bayesian",
            "--degrees-of-freedom-prior",
            "0.5",
            "--out",
            &path("x.json"),
        ],
        "greater than D − 1 = 1",
    );
    assert!(!dir.join("x.json").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_streamed_gmm_fit_equals_the_in_memory_one() {
    let dir = scratch("stream");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    stdout(&latent(&[
        "data",
        "synth",
        "--blobs",
        "3",
        "--dim",
        "4",
        "-n",
        "5000",
        "--seed",
        "9",
        "--out",
        &path("x.npy"),
    ]));
    let data = path("x.npy");
    let fit = |extra: &[&str], out: &str| {
        let out = path(out);
        let mut args = vec![
            "gmm",
            "fit",
            "--data",
            &data,
            "-k",
            "3",
            "--covariance",
            "diag",
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        args.push("--json");
        json_of(&latent(&args))
    };
    let memory = fit(&[], "m.json");
    // Chunks of 333 rows; the initialisation sees all 5,000 points, as in memory.
    let streamed = fit(&["--stream", "--chunk-rows", "333"], "s.json");
    assert_eq!(streamed["streamed"], true);
    let (a, b) = (
        streamed["lower_bound"].as_f64().unwrap(),
        memory["lower_bound"].as_f64().unwrap(),
    );
    assert!((a - b).abs() < 1e-5 * b.abs(), "{a} against {b}");
    assert_eq!(streamed["n_iter"], memory["n_iter"]);
    let score = json_of(&latent(&[
        "gmm",
        "score",
        "--model",
        &path("s.json"),
        "--data",
        &path("x.npy"),
        "--json",
    ]));
    assert!((score["avg_log_likelihood"].as_f64().unwrap() - b).abs() < 1e-2);
    // Online EM, two passes of fifteen chunks: close to exact EM, not equal.
    let online = fit(
        &[
            "--stream",
            "--chunk-rows",
            "333",
            "--online",
            "--epochs",
            "2",
        ],
        "o.json",
    );
    assert_eq!(online["online"]["epochs"], 2);
    let c = online["lower_bound"].as_f64().unwrap();
    assert!((c - b).abs() < 0.05, "online {c} against exact {b}");
    fails_with(
        &[
            "gmm",
            "fit",
            "--data",
            &data,
            "-k",
            "3",
            "--stream",
            "--online",
            "--step-decay",
            "0.4",
            "--out",
            &path("p.json"),
        ],
        "κ in (0.5, 1]",
    );
    std::fs::write(path("t.csv"), "1,2\n3,4\n").unwrap();
    fails_with(
        &[
            "gmm",
            "fit",
            "--data",
            &path("t.csv"),
            "-k",
            "1",
            "--stream",
            "--out",
            &path("t.json"),
        ],
        "--stream reads a 2-D float .npy file",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mixture_commands_reject_bad_settings_and_data_clearly() {
    let dir = scratch("mixbad");
    let grey = dir.join("grey.csv");
    std::fs::write(&grey, "0.5,1\n0,1\n").unwrap();
    fails_with(
        &[
            "bmm",
            "fit",
            "--data",
            grey.to_str().unwrap(),
            "-k",
            "1",
            "--out",
            dir.join("m.json").to_str().unwrap(),
        ],
        "binar",
    );

    fails_with(
        &[
            "gmm",
            "fit",
            "--data",
            grey.to_str().unwrap(),
            "-k",
            "3",
            "--out",
            dir.join("m.json").to_str().unwrap(),
        ],
        "n_components",
    );

    fails_with(
        &[
            "gmm",
            "fit",
            "--data",
            grey.to_str().unwrap(),
            "-k",
            "1",
            "--tol=-0.5",
            "--out",
            dir.join("m.json").to_str().unwrap(),
        ],
        "`tol`",
    );

    let foreign = dir.join("foreign.json");
    std::fs::write(&foreign, "{\"hello\": 1}").unwrap();
    fails_with(
        &[
            "gmm",
            "score",
            "--model",
            foreign.to_str().unwrap(),
            "--data",
            grey.to_str().unwrap(),
        ],
        "not a Gaussian mixture model file",
    );

    fails_with(
        &[
            "gmm",
            "select",
            "--data",
            grey.to_str().unwrap(),
            "--components",
            "3..1",
        ],
        "1 ≤ A ≤ B",
    );
}

#[test]
fn train_eval_and_sample_a_small_vae() {
    let dir = scratch("train");
    let run = dir.join("run");
    let run = run.to_str().unwrap();
    let small = [
        "train",
        "vae",
        "--out",
        run,
        "--epochs",
        "1",
        "--limit",
        "512",
        "--test-limit",
        "100",
        "--hidden",
        "64",
        "--latent",
        "3",
        "--batch-size",
        "64",
    ];
    let printed = stdout(&latent(&small));
    assert!(printed.contains("epoch   1"), "{printed}");
    for file in [
        "config.json",
        "metrics.jsonl",
        "summary.json",
        "images/samples.png",
        "images/reconstructions.png",
    ] {
        assert!(std::path::Path::new(run).join(file).is_file(), "{file}");
    }
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(run).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["model"]["hidden"], serde_json::json!([64]));
    assert_eq!(config["model"]["latent"], 3);

    let report = json_of(&latent(&[
        "eval",
        "--run",
        run,
        "--iw-samples",
        "50",
        "--limit",
        "50",
        "--json",
    ]));
    for key in ["elbo", "nll", "kl", "recon", "active_units"] {
        assert!(report.get(key).is_some(), "missing {key}: {report}");
    }
    assert!(report["nll"].as_f64().unwrap() < -report["elbo"].as_f64().unwrap());
    // Two importance-sampling workers (what `auto` gives with two threads) estimate what one
    // does: the main device draws the noise.
    let eval = |extra: &[&str]| {
        let args = [
            &["--threads", "2", "eval", "--run", run, "--iw-samples", "50"][..],
            &["--limit", "50", "--json"][..],
            extra,
        ]
        .concat();
        json_of(&latent(&args))["nll"].as_f64().unwrap()
    };
    let (one, two) = (eval(&["--replicas", "1"]), eval(&[]));
    assert!((one - two).abs() <= 1e-5 * one.abs(), "{one} vs {two}");
    fails_with(
        &["eval", "--run", run, "--replicas", "0"],
        "at least 1 replica",
    );

    let npy = dir.join("samples.npy");
    stdout(&latent(&[
        "sample",
        "--run",
        run,
        "-n",
        "5",
        "--out",
        npy.to_str().unwrap(),
    ]));
    let bytes = std::fs::read(&npy).unwrap();
    assert!(String::from_utf8_lossy(&bytes[..128]).contains("(5, 28, 28)"));
    assert_eq!(bytes.len() % 64, (5 * 784 * 4) % 64);

    let rec = dir.join("rec.png");
    stdout(&latent(&[
        "reconstruct",
        "--run",
        run,
        "-n",
        "4",
        "--out",
        rec.to_str().unwrap(),
    ]));
    let strip = dir.join("strip.png");
    stdout(&latent(&[
        "interpolate",
        "--run",
        run,
        "--between",
        "0",
        "1",
        "--steps",
        "5",
        "--out",
        strip.to_str().unwrap(),
    ]));
    for png in [&rec, &strip] {
        assert_eq!(&std::fs::read(png).unwrap()[..4], b"\x89PNG");
    }
    fails_with(
        &[
            "interpolate",
            "--run",
            run,
            "--between",
            "0",
            "99999",
            "--out",
            strip.to_str().unwrap(),
        ],
        "does not exist",
    );

    let probe = json_of(&latent(&[
        "probe", "--run", run, "--limit", "300", "--steps", "100", "--json",
    ]));
    let accuracy = probe["latent_test_accuracy"].as_f64().unwrap();
    // Ten classes: chance is 0.1; even a 3-D code from one epoch carries far more.
    assert!(accuracy > 0.25 && accuracy <= 1.0, "{probe}");

    // The report: one self-contained page with every picture of a VAE run (a 3-D latent
    // space: the scatter shows its principal plane, and there is no manifold figure).
    stdout(&latent(&[
        "report",
        "--run",
        run,
        "--limit",
        "100",
        "--iw-samples",
        "10",
    ]));
    let page = std::fs::read_to_string(std::path::Path::new(run).join("report.html")).unwrap();
    assert_eq!(
        page.matches("src=\"data:image/png;base64,").count(),
        8,
        "{page}"
    );
    for needle in ["active units", "−log p(x)", "principal", "last epoch"] {
        assert!(page.contains(needle), "no {needle:?} in the report");
    }
    for png in ["curve-loss", "latent", "activity", "interpolations"] {
        let path = std::path::Path::new(run).join(format!("images/{png}.png"));
        assert_eq!(&std::fs::read(path).unwrap()[..4], b"\x89PNG");
    }

    // The manifold figure needs a 2-D latent space; this run has 3.
    fails_with(
        &["manifold", "--run", run, "--out", strip.to_str().unwrap()],
        "2-D latent",
    );

    // Training into an existing run without --resume is refused; --resume to the same epoch count is a no-op.
    fails_with(&small, "--resume");
    let mut resume = small.to_vec();
    resume.push("--resume");
    stdout(&latent(&resume));
    fails_with(&["eval", "--run", dir.to_str().unwrap()], "config.json");
}

#[test]
fn an_autoencoder_report_shows_prior_and_latent_gmm_samples() {
    let dir = scratch("ae-report");
    let run = dir.join("run");
    let run = run.to_str().unwrap();
    stdout(&latent(&[
        "train",
        "ae",
        "--out",
        run,
        "--epochs",
        "1",
        "--limit",
        "256",
        "--test-limit",
        "100",
        "--hidden",
        "32",
        "--latent",
        "2",
    ]));
    stdout(&latent(&[
        "report",
        "--run",
        run,
        "--limit",
        "100",
        "--latent-gmm",
        "3",
    ]));
    let page = std::fs::read_to_string(std::path::Path::new(run).join("report.html")).unwrap();
    assert!(page.contains("ex-post density estimation") && page.contains("autoencoder"));
    // No likelihood for an autoencoder: curves, reconstructions, interpolations, samples, codes.
    assert_eq!(page.matches("src=\"data:image/png;base64,").count(), 5);
    assert!(!page.contains("−log p(x)"));
    fails_with(&["report", "--run", dir.to_str().unwrap()], "config.json");
}

/// (width, height) from a PNG's header.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

#[test]
fn gmm_plot_draws_two_dimensional_and_projected_models() {
    let dir = scratch("gmm-plot");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    for (dim, k) in [("2", "3"), ("5", "2")] {
        let data = path(&format!("blobs{dim}.csv"));
        let model = path(&format!("gmm{dim}.json"));
        let png = path(&format!("plot{dim}.png"));
        stdout(&latent(&[
            "data", "synth", "--blobs", k, "--dim", dim, "-n", "300", "--out", &data,
        ]));
        stdout(&latent(&[
            "gmm", "fit", "--data", &data, "-k", k, "--out", &model,
        ]));
        let out = latent(&[
            "gmm", "plot", "--model", &model, "--data", &data, "-o", &png,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(png_size(std::path::Path::new(&png)), (720, 720));
    }
    // A model and data of different dimensions.
    fails_with(
        &[
            "gmm",
            "plot",
            "--model",
            &path("gmm2.json"),
            "--data",
            &path("blobs5.csv"),
            "-o",
            &path("x.png"),
        ],
        "dimensional",
    );
}

#[test]
fn shifted_data_and_a_transfer_study_from_the_command_line() {
    let dir = scratch("transfer");
    let out = dir.join("study");
    let study = json_of(&latent(&[
        "transfer",
        "--source",
        "mnist",
        "--target",
        "mnist:rotate=90",
        "--target-n",
        "50",
        "--source-epochs",
        "1",
        "--source-limit",
        "300",
        "--epochs",
        "1",
        "--iw-samples",
        "5",
        "--eval-limit",
        "100",
        "--hidden",
        "32",
        "--latent",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(study["target"], "mnist:rotate=90");
    assert_eq!(study["runs"].as_array().unwrap().len(), 1);
    // Same classes on both sides: the cross-domain probe runs with both encoders.
    assert_eq!(study["cross_probes"].as_array().unwrap().len(), 2);
    let source: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("source/config.json")).unwrap())
            .unwrap();
    assert_eq!(source["data"], "mnist");
    let tuned: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("n50-seed0/decoder-only/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(tuned["data"], "mnist:rotate=90");
    assert_eq!(tuned["freeze_encoder"], true);
    assert_eq!(tuned["train_limit"], 50);
    // The study's page: the data-efficiency curve and the reconstructions side by side; `latent
    // report` on the study directory writes it again.
    for _ in 0..2 {
        let page = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert_eq!(page.matches("src=\"data:image/png;base64,").count(), 2);
        assert!(page.contains("source only"));
        std::fs::remove_file(out.join("report.html")).unwrap();
        stdout(&latent(&["report", "--run", out.to_str().unwrap()]));
    }

    let run = dir.join("bad");
    fails_with(
        &[
            "train",
            "vae",
            "--data",
            "mnist:spin=3",
            "--out",
            run.to_str().unwrap(),
        ],
        "rotate=DEG",
    );
    fails_with(
        &[
            "train",
            "vae",
            "--data",
            "mnist:classes=3",
            "--limit",
            "9000",
            "--out",
            run.to_str().unwrap(),
        ],
        "only",
    );
}

#[test]
fn mixtures_take_shifted_mnist_and_files_named_like_mnist() {
    let dir = scratch("mixture-shift");
    let model = dir.join("g.json");
    let model = model.to_str().unwrap();
    let fit = json_of(&latent(&[
        "gmm",
        "fit",
        "--data",
        "mnist:test:classes=1:invert",
        "--limit",
        "150",
        "-k",
        "2",
        "--covariance",
        "diag",
        "--out",
        model,
        "--json",
    ]));
    assert_eq!(fit["n_components"], 2);
    // Scored on the unshifted ones, the inverted-ones model is far worse than on its own data.
    let score = |data: &str| {
        json_of(&latent(&[
            "gmm", "score", "--model", model, "--data", data, "--limit", "150", "--json",
        ]))["avg_log_likelihood"]
            .as_f64()
            .unwrap()
    };
    assert!(score("mnist:test:classes=1:invert") > score("mnist:test:classes=1") + 100.0);
    fails_with(
        &[
            "gmm",
            "score",
            "--model",
            model,
            "--data",
            "mnist:test:spin",
        ],
        "unknown shift `spin`",
    );
    // A file whose name starts with "mnist" is a file.
    let csv = dir.join("mnist_points.csv");
    std::fs::write(&csv, "1,2\n3,4\n5,7\n").unwrap();
    let out = latent(&["data", "points", csv.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    fails_with(
        &[
            "gmm",
            "score",
            "--model",
            model,
            "--data",
            csv.to_str().unwrap(),
        ],
        "dimensional",
    );
}

#[test]
fn threads_sets_the_cpu_pool_and_refuses_zero() {
    fails_with(&["--threads", "0", "info"], "--threads must be at least 1");
    let out = stdout(&latent(&["--threads", "1", "info"]));
    assert!(!out.contains("WRONG"), "{out}");
}

/// `--replicas auto` on a CPU backend: one single-threaded replica per 64 images with two
/// threads, recorded in config.json; one replica where a thread or a batch allows no more;
/// explicit counts checked.
#[test]
fn replicas_share_out_the_cpu_threads() {
    let dir = scratch("replicas");
    let config = |run: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join(run).join("config.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    };
    let train = |run: &str, pre: &[&str], extra: &[&str]| {
        let out = dir.join(run);
        let args = [
            pre,
            &[
                "train", "ae", "--epochs", "1", "--hidden", "16", "--latent", "2",
            ][..],
            &["--limit", "256", "--test-limit", "64", "--backend", "flex"][..],
            &["--out", out.to_str().unwrap()][..],
            extra,
        ]
        .concat();
        stdout(&latent(&args))
    };
    let printed = train("auto2", &["--threads", "2"], &[]);
    assert!(printed.contains("data parallel on 2 devices (flex, flex, 1 thread each)"));
    let execution = &config("auto2")["execution"];
    assert_eq!(execution["strategy"], "multi");
    assert_eq!(execution["device_threads"], serde_json::json!([1, 1]));
    assert_eq!(execution["device_batch"], serde_json::json!([64, 64]));

    train("auto1", &["--threads", "1"], &[]);
    assert_eq!(config("auto1")["execution"]["strategy"], "single");
    train("small-batch", &["--threads", "2"], &["--batch-size", "100"]);
    assert_eq!(config("small-batch")["execution"]["strategy"], "single");
    train("one", &["--threads", "2"], &["--replicas", "1"]);
    assert_eq!(
        config("one")["execution"]["device_threads"],
        serde_json::json!([null])
    );
    train("three", &["--threads", "4"], &["--replicas", "3"]);
    assert_eq!(
        config("three")["execution"]["device_threads"],
        serde_json::json!([2, 1, 1])
    );

    let out = dir.join("refused");
    let out = out.to_str().unwrap();
    for (args, needle) in [
        (&["--replicas", "0"][..], "at least 1 replica"),
        (&["--replicas", "some"][..], "neither a number nor `auto`"),
        (
            &["--replicas", "2", "--devices", "flex"][..],
            "list every device",
        ),
        (&["--replicas", "200"][..], "more than the 128 images"),
    ] {
        fails_with(&[&["train", "ae", "--out", out][..], args].concat(), needle);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A PyTorch state dict (the interop script's fixture) imported as a run: it evaluates and
/// samples like a trained one, exports back to the same tensors, and nothing is written over a
/// run or a file.
#[test]
fn weights_from_pytorch_are_imported_evaluated_and_exported() {
    let dir = scratch("interop");
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../crates/latent-train/tests/fixtures"
    );
    let weights = format!("{fixtures}/torch_mlp.safetensors");
    let run = dir.join("imported");
    let run = run.to_str().unwrap();
    let shape = [
        "--hidden",
        "32,16",
        "--latent",
        "4",
        "--activation",
        "tanh",
        "--decoder",
        "gaussian-learned",
    ];
    let import = |out: &str, extra: &[&str]| {
        latent(&[&["import", "--weights", &weights, "--out", out][..], extra].concat())
    };
    stdout(&import(run, &shape));
    let report = json_of(&latent(&[
        "eval",
        "--run",
        run,
        "--iw-samples",
        "20",
        "--limit",
        "30",
        "--json",
    ]));
    assert!(report["nll"].as_f64().unwrap() < -report["elbo"].as_f64().unwrap());
    let png = dir.join("samples.png");
    stdout(&latent(&[
        "sample",
        "--run",
        run,
        "-n",
        "8",
        "--out",
        png.to_str().unwrap(),
    ]));
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");

    let exported = dir.join("back.safetensors");
    let exported = exported.to_str().unwrap();
    stdout(&latent(&["export", "--run", run, "-o", exported]));
    // The same tensors, in the same layout: the file's data section is PyTorch's own.
    let tail = |path: &str| {
        let bytes = std::fs::read(path).unwrap();
        let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        bytes.len() - 8 - header
    };
    assert_eq!(tail(exported), tail(&weights));
    fails_with(&["export", "--run", run, "-o", exported], "already exists");
    fails_with(
        &[
            &["import", "--weights", &weights, "--out", run][..],
            &shape[..],
        ]
        .concat(),
        "already holds a run",
    );
    // Another architecture: refused with the tensor at fault, and no run left behind.
    let wrong = dir.join("wrong");
    let out = import(
        wrong.to_str().unwrap(),
        &["--hidden", "32", "--latent", "4"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("encoder.mean.weight"));
    assert!(!wrong.exists());
}
