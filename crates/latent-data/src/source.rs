//! Where the points of a mixture come from: any [`DataSource`] — a file, a folder, or a split
//! of a bundled data set (`mnist:test`) — as a tensor `[n, d]`. Parsed once from the `--data`
//! text.

use std::fmt;
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};

use crate::domain::{parse_source, DataSource, Origin};
use crate::{DataError, ExampleBatcher, Examples, Result, Split};

/// A source of points `[n, d]`: a data source and, for a bundled one, which split.
#[derive(Debug, Clone, PartialEq)]
pub struct PointSource {
    /// The examples.
    pub source: DataSource,
    /// The split of a bundled data set (a file's examples are all taken).
    pub split: Split,
}

impl PointSource {
    /// `mnist`, `mnist:train`, `mnist:test` (likewise `digits`), optionally followed by shifts
    /// (`mnist:test:rotate=45`), or any other [`DataSource`] spec (a `.csv`, `.npy`, IDX file
    /// or image folder, even one whose name starts with "mnist").
    pub fn parse(spec: &str) -> Result<Self> {
        Ok(match parse_source(spec)? {
            Some((split, source)) => PointSource { source, split },
            None => PointSource {
                source: DataSource::parse(spec)?,
                split: Split::Train,
            },
        })
    }

    /// The first `limit` points (all when `None`) on `device`: 8-bit values as grey levels in
    /// [0, 1], or with `binarize` = Some(seed) as the fixed seeded binarisation of each example
    /// (the same every run); real values as they are. MNIST comes from `mnist_dir`. A limit
    /// beyond the points there are is an error.
    pub fn load(
        &self,
        mnist_dir: &Path,
        limit: Option<usize>,
        binarize: Option<u64>,
        device: &Device,
    ) -> Result<Tensor<2>> {
        let data = self.examples(mnist_dir, limit)?;
        Ok(Self::points(&data, binarize, device))
    }

    /// The file of a spec that names one file and no options (no labels, classes, shifts or
    /// image settings); `None` otherwise.
    pub fn plain_file(&self) -> Option<&Path> {
        let plain = DataSource {
            origin: self.source.origin.clone(),
            ..DataSource::default()
        };
        match &self.source.origin {
            Origin::Path(path) if self.source == plain && path.is_file() => Some(path),
            _ => None,
        }
    }

    /// As [`PointSource::load`], except that a table given as it is (no options) — a `.csv`,
    /// or a 2-D float `.npy` in C order — may have missing values, which come back as NaN
    /// (see [`read_points_allowing_missing`](crate::read_points_allowing_missing)); such a
    /// table is read once, and without missing values gives what `load` gives. Any other source
    /// is loaded by `load`. Returns the points and whether any of them is missing a value.
    pub fn load_allowing_missing(
        &self,
        mnist_dir: &Path,
        limit: Option<usize>,
        binarize: Option<u64>,
        device: &Device,
    ) -> Result<(Tensor<2>, bool)> {
        let Some(path) = self.plain_file().filter(|p| is_float_table(p)) else {
            return Ok((self.load(mnist_dir, limit, binarize, device)?, false));
        };
        let (values, d) = crate::points::read_points_allowing_missing(path)?;
        let n = values.len() / d;
        let keep = match limit {
            Some(requested) if requested > n => {
                return Err(DataError::SpecTooSmall {
                    spec: self.source.to_string(),
                    split: "training",
                    requested,
                    available: n,
                })
            }
            Some(requested) => requested,
            None => n,
        };
        let values: Vec<f32> = values[..keep * d].iter().map(|v| *v as f32).collect();
        let missing = values.iter().any(|v| v.is_nan());
        let x = Tensor::from_data(TensorData::new(values, [keep, d]), device);
        Ok((x, missing))
    }

    /// The first `limit` examples (all when `None`), as read: their shape, labels and values.
    pub fn examples(&self, mnist_dir: &Path, limit: Option<usize>) -> Result<Examples> {
        self.source.load(mnist_dir, self.split, limit)
    }

    /// `data` as points `[n, d]` on `device`, as [`PointSource::load`] makes them.
    pub fn points(data: &Examples, binarize: Option<u64>, device: &Device) -> Tensor<2> {
        let batcher = match binarize {
            Some(seed) if data.is_bytes() => ExampleBatcher::fixed(seed),
            _ => ExampleBatcher::grey(),
        };
        batcher.images(data, 0..data.len(), device)
    }
}

/// A `.csv`, or a `.npy` whose header says 2-D float32/float64 in C order: the files whose
/// points are their values as they are. (Other `.npy` files — images, bytes, Fortran order —
/// and a header that does not parse go to the general loader, which says what is wrong.)
fn is_float_table(path: &Path) -> bool {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if extension.eq_ignore_ascii_case("csv") {
        return true;
    }
    extension.eq_ignore_ascii_case("npy")
        && crate::npy::read_header(path).is_ok_and(|h| {
            matches!(h.dtype, crate::npy::Dtype::Float { .. }) && h.shape.len() == 2 && !h.fortran
        })
}

impl fmt::Display for PointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.source.has_splits() {
            return write!(f, "{}", self.source);
        }
        let split = match self.split {
            Split::Train => "train",
            Split::Test => "test",
        };
        let spec = self.source.to_string();
        let (name, rest) = spec.split_once(':').unwrap_or((&spec, ""));
        if rest.is_empty() {
            write!(f, "{name}:{split}")
        } else {
            write!(f, "{name}:{split}:{rest}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)] // ndarray is the project's default CPU backend.
    fn tables_that_may_miss_values_load_as_the_general_loader_loads_them() {
        let dir = std::env::temp_dir().join(format!("latent-missing-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let device = Device::ndarray();
        let values = |x: Tensor<2>| x.try_into_vec_as::<f32>().unwrap();
        let bytes: Vec<u8> = (0..48).map(|i| (i * 5) as u8).collect();
        let floats: Vec<u8> = (0..12)
            .flat_map(|i| (i as f32 * 0.25 - 1.0).to_le_bytes())
            .collect();
        let csv = dir.join("t.csv");
        std::fs::write(&csv, "1,2.5\n-3,4\n0.1,6\n").unwrap();
        let cases = [
            ("images.npy", crate::npy::encode("|u1", &[3, 4, 4], &bytes)),
            ("vectors.npy", crate::npy::encode("<f4", &[4, 3], &floats)),
            ("cube.npy", crate::npy::encode("<f4", &[1, 3, 4], &floats)),
        ];
        let mut paths = vec![csv];
        for (name, file) in cases {
            let path = dir.join(name);
            std::fs::write(&path, file).unwrap();
            paths.push(path);
        }
        for path in &paths {
            let source = PointSource::parse(path.to_str().unwrap()).unwrap();
            for limit in [None, Some(1)] {
                let general = source.load(Path::new("."), limit, None, &device).unwrap();
                let (table, missing) = source
                    .load_allowing_missing(Path::new("."), limit, None, &device)
                    .unwrap();
                assert!(!missing, "{path:?}");
                assert_eq!(table.dims(), general.dims(), "{path:?}");
                assert_eq!(values(table), values(general), "{path:?}");
            }
        }
        std::fs::write(&paths[0], "1,2\n,4\n").unwrap();
        let source = PointSource::parse(paths[0].to_str().unwrap()).unwrap();
        let (x, missing) = source
            .load_allowing_missing(Path::new("."), None, None, &device)
            .unwrap();
        assert!(missing && values(x)[2].is_nan());
        let (_, first) = source
            .load_allowing_missing(Path::new("."), Some(1), None, &device)
            .unwrap();
        assert!(!first, "the missing value lies beyond the limit");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bundled_specs_and_files_are_told_apart_and_printed_back() {
        for (spec, printed) in [
            ("mnist", "mnist:train"),
            ("mnist:test:rotate=45", "mnist:test:rotate=45"),
            ("mnist:classes=5-9", "mnist:train:classes=5-9"),
            ("digits:test", "digits:test"),
        ] {
            let source = PointSource::parse(spec).unwrap();
            assert!(source.source.has_splits(), "{spec}");
            assert_eq!(source.to_string(), printed);
            assert_eq!(PointSource::parse(printed).unwrap(), source);
        }
        let path = std::env::temp_dir().join(format!("mnist_points-{}.csv", std::process::id()));
        std::fs::write(&path, "1,2\n").unwrap();
        let file = PointSource::parse(path.to_str().unwrap()).unwrap();
        assert!(
            !file.source.has_splits(),
            "a file named like mnist is a file"
        );
        assert!(PointSource::parse("mnist:test:spin=3").is_err());
        let _ = std::fs::remove_file(path);
    }

    #[test]
    #[allow(deprecated)] // ndarray is the project's default CPU backend.
    fn a_limit_beyond_the_file_is_refused_with_its_size() {
        let path = std::env::temp_dir().join(format!("latent-source-{}.csv", std::process::id()));
        std::fs::write(&path, "1,2\n3,4\n5,6\n").unwrap();
        let device = Device::ndarray();
        let source = PointSource::parse(path.to_str().unwrap()).unwrap();
        let x = source.load(Path::new("."), Some(2), None, &device).unwrap();
        assert_eq!(x.dims(), [2, 2]);
        let err = source
            .load(Path::new("."), Some(4), None, &device)
            .unwrap_err();
        assert!(err.to_string().contains("only 3"), "{err}");
        let _ = std::fs::remove_file(path);
    }
}
