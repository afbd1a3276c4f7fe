//! The user's own data through every command: a real-valued table (standardised, undone for
//! samples and reconstructions), a folder of colour PNGs (colour pictures, labels for the
//! probe and the scatter), `.npy` images with IDX labels, the bundled 8 × 8 digits, explicit
//! and held-out test sets, mixtures on a folder, and each bad input as a clear error that
//! leaves a good run as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{latent, scratch};
use latent_data::idx::encode_idx;
use latent_data::points::encode_npy_f32;

fn run(args: &[&str]) -> Output {
    latent()
        .args(args)
        .output()
        .expect("the latent binary runs")
}

fn succeeded(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `latent`, expects failure (not a panic) and `needle` in what it printed.
fn fails_with(args: &[&str], needle: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    assert!(err.contains(needle), "{args:?}: no {needle:?} in {err}");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `latent eval --run RUN --iw-samples K --json`, parsed.
fn evaluated(run: &Path, k: u32) -> serde_json::Value {
    let k = k.to_string();
    json(&succeeded(&[
        "eval",
        "--run",
        s(run),
        "--iw-samples",
        &k,
        "--json",
    ]))
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A table of `n` rows of dimension 3 far from the origin: two clusters around 100 and 140
/// in the first column, deviation about 10 elsewhere (a generator of our own, seeded).
fn write_table(path: &Path, n: usize) {
    let mut state = 12345u64;
    let mut uniform = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut text = String::from("a,b,c\n");
    for i in 0..n {
        let mut normal = || {
            let (u, v) = (uniform(), uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let centre = if i % 2 == 0 { 100.0 } else { 140.0 };
        let (a, b) = (centre + 5.0 * normal(), -50.0 + 10.0 * normal());
        let c = 0.5 * a + 8.0 * normal();
        text.push_str(&format!("{a},{b},{c}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// A folder of `per_class` 16 × 16 colour PNGs in each of two classes: reddish squares and
/// bluish ones, each with its own brightness.
fn write_colour_folder(dir: &Path, per_class: u32) {
    for (class, rgb) in [("red", [200u8, 40, 30]), ("blue", [30u8, 60, 210])] {
        let folder = dir.join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..per_class {
            let shade = (i * 5) as u8;
            let image = image::RgbImage::from_fn(16, 16, |x, y| {
                let edge = if x < 2 || y < 2 { 40 } else { 0 };
                image::Rgb(rgb.map(|c| c.saturating_sub(shade).saturating_add(edge)))
            });
            image.save(folder.join(format!("{i:03}.png"))).unwrap();
        }
    }
}

/// The mean and standard deviation of each column of a CSV without a header.
fn column_stats(csv: &str) -> (Vec<f64>, Vec<f64>) {
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .filter_map(|l| {
            l.split(',')
                .map(|v| v.trim().parse::<f64>().ok())
                .collect::<Option<Vec<_>>>()
        })
        .collect();
    let n = rows.len() as f64;
    let means: Vec<f64> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c]).sum::<f64>() / n)
        .collect();
    let sds = means
        .iter()
        .enumerate()
        .map(|(c, m)| (rows.iter().map(|r| (r[c] - m).powi(2)).sum::<f64>() / n).sqrt())
        .collect();
    (means, sds)
}

#[test]
fn a_table_is_standardised_for_training_and_back_in_its_units_for_samples() {
    let dir = scratch("own-table");
    let table = dir.join("table.csv");
    write_table(&table, 600);
    let out = dir.join("run");
    let train = [
        "train",
        "vae",
        "--data",
        s(&table),
        "--decoder",
        "gaussian-learned",
        "--hidden",
        "32",
        "--latent",
        "2",
        "--epochs",
        "4",
        "--batch-size",
        "50",
        "--out",
        s(&out),
    ];
    let printed = succeeded(&train);
    assert!(printed.contains("epoch   4"), "{printed}");
    let config = json(&std::fs::read_to_string(out.join("config.json")).unwrap());
    assert_eq!(config["data_shape"]["kind"], "vector");
    assert_eq!(config["data_shape"]["dim"], 3);
    let mean = config["standardisation"]["mean"].as_array().unwrap();
    assert!((mean[0].as_f64().unwrap() - 120.0).abs() < 5.0, "{mean:?}");
    // Vector data get pairs plots, not image grids.
    assert!(out.join("images/samples.png").exists());

    // Samples come back in the table's units: the first column's mean near 120, not near 0.
    let samples = dir.join("samples.csv");
    succeeded(&[
        "sample",
        "--run",
        s(&out),
        "-n",
        "400",
        "--out",
        s(&samples),
    ]);
    let (means, sds) = column_stats(&std::fs::read_to_string(&samples).unwrap());
    assert!((means[0] - 120.0).abs() < 15.0, "{means:?}");
    assert!((means[1] + 50.0).abs() < 10.0, "{means:?}");
    // Draws x ~ p(x | z), not the decoder's means: the spread of the data (sd ≈ 10 in the
    // second column), where the means of an untrained-ish decoder hardly spread at all.
    assert!(sds[1] > 5.0 && sds[1] < 20.0, "{sds:?}");
    let mean_only = dir.join("means.csv");
    succeeded(&[
        "sample",
        "--run",
        s(&out),
        "-n",
        "400",
        "--means",
        "--out",
        s(&mean_only),
    ]);
    let (_, mean_sds) = column_stats(&std::fs::read_to_string(&mean_only).unwrap());
    assert!(mean_sds[1] < sds[1], "{mean_sds:?} vs {sds:?}");
    // A PNG of vectors is refused with what to write instead; a binarisation makes no sense.
    fails_with(
        &["sample", "--run", s(&out), "--out", s(&dir.join("s.png"))],
        ".npy or .csv",
    );
    fails_with(
        &[
            "sample",
            "--run",
            s(&out),
            "--binarize",
            "--out",
            s(&samples),
        ],
        "real values",
    );

    // The held-out tenth (60 rows) is the test set of eval and report alike.
    let eval = evaluated(&out, 20);
    assert_eq!(eval["images"], 60);
    let nll = eval["nll"].as_f64().unwrap();
    // Three coordinates of deviation ~5–20 each: a density in the table's units has −log p
    // of order 3 · log(10 · √(2πe)) ≈ 13 nats, far from a standardised one's ≈ 4.
    assert!(nll > 8.0 && nll < 20.0, "{nll}");
    let recon = dir.join("recon.png");
    succeeded(&[
        "reconstruct",
        "--run",
        s(&out),
        "-n",
        "50",
        "--out",
        s(&recon),
    ]);
    assert!(recon.exists());
    let report = succeeded(&[
        "report",
        "--run",
        s(&out),
        "--limit",
        "60",
        "--iw-samples",
        "20",
    ]);
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("test examples"), "{report}");
    assert!(!out.join("images/interpolations.png").exists());
    // No labels, no probe.
    fails_with(&["probe", "--run", s(&out)], "no labels");
    // Exported weights carry the standardisation they were trained behind.
    let weights = dir.join("weights.safetensors");
    succeeded(&["export", "--run", s(&out), "-o", s(&weights)]);
    let bytes = std::fs::read(&weights).unwrap();
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = json(std::str::from_utf8(&bytes[8..8 + header_len]).unwrap());
    let exported = json(
        header["__metadata__"]["latent.standardisation"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(exported, config["standardisation"]);
    let shape = json(
        header["__metadata__"]["latent.data_shape"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(shape["dim"], 3);

    // A Bernoulli decoder on real values is refused with what to use instead, before any run.
    let bernoulli = dir.join("bernoulli");
    fails_with(
        &["train", "vae", "--data", s(&table), "--out", s(&bernoulli)],
        "gaussian",
    );
    assert!(!bernoulli.join("config.json").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_colour_folder_trains_a_conv_vae_with_colour_pictures_and_its_labels() {
    let dir = scratch("own-folder");
    let folder = dir.join("squares");
    write_colour_folder(&folder, 20);
    let out = dir.join("run");
    succeeded(&[
        "train",
        "vae",
        "--data",
        s(&folder),
        "--arch",
        "conv",
        "--decoder",
        "gaussian",
        "--latent",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--test-fraction",
        "0.25",
        "--out",
        s(&out),
    ]);
    let config = json(&std::fs::read_to_string(out.join("config.json")).unwrap());
    assert_eq!(config["data_shape"]["channels"], 3);
    assert_eq!(config["test_fraction"], 0.25);
    let samples = image::open(out.join("images/samples.png")).unwrap();
    assert!(samples.color().has_color(), "{:?}", samples.color());
    // Eight 16-pixel columns (and their padding).
    assert!(samples.width() >= 8 * 16, "{}", samples.width());

    let npy = dir.join("samples.npy");
    succeeded(&["sample", "--run", s(&out), "-n", "5", "--out", s(&npy)]);
    let bytes = std::fs::read(&npy).unwrap();
    let header = String::from_utf8_lossy(&bytes[..128]);
    assert!(header.contains("(5, 16, 16, 3)"), "{header}");

    let eval = evaluated(&out, 5);
    assert_eq!(eval["images"], 10, "a quarter of 40 images");
    succeeded(&["report", "--run", s(&out), "--iw-samples", "5"]);
    assert!(out.join("images/latent.png").exists());
    assert!(out.join("images/reconstructions.png").exists());
    // Labels from the sub-folders: the probe tells red from blue.
    let probe = json(&succeeded(&["probe", "--run", s(&out), "--json"]));
    let accuracy = probe["latent_test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "{probe}");

    // Resuming with other data is refused by name, and the run is left as it was.
    let before = std::fs::read(out.join("config.json")).unwrap();
    let other = dir.join("other");
    write_colour_folder(&other, 6);
    fails_with(
        &[
            "train",
            "vae",
            "--resume",
            "--data",
            s(&other),
            "--epochs",
            "2",
            "--out",
            s(&out),
        ],
        "data",
    );
    assert_eq!(std::fs::read(out.join("config.json")).unwrap(), before);
    // An image too small for the convolutional networks says the minimum.
    let tiny = dir.join("tiny");
    fails_with(
        &[
            "train",
            "vae",
            "--data",
            s(&folder),
            "--image-size",
            "6x6",
            "--arch",
            "conv",
            "--decoder",
            "gaussian",
            "--out",
            s(&tiny),
        ],
        "multiple of 4",
    );
    // The mixtures read the same folder, one point per image.
    let gmm = dir.join("gmm.json");
    let fit = json(&succeeded(&[
        "gmm",
        "fit",
        "--data",
        &format!("{}:size=4x4", s(&folder)),
        "-k",
        "2",
        "--covariance",
        "diag",
        "--out",
        s(&gmm),
        "--json",
    ]));
    assert_eq!(fit["n"], 40);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn npy_images_with_idx_labels_and_an_explicit_test_set() {
    let dir = scratch("own-npy");
    // 60 training and 20 test 8 × 8 grey images in [0, 1]: a bright top half (class 0) or a
    // bright bottom half (class 1).
    let write = |name: &str, n: usize| -> (PathBuf, PathBuf) {
        let mut values = Vec::with_capacity(n * 64);
        let mut labels = Vec::with_capacity(n);
        for i in 0..n {
            let class = i % 2;
            labels.push(class as u8);
            for p in 0..64 {
                let top = p < 32;
                let on = top == (class == 0);
                values.push(if on { 0.9 } else { 0.05 } * (1.0 - (i % 7) as f32 * 0.02));
            }
        }
        let x = dir.join(format!("{name}.npy"));
        std::fs::write(&x, encode_npy_f32(&values, &[n, 8, 8])).unwrap();
        let y = dir.join(format!("{name}-labels-idx1-ubyte"));
        std::fs::write(&y, encode_idx(&[n], &labels)).unwrap();
        (x, y)
    };
    let (train_x, train_y) = write("train", 60);
    let (test_x, test_y) = write("test", 20);
    let out = dir.join("run");
    let test_spec = format!("{}:labels={}", s(&test_x), s(&test_y));
    succeeded(&[
        "train",
        "vae",
        "--data",
        s(&train_x),
        "--labels",
        s(&train_y),
        "--test-data",
        &test_spec,
        "--hidden",
        "16",
        "--latent",
        "2",
        "--epochs",
        "2",
        "--batch-size",
        "20",
        "--out",
        s(&out),
    ]);
    let config = json(&std::fs::read_to_string(out.join("config.json")).unwrap());
    assert!(
        config["data"].as_str().unwrap().contains("labels="),
        "{config}"
    );
    assert!(
        config.get("standardisation").is_none(),
        "values in [0, 1] are not standardised"
    );
    let eval = evaluated(&out, 5);
    assert_eq!(eval["images"], 20);
    let grid = dir.join("recon.png");
    succeeded(&[
        "reconstruct",
        "--run",
        s(&out),
        "-n",
        "4",
        "--out",
        s(&grid),
    ]);
    let picture = image::open(&grid).unwrap();
    assert!(!picture.color().has_color());

    // Count mismatches, --test-fraction out of range, options for another kind of source.
    fails_with(
        &[
            "train",
            "vae",
            "--data",
            s(&train_x),
            "--labels",
            s(&test_y),
            "--out",
            s(&dir.join("x")),
        ],
        "label",
    );
    for bad in ["0", "1", "1.5", "-0.1"] {
        fails_with(
            &[
                "train",
                "vae",
                "--data",
                s(&train_x),
                &format!("--test-fraction={bad}"),
                "--out",
                s(&dir.join("y")),
            ],
            "test_fraction",
        );
    }
    fails_with(
        &[
            "train",
            "vae",
            "--data",
            s(&train_x),
            "--image-size",
            "4x4",
            "--out",
            s(&dir.join("z")),
        ],
        "folder",
    );
    fails_with(
        &[
            "train",
            "vae",
            "--data",
            "no-such.npy",
            "--out",
            s(&dir.join("w")),
        ],
        "existing file",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_bundled_digits_train_evaluate_and_fit_mixtures() {
    let dir = scratch("own-digits");
    let out = dir.join("run");
    succeeded(&[
        "train",
        "vae",
        "--data",
        "digits",
        "--hidden",
        "32",
        "--latent",
        "4",
        "--epochs",
        "3",
        "--out",
        s(&out),
    ]);
    let eval = evaluated(&out, 10);
    assert_eq!(eval["images"], 300, "the digits' own test split");
    let nll = eval["nll"].as_f64().unwrap();
    // 64 binary pixels: between a good model (~25 nats) and a uniform one (64 ln 2 ≈ 44).
    assert!(nll > 15.0 && nll < 44.4, "{nll}");
    let shown = succeeded(&["data", "show", "digits:test", "--json"]);
    let summary = json(&shown);
    assert_eq!(summary["examples"], 300);
    assert_eq!(summary["class_counts"].as_array().unwrap().len(), 10);
    let bmm = dir.join("bmm.json");
    succeeded(&[
        "bmm",
        "fit",
        "--data",
        "digits",
        "-k",
        "10",
        "--out",
        s(&bmm),
    ]);
    let means = image::open(bmm.with_extension("means.png")).unwrap();
    assert!(means.width() >= 10 * 8);
    let drawn = dir.join("drawn.png");
    succeeded(&[
        "bmm",
        "sample",
        "--model",
        s(&bmm),
        "-n",
        "20",
        "--out",
        s(&drawn),
    ]);
    assert!(drawn.exists(), "64 dimensions are drawn as 8 × 8 images");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The values of a 1-D little-endian int64 `.npy` (what `latent encode --labels-out` writes).
fn read_int64_npy(path: &Path) -> Vec<i64> {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00", "{}", path.display());
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<i8'"), "{header}");
    bytes[10 + header_len..]
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The fraction of `test` codes whose nearest class mean of the `train` codes is their class.
fn nearest_class_mean_accuracy(
    train: &latent_data::Points,
    train_labels: &[i64],
    test: &latent_data::Points,
    test_labels: &[i64],
) -> f64 {
    let classes = *train_labels.iter().max().unwrap() as usize + 1;
    let d = train.dim();
    let mut means = vec![vec![0.0; d]; classes];
    let mut counts = vec![0.0; classes];
    for (i, label) in train_labels.iter().enumerate() {
        counts[*label as usize] += 1.0;
        for (m, v) in means[*label as usize].iter_mut().zip(train.row(i)) {
            *m += v;
        }
    }
    for (mean, count) in means.iter_mut().zip(&counts) {
        mean.iter_mut().for_each(|m| *m /= count);
    }
    let right = test_labels
        .iter()
        .enumerate()
        .filter(|(i, label)| {
            let distance = |c: &usize| -> f64 {
                means[*c]
                    .iter()
                    .zip(test.row(*i))
                    .map(|(m, v)| (m - v).powi(2))
                    .sum()
            };
            let nearest = (0..classes)
                .min_by(|a, b| distance(a).total_cmp(&distance(b)))
                .unwrap();
            nearest as i64 == **label
        })
        .count();
    right as f64 / test_labels.len() as f64
}

#[test]
fn codes_written_by_encode_feed_a_semi_supervised_vae_m1_plus_m2() {
    let dir = scratch("m1m2");
    let m1 = dir.join("m1");
    succeeded(&[
        "train",
        "vae",
        "--data",
        "digits",
        "--hidden",
        "64",
        "--latent",
        "8",
        "--epochs",
        "30",
        "--out",
        s(&m1),
    ]);
    let files = |split: &str| {
        (
            dir.join(format!("{split}.npy")),
            dir.join(format!("{split}-y.npy")),
        )
    };
    for split in ["train", "test"] {
        let (codes, labels) = files(split);
        let printed = json(&succeeded(&[
            "encode",
            "--run",
            s(&m1),
            "--split",
            split,
            "--out",
            s(&codes),
            "--labels-out",
            s(&labels),
            "--json",
        ]));
        assert_eq!(printed["latent_dim"], 8, "{printed}");
    }
    let (train, test) = (files("train"), files("test"));
    let train_codes = latent_data::read_points(&train.0).unwrap();
    let test_codes = latent_data::read_points(&test.0).unwrap();
    let (train_y, test_y) = (read_int64_npy(&train.1), read_int64_npy(&test.1));
    // The bundled digits' split: 1,497 training and 300 test examples, 8-dimensional codes,
    // a label for each, every class present.
    assert_eq!((train_codes.len(), train_codes.dim()), (1497, 8));
    assert_eq!((test_codes.len(), test_codes.dim()), (300, 8));
    assert_eq!((train_y.len(), test_y.len()), (1497, 300));
    assert!((0..10).all(|c| train_y.contains(&c) && test_y.contains(&c)));
    // Codes and labels in the same order: the class means of the training codes classify the
    // test codes far above chance (10 %); labels out of step with the codes would not.
    let accuracy = nearest_class_mean_accuracy(&train_codes, &train_y, &test_codes, &test_y);
    assert!(accuracy > 0.35, "nearest class mean: {accuracy}");
    // --limit takes the first examples, encoded as in the whole set.
    let first = dir.join("first.npy");
    succeeded(&[
        "encode",
        "--run",
        s(&m1),
        "--split",
        "test",
        "--limit",
        "7",
        "--out",
        s(&first),
    ]);
    let first = latent_data::read_points(&first).unwrap();
    assert_eq!(first.len(), 7);
    assert_eq!(first.values(), &test_codes.values()[..7 * 8]);

    // M2 on the codes, from 100 of the training labels: a learned-variance Gaussian decoder
    // over the standardised codes, and its classifier's test error far below chance.
    let m2 = dir.join("m2");
    let data = |(codes, labels): &(PathBuf, PathBuf)| format!("{}:labels={}", s(codes), s(labels));
    succeeded(&[
        "train",
        "vae",
        "--data",
        &data(&train),
        "--test-data",
        &data(&test),
        "--decoder",
        "gaussian-learned",
        "--hidden",
        "64",
        "--latent",
        "4",
        "--semi-supervised",
        "--labelled",
        "100",
        "--epochs",
        "50",
        "--out",
        s(&m2),
    ]);
    let report = evaluated(&m2, 10);
    let error = report["classification_error"].as_f64().unwrap();
    assert!(error < 0.5, "M1+M2 test error {error}: {report}");

    // What cannot be written is refused before anything is.
    let unlabelled = dir.join("unlabelled");
    succeeded(&[
        "train",
        "vae",
        "--data",
        s(&train.0),
        "--decoder",
        "gaussian",
        "--hidden",
        "16",
        "--latent",
        "2",
        "--epochs",
        "1",
        "--out",
        s(&unlabelled),
    ]);
    let nowhere = dir.join("nowhere.npy");
    fails_with(
        &[
            "encode",
            "--run",
            s(&unlabelled),
            "--out",
            s(&nowhere),
            "--labels-out",
            s(&dir.join("y.npy")),
        ],
        "has no labels",
    );
    fails_with(
        &[
            "encode",
            "--run",
            s(&m1),
            "--out",
            s(&nowhere),
            "--labels-out",
            s(&dir.join("y.csv")),
        ],
        "written as .npy",
    );
    fails_with(
        &[
            "encode",
            "--run",
            s(&m1),
            "--out",
            s(&dir.join("codes.png")),
        ],
        "write .npy or .csv",
    );
    assert!(!nowhere.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
