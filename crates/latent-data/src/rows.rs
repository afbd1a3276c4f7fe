//! Points read a chunk of rows at a time, for fits over data larger than memory:
//! [`RowSource`], implemented by [`NpyRows`] (a 2-D float `.npy`, read with positioned reads
//! into a buffer the size of the chunk, so that neither the file nor its page mapping grows
//! the process) and by [`Points`] in memory.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::npy::{floats, read_header, Dtype};
use crate::Points;

/// N points of dimension D that can be read `count` rows at a time.
pub trait RowSource {
    /// N.
    fn len(&self) -> usize;
    /// Whether there are no points.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// D.
    fn dim(&self) -> usize;
    /// Rows `start..start + count`, row-major, as f32. Every value must be finite: a NaN or
    /// infinite value is an error naming its row.
    fn rows(&self, start: usize, count: usize) -> Result<Vec<f32>>;
}

impl RowSource for Points {
    fn len(&self) -> usize {
        Points::len(self)
    }
    fn dim(&self) -> usize {
        Points::dim(self)
    }
    fn rows(&self, start: usize, count: usize) -> Result<Vec<f32>> {
        let d = Points::dim(self);
        Ok(self.values()[start * d..(start + count) * d]
            .iter()
            .map(|v| *v as f32)
            .collect())
    }
}

/// A 2-D float32 or float64 `.npy` (C order) read in chunks of rows.
#[derive(Debug)]
pub struct NpyRows {
    path: PathBuf,
    file: File,
    n: usize,
    d: usize,
    width: usize,
    little: bool,
    data_start: u64,
}

impl NpyRows {
    /// Opens `path` and checks its header and size; reads no data.
    pub fn open(path: &Path) -> Result<Self> {
        let header = read_header(path)?;
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        let err = |problem: String| DataError::Npy {
            path: path.to_path_buf(),
            problem,
        };
        let Dtype::Float { width, little } = header.dtype else {
            return Err(err(format!(
                "dtype {} cannot be streamed; save the points as float32 or float64",
                header.descr
            )));
        };
        if header.fortran {
            return Err(err(
                "a Fortran-order array cannot be streamed by rows; save it in C order \
                 (numpy.ascontiguousarray)"
                    .into(),
            ));
        }
        let [n, d] = header.shape[..] else {
            return Err(err(format!(
                "array has shape {:?}; points must be a 2-D array (n, d)",
                header.shape
            )));
        };
        if n == 0 || d == 0 {
            return Err(DataError::Empty {
                path: path.to_path_buf(),
            });
        }
        let size = file.metadata().map_err(|e| DataError::io(path, e))?.len();
        let want = (header.data_start + n * d * width) as u64;
        if size != want {
            return Err(err(format!(
                "shape ({n}, {d}) of {} needs {want} bytes in all, the file has {size}",
                header.descr
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            n,
            d,
            width,
            little,
            data_start: header.data_start as u64,
        })
    }
}

impl RowSource for NpyRows {
    fn len(&self) -> usize {
        self.n
    }
    fn dim(&self) -> usize {
        self.d
    }
    fn rows(&self, start: usize, count: usize) -> Result<Vec<f32>> {
        let bytes_per_row = self.d * self.width;
        let mut raw = vec![0u8; count * bytes_per_row];
        self.file
            .read_exact_at(&mut raw, self.data_start + (start * bytes_per_row) as u64)
            .map_err(|e| DataError::io(&self.path, e))?;
        let values = floats(&raw, self.width, self.little);
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(DataError::Points {
                path: self.path.clone(),
                line: start + i / self.d + 1,
                problem: format!(
                    "column {}: {} is not finite (streamed fits take no missing values)",
                    i % self.d + 1,
                    values[i]
                ),
            });
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_rows_read_any_chunk_of_float32_and_float64_files() {
        let dir = std::env::temp_dir().join(format!("latent-rows-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let values: Vec<f64> = (0..21).map(|i| i as f64 * 0.5 - 3.0).collect();
        let points = Points::new(7, 3, values.clone()).unwrap();
        let f64_path = dir.join("p64.npy");
        crate::write_points(&points, &f64_path).unwrap();
        let f32_path = dir.join("p32.npy");
        let narrow: Vec<f32> = values.iter().map(|v| *v as f32).collect();
        std::fs::write(&f32_path, crate::points::encode_npy_f32(&narrow, &[7, 3])).unwrap();
        for path in [&f64_path, &f32_path] {
            let rows = NpyRows::open(path).unwrap();
            assert_eq!((rows.len(), rows.dim()), (7, 3));
            assert_eq!(rows.rows(2, 3).unwrap(), narrow[6..15].to_vec());
            assert_eq!(rows.rows(0, 7).unwrap(), points.rows(0, 7).unwrap());
        }
        std::fs::write(&f32_path, crate::points::encode_npy_f32(&narrow, &[21])).unwrap();
        let one_d = NpyRows::open(&f32_path).unwrap_err().to_string();
        assert!(one_d.contains("2-D"), "{one_d}");
        let mut bad = narrow.clone();
        bad[10] = f32::NAN;
        std::fs::write(&f32_path, crate::points::encode_npy_f32(&bad, &[7, 3])).unwrap();
        let rows = NpyRows::open(&f32_path).unwrap();
        assert!(rows.rows(0, 3).is_ok());
        let nan = rows.rows(3, 2).unwrap_err();
        assert!(matches!(nan, DataError::Points { line: 4, .. }), "{nan}");
        let bytes = std::fs::read(&f64_path).unwrap();
        std::fs::write(&f64_path, &bytes[..bytes.len() - 8]).unwrap();
        let short = NpyRows::open(&f64_path).unwrap_err().to_string();
        assert!(short.contains("needs"), "{short}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
