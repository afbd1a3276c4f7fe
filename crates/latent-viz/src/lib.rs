//! Pictures for `latent`, from plain slices (no burn dependency): PNG grids of images, line,
//! scatter, bar and density plots ([`plot`]), principal axes for 2-D views of higher-dimensional
//! data ([`pca`]) and self-contained HTML reports ([`report`]).
//!
//! ```
//! use latent_viz::plot::{line_plot, Labels, Series};
//! use latent_viz::Grid;
//!
//! let dir = std::env::temp_dir().join(format!("latent-viz-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//!
//! // Two 2 × 2 grey images side by side, 1 pixel apart: ink (1.0) is black, paper (0.0) white.
//! let grid = Grid { width: 2, height: 2, columns: 2, padding: 1 };
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
    /// The images do not fit the [`Grid`]: a zero image size or column count, or a number of
    /// values that is not a whole (positive) number of images.
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

/// A grid layout of equally sized grey images.
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
}

impl Grid {
    /// A grid of 28 × 28 images (MNIST), `columns` per row, 2 pixels apart.
    pub fn mnist(columns: usize) -> Self {
        Self {
            width: 28,
            height: 28,
            columns,
            padding: 2,
        }
    }

    /// Lays out `images` (image after image, row-major pixels, values in [0, 1]; anything
    /// outside is clamped and NaN shows as mid grey) into one grey 8-bit picture.
    /// Returns (width, height, pixels).
    pub fn render(&self, images: &[f32]) -> Result<(usize, usize, Vec<u8>), VizError> {
        let per_image = self.width * self.height;
        if per_image == 0 || self.columns == 0 {
            return Err(VizError::InvalidGrid(
                "image size and columns must be positive".into(),
            ));
        }
        if images.is_empty() || !images.len().is_multiple_of(per_image) {
            return Err(VizError::InvalidGrid(format!(
                "{} values are not a whole number of {}×{} images",
                images.len(),
                self.width,
                self.height
            )));
        }
        let n = images.len() / per_image;
        let columns = self.columns.min(n);
        let rows = n.div_ceil(columns);
        let out_w = columns * self.width + (columns + 1) * self.padding;
        let out_h = rows * self.height + (rows + 1) * self.padding;
        let mut pixels = vec![255u8; out_w * out_h];
        for (index, image) in images.chunks(per_image).enumerate() {
            let x0 = self.padding + (index % columns) * (self.width + self.padding);
            let y0 = self.padding + (index / columns) * (self.height + self.padding);
            for y in 0..self.height {
                for x in 0..self.width {
                    pixels[(y0 + y) * out_w + x0 + x] = to_grey(image[y * self.width + x]);
                }
            }
        }
        Ok((out_w, out_h, pixels))
    }

    /// Renders `images` and writes them as a grey PNG at `path`.
    pub fn write_png(&self, images: &[f32], path: &Path) -> Result<(), VizError> {
        let (w, h, pixels) = self.render(images)?;
        write_grey_png(path, w, h, &pixels)
    }
}

/// Value in [0, 1] to a grey level; ink is dark on white paper.
fn to_grey(value: f32) -> u8 {
    if value.is_nan() {
        return 128;
    }
    (255.0 - value.clamp(0.0, 1.0) * 255.0).round() as u8
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
}
