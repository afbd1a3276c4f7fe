//! burn-flex's f32 `exp` and `log`, which this workspace patches with vectorised kernels
//! (patches/README.md), checked through burn's tensor API on every layout the patch touches —
//! a tensor that owns its storage (computed in place), a shared one and an offset slice (a
//! contiguous copy) — and on a transposed view (the unpatched path): every result within 2 ulp
//! of the f64 value, and IEEE special values kept.

use burn::tensor::{Device, Tensor, TensorData};

fn device() -> Device {
    Device::flex()
}

/// Units in the last place between `got` and `want` rounded to f32.
fn ulps(got: f32, want: f64) -> u64 {
    let want = want as f32;
    if got == want || (got.is_nan() && want.is_nan()) {
        return 0;
    }
    let key = |v: f32| {
        let b = v.to_bits() as i32;
        if b < 0 {
            (i32::MIN - b) as i64
        } else {
            b as i64
        }
    };
    (key(got) - key(want)).unsigned_abs()
}

/// 2^16 values spread over the whole f32 range (every 65,537-th bit pattern), and the edges.
fn sweep() -> Vec<f32> {
    let mut v: Vec<f32> = (0..65_536u32)
        .map(|i| f32::from_bits(i.wrapping_mul(65_537)))
        .filter(|x| x.is_finite())
        .collect();
    v.extend([
        0.0, -0.0, 1.0, -1.0, 88.72, 88.73, -87.33, -103.9, -104.0, 1e-45, 1.17e-38,
    ]);
    v.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
    v
}

fn check(what: &str, xs: &[f32], got: &[f32], f: fn(f64) -> f64) {
    assert_eq!(xs.len(), got.len(), "{what}: sizes");
    for (x, y) in xs.iter().zip(got) {
        let want = f(*x as f64);
        assert!(ulps(*y, want) <= 2, "{what}({x:e}) = {y:e}, want {want:e}");
    }
}

/// A tensor operation under test, its name and its f64 reference.
type Case = (&'static str, fn(Tensor<1>) -> Tensor<1>, fn(f64) -> f64);

#[test]
fn exp_and_log_are_within_two_ulp_on_every_layout() {
    let xs = sweep();
    let n = xs.len();
    let cases: [Case; 2] = [
        ("exp", |t| t.exp(), f64::exp),
        ("log", |t| t.log(), f64::ln),
    ];
    for (what, op, f) in cases {
        let owned = Tensor::<1>::from_data(TensorData::new(xs.clone(), [n]), &device());
        let shared = owned.clone();
        let got: Vec<f32> = op(owned).try_into_vec_as::<f32>().unwrap();
        check(&format!("{what}, owned"), &xs, &got, f);
        // `shared` still holds the storage `owned` had: computed into a copy, and unchanged.
        let kept: Vec<f32> = shared.clone().try_into_vec_as::<f32>().unwrap();
        assert_eq!(kept.len(), n);
        assert!(kept
            .iter()
            .zip(&xs)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        let got: Vec<f32> = op(shared.clone()).try_into_vec_as::<f32>().unwrap();
        check(&format!("{what}, shared"), &xs, &got, f);
        let got: Vec<f32> = op(shared.slice(7..n - 3)).try_into_vec_as::<f32>().unwrap();
        check(&format!("{what}, offset slice"), &xs[7..n - 3], &got, f);
        // A transposed [2, m] view is not contiguous: the unpatched path, the same answers.
        let m = n / 2;
        let matrix =
            Tensor::<2>::from_data(TensorData::new(xs[..2 * m].to_vec(), [m, 2]), &device());
        let transposed = matrix.transpose();
        let got: Vec<f32> = match what {
            "exp" => transposed.exp(),
            _ => transposed.log(),
        }
        .try_into_vec_as::<f32>()
        .unwrap();
        let order: Vec<f32> = (0..2)
            .flat_map(|j| (0..m).map(move |i| (i, j)))
            .map(|(i, j)| xs[2 * i + j])
            .collect();
        check(&format!("{what}, transposed"), &order, &got, f);
    }
}

#[test]
fn special_values_are_kept() {
    let xs = vec![
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        0.0,
        -0.0,
        -1.0,
        100.0,
        -200.0,
    ];
    let t = Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device());
    let exp: Vec<f32> = t.clone().exp().try_into_vec_as::<f32>().unwrap();
    assert_eq!(exp[0], f32::INFINITY);
    assert_eq!(exp[1], 0.0);
    assert!(exp[2].is_nan());
    assert_eq!((exp[3], exp[4]), (1.0, 1.0));
    assert_eq!((exp[6], exp[7]), (f32::INFINITY, 0.0));
    let log: Vec<f32> = t.log().try_into_vec_as::<f32>().unwrap();
    assert_eq!(log[0], f32::INFINITY);
    assert!(log[1].is_nan() && log[2].is_nan() && log[5].is_nan());
    assert_eq!((log[3], log[4]), (f32::NEG_INFINITY, f32::NEG_INFINITY));
    assert!((log[6] - 100f32.ln()).abs() <= 1e-6 * 100f32.ln());
}
