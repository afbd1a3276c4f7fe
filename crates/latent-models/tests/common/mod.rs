//! What the mixture tests share: the device, and comparisons of fits to a tolerance.

#![allow(dead_code)] // Each test file uses its own part.

use burn::tensor::Device;
use latent_models::Gmm;

#[allow(deprecated)] // ndarray is the project's default CPU backend.
pub fn device() -> Device {
    Device::ndarray()
}

/// Equal lengths and every |a − b| ≤ tol (1 + |b|).
pub fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} against {y}"
        );
    }
}

/// The same weights, means, covariances and lower bounds, to `tol`.
pub fn same_fit(a: &Gmm, b: &Gmm, tol: f64, what: &str) {
    close(&a.weights, &b.weights, tol, &format!("{what}: weights"));
    let flat = |m: &Gmm| m.means.concat();
    close(&flat(a), &flat(b), tol, &format!("{what}: means"));
    close(
        &a.covariances,
        &b.covariances,
        tol,
        &format!("{what}: covariances"),
    );
    let (fa, fb) = (a.fit.as_ref().unwrap(), b.fit.as_ref().unwrap());
    same_bounds(&fa.lower_bounds, &fb.lower_bounds, tol, what);
}

/// The same lower bounds, iteration by iteration. One fit may stop an iteration or two before
/// the other: once EM reaches a float32 fixed point the bound stops changing (by less than
/// any `tol`) at a moment rounding decides.
pub fn same_bounds(a: &[f64], b: &[f64], tol: f64, what: &str) {
    let n = a.len().min(b.len());
    assert!(
        a.len().abs_diff(b.len()) <= 2,
        "{what}: {} and {} iterations",
        a.len(),
        b.len()
    );
    close(&a[..n], &b[..n], tol, &format!("{what}: lower bounds"));
}
