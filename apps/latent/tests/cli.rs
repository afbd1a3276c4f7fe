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
    let out = latent(&["data", "points", ragged.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ragged.csv:2:"), "{err}");

    let out = latent(&["data", "mnist", "--dir", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("train-images-idx3-ubyte.gz"));

    let out = latent(&["data", "mnist", "--split", "test", "--limit", "20000"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only 10000"));

    let out = latent(&[
        "data",
        "synth",
        "-n",
        "5",
        "--out",
        dir.join("x.csv").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--blobs"));
}

#[cfg(not(feature = "wgpu"))]
#[test]
fn asking_for_a_backend_not_compiled_in_names_the_feature() {
    let out = latent(&[
        "--backend",
        "wgpu",
        "data",
        "mnist",
        "--split",
        "test",
        "--limit",
        "10",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--features wgpu"), "{err}");
}
