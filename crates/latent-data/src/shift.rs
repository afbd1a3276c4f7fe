//! The domain shifts of 8-bit images (rotate, invert, noise, thicken, thin), made on the fly
//! and the same every run.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

use crate::mnist::SIDE;

/// One shift of the data.
#[derive(Debug, Clone, PartialEq)]
pub enum Shift {
    /// Rotation about the image centre, counter-clockwise, bilinear.
    Rotate {
        /// Angle in degrees.
        degrees: f64,
    },
    /// Grey level v ↦ 255 − v.
    Invert,
    /// Gaussian noise added to each pixel (clamped to the grey range), seeded by the image.
    Noise {
        /// Standard deviation in units of full scale (0–1).
        std: f64,
    },
    /// Rounds of 3 × 3 grey dilation.
    Thicken {
        /// How many rounds (1–10).
        rounds: usize,
    },
    /// Rounds of 3 × 3 grey erosion.
    Thin {
        /// How many rounds (1–10).
        rounds: usize,
    },
}

/// Mixed into the seed of the noise shift.
const NOISE_SEED_SALT: u64 = 0x6e6f_6973_6500_0000;

impl Shift {
    /// This shift of one 28 × 28 grey image (MNIST's); `key` seeds the noise.
    pub fn apply(&self, image: &[u8], key: u64) -> Vec<u8> {
        self.apply_to(image, (SIDE, SIDE, 1), key)
    }

    /// This shift of one planar image of `(height, width, channels)`, each channel alike;
    /// `key` seeds the noise.
    pub fn apply_to(
        &self,
        image: &[u8],
        (h, w, _channels): (usize, usize, usize),
        key: u64,
    ) -> Vec<u8> {
        let per_channel = |f: &dyn Fn(&[u8]) -> Vec<u8>| -> Vec<u8> {
            image.chunks_exact(h * w).flat_map(f).collect()
        };
        match self {
            Shift::Rotate { degrees } => per_channel(&|plane| rotate(plane, h, w, *degrees)),
            Shift::Invert => image.iter().map(|v| 255 - v).collect(),
            Shift::Noise { std } => {
                let mut rng = StdRng::seed_from_u64(key ^ NOISE_SEED_SALT);
                let normal = Normal::new(0.0, std * 255.0).expect("std ≥ 0 was checked");
                image
                    .iter()
                    .map(|v| {
                        (*v as f64 + normal.sample(&mut rng))
                            .round()
                            .clamp(0.0, 255.0) as u8
                    })
                    .collect()
            }
            Shift::Thicken { rounds } => per_channel(&|plane| {
                (0..*rounds).fold(plane.to_vec(), |im, _| {
                    neighbourhood(&im, h, w, |a, b| a.max(b))
                })
            }),
            Shift::Thin { rounds } => per_channel(&|plane| {
                (0..*rounds).fold(plane.to_vec(), |im, _| {
                    neighbourhood(&im, h, w, |a, b| a.min(b))
                })
            }),
        }
    }
}

/// Counter-clockwise rotation (as seen, rows going down) about the centre, by bilinear
/// interpolation from the source; outside the frame is paper (0).
fn rotate(image: &[u8], h: usize, w: usize, degrees: f64) -> Vec<u8> {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let at = |x: isize, y: isize| -> f64 {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
            0.0
        } else {
            image[y as usize * w + x as usize] as f64
        }
    };
    let mut out = vec![0u8; h * w];
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 - cx, y as f64 - cy);
            // The source of (x, y) is (x, y) turned back by the angle.
            let sx = cx + dx * cos - dy * sin;
            let sy = cy + dx * sin + dy * cos;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let value = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + at(x0 + 1, y0) * fx * (1.0 - fy)
                + at(x0, y0 + 1) * (1.0 - fx) * fy
                + at(x0 + 1, y0 + 1) * fx * fy;
            out[y * w + x] = value.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Combines each pixel with its 3 × 3 neighbourhood (inside the frame) by `pick`.
fn neighbourhood(image: &[u8], h: usize, w: usize, pick: impl Fn(u8, u8) -> u8) -> Vec<u8> {
    let mut out = vec![0u8; h * w];
    for y in 0..h {
        for x in 0..w {
            let mut value = image[y * w + x];
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    value = pick(value, image[ny * w + nx]);
                }
            }
            out[y * w + x] = value;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mnist::PIXELS;
    use crate::{Mnist, Split};

    fn mnist_dir() -> std::path::PathBuf {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets/mnist"))
    }

    #[test]
    fn shifts_match_hand_made_expectations() {
        let data = Mnist::load(&mnist_dir(), Split::Test, Some(50)).unwrap();
        let image = data.image(0).to_vec();
        // Rotation by 0 and inverting twice are the identity; four quarter turns come back.
        assert_eq!(Shift::Rotate { degrees: 0.0 }.apply(&image, 0), image);
        let inverted = Shift::Invert.apply(&image, 0);
        assert!(inverted.iter().zip(&image).all(|(a, b)| *a == 255 - *b));
        assert_eq!(Shift::Invert.apply(&inverted, 0), image);
        let quarter = Shift::Rotate { degrees: 90.0 };
        let once = quarter.apply(&image, 0);
        assert_ne!(once, image);
        let full = (0..3).fold(once, |im, _| quarter.apply(&im, 0));
        assert_eq!(full, image);
        // A quarter turn counter-clockwise takes the top-middle pixel to the left-middle.
        let mut dot = vec![0u8; PIXELS];
        dot[13] = 255; // (x 13, y 0)
        let turned = quarter.apply(&dot, 0);
        assert_eq!(turned[14 * SIDE], 255, "(x 0, y 14)");
        assert_eq!(turned.iter().filter(|v| **v > 0).count(), 1);
        // Thickening never removes ink and adds some; thinning never adds any.
        let thick = Shift::Thicken { rounds: 1 }.apply(&image, 0);
        let thin = Shift::Thin { rounds: 1 }.apply(&image, 0);
        assert!(thick.iter().zip(&image).all(|(a, b)| a >= b));
        assert!(thin.iter().zip(&image).all(|(a, b)| a <= b));
        let ink = |im: &[u8]| im.iter().map(|v| *v as u64).sum::<u64>();
        assert!(ink(&thick) > ink(&image) && ink(&thin) < ink(&image));
        // Noise: zero noise is the identity, the same key gives the same noise, its spread is
        // as asked on mid-grey pixels (no clamping there).
        assert_eq!(Shift::Noise { std: 0.0 }.apply(&image, 3), image);
        let noisy = Shift::Noise { std: 0.1 };
        assert_eq!(noisy.apply(&image, 3), noisy.apply(&image, 3));
        assert_ne!(noisy.apply(&image, 3), noisy.apply(&image, 4));
        let grey = vec![128u8; PIXELS];
        let d: Vec<f64> = noisy
            .apply(&grey, 9)
            .iter()
            .map(|v| *v as f64 - 128.0)
            .collect();
        let sd = (d.iter().map(|x| x * x).sum::<f64>() / d.len() as f64).sqrt();
        // 784 draws: the sample SD is within ~4 standard errors (25.5 · 4 / √1568 ≈ 2.6).
        assert!((sd - 25.5).abs() < 2.6, "{sd}");
    }
}
