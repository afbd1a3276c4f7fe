//! Where the points of a mixture come from: a `.csv` / `.npy` file, or a split of MNIST (or of
//! a shift of it) as 784 grey levels per image. Parsed once from the `--data` text.

use std::fmt;
use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor};

use crate::domain::parse_source;
use crate::points::{read_points, Points};
use crate::{DataError, Domain, MnistBatcher, Result, Split};

/// A source of points `[n, d]`.
#[derive(Debug, Clone, PartialEq)]
pub enum PointSource {
    /// A split of MNIST, shifted by `domain` (784 grey levels in [0, 1] per image).
    Mnist {
        /// Training or test images.
        split: Split,
        /// The classes kept and the shifts applied.
        domain: Domain,
    },
    /// A `.csv` (header optional) or 2-D float `.npy` file, one point per row.
    File(PathBuf),
}

impl PointSource {
    /// `mnist`, `mnist:train`, `mnist:test`, optionally followed by shifts
    /// (`mnist:test:rotate=45`), or else a file path (even one whose name starts with
    /// "mnist").
    pub fn parse(spec: &str) -> Result<Self> {
        Ok(match parse_source(spec)? {
            Some((split, domain)) => PointSource::Mnist { split, domain },
            None => PointSource::File(PathBuf::from(spec)),
        })
    }

    /// The first `limit` points (all when `None`) on `device`. MNIST comes from `mnist_dir`,
    /// as grey levels, or with `binarize` = Some(seed) as the fixed seeded binarisation of each
    /// image (the same every run). A limit beyond the points there are is an error.
    pub fn load(
        &self,
        mnist_dir: &Path,
        limit: Option<usize>,
        binarize: Option<u64>,
        device: &Device,
    ) -> Result<Tensor<2>> {
        match self {
            PointSource::Mnist { split, domain } => {
                let data = domain.load(mnist_dir, *split, limit)?;
                let batcher = match binarize {
                    Some(seed) => MnistBatcher::fixed(seed),
                    None => MnistBatcher::grey(),
                };
                Ok(batcher.images(&data, 0..data.len(), device))
            }
            PointSource::File(path) => {
                Ok(first(read_points(path)?, limit, path)?.to_tensor(device))
            }
        }
    }
}

/// The first `limit` rows of `points` (read from `path`).
fn first(points: Points, limit: Option<usize>, path: &Path) -> Result<Points> {
    match limit {
        Some(requested) if requested > points.len() => Err(DataError::LimitTooLarge {
            path: path.to_path_buf(),
            requested,
            available: points.len(),
        }),
        Some(n) => Points::new(
            n,
            points.dim(),
            points.values()[..n * points.dim()].to_vec(),
        ),
        None => Ok(points),
    }
}

impl fmt::Display for PointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointSource::Mnist { split, domain } => {
                let split = match split {
                    Split::Train => "train",
                    Split::Test => "test",
                };
                let spec = domain.to_string();
                write!(f, "mnist:{split}{}", &spec["mnist".len()..])
            }
            PointSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist_specs_and_files_are_told_apart_and_printed_back() {
        for (spec, printed) in [
            ("mnist", "mnist:train"),
            ("mnist:test:rotate=45", "mnist:test:rotate=45"),
            ("mnist:classes=5-9", "mnist:train:classes=5-9"),
        ] {
            let source = PointSource::parse(spec).unwrap();
            assert!(matches!(source, PointSource::Mnist { .. }), "{spec}");
            assert_eq!(source.to_string(), printed);
            assert_eq!(PointSource::parse(printed).unwrap(), source);
        }
        assert_eq!(
            PointSource::parse("mnist_points.csv").unwrap(),
            PointSource::File("mnist_points.csv".into())
        );
        assert!(PointSource::parse("mnist:test:spin=3").is_err());
    }

    #[test]
    #[allow(deprecated)] // ndarray is the project's default CPU backend.
    fn a_limit_beyond_the_file_is_refused_with_its_size() {
        let path = std::env::temp_dir().join(format!("latent-source-{}.csv", std::process::id()));
        std::fs::write(&path, "1,2\n3,4\n5,6\n").unwrap();
        let device = Device::ndarray();
        let source = PointSource::File(path.clone());
        let x = source.load(Path::new("."), Some(2), None, &device).unwrap();
        assert_eq!(x.dims(), [2, 2]);
        let err = source
            .load(Path::new("."), Some(4), None, &device)
            .unwrap_err();
        assert!(err.to_string().contains("only 3"), "{err}");
        let _ = std::fs::remove_file(path);
    }
}
