//! A user's own data through [`DataSource`] specs, on files these tests write: `.npy` arrays of
//! each layout and dtype, IDX pairs of another image size, PNG folders, CSV tables, and every
//! kind of bad input as a clear error.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use latent_data::idx::encode_idx;
use latent_data::{DataSource, ExampleBatcher, ExampleShape, Examples, Split, Values};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latent-sources-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[allow(deprecated)] // ndarray is the project's default CPU backend.
fn device() -> Device {
    Device::ndarray()
}

/// An `.npy` file of `shape` with the element type `descr` and the raw little-endian `data`.
fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    std::fs::write(path, latent_data::npy::encode(descr, shape, data)).unwrap();
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn f64_bytes(values: &[f64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn i64_bytes(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn load(spec: &str) -> latent_data::Result<Examples> {
    DataSource::parse(spec)?.load(Path::new("."), Split::Train, None)
}

fn floats(data: &Examples, i: usize) -> Vec<f32> {
    match data.values(i) {
        Values::Floats(v) => v.to_vec(),
        Values::Bytes(b) => b.iter().map(|v| *v as f32).collect(),
    }
}

#[test]
fn npy_vectors_grey_and_colour_images_in_every_dtype_and_layout() {
    let dir = scratch("npy");
    // [N, D] float32 vectors with int64 labels.
    let vectors = dir.join("x.npy");
    let values: Vec<f32> = (0..12).map(|v| v as f32 * 0.5 - 2.0).collect();
    write_npy(&vectors, "<f4", &[4, 3], &f32_bytes(&values));
    let labels = dir.join("y.npy");
    write_npy(&labels, "<i8", &[4], &i64_bytes(&[2, 0, 1, 2]));
    let data = load(&format!(
        "{}:labels={}",
        vectors.display(),
        labels.display()
    ))
    .unwrap();
    assert_eq!(data.len(), 4);
    assert_eq!(data.shape(), ExampleShape::Vector { dim: 3 });
    assert!(!data.is_bytes());
    assert_eq!(floats(&data, 1), vec![-0.5, 0.0, 0.5]);
    assert_eq!(data.labels().unwrap(), &[2, 0, 1, 2]);
    assert!(!data.unit_interval(), "values below 0 are real values");

    // [N, H, W] uint8 grey images: scaled to [0, 1] as inputs.
    let grey = dir.join("grey.npy");
    let pixels: Vec<u8> = (0..2 * 2 * 3).map(|v| (v * 20) as u8).collect();
    write_npy(&grey, "|u1", &[2, 2, 3], &pixels);
    let data = load(grey.to_str().unwrap()).unwrap();
    assert_eq!(data.shape(), ExampleShape::grey(2, 3));
    assert!(data.is_bytes() && data.unit_interval() && data.labels().is_none());
    let x = ExampleBatcher::grey()
        .images(&data, 0..2, &device())
        .try_into_vec_as::<f32>()
        .unwrap();
    assert!((x[7] - 140.0 / 255.0).abs() < 1e-6, "{}", x[7]);

    // [N, H, W, C] uint8 colour images are stored planar (C × H × W).
    let colour = dir.join("colour.npy");
    // Two 1 × 2 images, RGB interleaved: pixel p of image i has (10i + p, 100 + p, 200 + p).
    let interleaved: Vec<u8> = (0..2u8)
        .flat_map(|i| (0..2u8).flat_map(move |p| [10 * i + p, 100 + p, 200 + p]))
        .collect();
    write_npy(&colour, "|u1", &[2, 1, 2, 3], &interleaved);
    let data = load(colour.to_str().unwrap()).unwrap();
    assert_eq!(
        data.shape(),
        ExampleShape::Image {
            height: 1,
            width: 2,
            channels: 3
        }
    );
    assert_eq!(data.image(1), &[10, 11, 100, 101, 200, 201]);

    // [N, C, H, W] float64 with channels-first: already planar, converted to float32.
    let planar = dir.join("planar.npy");
    let values: Vec<f64> = (0..2 * 3 * 2 * 2).map(|v| v as f64 / 24.0).collect();
    write_npy(&planar, "<f8", &[2, 3, 2, 2], &f64_bytes(&values));
    let data = load(&format!("{}:channels-first", planar.display())).unwrap();
    assert_eq!(data.shape().image(), Some((2, 2, 3)));
    let expected: Vec<f32> = values[12..].iter().map(|v| *v as f32).collect();
    assert_eq!(floats(&data, 1), expected);
    assert!(data.unit_interval(), "values in [0, 1] may be pixel means");

    // Without the flag, [2, 3, 2, 2] is a 2 × 3 image of 2 channels: refused, naming the forms.
    let err = load(planar.to_str().unwrap()).unwrap_err().to_string();
    assert!(
        err.contains("[2, 3, 2, 2]") && err.contains("channels-first"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn idx_images_of_another_size_with_their_labels_gzipped_or_not() {
    let dir = scratch("idx");
    let (n, h, w) = (6, 5, 7);
    let pixels: Vec<u8> = (0..n * h * w).map(|v| (v % 251) as u8).collect();
    let images = dir.join("images-idx3-ubyte");
    std::fs::write(&images, encode_idx(&[n, h, w], &pixels)).unwrap();
    let labels = dir.join("labels-idx1-ubyte.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &encode_idx(&[n], &[3, 1, 4, 1, 5, 9])).unwrap();
    std::fs::write(&labels, gz.finish().unwrap()).unwrap();
    let data = load(&format!("{}:labels={}", images.display(), labels.display())).unwrap();
    assert_eq!(data.shape(), ExampleShape::grey(h, w));
    assert_eq!(data.len(), n);
    assert_eq!(data.image(2), &pixels[2 * h * w..3 * h * w]);
    assert_eq!(data.labels().unwrap(), &[3, 1, 4, 1, 5, 9]);
    // The shifts of MNIST apply to any 8-bit images, and classes to their labels.
    let kept = load(&format!(
        "{}:labels={}:classes=1,9:invert",
        images.display(),
        labels.display()
    ))
    .unwrap();
    assert_eq!(kept.labels().unwrap(), &[1, 1, 9]);
    let inverted: Vec<u8> = pixels[h * w..2 * h * w].iter().map(|v| 255 - v).collect();
    assert_eq!(kept.image(0), &inverted[..]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_png_folder_of_classes_with_size_grey_and_a_shift() {
    let dir = scratch("folder");
    for (class, shade) in [("cats", 30u8), ("dogs", 220u8)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..3u8 {
            let image = image::RgbImage::from_pixel(6, 4, image::Rgb([shade, i * 10, 255 - shade]));
            image
                .save(dir.join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let data = load(dir.to_str().unwrap()).unwrap();
    assert_eq!(data.len(), 6);
    assert_eq!(data.shape().image(), Some((4, 6, 3)));
    assert_eq!(
        data.classes().unwrap(),
        &["cats".to_string(), "dogs".into()]
    );
    assert_eq!(data.labels().unwrap(), &[0, 0, 0, 1, 1, 1]);
    // Planar: the red plane of a dog is all 220.
    assert!(data.image(4)[..24].iter().all(|v| *v == 220));
    let small = load(&format!("{}:size=2x3:grey:rotate=180", dir.display())).unwrap();
    assert_eq!(small.shape(), ExampleShape::grey(2, 3));
    // A constant image stays constant through resizing, greying and a half turn.
    let first = small.image(0);
    assert!(first.iter().all(|v| v.abs_diff(first[0]) <= 1), "{first:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_tables_with_or_without_a_header() {
    let dir = scratch("csv");
    let with = dir.join("with.csv");
    std::fs::write(&with, "a,b\n1.5,-2\n3,4e1\n").unwrap();
    let without = dir.join("without.csv");
    std::fs::write(&without, "1.5,-2\n3,4e1\n").unwrap();
    for path in [with, without] {
        let data = load(path.to_str().unwrap()).unwrap();
        assert_eq!(data.shape(), ExampleShape::Vector { dim: 2 });
        assert_eq!(floats(&data, 1), vec![3.0, 40.0]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_seeded_test_fraction_is_the_same_every_time_and_disjoint() {
    let dir = scratch("fraction");
    let path = dir.join("x.npy");
    let values: Vec<f32> = (0..100).map(|v| v as f32).collect();
    write_npy(&path, "<f4", &[100, 1], &f32_bytes(&values));
    let data = load(path.to_str().unwrap()).unwrap();
    let (train, test) = data.split_off(0.2, 7).unwrap();
    assert_eq!((train.len(), test.len()), (80, 20));
    let (_, again) = data.split_off(0.2, 7).unwrap();
    let firsts = |d: &Examples| (0..d.len()).map(|i| floats(d, i)[0]).collect::<Vec<_>>();
    assert_eq!(firsts(&test), firsts(&again));
    let mut all: Vec<f32> = firsts(&train).into_iter().chain(firsts(&test)).collect();
    all.sort_by(f32::total_cmp);
    assert_eq!(all, values);
    let (_, other) = data.split_off(0.2, 8).unwrap();
    assert_ne!(
        firsts(&test),
        firsts(&other),
        "another seed, another test set"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_are_errors_that_say_what_is_wrong() {
    let dir = scratch("bad");
    let x = dir.join("x.npy");
    write_npy(
        &x,
        "<f4",
        &[3, 2],
        &f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
    );
    let expect = |spec: String, needle: &str| {
        let err = load(&spec).unwrap_err().to_string();
        assert!(err.contains(needle), "{spec}: `{err}` lacks `{needle}`");
    };
    // Mismatched image and label counts.
    let two = dir.join("two.npy");
    write_npy(&two, "<i8", &[2], &i64_bytes(&[0, 1]));
    expect(format!("{}:labels={}", x.display(), two.display()), "3");
    // Labels that are not integers, or negative.
    let float_labels = dir.join("fl.npy");
    write_npy(&float_labels, "<f4", &[3], &f32_bytes(&[0.0, 1.0, 0.5]));
    expect(
        format!("{}:labels={}", x.display(), float_labels.display()),
        "integers",
    );
    let negative = dir.join("neg.npy");
    write_npy(&negative, "<i8", &[3], &i64_bytes(&[0, -1, 2]));
    expect(
        format!("{}:labels={}", x.display(), negative.display()),
        "label -1",
    );
    // NaN and infinite values name the row.
    for (name, bad) in [("nan.npy", f32::NAN), ("inf.npy", f32::INFINITY)] {
        let path = dir.join(name);
        write_npy(&path, "<f4", &[2, 2], &f32_bytes(&[0.0, 1.0, bad, 3.0]));
        expect(path.display().to_string(), "not finite");
    }
    // 1-D and 5-D arrays, and integer arrays as examples.
    let flat = dir.join("flat.npy");
    write_npy(&flat, "<f4", &[4], &f32_bytes(&[0.0; 4]));
    expect(flat.display().to_string(), "[4]");
    let five = dir.join("five.npy");
    write_npy(&five, "|u1", &[1, 1, 1, 1, 1], &[0]);
    expect(five.display().to_string(), "[1, 1, 1, 1, 1]");
    let ints = dir.join("ints.npy");
    write_npy(&ints, "<i8", &[2, 1], &i64_bytes(&[1, 2]));
    expect(ints.display().to_string(), "labels, not examples");
    // A truncated array.
    let short = dir.join("short.npy");
    write_npy(&short, "<f4", &[3, 2], &f32_bytes(&[0.0; 5]));
    assert!(load(short.to_str().unwrap()).is_err());
    // An empty folder, and an unreadable image named by its file.
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    expect(empty.display().to_string(), "no .png");
    let broken = dir.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    image::GrayImage::new(3, 3)
        .save(broken.join("fine.png"))
        .unwrap();
    std::fs::write(broken.join("torn.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    expect(broken.display().to_string(), "torn.png");
    // Options that do not fit the source, shifts on real values, classes without labels.
    expect(format!("{}:size=2x2", x.display()), "folder");
    expect(format!("{}:grey", x.display()), "folder");
    expect(format!("{}:rotate=10", x.display()), "8-bit images");
    expect(format!("{}:classes=1", x.display()), "labelled");
    expect("cifar10".into(), "neither `mnist` nor `digits`");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_bundled_digits_are_intact_and_split_as_documented() {
    let dir = latent_data::default_digits_dir();
    let checked = latent_data::verify_sha256sums(&dir).unwrap();
    assert_eq!(checked.len(), 4, "{checked:?}");
    let source = DataSource::parse("digits").unwrap();
    let train = source.load(Path::new("."), Split::Train, None).unwrap();
    let test = source.load(Path::new("."), Split::Test, None).unwrap();
    assert_eq!((train.len(), test.len()), (1497, 300));
    assert_eq!(train.shape(), ExampleShape::grey(8, 8));
    // scikit-learn's 1,797 digits hold 178–183 of each class.
    let counts: Vec<usize> = train
        .class_counts()
        .iter()
        .zip(test.class_counts())
        .map(|(a, b)| a + b)
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 1797);
    assert!(counts.iter().all(|c| (174..=183).contains(c)), "{counts:?}");
}
