//! A user's files and folders read as [`Examples`]: `.npy` arrays of any layout (interleaved
//! colour made planar), IDX files, CSV tables and image folders, with a labels file.

use std::path::Path;

use crate::examples::{Buffer, ExampleShape, Examples};
use crate::folder::{read_image_folder, FolderOptions};
use crate::idx::{read_idx, read_idx_bytes, LABELS_MAGIC};
use crate::npy::{read_array, ArrayData};
use crate::{DataError, Result, Split};

/// Whether `path` ends in `.ext` (any case).
pub(crate) fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// The examples of the user's file or folder `path`: a folder's images read with `folder`, a
/// `.npy` or IDX file's labels from `labels`, a 4-D `.npy` `[N, C, H, W]` if `channels_first`.
pub(crate) fn read_source_file(
    path: &Path,
    labels: Option<&Path>,
    folder: &FolderOptions,
    channels_first: bool,
) -> Result<Examples> {
    if path.is_dir() {
        let folder = read_image_folder(path, folder)?;
        let shape = ExampleShape::Image {
            height: folder.height,
            width: folder.width,
            channels: folder.channels,
        };
        let data = Examples::from_bytes(folder.pixels, shape, folder.labels, Split::Train, path)?;
        return Ok(if folder.classes.is_empty() {
            data
        } else {
            data.with_classes(folder.classes)
        });
    }
    let labels = labels.map(read_labels).transpose()?;
    if has_extension(path, "csv") {
        let points = crate::points::read_csv(path)?;
        let values = points.values().iter().map(|v| *v as f32).collect();
        let shape = ExampleShape::Vector { dim: points.dim() };
        return Examples::from_floats(values, shape, labels, Split::Train, path);
    }
    if has_extension(path, "npy") {
        return examples_of_array(path, channels_first, labels);
    }
    let idx = read_idx_bytes(path)?;
    let shape = match idx.dims[..] {
        [_, dim] => ExampleShape::Vector { dim },
        [_, height, width] => ExampleShape::Image {
            height,
            width,
            channels: 1,
        },
        _ => {
            return Err(DataError::IdxBadDims {
                path: path.to_path_buf(),
                dims: idx.dims,
                problem: "examples must be [N, D] or [N, H, W] unsigned bytes",
            })
        }
    };
    Examples::from_bytes(idx.data, shape, labels, Split::Train, path)
}

/// The labels of a 1-D integer `.npy` or an IDX label file.
fn read_labels(path: &Path) -> Result<Vec<u32>> {
    let values: Vec<i64> = if has_extension(path, "npy") {
        let array = read_array(path)?;
        if array.shape.len() != 1 {
            return Err(DataError::Npy {
                path: path.to_path_buf(),
                problem: format!("labels must be a 1-D array, not of shape {:?}", array.shape),
            });
        }
        match array.data {
            ArrayData::Integers(values) => values,
            ArrayData::Bytes(bytes) => bytes.iter().map(|b| *b as i64).collect(),
            ArrayData::Floats(_) => {
                return Err(DataError::Npy {
                    path: path.to_path_buf(),
                    problem: "labels must be integers (save them as an integer array)".into(),
                })
            }
        }
    } else {
        read_idx(path, LABELS_MAGIC)?
            .data
            .into_iter()
            .map(i64::from)
            .collect()
    };
    values
        .iter()
        .enumerate()
        .map(|(index, v)| {
            u32::try_from(*v).map_err(|_| DataError::Npy {
                path: path.to_path_buf(),
                problem: format!("label {v} at index {index} is not a class number ≥ 0"),
            })
        })
        .collect()
}

/// The examples of an `.npy` array: `[N, D]`, `[N, H, W]`, `[N, H, W, C]` or (channels first)
/// `[N, C, H, W]`.
fn examples_of_array(
    path: &Path,
    channels_first: bool,
    labels: Option<Vec<u32>>,
) -> Result<Examples> {
    let array = read_array(path)?;
    let bad_shape = |problem: String| DataError::Npy {
        path: path.to_path_buf(),
        problem,
    };
    let forms = "give [N, D] vectors, [N, H, W] grey images or [N, H, W, C] images (C = 1 or 3; \
                 with channels-first, [N, C, H, W])";
    let (shape, transpose) = match (&array.shape[..], channels_first) {
        ([_, dim], false) => (ExampleShape::Vector { dim: *dim }, None),
        ([_, h, w], false) => (
            ExampleShape::Image {
                height: *h,
                width: *w,
                channels: 1,
            },
            None,
        ),
        ([_, h, w, c], false) if *c == 1 || *c == 3 => (
            ExampleShape::Image {
                height: *h,
                width: *w,
                channels: *c,
            },
            Some((*h, *w, *c)),
        ),
        ([_, c, h, w], true) if *c == 1 || *c == 3 => (
            ExampleShape::Image {
                height: *h,
                width: *w,
                channels: *c,
            },
            None,
        ),
        (s, _) => return Err(bad_shape(format!("an array of shape {s:?}: {forms}"))),
    };
    if array.shape[0] == 0 {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    match array.data {
        ArrayData::Bytes(bytes) => match transpose {
            Some(geometry) => Examples::from_bytes(
                to_planar(&bytes, geometry),
                shape,
                labels,
                Split::Train,
                path,
            ),
            None => Examples::from_byte_buffer(bytes, shape, labels, Split::Train, path),
        },
        ArrayData::Floats(floats) => match transpose {
            Some(geometry) => Examples::from_floats(
                to_planar(&floats, geometry),
                shape,
                labels,
                Split::Train,
                path,
            ),
            None => Examples::from_float_buffer(floats, shape, labels, Split::Train, path),
        },
        ArrayData::Integers(_) => Err(bad_shape(
            "an integer array holds labels, not examples: save the values as uint8, float32 or \
             float64 (and give the labels with labels=FILE)"
                .into(),
        )),
    }
}

/// Bytes of a mapped array rearranged at a time; the pages read are released after each.
const PLANAR_CHUNK_BYTES: usize = 16 << 20;

/// Images stored H × W × C (channels interleaved) rearranged planar, C × H × W; a mapped
/// array's pages are released as they are read, so that the two copies are not both resident.
fn to_planar<T: Copy + 'static>(values: &Buffer<T>, geometry: (usize, usize, usize)) -> Vec<T> {
    to_planar_in_chunks(values, geometry, PLANAR_CHUNK_BYTES)
}

fn to_planar_in_chunks<T: Copy + 'static>(
    values: &Buffer<T>,
    (h, w, c): (usize, usize, usize),
    chunk_bytes: usize,
) -> Vec<T> {
    let per_image = h * w * c;
    let images_per_chunk = (chunk_bytes / (per_image * std::mem::size_of::<T>())).max(1);
    let chunk = images_per_chunk * per_image;
    let mut out = Vec::with_capacity(values.len());
    for (i, block) in values.chunks(chunk).enumerate() {
        for image in block.chunks_exact(per_image) {
            for channel in 0..c {
                out.extend(image.iter().skip(channel).step_by(c));
            }
        }
        values.release(i * chunk..i * chunk + block.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_colour_array_is_made_planar_chunk_by_chunk() {
        let path = std::env::temp_dir().join(format!("latent-planar-{}.npy", std::process::id()));
        // Five 2 × 2 RGB images, interleaved: value 100·i + 10·pixel + channel.
        let data: Vec<u8> = (0..5u8)
            .flat_map(|i| (0..4u8).flat_map(move |p| (0..3u8).map(move |c| 50 * i + 10 * p + c)))
            .collect();
        std::fs::write(&path, crate::npy::encode("|u1", &[5, 2, 2, 3], &data)).unwrap();
        let crate::npy::ArrayData::Bytes(mapped) = read_array(&path).unwrap().data else {
            panic!("uint8 arrays are bytes");
        };
        let expected: Vec<u8> = (0..5u8)
            .flat_map(|i| (0..3u8).flat_map(move |c| (0..4u8).map(move |p| 50 * i + 10 * p + c)))
            .collect();
        // One image, two images and everything per chunk; pages released after each.
        for chunk in [12, 24, 1 << 20] {
            assert_eq!(to_planar_in_chunks(&mapped, (2, 2, 3), chunk), expected);
        }
        // Released pages come back from the file unchanged.
        assert_eq!(&mapped[..], &data[..]);
        std::fs::remove_file(path).unwrap();
    }
}
