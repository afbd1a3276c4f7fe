//! N×D point sets for the mixture models: CSV (header optional) and NumPy `.npy` (f32/f64, 2-D).

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{DataError, Result};

/// N points of dimension D, row-major, as f64 (the host-side precision of EM's small
/// factorisations). Every value is finite.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    n: usize,
    d: usize,
    values: Vec<f64>,
}

impl Points {
    /// Points from row-major `values` (`n * d` of them). Fails on a length mismatch, no rows,
    /// zero columns or a non-finite value.
    pub fn new(n: usize, d: usize, values: Vec<f64>) -> Result<Self> {
        let invalid = |problem: String| DataError::InvalidMixture(problem);
        if n == 0 || d == 0 {
            return Err(invalid(format!(
                "points need n ≥ 1 and d ≥ 1, got {n} × {d}"
            )));
        }
        if values.len() != n * d {
            return Err(invalid(format!(
                "{} values for {n} × {d} points",
                values.len()
            )));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!(
                "value at row {}, column {} is {}",
                i / d + 1,
                i % d + 1,
                values[i]
            )));
        }
        Ok(Self { n, d, values })
    }

    /// The number of points N.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no points (never: [`Points::new`] refuses an empty set).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The dimension D of each point.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// All values, point after point (`n * d` of them).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The mean and the (population) standard deviation of each column.
    pub fn column_stats(&self) -> (Vec<f64>, Vec<f64>) {
        let (n, d) = (self.len() as f64, self.dim());
        let mut mean = vec![0.0; d];
        for i in 0..self.len() {
            for (m, v) in mean.iter_mut().zip(self.row(i)) {
                *m += v / n;
            }
        }
        let mut std = vec![0.0; d];
        for i in 0..self.len() {
            for ((s, v), m) in std.iter_mut().zip(self.row(i)).zip(&mean) {
                *s += (v - m).powi(2) / n;
            }
        }
        std.iter_mut().for_each(|s| *s = s.sqrt());
        (mean, std)
    }

    /// Point `i` (panics if `i` is out of range).
    pub fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.d..(i + 1) * self.d]
    }

    /// The points as a float tensor `[n, d]` on `device`.
    pub fn to_tensor(&self, device: &Device) -> Tensor<2> {
        let values: Vec<f32> = self.values.iter().map(|v| *v as f32).collect();
        Tensor::from_data(TensorData::new(values, [self.n, self.d]), device)
    }

    /// Writes the points as CSV (no header).
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        for i in 0..self.n {
            let row: Vec<String> = self.row(i).iter().map(|v| v.to_string()).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }
}

/// Reads a `.csv` or `.npy` file, chosen by extension.
pub fn read_points(path: &Path) -> Result<Points> {
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => read_csv(path),
        Some(ext) if ext.eq_ignore_ascii_case("npy") => read_npy(path),
        _ => Err(DataError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// Reads per-point weights (for the mixtures' `--sample-weights`): a `.csv` of one column
/// (header optional) or a `.npy` of shape `[n]` or `[n, 1]`, float32 or float64. Whether they
/// are ≥ 0 and one per point is checked where they are used.
pub fn read_sample_weights(path: &Path) -> Result<Vec<f64>> {
    let points = if has_npy_extension(path) {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        parse_npy_of(path, &bytes, true)?
    } else {
        read_points(path)?
    };
    if points.dim() != 1 {
        return Err(DataError::Points {
            path: path.to_path_buf(),
            line: 1,
            problem: format!(
                "{} columns; a weights file holds one value per point (one column)",
                points.dim()
            ),
        });
    }
    Ok(points.values().to_vec())
}

/// Reads comma-separated numbers, one point per line.
///
/// The first non-blank line is a header if none of its cells is a number; blank lines and
/// lines starting with `#` are skipped. Ragged rows, non-numeric cells, NaN or infinite values
/// and a file with no data rows are errors naming the line (1-based).
pub fn read_csv(path: &Path) -> Result<Points> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    parse_csv(path, &text)
}

fn parse_csv(path: &Path, text: &str) -> Result<Points> {
    let (values, n, d) = parse_csv_values(path, text, false)?;
    Points::new(n, d, values)
}

/// Reads a `.csv` or `.npy` of points as [`read_points`] does, except that missing values
/// are allowed and come back as NaN: in a CSV an empty cell, `NaN`, `nan`, `NA` or `?`; in a
/// `.npy` a NaN. Infinite values are still refused. Returns the row-major values and the
/// dimension.
pub fn read_points_allowing_missing(path: &Path) -> Result<(Vec<f64>, usize)> {
    let (values, _, d) = if has_npy_extension(path) {
        let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
        npy_values(path, &bytes, false, true)?
    } else if path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
    {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        parse_csv_values(path, &text, true)?
    } else {
        return Err(DataError::UnknownFormat {
            path: path.to_path_buf(),
        });
    };
    Ok((values, d))
}

/// A CSV cell that stands for a missing value (with `missing` allowed).
fn is_missing_cell(cell: &str) -> bool {
    matches!(cell, "" | "NaN" | "nan" | "NA" | "?")
}

/// The values, rows and columns of a CSV; missing cells as NaN where `missing` allows them.
fn parse_csv_values(path: &Path, text: &str, missing: bool) -> Result<(Vec<f64>, usize, usize)> {
    let err = |line: usize, problem: String| DataError::Points {
        path: path.to_path_buf(),
        line,
        problem,
    };
    let mut values = Vec::new();
    let mut d: Option<usize> = None;
    let mut n = 0;
    let mut seen_first = false;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        if !seen_first {
            seen_first = true;
            let numeric = |c: &&str| c.parse::<f64>().is_ok() || (missing && is_missing_cell(c));
            if !cells.iter().any(numeric) {
                d = Some(cells.len());
                continue; // header
            }
        }
        match d {
            Some(expected) if expected != cells.len() => {
                return Err(err(
                    line_no,
                    format!("{} columns, expected {expected} (ragged row)", cells.len()),
                ))
            }
            _ => d = Some(cells.len()),
        }
        for (c, cell) in cells.iter().enumerate() {
            if missing && is_missing_cell(cell) {
                values.push(f64::NAN);
                continue;
            }
            let value: f64 = cell.parse().map_err(|_| {
                err(
                    line_no,
                    format!("column {}: {cell:?} is not a number", c + 1),
                )
            })?;
            if missing && value.is_nan() {
                values.push(value);
                continue;
            }
            if !value.is_finite() {
                return Err(err(
                    line_no,
                    format!("column {}: {cell} is not finite", c + 1),
                ));
            }
            values.push(value);
        }
        n += 1;
    }
    match (n, d) {
        (0, _) | (_, None) => Err(DataError::Empty {
            path: path.to_path_buf(),
        }),
        (n, Some(d)) => Ok((values, n, d)),
    }
}

/// Reads a NumPy `.npy` file (format versions 1–3) holding a 2-D array of f32 or f64, either
/// byte order, C or Fortran order.
pub fn read_npy(path: &Path) -> Result<Points> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_npy(path, &bytes)
}

fn parse_npy(path: &Path, bytes: &[u8]) -> Result<Points> {
    parse_npy_of(path, bytes, false)
}

fn has_npy_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// A `.npy` of shape `[n, d]` (or `[n]`, as `[n, 1]`, when `one_d` allows it) as points.
fn parse_npy_of(path: &Path, bytes: &[u8], one_d: bool) -> Result<Points> {
    let (values, n, d) = npy_values(path, bytes, one_d, false)?;
    Points::new(n, d, values)
}

/// The values, rows and columns of a `.npy` of points; NaN kept where `missing` allows it.
fn npy_values(
    path: &Path,
    bytes: &[u8],
    one_d: bool,
    missing: bool,
) -> Result<(Vec<f64>, usize, usize)> {
    let err = |problem: String| DataError::Npy {
        path: path.to_path_buf(),
        problem,
    };
    let header = crate::npy::parse_header(path, bytes)?;
    let (little_endian, width) = match header.dtype {
        crate::npy::Dtype::Float { width, little } => (little, width),
        _ => {
            return Err(err(format!(
                "dtype {} is not supported; save the array as float32 or float64",
                header.descr
            )))
        }
    };
    let (descr, fortran, shape, data_start) = (
        header.descr,
        header.fortran,
        header.shape,
        header.data_start,
    );
    let (n, d) = match shape[..] {
        [n, d] => (n, d),
        [n] if one_d => (n, 1),
        _ => {
            return Err(err(format!(
                "array has shape {shape:?}; points must be a 2-D array (n, d)"
            )))
        }
    };
    let expected = n
        .checked_mul(d)
        .and_then(|c| c.checked_mul(width))
        .ok_or_else(|| err(format!("shape {shape:?} is too large")))?;
    let data = &bytes[data_start.min(bytes.len())..];
    if data.len() != expected {
        return Err(err(format!(
            "shape {shape:?} of {descr} needs {expected} data bytes, the file has {}",
            data.len()
        )));
    }
    let read = |chunk: &[u8]| -> f64 {
        match (width, little_endian) {
            (8, true) => f64::from_le_bytes(chunk.try_into().unwrap()),
            (8, false) => f64::from_be_bytes(chunk.try_into().unwrap()),
            (_, true) => f32::from_le_bytes(chunk.try_into().unwrap()) as f64,
            (_, false) => f32::from_be_bytes(chunk.try_into().unwrap()) as f64,
        }
    };
    let raw: Vec<f64> = data.chunks_exact(width).map(read).collect();
    let values: Vec<f64> = if fortran {
        (0..n * d).map(|i| raw[(i % d) * n + i / d]).collect()
    } else {
        raw
    };
    if let Some(i) = values
        .iter()
        .position(|v| !(v.is_finite() || (missing && v.is_nan())))
    {
        return Err(DataError::Points {
            path: path.to_path_buf(),
            line: i / d + 1,
            problem: format!("column {}: {} is not finite", i % d + 1, values[i]),
        });
    }
    if n == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok((values, n, d))
}

/// Writes `points` to `path`: a `.csv` (no header) or a `.npy` of f64, by its extension.
pub fn write_points(points: &Points, path: &Path) -> Result<()> {
    let bytes = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("csv") => points.to_csv().into_bytes(),
        Some(ext) if ext.eq_ignore_ascii_case("npy") => encode_npy(points),
        _ => {
            return Err(DataError::UnknownFormat {
                path: path.to_path_buf(),
            })
        }
    };
    std::fs::write(path, bytes).map_err(|e| DataError::io(path, e))
}

/// Encodes points as a version-1 `.npy` file of little-endian f64, C order.
pub fn encode_npy(points: &Points) -> Vec<u8> {
    let data: Vec<u8> = points
        .values()
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    crate::npy::encode("<f8", &[points.len(), points.dim()], &data)
}

/// Encodes float32 values of any C-order `shape` as a version-1 `.npy` file.
pub fn encode_npy_f32(values: &[f32], shape: &[usize]) -> Vec<u8> {
    debug_assert_eq!(values.len(), shape.iter().product::<usize>());
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    crate::npy::encode("<f4", shape, &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Points> {
        parse_csv(Path::new("points.csv"), text)
    }

    fn npy_with(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}\n",
            if fortran { "True" } else { "False" }
        );
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn npy(bytes: &[u8]) -> Result<Points> {
        parse_npy(Path::new("points.npy"), bytes)
    }

    #[test]
    fn csv_with_and_without_header() {
        let with = csv("x,y\n1,2\n3.5,-4e-1\n").unwrap();
        let without = csv("1,2\n\n# comment\n3.5, -0.4\n").unwrap();
        assert_eq!(with, without);
        assert_eq!((with.len(), with.dim()), (2, 2));
        assert_eq!(with.row(1), &[3.5, -0.4]);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let ragged = csv("1,2\n3,4\n5\n").unwrap_err();
        assert!(
            matches!(ragged, DataError::Points { line: 3, .. }),
            "{ragged}"
        );
        assert!(ragged.to_string().starts_with("points.csv:3:"), "{ragged}");
        let word = csv("1,2\n3,abc\n").unwrap_err();
        assert!(matches!(word, DataError::Points { line: 2, .. }), "{word}");
        assert!(word.to_string().contains("\"abc\""), "{word}");
        let nan = csv("a,b\n1,NaN\n").unwrap_err();
        assert!(matches!(nan, DataError::Points { line: 2, .. }), "{nan}");
        let inf = csv("1,inf\n").unwrap_err();
        assert!(matches!(inf, DataError::Points { line: 1, .. }), "{inf}");
        let mixed_header = csv("x,2\n1,2\n").unwrap_err();
        assert!(matches!(mixed_header, DataError::Points { line: 1, .. }));
        assert!(matches!(csv(""), Err(DataError::Empty { .. })));
        assert!(matches!(csv("x,y\n\n"), Err(DataError::Empty { .. })));
        let header_mismatch = csv("x,y,z\n1,2\n").unwrap_err();
        assert!(matches!(header_mismatch, DataError::Points { line: 2, .. }));
    }

    #[test]
    fn npy_round_trip_and_dtypes() {
        let points = Points::new(3, 2, vec![1.0, 2.0, 3.0, 4.0, 5.0, -6.5]).unwrap();
        assert_eq!(npy(&encode_npy(&points)).unwrap(), points);
        let f32_data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, -6.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            npy(&npy_with("<f4", false, "(3, 2)", &f32_data)).unwrap(),
            points
        );
        let be: Vec<u8> = points
            .values()
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(npy(&npy_with(">f8", false, "(3, 2)", &be)).unwrap(), points);
        // Fortran order stores column after column.
        let col_major: Vec<u8> = [1.0f64, 3.0, 5.0, 2.0, 4.0, -6.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            npy(&npy_with("<f8", true, "(3, 2)", &col_major)).unwrap(),
            points
        );
    }

    #[test]
    fn npy_errors() {
        let data: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let one_d = npy(&npy_with("<f8", false, "(2,)", &data)).unwrap_err();
        assert!(one_d.to_string().contains("2-D"), "{one_d}");
        let ints = npy(&npy_with("<i8", false, "(1, 2)", &data)).unwrap_err();
        assert!(ints.to_string().contains("<i8"), "{ints}");
        let short = npy(&npy_with("<f8", false, "(2, 2)", &data)).unwrap_err();
        assert!(short.to_string().contains("needs 32 data bytes"), "{short}");
        let nan: Vec<u8> = [1.0f64, f64::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let nan = npy(&npy_with("<f8", false, "(2, 1)", &nan)).unwrap_err();
        assert!(matches!(nan, DataError::Points { line: 2, .. }), "{nan}");
        assert!(npy(b"PK\x03\x04 not numpy").is_err());
        assert!(matches!(
            npy(&npy_with("<f8", false, "(0, 3)", &[])),
            Err(DataError::Empty { .. })
        ));
    }

    #[test]
    fn sample_weights_are_one_column_of_a_csv_or_a_1d_npy() {
        let dir = std::env::temp_dir().join(format!("latent-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("w.csv");
        std::fs::write(&csv, "weight\n1\n0.5\n0\n").unwrap();
        assert_eq!(read_sample_weights(&csv).unwrap(), vec![1.0, 0.5, 0.0]);
        let data: Vec<u8> = [2.0f64, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let one_d = dir.join("w.npy");
        std::fs::write(&one_d, npy_with("<f8", false, "(2,)", &data)).unwrap();
        assert_eq!(read_sample_weights(&one_d).unwrap(), vec![2.0, 3.0]);
        std::fs::write(&one_d, npy_with("<f8", false, "(2, 1)", &data)).unwrap();
        assert_eq!(read_sample_weights(&one_d).unwrap(), vec![2.0, 3.0]);
        std::fs::write(&one_d, npy_with("<f8", false, "(1, 2)", &data)).unwrap();
        let two = read_sample_weights(&one_d).unwrap_err().to_string();
        assert!(
            two.contains("2 columns; a weights file holds one value"),
            "{two}"
        );
        std::fs::write(&csv, "1\nNaN\n").unwrap();
        assert!(read_sample_weights(&csv).is_err(), "NaN is refused");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn missing_values_are_read_as_nan_only_where_allowed() {
        let dir = std::env::temp_dir().join(format!("latent-missing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("m.csv");
        std::fs::write(&csv, "a,b,c\n1,,3\nNaN,2,NA\n?,nan,6\n").unwrap();
        let (values, d) = read_points_allowing_missing(&csv).unwrap();
        assert_eq!(d, 3);
        let nan: Vec<bool> = values.iter().map(|v| v.is_nan()).collect();
        assert_eq!(
            nan,
            [false, true, false, true, false, true, true, true, false]
        );
        assert_eq!((values[0], values[4], values[8]), (1.0, 2.0, 6.0));
        assert!(
            read_csv(&csv).is_err(),
            "points without missing values refuse them"
        );
        std::fs::write(&csv, "1,inf\n").unwrap();
        assert!(
            read_points_allowing_missing(&csv).is_err(),
            "infinity is not missing"
        );
        let data: Vec<u8> = [1.0f64, f64::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let npy_path = dir.join("m.npy");
        std::fs::write(&npy_path, npy_with("<f8", false, "(1, 2)", &data)).unwrap();
        let (values, d) = read_points_allowing_missing(&npy_path).unwrap();
        assert_eq!((d, values[0], values[1].is_nan()), (2, 1.0, true));
        assert!(read_npy(&npy_path).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn float32_arrays_of_any_shape_encode_with_an_aligned_header() {
        let bytes = encode_npy_f32(&[1.0, 2.0, 3.0, 4.0], &[1, 2, 2]);
        assert_eq!((bytes.len() - 16) % 16, 0);
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(
            header.contains("'<f4'") && header.contains("(1, 2, 2)"),
            "{header}"
        );
        assert_eq!(
            &bytes[10 + header_len..10 + header_len + 4],
            &1.0f32.to_le_bytes()
        );
        // A 2-D float32 array reads back as points.
        let two_d = encode_npy_f32(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
        assert_eq!(npy(&two_d).unwrap().row(1), &[3.0, 4.0]);
    }

    #[test]
    fn unknown_extension_is_an_error() {
        let err = read_points(Path::new("points.txt")).unwrap_err();
        assert!(matches!(err, DataError::UnknownFormat { .. }), "{err}");
    }
}
