//! A folder of images, the user's own data for training a VAE: [`read_image_folder`].
//!
//! Two layouts are read:
//!
//! - **class folders**, as torchvision's `ImageFolder`: one sub-folder per class, holding that
//!   class's images (`dir/cat/001.png`, `dir/dog/001.png`, …). The class names are the
//!   sub-folder names in sorted order and each image's label is the 0-based index of its
//!   class. Only images directly in a class folder are read (deeper folders are not searched),
//!   and a class folder without images is an error.
//! - **a flat folder** of images (`dir/001.png`, `dir/002.png`, …): no labels, no classes.
//!   Sub-folders without images are then ignored.
//!
//! A folder that holds both sub-folders with images and loose images is an error that says so.
//!
//! Image files are those ending in `.png`, `.jpg` or `.jpeg`, in any case; other files are
//! ignored, as are hidden files and folders (names starting with `.`, such as `.DS_Store`). A
//! file's content decides how it is decoded when it is recognised (a JPEG named `.png` reads).
//! Files are taken in sorted order, by class and then by file name (byte order), so the images
//! and labels come in the same order on every machine.
//!
//! [`FolderOptions`]:
//!
//! - `image_size: Some((height, width))` resizes every image to exactly that size (the aspect
//!   ratio is not kept) with a triangle (bilinear, antialiased when shrinking) filter,
//!   [`FilterType::Triangle`]. Without it, every image must have the same size, and the error
//!   names two files of different sizes.
//! - `grey: true` converts colour images to one channel with the ITU-R BT.601 luma weights
//!   (`0.299 R + 0.587 G + 0.114 B`, the integer formula PIL and torchvision use). Without it,
//!   the images have one channel if every image is grey (8-bit or 16-bit, with or without
//!   alpha), else three (RGB); grey images in a colour folder are replicated to three channels.
//!
//! Alpha channels are dropped (not composited over a background) and 16-bit images are reduced
//! to 8 bits. Each image is decoded once, in parallel; the memory used is that of the result
//! plus a few decoded images per thread.
//!
//! ```no_run
//! use latent_data::folder::{read_image_folder, FolderOptions};
//!
//! let options = FolderOptions { image_size: Some((64, 64)), grey: false };
//! let data = read_image_folder("faces/train".as_ref(), &options)?;
//! assert_eq!(data.pixels.len(), data.n * data.channels * data.height * data.width);
//! let first = &data.pixels[..data.image_len()]; // R plane, then G, then B
//! # let _ = first;
//! # Ok::<(), latent_data::DataError>(())
//! ```
//!
//! [`FilterType::Triangle`]: image::imageops::FilterType::Triangle

use std::fs;
use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageDecoder, ImageReader, RgbImage};
use rayon::prelude::*;

use crate::error::{DataError, Result};

/// The resampling filter of [`FolderOptions::image_size`].
const FILTER: FilterType = FilterType::Triangle;

/// The extensions of the image files read, in lower case.
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// How [`read_image_folder`] shapes the images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderOptions {
    /// Resize every image to `(height, width)` with a triangle (bilinear, antialiased when
    /// shrinking) filter, not keeping the aspect ratio. `None`: every image must already have
    /// the same size.
    pub image_size: Option<(usize, usize)>,
    /// Convert colour images to one grey channel with the BT.601 luma weights
    /// (`0.299 R + 0.587 G + 0.114 B`).
    pub grey: bool,
}

/// Images read by [`read_image_folder`], all of one size and channel count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFolder {
    /// The `n` images one after another, each planar (channel-major: `channels` planes of
    /// `height` × `width` values, each plane row-major), values 0–255.
    pub pixels: Vec<u8>,
    /// Number of images.
    pub n: usize,
    /// Height of every image in pixels.
    pub height: usize,
    /// Width of every image in pixels.
    pub width: usize,
    /// Channels of every image: 1 (grey) or 3 (R, G, B).
    pub channels: usize,
    /// Each image's class, the index into [`classes`](Self::classes), for the class-folder
    /// layout; `None` for a flat folder.
    pub labels: Option<Vec<u32>>,
    /// The class names (the sub-folder names, sorted); empty for a flat folder.
    pub classes: Vec<String>,
    /// Each image's file, in the order of [`pixels`](Self::pixels).
    pub files: Vec<PathBuf>,
}

impl ImageFolder {
    /// Values per image: `channels × height × width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The `index`-th image's planar values. Panics if `index >= n`.
    pub fn image(&self, index: usize) -> &[u8] {
        let len = self.image_len();
        &self.pixels[index * len..(index + 1) * len]
    }
}

/// Reads the images of `dir`, laid out as class folders or as a flat folder (see the
/// [module documentation](crate::folder)), in sorted order, decoding them in parallel.
///
/// Fails with a [`DataError`] naming the folder or file when `dir` cannot be read, holds no
/// images, mixes class folders and loose images, has an empty class folder, or holds images of
/// different sizes without `image_size`; when an image cannot be read or decoded (truncated or
/// corrupt); or when `image_size` has a zero side.
pub fn read_image_folder(dir: &Path, options: &FolderOptions) -> Result<ImageFolder> {
    if let Some((height, width)) = options.image_size {
        if height == 0 || width == 0 {
            return Err(DataError::Image {
                path: dir.to_path_buf(),
                problem: format!(
                    "image size {height}x{width} (HxW) has a zero side; give --image-size HxW \
                     with both sides at least 1"
                ),
            });
        }
    }

    let Layout {
        files,
        labels,
        classes,
    } = list_layout(dir)?;
    let headers: Vec<Result<Header>> = files.par_iter().map(|file| read_header(file)).collect();
    let headers = headers.into_iter().collect::<Result<Vec<Header>>>()?;

    let (height, width) = match options.image_size {
        Some(size) => size,
        None => {
            let first = &headers[0];
            if let Some((index, other)) = headers
                .iter()
                .enumerate()
                .find(|(_, header)| header.size != first.size)
            {
                return Err(DataError::Image {
                    path: dir.to_path_buf(),
                    problem: format!(
                        "images of different sizes: {} is {}x{} (HxW) but {} is {}x{}; give \
                         --image-size HxW to resize every image to one size",
                        files[0].display(),
                        first.size.0,
                        first.size.1,
                        files[index].display(),
                        other.size.0,
                        other.size.1,
                    ),
                });
            }
            first.size
        }
    };
    let channels: usize = if options.grey || headers.iter().all(|header| !header.colour) {
        1
    } else {
        3
    };

    let n = files.len();
    let too_large = || DataError::Image {
        path: dir.to_path_buf(),
        problem: format!(
            "{n} images of {channels}x{height}x{width} values do not fit in memory; give a \
             smaller --image-size HxW or use fewer images"
        ),
    };
    let image_len = channels
        .checked_mul(height)
        .and_then(|len| len.checked_mul(width))
        .ok_or_else(too_large)?;
    let total = image_len.checked_mul(n).ok_or_else(too_large)?;
    let mut pixels = Vec::new();
    pixels.try_reserve_exact(total).map_err(|_| too_large())?;
    pixels.resize(total, 0);

    let shape = Shape {
        height,
        width,
        channels,
    };
    pixels
        .par_chunks_mut(image_len)
        .zip(files.par_iter())
        .try_for_each(|(out, file)| decode_into(file, &shape, out))?;

    Ok(ImageFolder {
        pixels,
        n,
        height,
        width,
        channels,
        labels,
        classes,
        files,
    })
}

/// What an image's header says: its size `(height, width)` and whether it has colour.
struct Header {
    size: (usize, usize),
    colour: bool,
}

/// The shape every image is brought to.
struct Shape {
    height: usize,
    width: usize,
    channels: usize,
}

/// The image files of a folder in order, their labels and the class names.
struct Layout {
    files: Vec<PathBuf>,
    labels: Option<Vec<u32>>,
    classes: Vec<String>,
}

/// The image files of `dir`, by layout.
fn list_layout(dir: &Path) -> Result<Layout> {
    let (subdirs, loose) = list_dir(dir)?;
    if !loose.is_empty() {
        for sub in &subdirs {
            let (_, images) = list_dir(sub)?;
            if let Some(image) = images.first() {
                return Err(DataError::Image {
                    path: dir.to_path_buf(),
                    problem: format!(
                        "the folder holds both sub-folders with images (such as {}) and loose \
                         images (such as {}); use either one sub-folder per class or a flat \
                         folder of images, not both",
                        image.display(),
                        loose[0].display(),
                    ),
                });
            }
        }
        return Ok(Layout {
            files: loose,
            labels: None,
            classes: Vec::new(),
        });
    }
    if subdirs.is_empty() {
        return Err(DataError::Image {
            path: dir.to_path_buf(),
            problem: "no .png, .jpg or .jpeg images; put the images in this folder, or in one \
                      sub-folder per class"
                .to_string(),
        });
    }
    if subdirs.len() > u32::MAX as usize {
        return Err(DataError::Image {
            path: dir.to_path_buf(),
            problem: format!("{} class folders are too many", subdirs.len()),
        });
    }
    let mut files = Vec::new();
    let mut labels = Vec::new();
    let mut classes = Vec::with_capacity(subdirs.len());
    for (label, sub) in subdirs.iter().enumerate() {
        let (_, images) = list_dir(sub)?;
        if images.is_empty() {
            return Err(DataError::Image {
                path: sub.clone(),
                problem: "class folder without .png, .jpg or .jpeg images directly in it; add \
                          its images or remove the folder (images in deeper folders are not \
                          read)"
                    .to_string(),
            });
        }
        let name = sub.file_name().unwrap_or(sub.as_os_str());
        classes.push(name.to_string_lossy().into_owned());
        labels.resize(labels.len() + images.len(), label as u32);
        files.extend(images);
    }
    Ok(Layout {
        files,
        labels: Some(labels),
        classes,
    })
}

/// The visible sub-folders and image files directly in `dir`, each sorted by name.
fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut subdirs = Vec::new();
    let mut images = Vec::new();
    for entry in fs::read_dir(dir).map_err(|cause| DataError::io(dir, cause))? {
        let entry = entry.map_err(|cause| DataError::io(dir, cause))?;
        let name = entry.file_name();
        if name.as_encoded_bytes().first() == Some(&b'.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links; a broken link to an image fails when it is opened.
        if path.is_dir() {
            subdirs.push(path);
        } else if is_image_name(&path) {
            images.push(path);
        }
    }
    subdirs.sort();
    images.sort();
    Ok((subdirs, images))
}

/// Whether `path` ends in `.png`, `.jpg` or `.jpeg`, in any case.
fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| EXTENSIONS.iter().any(|e| ext.eq_ignore_ascii_case(e)))
}

/// Opens `file` as an image, the format from its content or else its extension.
fn open(file: &Path) -> Result<ImageReader<std::io::BufReader<fs::File>>> {
    ImageReader::open(file)
        .and_then(|reader| reader.with_guessed_format())
        .map_err(|cause| DataError::io(file, cause))
}

/// The error of an image that does not decode.
fn decode_error(file: &Path, cause: image::ImageError) -> DataError {
    DataError::Image {
        path: file.to_path_buf(),
        problem: format!(
            "cannot decode the image ({cause}); is the file truncated or corrupt? Save it again \
             or remove it from the folder"
        ),
    }
}

/// Reads `file`'s header only: its size and colour type.
fn read_header(file: &Path) -> Result<Header> {
    let decoder = open(file)?
        .into_decoder()
        .map_err(|cause| decode_error(file, cause))?;
    let (width, height) = decoder.dimensions();
    Ok(Header {
        size: (height as usize, width as usize),
        colour: decoder.color_type().has_color(),
    })
}

/// Decodes `file`, brings it to `shape` and writes it planar into `out`.
fn decode_into(file: &Path, shape: &Shape, out: &mut [u8]) -> Result<()> {
    let image = open(file)?
        .decode()
        .map_err(|cause| decode_error(file, cause))?;
    let (width, height) = (shape.width as u32, shape.height as u32);
    let plane = shape.height * shape.width;
    if shape.channels == 1 {
        let grey = if image.color().has_color() {
            luma(&image.into_rgb8())
        } else {
            image.into_luma8()
        };
        let grey = resized(grey, width, height);
        out.copy_from_slice(grey.as_raw());
    } else {
        let rgb = resized(image.into_rgb8(), width, height);
        let (red, rest) = out.split_at_mut(plane);
        let (green, blue) = rest.split_at_mut(plane);
        for (((pixel, r), g), b) in rgb.as_raw().chunks_exact(3).zip(red).zip(green).zip(blue) {
            *r = pixel[0];
            *g = pixel[1];
            *b = pixel[2];
        }
    }
    Ok(())
}

/// `image` at `width` × `height`, resampled with [`FILTER`] if its size differs.
fn resized<P>(
    image: image::ImageBuffer<P, Vec<u8>>,
    width: u32,
    height: u32,
) -> image::ImageBuffer<P, Vec<u8>>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    if image.dimensions() == (width, height) {
        image
    } else {
        imageops::resize(&image, width, height, FILTER)
    }
}

/// The BT.601 luma of an RGB image, with PIL's rounding: `(19595 R + 38470 G + 7471 B +
/// 32768) >> 16`.
fn luma(rgb: &RgbImage) -> GrayImage {
    let values = rgb
        .as_raw()
        .chunks_exact(3)
        .map(|p| {
            let sum = 19595 * u32::from(p[0]) + 38470 * u32::from(p[1]) + 7471 * u32::from(p[2]);
            ((sum + 32768) >> 16) as u8
        })
        .collect();
    GrayImage::from_raw(rgb.width(), rgb.height(), values).expect("one luma value per RGB pixel")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, LumaA, Rgb, Rgba};

    /// A fresh, empty folder under the system's temporary folder.
    fn temp_folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("latent-folder-test-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A 2 × 3 colour image whose R, G and B values tell the pixel apart.
    fn colour_image() -> RgbImage {
        ImageBuffer::from_fn(3, 2, |x, y| {
            Rgb([(10 * x + y) as u8, (100 + x) as u8, (200 + y) as u8])
        })
    }

    fn constant_grey(width: u32, height: u32, value: u8) -> GrayImage {
        ImageBuffer::from_pixel(width, height, Luma([value]))
    }

    fn options(image_size: Option<(usize, usize)>, grey: bool) -> FolderOptions {
        FolderOptions { image_size, grey }
    }

    fn error_text(dir: &Path, options: &FolderOptions) -> String {
        read_image_folder(dir, options).unwrap_err().to_string()
    }

    #[test]
    fn class_folders_give_labels_classes_and_planar_pixels() {
        let dir = temp_folder("classes");
        for class in ["dog", "cat", ".hidden"] {
            fs::create_dir(dir.join(class)).unwrap();
        }
        colour_image().save(dir.join("cat/b.png")).unwrap();
        let mut flipped = colour_image();
        imageops::flip_horizontal_in_place(&mut flipped);
        flipped.save(dir.join("cat/A.PNG")).unwrap();
        colour_image().save(dir.join("dog/z.png")).unwrap();
        colour_image().save(dir.join(".hidden/x.png")).unwrap();
        colour_image().save(dir.join("dog/.x.png")).unwrap();
        fs::write(dir.join("dog/notes.txt"), "not an image").unwrap();
        fs::write(dir.join(".DS_Store"), "junk").unwrap();

        let data = read_image_folder(&dir, &FolderOptions::default()).unwrap();
        assert_eq!(data.classes, ["cat", "dog"]);
        assert_eq!(data.labels, Some(vec![0, 0, 1]));
        assert_eq!(
            data.files,
            [
                dir.join("cat/A.PNG"),
                dir.join("cat/b.png"),
                dir.join("dog/z.png")
            ]
        );
        assert_eq!(
            (data.n, data.channels, data.height, data.width),
            (3, 3, 2, 3)
        );
        assert_eq!(data.pixels.len(), 3 * 3 * 2 * 3);

        let b = data.image(1);
        // R plane, row-major: R = 10 x + y.
        assert_eq!(&b[0..6], &[0, 10, 20, 1, 11, 21]);
        // G plane: G = 100 + x.
        assert_eq!(&b[6..12], &[100, 101, 102, 100, 101, 102]);
        // B plane: B = 200 + y.
        assert_eq!(&b[12..18], &[200, 200, 200, 201, 201, 201]);
        // The flipped copy, first in sorted order (`A.PNG` < `b.png` in byte order).
        assert_eq!(&data.image(0)[0..6], &[20, 10, 0, 21, 11, 1]);
        assert_eq!(data.image(2), b);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flat_folder_of_grey_images_has_no_labels_and_one_channel() {
        let dir = temp_folder("flat");
        constant_grey(4, 5, 7).save(dir.join("1.png")).unwrap();
        constant_grey(4, 5, 9).save(dir.join("0.png")).unwrap();
        let grey_alpha: ImageBuffer<LumaA<u8>, Vec<u8>> =
            ImageBuffer::from_pixel(4, 5, LumaA([30, 0]));
        grey_alpha.save(dir.join("2.png")).unwrap();
        let deep: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_pixel(4, 5, Luma([65535]));
        deep.save(dir.join("3.png")).unwrap();
        fs::create_dir(dir.join("empty-sub-folder")).unwrap();

        let data = read_image_folder(&dir, &FolderOptions::default()).unwrap();
        assert_eq!(data.labels, None);
        assert!(data.classes.is_empty());
        assert_eq!(
            (data.n, data.channels, data.height, data.width),
            (4, 1, 5, 4)
        );
        assert!(data.image(0).iter().all(|v| *v == 9));
        assert!(data.image(1).iter().all(|v| *v == 7));
        assert!(data.image(2).iter().all(|v| *v == 30), "alpha dropped");
        assert!(data.image(3).iter().all(|v| *v == 255), "16 bits to 8");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn grey_images_in_a_colour_folder_are_replicated_and_alpha_dropped() {
        let dir = temp_folder("mixed-colour");
        constant_grey(3, 2, 40).save(dir.join("a.png")).unwrap();
        let rgba: ImageBuffer<Rgba<u8>, Vec<u8>> =
            ImageBuffer::from_pixel(3, 2, Rgba([1, 2, 3, 0]));
        rgba.save(dir.join("b.png")).unwrap();

        let data = read_image_folder(&dir, &FolderOptions::default()).unwrap();
        assert_eq!(
            (data.n, data.channels, data.height, data.width),
            (2, 3, 2, 3)
        );
        assert!(data.image(0).iter().all(|v| *v == 40));
        assert_eq!(
            data.image(1),
            &[1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn grey_option_gives_bt601_luma() {
        let dir = temp_folder("grey");
        let primaries: RgbImage = ImageBuffer::from_fn(4, 1, |x, _| match x {
            0 => Rgb([255, 0, 0]),
            1 => Rgb([0, 255, 0]),
            2 => Rgb([0, 0, 255]),
            _ => Rgb([255, 255, 255]),
        });
        primaries.save(dir.join("primaries.png")).unwrap();
        constant_grey(4, 1, 77).save(dir.join("grey.png")).unwrap();

        let data = read_image_folder(&dir, &options(None, true)).unwrap();
        assert_eq!(
            (data.n, data.channels, data.height, data.width),
            (2, 1, 1, 4)
        );
        assert_eq!(data.image(0), &[77, 77, 77, 77]);
        // PIL's `convert("L")` of the primaries and white.
        assert_eq!(data.image(1), &[76, 150, 29, 255]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resizing_gives_the_size_and_keeps_a_constant() {
        let dir = temp_folder("resize");
        fs::create_dir(dir.join("small")).unwrap();
        fs::create_dir(dir.join("large")).unwrap();
        constant_grey(5, 3, 123)
            .save(dir.join("small/a.png"))
            .unwrap();
        let colour: RgbImage = ImageBuffer::from_pixel(40, 31, Rgb([10, 128, 250]));
        colour.save(dir.join("large/b.png")).unwrap();

        let data = read_image_folder(&dir, &options(Some((8, 6)), false)).unwrap();
        assert_eq!(
            (data.n, data.channels, data.height, data.width),
            (2, 3, 8, 6)
        );
        assert_eq!(data.pixels.len(), 2 * 3 * 8 * 6);
        let large = data.image(0);
        assert!(large[..48].iter().all(|v| *v == 10), "{large:?}");
        assert!(large[48..96].iter().all(|v| *v == 128), "{large:?}");
        assert!(large[96..].iter().all(|v| *v == 250), "{large:?}");
        assert!(data.image(1).iter().all(|v| *v == 123));
        assert_eq!(data.labels, Some(vec![0, 1]));

        let grey = read_image_folder(&dir, &options(Some((2, 2)), true)).unwrap();
        assert_eq!(
            (grey.n, grey.channels, grey.height, grey.width),
            (2, 1, 2, 2)
        );
        assert!(grey.image(1).iter().all(|v| *v == 123));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn different_sizes_without_image_size_name_both_files() {
        let dir = temp_folder("sizes");
        constant_grey(4, 4, 0).save(dir.join("a.png")).unwrap();
        constant_grey(4, 4, 0).save(dir.join("b.png")).unwrap();
        constant_grey(6, 5, 0).save(dir.join("c.png")).unwrap();
        let text = error_text(&dir, &FolderOptions::default());
        assert!(text.contains("a.png") && text.contains("4x4"), "{text}");
        assert!(text.contains("c.png") && text.contains("5x6"), "{text}");
        assert!(text.contains("--image-size HxW"), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn corrupt_and_truncated_images_are_errors_naming_the_file() {
        let dir = temp_folder("corrupt");
        constant_grey(4, 4, 0).save(dir.join("a.png")).unwrap();
        let bytes: Vec<u8> = (0..200u32).map(|i| (i * 7919 % 251) as u8).collect();
        fs::write(dir.join("x.png"), bytes).unwrap();
        let text = error_text(&dir, &FolderOptions::default());
        assert!(text.contains("x.png"), "{text}");
        assert!(text.contains("cannot decode"), "{text}");
        fs::remove_file(dir.join("x.png")).unwrap();

        let noise: RgbImage = ImageBuffer::from_fn(64, 64, |x, y| {
            Rgb([(x * 31 + y * 17) as u8, (x * y) as u8, (x ^ y) as u8])
        });
        let mut png = Vec::new();
        noise
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        fs::write(dir.join("t.png"), &png[..png.len() / 2]).unwrap();
        let text = error_text(&dir, &options(Some((4, 4)), false));
        assert!(text.contains("t.png"), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_folder_and_empty_class_folder_are_errors() {
        let dir = temp_folder("empty");
        fs::write(dir.join("readme.txt"), "no images here").unwrap();
        let text = error_text(&dir, &FolderOptions::default());
        assert!(text.contains(&dir.display().to_string()), "{text}");
        assert!(text.contains("no .png"), "{text}");

        fs::create_dir(dir.join("cat")).unwrap();
        fs::create_dir(dir.join("dog")).unwrap();
        constant_grey(2, 2, 0).save(dir.join("cat/a.png")).unwrap();
        let text = error_text(&dir, &FolderOptions::default());
        assert!(
            text.contains(&dir.join("dog").display().to_string()),
            "{text}"
        );
        assert!(text.contains("class folder"), "{text}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_folder_is_an_io_error() {
        let parent = temp_folder("missing");
        let error =
            read_image_folder(&parent.join("not-there"), &FolderOptions::default()).unwrap_err();
        assert!(matches!(error, DataError::Io { .. }), "{error}");
        assert!(error.to_string().contains("not-there"), "{error}");
        fs::remove_dir_all(&parent).unwrap();
    }

    #[test]
    fn class_folders_and_loose_images_together_are_an_error() {
        let dir = temp_folder("both");
        fs::create_dir(dir.join("cat")).unwrap();
        constant_grey(2, 2, 0).save(dir.join("cat/a.png")).unwrap();
        constant_grey(2, 2, 0).save(dir.join("loose.png")).unwrap();
        let text = error_text(&dir, &FolderOptions::default());
        assert!(text.contains("both sub-folders"), "{text}");
        assert!(
            text.contains("loose.png") && text.contains("a.png"),
            "{text}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn zero_image_size_is_an_error() {
        let dir = temp_folder("zero");
        constant_grey(2, 2, 0).save(dir.join("a.png")).unwrap();
        for size in [(0, 4), (4, 0)] {
            let text = error_text(&dir, &options(Some(size), false));
            assert!(text.contains("zero side"), "{text}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn jpeg_decodes() {
        let dir = temp_folder("jpeg");
        let colour: RgbImage = ImageBuffer::from_pixel(16, 8, Rgb([200, 100, 50]));
        colour.save(dir.join("a.JPG")).unwrap();
        constant_grey(16, 8, 90).save(dir.join("b.jpeg")).unwrap();

        let data = read_image_folder(&dir, &FolderOptions::default()).unwrap();
        assert_eq!(
            (data.n, data.channels, data.height, data.width),
            (2, 3, 8, 16)
        );
        let near = |values: &[u8], expected: u8| values.iter().all(|v| v.abs_diff(expected) <= 3);
        let a = data.image(0);
        assert!(near(&a[..128], 200) && near(&a[128..256], 100) && near(&a[256..], 50));
        assert!(near(data.image(1), 90));
        fs::remove_dir_all(&dir).unwrap();
    }
}
