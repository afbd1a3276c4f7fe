//! The IDX format of MNIST: a big-endian magic number (two zero bytes, an element-type code,
//! the number of dimensions), the dimensions as big-endian u32, then the elements row-major.
//! Files may be gzipped; gzip is recognised by its magic bytes, not by the file name.

use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result};

/// Magic number of an IDX file of unsigned bytes with one dimension (MNIST labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Magic number of an IDX file of unsigned bytes with three dimensions (MNIST images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions, outermost first (`[n]` for labels, `[n, 28, 28]` for MNIST images).
    pub dims: Vec<usize>,
    /// The elements, row-major: the product of `dims` of them.
    pub data: Vec<u8>,
}

/// Reads a whole file, decompressing it if it starts with the gzip magic bytes.
pub fn read_maybe_gzipped(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&GZIP_MAGIC) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|cause| DataError::Gzip {
                path: path.to_path_buf(),
                cause,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Reads an IDX file of unsigned bytes whose magic must be `expected_magic`
/// ([`LABELS_MAGIC`] or [`IMAGES_MAGIC`]); checks that the data length is exactly the product
/// of the dimensions.
pub fn read_idx(path: &Path, expected_magic: u32) -> Result<IdxArray> {
    let bytes = read_maybe_gzipped(path)?;
    parse_idx(path, &bytes, expected_magic)
}

/// Reads an IDX file of unsigned bytes of any number of dimensions (its magic `0x000008NN`, NN
/// the number of dimensions).
pub fn read_idx_bytes(path: &Path) -> Result<IdxArray> {
    let bytes = read_maybe_gzipped(path)?;
    let magic = match bytes.get(..4) {
        Some([0, 0, 0x08, dims]) => u32::from_be_bytes([0, 0, 0x08, *dims]),
        _ => UNSIGNED_BYTES_MAGIC,
    };
    parse_idx(path, &bytes, magic)
}

/// The magic of an IDX file of unsigned bytes, without its number of dimensions.
const UNSIGNED_BYTES_MAGIC: u32 = 0x0000_0800;

fn parse_idx(path: &Path, bytes: &[u8], expected_magic: u32) -> Result<IdxArray> {
    let what = match expected_magic {
        LABELS_MAGIC => "unsigned-byte labels, 1 dimension",
        IMAGES_MAGIC => "unsigned-byte images, 3 dimensions",
        _ => "unsigned bytes",
    };
    if bytes.len() < 4 {
        return Err(DataError::IdxTruncatedHeader {
            path: path.to_path_buf(),
            len: bytes.len(),
            needed: 4,
        });
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if magic != expected_magic {
        return Err(DataError::IdxBadMagic {
            path: path.to_path_buf(),
            found: magic,
            expected: expected_magic,
            what,
        });
    }
    let n_dims = bytes[3] as usize;
    let header_len = 4 + 4 * n_dims;
    if bytes.len() < header_len {
        return Err(DataError::IdxTruncatedHeader {
            path: path.to_path_buf(),
            len: bytes.len(),
            needed: header_len,
        });
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let bad_dims = |problem| DataError::IdxBadDims {
        path: path.to_path_buf(),
        dims: dims.clone(),
        problem,
    };
    if dims.contains(&0) {
        return Err(bad_dims("a dimension is zero"));
    }
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| bad_dims("their product overflows"))?;
    let found = bytes.len() - header_len;
    if found != expected {
        return Err(DataError::IdxLength {
            path: path.to_path_buf(),
            dims,
            expected,
            found,
        });
    }
    Ok(IdxArray {
        dims,
        data: bytes[header_len..].to_vec(),
    })
}

/// Encodes an IDX array of unsigned bytes (the inverse of [`read_idx`]); used to write small
/// test files and subsets.
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], magic: u32) -> Result<IdxArray> {
        parse_idx(Path::new("crafted.idx"), bytes, magic)
    }

    #[test]
    fn round_trips_a_small_array() {
        let bytes = encode_idx(&[2, 2, 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let array = parse(&bytes, IMAGES_MAGIC).unwrap();
        assert_eq!(array.dims, vec![2, 2, 3]);
        assert_eq!(array.data[11], 12);
    }

    #[test]
    fn rejects_wrong_magic_naming_both_numbers() {
        let bytes = encode_idx(&[3], &[1, 2, 3]);
        let err = parse(&bytes, IMAGES_MAGIC).unwrap_err();
        assert!(matches!(
            err,
            DataError::IdxBadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ));
        assert!(err.to_string().contains("crafted.idx"), "{err}");
        let mut float_type = encode_idx(&[3], &[1, 2, 3]);
        float_type[2] = 0x0d;
        assert!(matches!(
            parse(&float_type, LABELS_MAGIC),
            Err(DataError::IdxBadMagic { found: 0xd01, .. })
        ));
    }

    #[test]
    fn rejects_truncated_headers() {
        assert!(matches!(
            parse(&[0, 0, 8], LABELS_MAGIC),
            Err(DataError::IdxTruncatedHeader {
                len: 3,
                needed: 4,
                ..
            })
        ));
        let header = encode_idx(&[10, 28, 28], &[]);
        assert!(matches!(
            parse(&header[..9], IMAGES_MAGIC),
            Err(DataError::IdxTruncatedHeader { needed: 16, .. })
        ));
    }

    #[test]
    fn rejects_short_and_long_payloads() {
        let short = encode_idx(&[2, 2, 2], &[0; 7]);
        assert!(matches!(
            parse(&short, IMAGES_MAGIC),
            Err(DataError::IdxLength {
                expected: 8,
                found: 7,
                ..
            })
        ));
        let long = encode_idx(&[4], &[0; 5]);
        assert!(matches!(
            parse(&long, LABELS_MAGIC),
            Err(DataError::IdxLength {
                expected: 4,
                found: 5,
                ..
            })
        ));
    }

    #[test]
    fn rejects_zero_and_overflowing_dimensions() {
        let zero = encode_idx(&[0, 28, 28], &[]);
        assert!(matches!(
            parse(&zero, IMAGES_MAGIC),
            Err(DataError::IdxBadDims { .. })
        ));
        let huge = encode_idx(&[u32::MAX as usize; 3], &[]);
        let err = parse(&huge, IMAGES_MAGIC).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::IdxBadDims { .. } | DataError::IdxLength { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn reads_gzipped_and_raw_files_alike_and_reports_corrupt_gzip() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("latent-idx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bytes = encode_idx(&[3], &[7, 8, 9]);
        let raw = dir.join("labels.idx");
        std::fs::write(&raw, &bytes).unwrap();
        let gz = dir.join("labels.idx.bin"); // gzip detected by content, not by name
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&bytes).unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        assert_eq!(
            read_idx(&raw, LABELS_MAGIC).unwrap(),
            read_idx(&gz, LABELS_MAGIC).unwrap()
        );
        let corrupt = dir.join("corrupt.gz");
        std::fs::write(&corrupt, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
        assert!(matches!(
            read_idx(&corrupt, LABELS_MAGIC),
            Err(DataError::Gzip { .. })
        ));
        let missing = dir.join("missing.gz");
        let err = read_idx(&missing, LABELS_MAGIC).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }) && err.to_string().contains("missing.gz"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
