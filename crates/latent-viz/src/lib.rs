//! Pictures for `latent`, from plain slices (no burn dependency): PNG grids of images, line,
//! scatter, bar and density plots ([`plot`]), principal axes for 2-D views of higher-dimensional
//! data ([`pca`]) and self-contained HTML reports ([`report`]).
//!
//! - Colour image grids: a [`Grid`] with `channels: 3` lays out planar (C × H × W) RGB images.
//! - Pairs plots: [`plot::pairs_plot`] scatters vector data, one panel per pair of dimensions.
//!
//! ```
//! use latent_viz::plot::{line_plot, Labels, Series};
//! use latent_viz::Grid;
//!
//! let dir = std::env::temp_dir().join(format!("latent-viz-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//!
//! // Two 2 × 2 grey images side by side, 1 pixel apart: ink (1.0) is black, paper (0.0) white.
//! let grid = Grid { width: 2, height: 2, columns: 2, padding: 1, channels: 1, scale: 1 };
//! let images = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0];
//! let (width, height, pixels) = grid.render(&images)?;
//! assert_eq!((width, height), (2 * 2 + 3, 2 + 2));
//! assert_eq!((pixels[width + 1], pixels[width + 4]), (0, 255));
//! grid.write_png(&images, &dir.join("grid.png"))?;
//!
//! // A line plot of one curve.
//! let curve: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, (i as f64 / 5.0).sin())).collect();
//! let labels = Labels { title: "sin", x: "step", y: "value" };
//! line_plot(&dir.join("line.png"), labels, &[Series::new("sin", curve)])?;
//!
//! for name in ["grid.png", "line.png"] {
//!     let bytes = std::fs::read(dir.join(name))?;
//!     assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is not a PNG");
//! }
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod pca;
pub mod plot;
pub mod report;

use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// What can go wrong writing a picture.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// A file could not be created or written (or, for [`report::Report::image`], read).
    #[error("cannot write {path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// The png crate could not encode the pixels.
    #[error("cannot encode {path} as PNG: {message}")]
    Encode {
        /// The file being written.
        path: PathBuf,
        /// The encoder's error message.
        message: String,
    },
    /// The images do not fit the [`Grid`]: a zero image size or column count, a channel count
    /// other than 1 or 3, or a number of values that is not a whole (positive) number of images.
    #[error("invalid image grid: {0}")]
    InvalidGrid(String),
    /// Input data that cannot be pictured: points and class labels of different lengths, or
    /// data for [`pca::PrincipalPlane::fit`] of the wrong length or with a non-finite value.
    #[error("invalid plot input: {0}")]
    InvalidInput(String),
    /// plotters failed to draw.
    #[error("cannot draw the plot: {0}")]
    Plot(String),
}

/// A grid layout of equally sized grey or colour images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    /// Width of one image in pixels.
    pub width: usize,
    /// Height of one image in pixels.
    pub height: usize,
    /// Images per row of the grid.
    pub columns: usize,
    /// Pixels of (white) padding between images.
    pub padding: usize,
    /// Channels per image: 1 (grey, drawn as dark ink on white) or 3 (planar RGB, drawn as the
    /// colour itself).
    pub channels: usize,
    /// Each image pixel is drawn as `scale` × `scale` picture pixels (small images magnified).
    pub scale: usize,
}

/// Images smaller than this many pixels a side are magnified by [`Grid::new`].
pub const MIN_DRAWN_SIDE: usize = 28;

impl Grid {
    /// A grid of 28 × 28 grey images (MNIST), `columns` per row, 2 pixels apart.
    pub fn mnist(columns: usize) -> Self {
        Self::new(columns, 28, 28, 1)
    }

    /// A grid of `height` × `width` images with `channels` channels (1 or 3, checked by
    /// [`Grid::render`]), `columns` per row, 2 pixels apart; images with both sides under
    /// [`MIN_DRAWN_SIDE`] are magnified by the smallest whole factor that brings their longer
    /// side to it (8 × 8 digits by 4, 16 × 16 images by 2).
    pub fn new(columns: usize, height: usize, width: usize, channels: usize) -> Self {
        let longer = height.max(width).max(1);
        Self {
            width,
            height,
            columns,
            padding: 2,
            channels,
            scale: MIN_DRAWN_SIDE.div_ceil(longer).max(1),
        }
    }

    /// The drawn size of one image: (width, height) × scale.
    pub fn cell(&self) -> (usize, usize) {
        (self.width * self.scale, self.height * self.scale)
    }

    /// Lays out `images` (image after image, values in [0, 1]; anything outside is clamped and
    /// NaN shows as mid grey) into one 8-bit picture on white.
    ///
    /// With 1 channel each image is `height` × `width` row-major values drawn as ink (grey level
    /// 255 − 255·v), and the picture has one byte per pixel. With 3 channels each image is
    /// planar, `3 × height × width` values (all red, then all green, then all blue, each
    /// row-major), drawn as the colour (level 255·v per channel), and the picture has three
    /// interleaved bytes (R, G, B) per pixel. Returns (width, height, pixels).
    pub fn render(&self, images: &[f32]) -> Result<(usize, usize, Vec<u8>), VizError> {
        if self.channels != 1 && self.channels != 3 {
            return Err(VizError::InvalidGrid(format!(
                "{} channels; only 1 (grey) or 3 (RGB) can be drawn",
                self.channels
            )));
        }
        let plane = self.width * self.height;
        let per_image = plane * self.channels;
        if per_image == 0 || self.columns == 0 || self.scale == 0 {
            return Err(VizError::InvalidGrid(
                "image size, columns and scale must be positive".into(),
            ));
        }
        if images.is_empty() || !images.len().is_multiple_of(per_image) {
            let kind = if self.channels == 3 { " RGB" } else { "" };
            return Err(VizError::InvalidGrid(format!(
                "{} values are not a whole number of {}×{}{kind} images",
                images.len(),
                self.width,
                self.height
            )));
        }
        let n = images.len() / per_image;
        let columns = self.columns.min(n);
        let rows = n.div_ceil(columns);
        let (cell_w, cell_h) = self.cell();
        let out_w = columns * cell_w + (columns + 1) * self.padding;
        let out_h = rows * cell_h + (rows + 1) * self.padding;
        let c = self.channels;
        let mut pixels = vec![255u8; out_w * out_h * c];
        for (index, image) in images.chunks(per_image).enumerate() {
            let x0 = self.padding + (index % columns) * (cell_w + self.padding);
            let y0 = self.padding + (index / columns) * (cell_h + self.padding);
            for y in 0..cell_h {
                for x in 0..cell_w {
                    let at = ((y0 + y) * out_w + x0 + x) * c;
                    let source = (y / self.scale) * self.width + x / self.scale;
                    if c == 1 {
                        pixels[at] = to_grey(image[source]);
                    } else {
                        for channel in 0..c {
                            pixels[at + channel] = to_level(image[channel * plane + source]);
                        }
                    }
                }
            }
        }
        Ok((out_w, out_h, pixels))
    }

    /// Renders `images` and writes them at `path` as a grey PNG (1 channel) or an RGB PNG
    /// (3 channels).
    pub fn write_png(&self, images: &[f32], path: &Path) -> Result<(), VizError> {
        let (w, h, pixels) = self.render(images)?;
        let color = if self.channels == 3 {
            png::ColorType::Rgb
        } else {
            png::ColorType::Grayscale
        };
        write_png(path, w, h, &pixels, color)
    }
}

/// Value in [0, 1] to a grey level; ink is dark on white paper.
fn to_grey(value: f32) -> u8 {
    if value.is_nan() {
        return 128;
    }
    (255.0 - value.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Value in [0, 1] to a colour channel's level (255·v); NaN is mid grey.
fn to_level(value: f32) -> u8 {
    if value.is_nan() {
        return 128;
    }
    (value.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Writes 8-bit grey pixels (row-major) as a PNG.
pub fn write_grey_png(
    path: &Path,
    width: usize,
    height: usize,
    pixels: &[u8],
) -> Result<(), VizError> {
    write_png(path, width, height, pixels, png::ColorType::Grayscale)
}

/// Writes 8-bit pixels (row-major, channels interleaved as `color` says) as a PNG.
pub(crate) fn write_png(
    path: &Path,
    width: usize,
    height: usize,
    pixels: &[u8],
    color: png::ColorType,
) -> Result<(), VizError> {
    let io = |cause| VizError::Io {
        path: path.to_path_buf(),
        cause,
    };
    let encode = |e: png::EncodingError| VizError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(encode)?;
    writer.write_image_data(pixels).map_err(encode)?;
    writer.finish().map_err(encode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_places_each_image_with_padding() {
        let grid = Grid {
            width: 2,
            height: 2,
            columns: 2,
            padding: 1,
            channels: 1,
            scale: 1,
        };
        // Three images: all ink, all paper, a diagonal.
        let images = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let (w, h, px) = grid.render(&images).unwrap();
        assert_eq!((w, h), (7, 7));
        assert_eq!(px[w + 1], 0); // first image, top-left: ink
        assert_eq!(px[w + 4], 255); // second image: paper
        assert_eq!(px[4 * w + 1], 0); // third image (second row), top-left ink
        assert_eq!(px[4 * w + 2], 255); // its top-right paper
        assert_eq!(px[0], 255); // padding
    }

    #[test]
    fn bad_sizes_are_errors_and_odd_values_do_not_panic() {
        let grid = Grid::mnist(8);
        assert!(grid.render(&[0.5; 100]).is_err());
        assert!(grid.render(&[]).is_err());
        let (_, _, px) = grid.render(&vec![f32::NAN; 784]).unwrap();
        assert!(px.contains(&128));
        let (_, _, px) = grid.render(&vec![7.0; 784]).unwrap();
        assert!(px.contains(&0));
    }

    #[test]
    fn writes_a_png_that_decodes_to_the_same_pixels() {
        let dir = std::env::temp_dir().join(format!("latent-viz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grid.png");
        let images: Vec<f32> = (0..3 * 784).map(|i| (i % 784) as f32 / 784.0).collect();
        Grid::mnist(2).write_png(&images, &path).unwrap();
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let (w, h, want) = Grid::mnist(2).render(&images).unwrap();
        assert_eq!((info.width as usize, info.height as usize), (w, h));
        assert_eq!(&buf[..w * h], &want[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// (width, height, colour type, bytes) of a PNG written by the crate.
    fn decode(path: &Path) -> (usize, usize, png::ColorType, Vec<u8>) {
        let decoder =
            png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (
            info.width as usize,
            info.height as usize,
            info.color_type,
            buf,
        )
    }

    #[test]
    fn constructors_and_grey_levels_are_pinned() {
        let mnist = Grid {
            width: 28,
            height: 28,
            columns: 3,
            padding: 2,
            channels: 1,
            scale: 1,
        };
        assert_eq!(Grid::mnist(3), mnist);
        assert_eq!(Grid::new(3, 28, 28, 1), mnist);
        let tall = Grid::new(4, 5, 7, 3);
        assert_eq!((tall.height, tall.width, tall.channels), (5, 7, 3));
        // One 1 × 4 grey image: ink levels 255 − 255·v, clamped, NaN mid grey.
        let grid = Grid {
            width: 4,
            height: 1,
            columns: 1,
            padding: 1,
            channels: 1,
            scale: 1,
        };
        let (w, h, px) = grid.render(&[0.0, 0.25, f32::NAN, 2.0]).unwrap();
        assert_eq!((w, h, px.len()), (6, 3, 18));
        assert_eq!(&px[w..2 * w], &[255, 255, 191, 128, 0, 255]);
        assert!(px[..w].iter().chain(&px[2 * w..]).all(|p| *p == 255));
    }

    #[test]
    fn small_images_are_magnified_pixel_by_pixel() {
        let digits = Grid::new(2, 8, 8, 1);
        assert_eq!((digits.scale, digits.cell()), (4, (32, 32)));
        assert_eq!(Grid::new(1, 16, 12, 3).scale, 2);
        assert_eq!(Grid::mnist(1).scale, 1);
        assert_eq!(Grid::new(1, 64, 64, 1).scale, 1);
        // One 2 × 1 image (ink, paper) at scale 3: two 3 × 3 blocks.
        let grid = Grid {
            width: 2,
            height: 1,
            columns: 1,
            padding: 1,
            channels: 1,
            scale: 3,
        };
        let (w, h, px) = grid.render(&[1.0, 0.0]).unwrap();
        assert_eq!((w, h), (2 * 3 + 2, 3 + 2));
        for y in 1..4 {
            assert_eq!(
                &px[y * w + 1..y * w + 7],
                &[0, 0, 0, 255, 255, 255],
                "row {y}"
            );
        }
        assert!(Grid { scale: 0, ..grid }.render(&[1.0, 0.0]).is_err());
    }

    #[test]
    fn colour_images_are_planar_and_written_as_rgb() {
        let dir = std::env::temp_dir().join(format!("latent-viz-rgb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("colour.png");
        // Two 2 × 2 images, each red plane, then green, then blue (row-major).
        #[rustfmt::skip]
        let images = [
            // First: red, green / (0.2, 0.4, 0.6), blue.
            1.0, 0.0, 0.2, 0.0,
            0.0, 1.0, 0.4, 0.0,
            0.0, 0.0, 0.6, 1.0,
            // Second: out of range values are clamped, NaN is mid grey.
            f32::NAN, 7.0, -1.0, 0.0,
            f32::NAN, 7.0, -1.0, 0.0,
            f32::NAN, 7.0, -1.0, 0.0,
        ];
        // Unmagnified (scale 1), so that each value is one pixel.
        let grid = Grid {
            scale: 1,
            ..Grid::new(2, 2, 2, 3)
        };
        grid.write_png(&images, &path).unwrap();
        let (w, h, color, px) = decode(&path);
        assert_eq!(color, png::ColorType::Rgb);
        // Two images across, 2 pixels of padding around and between them.
        assert_eq!((w, h, px.len()), (10, 6, 10 * 6 * 3));
        let at = |x: usize, y: usize| {
            let i = (y * w + x) * 3;
            (px[i], px[i + 1], px[i + 2])
        };
        assert_eq!(at(2, 2), (255, 0, 0));
        assert_eq!(at(3, 2), (0, 255, 0));
        assert_eq!(at(2, 3), (51, 102, 153));
        assert_eq!(at(3, 3), (0, 0, 255));
        assert_eq!(at(6, 2), (128, 128, 128));
        assert_eq!(at(7, 2), (255, 255, 255));
        assert_eq!(at(6, 3), (0, 0, 0));
        assert_eq!(at(7, 3), (0, 0, 0));
        assert_eq!(at(0, 0), (255, 255, 255)); // padding is white
        assert_eq!(at(4, 2), (255, 255, 255));
        assert_eq!(&px[..], &grid.render(&images).unwrap().2[..]);
        // Grey grids still write grey PNGs.
        Grid {
            channels: 1,
            ..grid
        }
        .write_png(&images, &path)
        .unwrap();
        let (w, h, color, px) = decode(&path);
        assert_eq!(color, png::ColorType::Grayscale);
        // The 24 values are six grey 2 × 2 images: three rows of two.
        assert_eq!((w, h, px.len()), (10, 14, 140));
        assert_eq!((px[2 * w + 2], px[2 * w + 3]), (0, 255));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn channels_other_than_one_or_three_are_refused() {
        for channels in [0, 2, 4] {
            let grid = Grid::new(2, 2, 2, channels);
            let err = grid.render(&[0.5; 24]).unwrap_err();
            assert!(matches!(err, VizError::InvalidGrid(_)), "{err}");
            let path = std::env::temp_dir().join("latent-viz-never-written.png");
            assert!(grid.write_png(&[0.5; 24], &path).is_err());
        }
        // A colour grid wants a whole number of 3 × H × W images.
        assert!(Grid::new(2, 2, 2, 3).render(&[0.5; 8]).is_err());
    }
}
