//! The first two principal axes of a point cloud, for 2-D pictures of higher-dimensional data.

use crate::VizError;

/// The plane of the two largest principal components: points are shown by their coordinates
/// along `axes` after subtracting `mean`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalPlane {
    /// The data's mean, one value per dimension.
    pub mean: Vec<f64>,
    /// Two orthonormal directions, largest variance first.
    pub axes: [Vec<f64>; 2],
    /// The data's variance along each axis.
    pub variances: [f64; 2],
}

impl PrincipalPlane {
    /// Fits the plane to `n = data.len() / dim` points (row-major). Subspace iteration on the
    /// centred data (never forming the dim × dim covariance), to a relative change below 1e-10
    /// or 500 rounds; each axis's sign is fixed so that its largest component is positive.
    /// One-dimensional data get the plane (e₀, 0): the second coordinate is then always 0.
    pub fn fit(data: &[f64], dim: usize) -> Result<Self, VizError> {
        if dim == 0 || data.is_empty() || !data.len().is_multiple_of(dim) {
            return Err(VizError::InvalidInput(format!(
                "{} values are not a whole number of {dim}-dimensional points",
                data.len()
            )));
        }
        if let Some(v) = data.iter().find(|v| !v.is_finite()) {
            return Err(VizError::InvalidInput(format!(
                "the data hold a non-finite value ({v})"
            )));
        }
        let n = data.len() / dim;
        let mut mean = vec![0.0; dim];
        for row in data.chunks(dim) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x / n as f64;
            }
        }
        let centred: Vec<f64> = data
            .chunks(dim)
            .flat_map(|row| row.iter().zip(&mean).map(|(x, m)| x - m))
            .collect();
        // Xᵀ X v / n, one pass over the rows.
        let covariance_times = |v: &[f64]| -> Vec<f64> {
            let mut out = vec![0.0; dim];
            for row in centred.chunks(dim) {
                let dot: f64 = row.iter().zip(v).map(|(a, b)| a * b).sum();
                for (o, a) in out.iter_mut().zip(row) {
                    *o += dot * a / n as f64;
                }
            }
            out
        };
        // A fixed, generic start (a simple LCG), so results are reproducible.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut start = || -> Vec<f64> {
            (0..dim)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
                })
                .collect()
        };
        let mut axes = [start(), start()];
        orthonormalise(&mut axes, dim);
        let mut variances = [0.0; 2];
        for _ in 0..500 {
            let mut next = [covariance_times(&axes[0]), covariance_times(&axes[1])];
            let new_variances = [dot(&next[0], &axes[0]), dot(&next[1], &axes[1])];
            orthonormalise(&mut next, dim);
            let change = next
                .iter()
                .zip(&axes)
                .map(|(a, b)| 1.0 - dot(a, b).abs())
                .fold(0.0, f64::max);
            axes = next;
            let settled = new_variances
                .iter()
                .zip(&variances)
                .all(|(a, b)| (a - b).abs() <= 1e-12 * a.abs().max(1e-300));
            variances = new_variances;
            if change < 1e-10 && settled {
                break;
            }
        }
        for axis in &mut axes {
            let largest = axis
                .iter()
                .copied()
                .fold(0.0, |m: f64, v| if v.abs() > m.abs() { v } else { m });
            if largest < 0.0 {
                axis.iter_mut().for_each(|v| *v = -*v);
            }
        }
        let variances = [
            dot(&covariance_times(&axes[0]), &axes[0]),
            dot(&covariance_times(&axes[1]), &axes[1]),
        ];
        Ok(Self {
            mean,
            axes,
            variances,
        })
    }

    /// The coordinates of `x` in the plane.
    pub fn project(&self, x: &[f64]) -> (f64, f64) {
        let centred: Vec<f64> = x.iter().zip(&self.mean).map(|(a, m)| a - m).collect();
        (dot(&centred, &self.axes[0]), dot(&centred, &self.axes[1]))
    }

    /// A covariance matrix (dim × dim, row-major) seen in the plane: P Σ Pᵀ.
    pub fn project_covariance(&self, covariance: &[f64]) -> [[f64; 2]; 2] {
        let dim = self.mean.len();
        let times = |v: &[f64]| -> Vec<f64> {
            covariance
                .chunks(dim)
                .map(|row| dot(row, v))
                .collect::<Vec<f64>>()
        };
        let (s0, s1) = (times(&self.axes[0]), times(&self.axes[1]));
        [
            [dot(&self.axes[0], &s0), dot(&self.axes[0], &s1)],
            [dot(&self.axes[1], &s0), dot(&self.axes[1], &s1)],
        ]
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `v[1]` minus its component along the unit vector `v[0]`.
fn remove_first_from_second(v: &mut [Vec<f64>; 2]) {
    let along = dot(&v[1], &v[0]);
    let [first, second] = v;
    second
        .iter_mut()
        .zip(first.iter())
        .for_each(|(a, b)| *a -= along * b);
}

/// Gram–Schmidt on two vectors; a vector that vanishes becomes the first unit vector not
/// parallel to the other (this happens for rank-deficient data, e.g. 1-D).
fn orthonormalise(v: &mut [Vec<f64>; 2], dim: usize) {
    for i in 0..2 {
        if i == 1 {
            remove_first_from_second(v);
        }
        let norm = dot(&v[i], &v[i]).sqrt();
        if norm > 1e-12 {
            v[i].iter_mut().for_each(|a| *a /= norm);
            continue;
        }
        v[i] = (0..dim)
            .map(|k| {
                let mut e = vec![0.0; dim];
                e[k] = 1.0;
                e
            })
            .find(|e| i == 0 || dot(e, &v[0]).abs() < 0.9)
            .unwrap_or_else(|| vec![0.0; dim]);
        if i == 1 {
            remove_first_from_second(v);
            let norm = dot(&v[1], &v[1]).sqrt();
            if norm > 0.0 {
                v[1].iter_mut().for_each(|a| *a /= norm);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points spread with standard deviations 5, 2 and 0.5 along three orthonormal directions
    /// of R⁴, plus an offset.
    fn cloud() -> (Vec<f64>, [[f64; 4]; 3]) {
        let h = 0.5;
        let dirs = [[h, h, h, h], [h, -h, h, -h], [h, h, -h, -h]];
        let scales = [5.0, 2.0, 0.5];
        let mut data = Vec::new();
        // A deterministic grid of coefficients with zero mean and known variance per direction.
        let ticks = [-1.5, -0.5, 0.5, 1.5];
        for a in ticks {
            for b in ticks {
                for c in ticks {
                    data.extend((0..4).map(|k| {
                        10.0 + a * scales[0] * dirs[0][k]
                            + b * scales[1] * dirs[1][k]
                            + c * scales[2] * dirs[2][k]
                    }));
                }
            }
        }
        (data, dirs)
    }

    #[test]
    fn recovers_the_known_axes_and_variances() {
        let (data, dirs) = cloud();
        let plane = PrincipalPlane::fit(&data, 4).unwrap();
        // Var of the ticks is 1.25, times the scale squared.
        for (i, expected) in [25.0 * 1.25, 4.0 * 1.25].into_iter().enumerate() {
            assert!(
                (plane.variances[i] - expected).abs() < 1e-8,
                "{:?}",
                plane.variances
            );
            assert!((dot(&plane.axes[i], &dirs[i]).abs() - 1.0).abs() < 1e-9);
        }
        assert!(plane.mean.iter().all(|m| (m - 10.0).abs() < 1e-12));
        // Projection of the mean is the origin; the covariance seen in the plane is diagonal.
        let (u, v) = plane.project(&plane.mean);
        assert!(u.abs() < 1e-12 && v.abs() < 1e-12);
        let identity: Vec<f64> = (0..16)
            .map(|k| if k % 5 == 0 { 2.0 } else { 0.0 })
            .collect();
        let p = plane.project_covariance(&identity);
        assert!((p[0][0] - 2.0).abs() < 1e-9 && (p[1][1] - 2.0).abs() < 1e-9);
        assert!(p[0][1].abs() < 1e-9);
    }

    #[test]
    fn degenerate_and_bad_inputs() {
        // One-dimensional data and constant data give a plane without NaN.
        let line = PrincipalPlane::fit(&[1.0, 2.0, 3.0], 1).unwrap();
        assert!(line.axes.iter().flatten().all(|v| v.is_finite()));
        let flat = PrincipalPlane::fit(&[1.0, 1.0, 1.0, 1.0], 2).unwrap();
        assert!(flat.variances.iter().all(|v| *v == 0.0));
        assert!(flat.axes.iter().flatten().all(|v| v.is_finite()));
        assert!(PrincipalPlane::fit(&[], 3).is_err());
        assert!(PrincipalPlane::fit(&[1.0, 2.0, 3.0], 2).is_err());
        assert!(PrincipalPlane::fit(&[1.0, f64::NAN], 2).is_err());
    }
}
