//! The bundled real MNIST: checksums, counts, statistics, failure modes on crafted files, and
//! batching through burn's DataLoader.

use std::path::{Path, PathBuf};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::DataLoaderBuilder;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use latent_data::idx::encode_idx;
use latent_data::mnist::PIXELS;
use latent_data::{verify_sha256sums, DataError, Mnist, MnistBatcher, Split};

fn mnist_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist"))
}

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

fn floats(t: burn::tensor::Tensor<2>) -> Vec<f32> {
    t.try_into_vec_as::<f32>().unwrap()
}

#[test]
fn bundled_files_match_their_checksums() {
    let checked = verify_sha256sums(&mnist_dir()).expect("bundled MNIST is intact");
    assert_eq!(checked.len(), 4, "{checked:?}");
}

#[test]
fn a_corrupted_copy_fails_the_checksum() {
    let dir = scratch("checksum");
    std::fs::copy(mnist_dir().join("SHA256SUMS"), dir.join("SHA256SUMS")).unwrap();
    for name in [
        "t10k-labels-idx1-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ] {
        std::fs::copy(mnist_dir().join(name), dir.join(name)).unwrap();
    }
    let mut bytes = std::fs::read(mnist_dir().join("train-images-idx3-ubyte.gz")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), bytes).unwrap();
    let err = verify_sha256sums(&dir).unwrap_err();
    assert!(matches!(err, DataError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("train-images"), "{err}");
}

#[test]
fn test_split_is_the_real_mnist() {
    let test = Mnist::load(&mnist_dir(), Split::Test, None).unwrap();
    assert_eq!(test.len(), 10_000);
    let mut counts = [0usize; 10];
    for label in test.labels().unwrap() {
        counts[*label as usize] += 1;
    }
    // The published class counts of the MNIST test set.
    assert_eq!(
        counts,
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

#[test]
fn train_split_has_sixty_thousand_images_with_the_known_mean() {
    let train = Mnist::load(&mnist_dir(), Split::Train, None).unwrap();
    assert_eq!(train.len(), 60_000);
    assert_eq!(
        train.labels().unwrap().iter().filter(|l| **l == 1).count(),
        6742
    );
    let mean = train.pixels().iter().map(|v| *v as f64).sum::<f64>() / (60_000.0 * 784.0) / 255.0;
    // The usual normalisation constant 0.1307 is this mean.
    assert!((mean - 0.1307).abs() < 5e-5, "{mean}");
}

#[test]
fn limit_keeps_the_first_examples_and_rejects_too_many() {
    let first = Mnist::load(&mnist_dir(), Split::Test, Some(100)).unwrap();
    let all = Mnist::load(&mnist_dir(), Split::Test, None).unwrap();
    assert_eq!(first.len(), 100);
    assert_eq!(first.image(99), all.image(99));
    assert_eq!(first.labels().unwrap(), &all.labels().unwrap()[..100]);
    let err = Mnist::load(&mnist_dir(), Split::Test, Some(10_001)).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LimitTooLarge {
                available: 10_000,
                ..
            }
        ),
        "{err}"
    );
}

/// A fresh directory for crafted files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latent-mnist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_split(dir: &Path, images: (&[usize], &[u8]), labels: (&[usize], &[u8])) {
    let (img_name, lbl_name) = Split::Test.file_names();
    // Raw (uncompressed) files under the names without .gz are accepted too.
    std::fs::write(
        dir.join(img_name.trim_end_matches(".gz")),
        encode_idx(images.0, images.1),
    )
    .unwrap();
    std::fs::write(
        dir.join(lbl_name.trim_end_matches(".gz")),
        encode_idx(labels.0, labels.1),
    )
    .unwrap();
}

#[test]
fn crafted_raw_files_load_and_each_inconsistency_is_an_error() {
    let dir = scratch("crafted");
    let pixels = vec![7u8; 3 * PIXELS];
    write_split(&dir, (&[3, 28, 28], &pixels), (&[3], &[1, 2, 3]));
    let ok = Mnist::load(&dir, Split::Test, None).unwrap();
    assert_eq!((ok.len(), ok.labels()), (3, Some(&[1u32, 2, 3][..])));

    write_split(&dir, (&[3, 28, 28], &pixels), (&[2], &[1, 2]));
    let err = Mnist::load(&dir, Split::Test, None).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                n_images: 3,
                n_labels: 2,
                ..
            }
        ),
        "{err}"
    );

    write_split(&dir, (&[3, 28, 28], &pixels), (&[3], &[1, 12, 3]));
    let err = Mnist::load(&dir, Split::Test, None).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                index: 1,
                label: 12,
                ..
            }
        ),
        "{err}"
    );

    write_split(&dir, (&[3, 14, 56], &pixels), (&[3], &[1, 2, 3]));
    let err = Mnist::load(&dir, Split::Test, None).unwrap_err();
    assert!(matches!(err, DataError::IdxBadDims { .. }) && err.to_string().contains("28 × 28"));

    write_split(
        &dir,
        (&[3, 28, 28], &pixels[..PIXELS * 2]),
        (&[3], &[1, 2, 3]),
    );
    let err = Mnist::load(&dir, Split::Test, None).unwrap_err();
    assert!(matches!(err, DataError::IdxLength { .. }), "{err}");
    assert!(err.to_string().contains("t10k-images-idx3-ubyte"), "{err}");

    std::fs::remove_dir_all(&dir).unwrap();
    let err = Mnist::load(&dir, Split::Test, None).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}

#[test]
fn grey_batches_are_scaled_pixels_with_labels() {
    let test = Mnist::load(&mnist_dir(), Split::Test, Some(64)).unwrap();
    let items = (0..8).map(|i| test.get(i).unwrap()).collect();
    let batch = MnistBatcher::grey().batch(items, &device());
    assert_eq!(batch.images.dims(), [8, PIXELS]);
    let values = floats(batch.images);
    assert_eq!(values[300], test.image(0)[300] as f32 / 255.0);
    let labels: Vec<i64> = batch.labels.unwrap().try_into_vec_as::<i64>().unwrap();
    let want: Vec<i64> = test.labels().unwrap()[..8]
        .iter()
        .map(|l| *l as i64)
        .collect();
    assert_eq!(labels, want);
}

#[test]
fn dynamic_binarisation_is_fresh_each_time_and_unbiased() {
    let test = Mnist::load(&mnist_dir(), Split::Test, Some(200)).unwrap();
    let items: Vec<_> = (0..200).map(|i| test.get(i).unwrap()).collect();
    let batcher = MnistBatcher::dynamic(1);
    let first = floats(batcher.batch(items.clone(), &device()).images);
    let second = floats(batcher.batch(items.clone(), &device()).images);
    assert!(first.iter().all(|v| *v == 0.0 || *v == 1.0));
    assert_ne!(first, second, "each presentation must draw afresh");
    // Same seed, same sequence of draws.
    assert_eq!(
        first,
        floats(
            MnistBatcher::dynamic(1)
                .batch(items.clone(), &device())
                .images
        )
    );
    // E[x] = v/255 per pixel: the total count of ones is within 4 standard errors.
    let probs: Vec<f64> = test.pixels().iter().map(|v| *v as f64 / 255.0).collect();
    let expected: f64 = probs.iter().sum();
    let se = probs.iter().map(|p| p * (1.0 - p)).sum::<f64>().sqrt();
    let ones: f64 = first.iter().map(|v| *v as f64).sum();
    assert!(
        (ones - expected).abs() < 4.0 * se,
        "{ones} vs {expected} ± {se}"
    );
}

#[test]
fn fixed_binarisation_ignores_batching_and_depends_on_the_seed() {
    let test = Mnist::load(&mnist_dir(), Split::Test, Some(30)).unwrap();
    let items: Vec<_> = (0..30).map(|i| test.get(i).unwrap()).collect();
    let whole = floats(
        MnistBatcher::fixed(5)
            .batch(items.clone(), &device())
            .images,
    );
    let tail = floats(
        MnistBatcher::fixed(5)
            .batch(items[10..].to_vec(), &device())
            .images,
    );
    assert_eq!(&whole[10 * PIXELS..], &tail[..]);
    let other = floats(MnistBatcher::fixed(6).batch(items, &device()).images);
    assert_ne!(whole, other);
    // Black pixels stay 0 and saturated pixels stay 1 whatever the draw.
    for (x, v) in whole.iter().zip(test.pixels()) {
        if *v == 0 {
            assert_eq!(*x, 0.0);
        }
        if *v == 255 {
            assert_eq!(*x, 1.0);
        }
    }
}

#[test]
fn burn_dataloader_batches_the_dataset() {
    let test = Mnist::load(&mnist_dir(), Split::Test, Some(250)).unwrap();
    let loader = DataLoaderBuilder::new(MnistBatcher::grey())
        .batch_size(64)
        .shuffle(3)
        .set_device(device())
        .build(test);
    let sizes: Vec<usize> = loader
        .iter()
        .map(|b| b.expect("batch").images.dims()[0])
        .collect();
    assert_eq!(sizes, vec![64, 64, 64, 58]);
    assert_eq!(loader.num_items(), 250);
}
