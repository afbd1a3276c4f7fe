//! NumPy's `.npy` files of any rank: the header, and the array memory-mapped where its values
//! can be used in place (unsigned bytes; little-endian float32), read otherwise; and
//! [`encode`], which writes one.

use std::path::Path;

use crate::error::{DataError, Result};
use crate::examples::Buffer;

/// The element type of an array, as its `descr` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    /// Unsigned bytes (`|u1`).
    U8,
    /// Floats of 4 or 8 bytes.
    Float { width: usize, little: bool },
    /// Integers of 1, 2, 4 or 8 bytes.
    Int {
        width: usize,
        signed: bool,
        little: bool,
    },
}

/// What a `.npy` header says.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) dtype: Dtype,
    pub(crate) descr: String,
    pub(crate) fortran: bool,
    pub(crate) shape: Vec<usize>,
    /// Where the data start, in bytes from the start of the file.
    pub(crate) data_start: usize,
}

impl Header {
    /// Elements in all.
    pub(crate) fn len(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(*d))
    }

    /// Bytes per element.
    pub(crate) fn width(&self) -> usize {
        match self.dtype {
            Dtype::U8 => 1,
            Dtype::Float { width, .. } | Dtype::Int { width, .. } => width,
        }
    }
}

/// A version-1 `.npy` file of C-order `shape` whose elements are `descr` (NumPy's type string:
/// `<f4`, `<f8`, `|u1`, `<i8`, …) and whose little-endian bytes are `data`; the header is padded
/// so that the data start on a 64-byte boundary.
pub fn encode(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn npy_error(path: &Path, problem: String) -> DataError {
    DataError::Npy {
        path: path.to_path_buf(),
        problem,
    }
}

/// Parses the header at the start of `bytes` (the whole file, or at least its header).
pub(crate) fn parse_header(path: &Path, bytes: &[u8]) -> Result<Header> {
    let err = |problem: String| npy_error(path, problem);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err("not a .npy file (missing the \\x93NUMPY magic)".into()));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(err(format!("unsupported .npy format version {v}"))),
    };
    let data_start = header_start + header_len;
    let header = bytes
        .get(header_start..data_start)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| err("truncated or non-text header".into()))?;
    let descr = dict_value(header, "descr").ok_or_else(|| err("header has no 'descr'".into()))?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"').to_string();
    let dtype = dtype(&descr).ok_or_else(|| {
        err(format!(
            "dtype {descr} is not supported; save the array as uint8, float32 or float64 \
             (labels: an integer type)"
        ))
    })?;
    let fortran = dict_value(header, "fortran_order")
        .map(|v| v.starts_with("True"))
        .ok_or_else(|| err("header has no 'fortran_order'".into()))?;
    let shape_text =
        dict_value(header, "shape").ok_or_else(|| err("header has no 'shape'".into()))?;
    let shape = shape_text
        .trim_start_matches('(')
        .split(')')
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| err(format!("bad shape {shape_text:?}")))
        })
        .collect::<Result<_>>()?;
    Ok(Header {
        dtype,
        descr,
        fortran,
        shape,
        data_start,
    })
}

/// The element type of a `descr` such as `<f4`, `|u1` or `<i8`.
fn dtype(descr: &str) -> Option<Dtype> {
    let (order, kind) = descr.split_at(descr.len().checked_sub(2)?);
    let little = match order {
        "<" | "=" | "|" => true,
        ">" => false,
        _ => return None,
    };
    let width: usize = kind[1..].parse().ok()?;
    match (&kind[..1], width) {
        ("u", 1) => Some(Dtype::U8),
        ("f", 4 | 8) => Some(Dtype::Float { width, little }),
        ("i", 1 | 2 | 4 | 8) => Some(Dtype::Int {
            width,
            signed: true,
            little,
        }),
        ("u", 2 | 4 | 8) => Some(Dtype::Int {
            width,
            signed: false,
            little,
        }),
        _ => None,
    }
}

/// The text after `'key':` in a Python dict literal, up to the next top-level comma.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[start + key.len() + 2..].trim_start();
    let rest = rest.strip_prefix(':')?.trim_start();
    let mut depth = 0;
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(rest[..i].trim()),
            _ => {}
        }
    }
    Some(rest.trim())
}

/// Reads and parses the header of the `.npy` file `path` (its first 64 KiB at most: a header
/// numpy writes is far shorter), without reading the data.
pub(crate) fn read_header(path: &Path) -> Result<Header> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut head = Vec::with_capacity(1 << 16);
    file.take(1 << 16)
        .read_to_end(&mut head)
        .map_err(|e| DataError::io(path, e))?;
    parse_header(path, &head)
}

/// The values of an array file.
pub(crate) enum ArrayData {
    /// Unsigned bytes, in place.
    Bytes(Buffer<u8>),
    /// Floats (float32 in place; float64 or big-endian converted once).
    Floats(Buffer<f32>),
    /// Integers (for labels).
    Integers(Vec<i64>),
}

/// An array read from a `.npy` file.
pub(crate) struct Array {
    pub(crate) shape: Vec<usize>,
    pub(crate) data: ArrayData,
}

/// Reads the `.npy` file `path` of any rank, memory-mapped (see the module's documentation).
/// Only C order (row-major) arrays are taken: a Fortran-order array is an error that says how
/// to save it.
pub(crate) fn read_array(path: &Path) -> Result<Array> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    // SAFETY: the map is read-only; the file may change under it only if another process
    // writes it while we read, which would be a misuse the user controls (as with any reader).
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| DataError::io(path, e))?;
    let header = parse_header(path, &map)?;
    if header.fortran && header.shape.len() > 1 {
        return Err(npy_error(
            path,
            "the array is in Fortran order; save it in C order (numpy.ascontiguousarray)".into(),
        ));
    }
    let len = header
        .len()
        .ok_or_else(|| npy_error(path, format!("shape {:?} is too large", header.shape)))?;
    let available = map.len().saturating_sub(header.data_start);
    let needed = len.checked_mul(header.width());
    if needed != Some(available) {
        return Err(npy_error(
            path,
            format!(
                "shape {:?} of {} needs {} data bytes, the file has {available} (truncated?)",
                header.shape,
                header.descr,
                needed.map_or("too many".to_string(), |n| n.to_string()),
            ),
        ));
    }
    let start = header.data_start;
    let raw = &map[start..];
    let data = match header.dtype {
        Dtype::U8 => ArrayData::Bytes(
            Buffer::mapped(map, start, len)
                .expect("bytes are always aligned, and the length was checked"),
        ),
        Dtype::Float {
            width: 4,
            little: true,
        } => match Buffer::<f32>::mapped(map, start, len) {
            Some(buffer) => ArrayData::Floats(buffer),
            None => {
                let map = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
                ArrayData::Floats(Buffer::Owned(floats(&map[start..], 4, true)))
            }
        },
        Dtype::Float { width, little } => {
            ArrayData::Floats(Buffer::Owned(floats(raw, width, little)))
        }
        Dtype::Int {
            width,
            signed,
            little,
        } => ArrayData::Integers(integers(raw, width, signed, little)),
    };
    Ok(Array {
        shape: header.shape,
        data,
    })
}

/// Floats of `width` bytes, converted to f32.
pub(crate) fn floats(raw: &[u8], width: usize, little: bool) -> Vec<f32> {
    raw.chunks_exact(width)
        .map(|c| match (width, little) {
            (8, true) => f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32,
            (8, false) => f64::from_be_bytes(c.try_into().expect("8 bytes")) as f32,
            (_, true) => f32::from_le_bytes(c.try_into().expect("4 bytes")),
            (_, false) => f32::from_be_bytes(c.try_into().expect("4 bytes")),
        })
        .collect()
}

/// Integers of `width` bytes.
fn integers(raw: &[u8], width: usize, signed: bool, little: bool) -> Vec<i64> {
    raw.chunks_exact(width)
        .map(|c| {
            let bytes: Box<dyn Iterator<Item = &u8>> = if little {
                Box::new(c.iter().rev())
            } else {
                Box::new(c.iter())
            };
            let unsigned = bytes.fold(0u64, |acc, b| (acc << 8) | *b as u64);
            let negative = signed && width < 8 && (unsigned >> (8 * width - 1)) & 1 == 1;
            if negative {
                (unsigned | (!0u64 << (8 * width))) as i64
            } else {
                unsigned as i64
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descrs_give_their_types() {
        assert_eq!(dtype("|u1"), Some(Dtype::U8));
        assert_eq!(
            dtype("<f4"),
            Some(Dtype::Float {
                width: 4,
                little: true
            })
        );
        assert_eq!(
            dtype(">f8"),
            Some(Dtype::Float {
                width: 8,
                little: false
            })
        );
        assert_eq!(
            dtype("<i8"),
            Some(Dtype::Int {
                width: 8,
                signed: true,
                little: true
            })
        );
        assert_eq!(dtype("<c8"), None);
        assert_eq!(dtype("<U10"), None);
    }

    #[test]
    fn integers_of_every_width_sign_and_order() {
        assert_eq!(integers(&[255, 1], 1, true, true), vec![-1, 1]);
        assert_eq!(integers(&[255, 1], 1, false, true), vec![255, 1]);
        assert_eq!(integers(&[0xfe, 0xff], 2, true, true), vec![-2]);
        assert_eq!(integers(&[0xff, 0xfe], 2, true, false), vec![-2]);
        assert_eq!(integers(&[7, 0, 0, 0], 4, false, true), vec![7]);
        assert_eq!(integers(&[0, 0, 0, 7], 4, false, false), vec![7]);
    }
}
