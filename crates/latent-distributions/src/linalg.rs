//! Small dense linear algebra on the host in f64, for the D × D factorisations of Gaussian
//! covariances (row-major `Vec<f64>`s). Not for large matrices: those stay on the device.

/// Lower-triangular L with L Lᵀ = A (A symmetric, row-major d × d), or `None` when A is not
/// (numerically) positive definite.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    debug_assert_eq!(a.len(), d * d);
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * d + k] * l[j * d + k]).sum();
            if i == j {
                let v = a[i * d + i] - s;
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * d + i] = v.sqrt();
            } else {
                l[i * d + j] = (a[i * d + j] - s) / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// The inverse of a lower-triangular matrix (row-major d × d), by forward substitution.
pub fn lower_triangular_inverse(l: &[f64], d: usize) -> Vec<f64> {
    let mut inv = vec![0.0; d * d];
    for col in 0..d {
        for i in col..d {
            let rhs = if i == col { 1.0 } else { 0.0 };
            let s: f64 = (col..i).map(|k| l[i * d + k] * inv[k * d + col]).sum();
            inv[i * d + col] = (rhs - s) / l[i * d + i];
        }
    }
    inv
}

/// Transpose of a row-major d × d matrix.
pub fn transpose(a: &[f64], d: usize) -> Vec<f64> {
    (0..d * d).map(|idx| a[(idx % d) * d + idx / d]).collect()
}

/// Product of row-major d × d matrices.
pub fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            if aik != 0.0 {
                for j in 0..d {
                    out[i * d + j] += aik * b[k * d + j];
                }
            }
        }
    }
    out
}

/// The inverse of a symmetric positive-definite matrix through its Cholesky factor
/// (A⁻¹ = L⁻ᵀ L⁻¹), or `None` if A is not positive definite.
pub fn spd_inverse(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let l_inv = lower_triangular_inverse(&cholesky(a, d)?, d);
    Some(matmul(&transpose(&l_inv, d), &l_inv, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [f64; 9] = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];

    #[test]
    fn cholesky_reconstructs_the_matrix() {
        let l = cholesky(&A, 3).unwrap();
        let back = matmul(&l, &transpose(&l, 3), 3);
        for (x, y) in back.iter().zip(A) {
            assert!((x - y).abs() < 1e-12);
        }
        assert_eq!(l[1], 0.0); // lower triangular
    }

    #[test]
    fn inverses_are_inverses() {
        let inv = spd_inverse(&A, 3).unwrap();
        let eye = matmul(&A, &inv, 3);
        for i in 0..3 {
            for j in 0..3 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((eye[i * 3 + j] - want).abs() < 1e-12, "{eye:?}");
            }
        }
    }

    #[test]
    fn indefinite_and_nan_matrices_have_no_factor() {
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
        assert!(cholesky(&[f64::NAN], 1).is_none());
        assert!(cholesky(&[0.0], 1).is_none());
    }
}
