//! burn-flex's f32 `exp` and `log`, which this workspace patches with vectorised kernels
//! (patches/README.md), checked through burn's tensor API on every layout the patch touches —
//! a tensor that owns its storage (computed in place), a shared one and an offset slice (a
//! contiguous copy) — and on a transposed view (the unpatched path): every result within 2 ulp
//! of the f64 value, and IEEE special values kept. The patch's other changes — scalar
//! operations and unary maps compiled for AVX-512 and AVX2 too, and the tensors `empty`,
//! `repeat_dim` and `into_data` allocate without a second copy — are checked against the same
//! arithmetic done here, to the bit, on the same layouts; its random tensors (one sampler for
//! all the elements) against `TensorData::random`'s values from the same generator; its thin
//! products with a transposed right operand against the same products with that operand
//! copied contiguous, to the bit; its products of a sparse 0/1 left operand (summing the rows
//! of the right one where it holds ones) against the sequential sums of their terms, to the
//! bit, and gemm's answers kept where the sums would differ (an infinity or a NaN on the right,
//! a value other than 0 and 1, too many ones).

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

/// f32 values of both signs and many magnitudes, `n` of them.
fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32) * 0.618_034).sin() * 10f32.powi((i % 7) as i32 - 3))
        .collect()
}

/// A tensor operation and the same arithmetic on one f32.
type Map = (&'static str, fn(Tensor<1>) -> Tensor<1>, fn(f32) -> f32);

#[test]
fn scalar_operations_and_maps_match_plain_arithmetic_on_every_layout() {
    let maps: [Map; 6] = [
        ("mul_scalar", |t| t.mul_scalar(0.9), |x| x * 0.9),
        ("add_scalar", |t| t.add_scalar(-1.5), |x| x + -1.5),
        ("sub_scalar", |t| t.sub_scalar(0.25), |x| x - 0.25),
        ("div_scalar", |t| t.div_scalar(3.0), |x| x / 3.0),
        ("sqrt", |t| t.abs().sqrt(), |x| x.abs().sqrt()),
        ("neg", |t| t.neg(), |x| -x),
    ];
    // Lengths around the vector widths (4, 8 and 16 lanes) and a large one.
    for n in [1usize, 7, 16, 17, 33, 1000, 100_003] {
        let xs = values(n);
        for (what, op, f) in maps {
            let want: Vec<u32> = xs.iter().map(|&x| f(x).to_bits()).collect();
            let owned = Tensor::<1>::from_data(TensorData::new(xs.clone(), [n]), &device());
            let shared = owned.clone();
            let got: Vec<f32> = op(owned).try_into_vec_as::<f32>().unwrap();
            let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "{what}, owned, n = {n}");
            let got: Vec<f32> = op(shared.clone()).try_into_vec_as::<f32>().unwrap();
            assert!(
                got.iter().zip(&want).all(|(g, w)| g.to_bits() == *w),
                "{what}, shared, n = {n}"
            );
            let kept: Vec<f32> = shared.clone().try_into_vec_as::<f32>().unwrap();
            assert!(
                kept.iter()
                    .zip(&xs)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{what}: the shared input changed, n = {n}"
            );
            if n > 4 {
                let got: Vec<f32> = op(shared.slice(2..n - 1)).try_into_vec_as::<f32>().unwrap();
                assert!(
                    got.iter()
                        .zip(&want[2..n - 1])
                        .all(|(g, w)| g.to_bits() == *w),
                    "{what}, offset slice, n = {n}"
                );
            }
        }
    }
}

/// Asserts that `got` ([m, n], row-major) is the product of `a` ([m, k]) and `b` ([k, n]),
/// both row-major: every entry within 1e-5 of the sum of its terms' magnitudes from the f64
/// product.
fn assert_product(what: &str, got: &[f32], a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize)) {
    assert_eq!(got.len(), m * n, "{what} {m}x{k}x{n}");
    for i in 0..m {
        for j in 0..n {
            let terms = (0..k).map(|l| a[i * k + l] as f64 * b[l * n + j] as f64);
            let want: f64 = terms.clone().sum();
            let scale: f64 = terms.map(f64::abs).sum();
            let err = (got[i * n + j] as f64 - want).abs();
            assert!(
                err <= 1e-5 * scale.max(1e-30),
                "{what} {m}x{k}x{n} [{i}, {j}]: {} vs {want}",
                got[i * n + j]
            );
        }
    }
}

#[test]
fn matmul_repeat_and_readback_keep_every_value() {
    // A 2-D product's f32 output is not zeroed before gemm writes it: every entry must come
    // from the product, on each of gemm's paths (k <= 2, one row, one column, the blocked
    // kernel) and for an empty k (zeros). A NaN-filled buffer of the output's size is freed
    // just before each product, so that an entry left unwritten would likely read as NaN.
    for (m, k, n) in [
        (37usize, 19usize, 23usize),
        (64, 784, 40),
        (1, 50, 30),
        (30, 50, 1),
        (9, 2, 11),
        (5, 1, 4),
        (4, 0, 3),
    ] {
        let a = values(m * k);
        let b: Vec<f32> = values(k * n + 5)[5..].to_vec();
        let poison =
            Tensor::<1>::from_data(TensorData::new(vec![f32::NAN; m * n], [m * n]), &device());
        drop(poison.mul_scalar(1.0));
        let lhs = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device());
        let rhs = Tensor::<2>::from_data(TensorData::new(b.clone(), [k, n]), &device());
        let got: Vec<f32> = lhs.matmul(rhs).try_into_vec_as::<f32>().unwrap();
        assert_product("matmul", &got, &a, &b, (m, k, n));
    }
    let (m, k) = (37usize, 19usize);
    let a = values(m * k);
    // `repeat_dim` writes each block `times` times into one allocation.
    let x = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device());
    let repeated: Vec<f32> = x.clone().repeat_dim(0, 3).try_into_vec_as::<f32>().unwrap();
    assert_eq!(repeated.len(), 3 * m * k);
    for t in 0..3 {
        assert_eq!(
            &repeated[t * m * k..(t + 1) * m * k],
            &a[..],
            "repeat along 0, copy {t}"
        );
    }
    let columns: Vec<f32> = x.clone().repeat_dim(1, 2).try_into_vec_as::<f32>().unwrap();
    for i in 0..m {
        for t in 0..2 {
            let row = &columns[i * 2 * k + t * k..i * 2 * k + (t + 1) * k];
            assert_eq!(
                row,
                &a[i * k..(i + 1) * k],
                "repeat along 1, row {i}, copy {t}"
            );
        }
    }
    // Reading back a tensor whose storage is shared copies it, once, and leaves it as it was.
    let kept = x.clone();
    let read: Vec<f32> = x.try_into_vec_as::<f32>().unwrap();
    assert_eq!(read, a);
    assert_eq!(kept.try_into_vec_as::<f32>().unwrap(), a);
}

#[test]
fn thin_products_with_a_transposed_right_operand_are_the_contiguous_products_bit_for_bit() {
    // x · Wᵀ with Wᵀ a transposed view, at most 128 rows, at least 64 columns and a depth of
    // at least twice the rows goes through a column-major output transposed back: the same
    // sums in the same order as gemm's blocked kernel on the product with Wᵀ copied
    // contiguous, so the same bits wherever that kernel computes both (m · n > 256, k > 2,
    // neither side 1; below that gemm's small-matrix and vector kernels sum in an order that
    // depends on the layout, before this path as after). Every product near the f64 one.
    // Shapes on both sides of each of the path's bounds (rows 1, 2, 128, 129; columns 63, 64;
    // depth 2m − 1, 2m; m · n at 256 and just above), a partial block of columns (n not a
    // multiple of 16), a depth beyond gemm's depth block (1100), and a linear layer's input
    // gradient (64 × 784 × 400).
    for (m, k, n) in [
        (64usize, 784usize, 400usize),
        (64, 128, 64),
        (64, 127, 64),
        (4, 300, 63),
        (2, 300, 129),
        (2, 300, 128),
        (128, 400, 100),
        (129, 300, 100),
        (17, 40, 70),
        (33, 1100, 70),
        (1, 50, 80),
        (37, 2, 23),
        (100, 300, 1),
    ] {
        let a = values(m * k);
        let w: Vec<f32> = values(n * k + 3)[3..].to_vec();
        let lhs = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device());
        // W stored [n, k] row-major; its transpose [k, n] a view with unit row stride.
        let w = Tensor::<2>::from_data(TensorData::new(w, [n, k]), &device());
        let transposed = w.transpose();
        let copied = Tensor::<2>::from_data(transposed.clone().into_data(), &device());
        let got: Vec<f32> = lhs
            .clone()
            .matmul(transposed)
            .try_into_vec_as::<f32>()
            .unwrap();
        let want: Vec<f32> = lhs.matmul(copied.clone()).try_into_vec_as::<f32>().unwrap();
        assert_eq!(got.len(), m * n);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        if m > 1 && n > 1 && m * n > 256 && k > 2 {
            assert_eq!(bits(&got), bits(&want), "{m}x{k}x{n}");
        }
        let wt: Vec<f32> = copied.try_into_vec_as::<f32>().unwrap();
        assert_product("x · Wᵀ", &got, &a, &wt, (m, k, n));
    }
}

#[test]
fn log_sigmoid_and_its_gradient_are_accurate_on_every_layout() {
    use burn::tensor::activation::log_sigmoid;
    let xs: Vec<f32> = sweep().into_iter().filter(|x| !x.is_nan()).collect();
    let n = xs.len();
    let want = |x: f64| x.min(0.0) - (-x.abs()).exp().ln_1p();
    let close = |what: &str, xs: &[f32], got: &[f32], f: &dyn Fn(f64) -> f64| {
        assert_eq!(xs.len(), got.len(), "{what}: sizes");
        for (x, y) in xs.iter().zip(got) {
            let w = f(*x as f64);
            assert!(ulps(*y, w) <= 4, "{what}({x:e}) = {y:e}, want {w:e}");
        }
    };
    let owned = Tensor::<1>::from_data(TensorData::new(xs.clone(), [n]), &device());
    let shared = owned.clone();
    let got: Vec<f32> = log_sigmoid(owned).try_into_vec_as::<f32>().unwrap();
    close("ln σ, owned", &xs, &got, &want);
    let got: Vec<f32> = log_sigmoid(shared.clone())
        .try_into_vec_as::<f32>()
        .unwrap();
    close("ln σ, shared", &xs, &got, &want);
    let got: Vec<f32> = log_sigmoid(shared.slice(5..n - 2))
        .try_into_vec_as::<f32>()
        .unwrap();
    close("ln σ, offset slice", &xs[5..n - 2], &got, &want);
    // The gradient through autodiff: d ln σ(x) / dx = σ(−x), times the upstream gradient.
    let ad = device().autodiff();
    let x = Tensor::<1>::from_data(TensorData::new(xs.clone(), [n]), &ad).require_grad();
    let weights: Vec<f32> = (0..n).map(|i| 0.5 + (i % 3) as f32).collect();
    let w = Tensor::<1>::from_data(TensorData::new(weights.clone(), [n]), &ad);
    let grads = (log_sigmoid(x.clone()) * w).sum().backward();
    let got: Vec<f32> = x.grad(&grads).unwrap().try_into_vec_as::<f32>().unwrap();
    for ((x, g), w) in xs.iter().zip(&got).zip(&weights) {
        let want = *w as f64 / (1.0 + (*x as f64).exp());
        assert!(
            ulps(*g, want) <= 4,
            "d ln σ({x:e}) × {w} = {g:e}, want {want:e}"
        );
    }
    let special = Tensor::<1>::from_data(
        TensorData::new(vec![f32::INFINITY, f32::NEG_INFINITY, f32::NAN], [3]),
        &device(),
    );
    let got: Vec<f32> = log_sigmoid(special).try_into_vec_as::<f32>().unwrap();
    assert_eq!((got[0], got[1]), (0.0, f32::NEG_INFINITY));
    assert!(got[2].is_nan());
}

/// Random tensors: burn-flex draws every element from one sampler (the patch) instead of a
/// sampler per element (`TensorData::random`), the same draws from the same generator: the
/// same values bit for bit, for every distribution, in f32 and f64, and the generator's state
/// carried from one tensor to the next as before.
#[test]
fn random_tensors_are_tensor_data_randoms_values() {
    use burn::tensor::{DType, Distribution};
    use rand::SeedableRng;

    let device = device();
    let distributions = [
        Distribution::Default,
        Distribution::Uniform(-2.0, 3.0),
        Distribution::Bernoulli(0.3),
        Distribution::Normal(0.5, 2.0),
    ];
    for (seed, distribution) in distributions.into_iter().enumerate() {
        let seed = seed as u64 + 11;
        for dtype in [DType::F32, DType::F64] {
            device.seed(seed);
            let mut reference = rand::rngs::StdRng::seed_from_u64(seed);
            for n in [1usize, 1000, 10_007] {
                let drawn = Tensor::<1>::random([n], distribution, (&device, dtype)).into_data();
                let want = match dtype {
                    DType::F32 => {
                        TensorData::random::<f32, _, _>([n], distribution, &mut reference)
                    }
                    _ => TensorData::random::<f64, _, _>([n], distribution, &mut reference),
                };
                assert_eq!(drawn.dtype(), dtype);
                assert_eq!(
                    drawn.as_bytes(),
                    want.as_bytes(),
                    "{distribution:?}, {dtype:?}, {n} values"
                );
            }
        }
    }
}

/// A 0/1 matrix of `m × k` with about `share` ones, from a fixed generator.
fn zeros_and_ones(m: usize, k: usize, share: f64) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..m * k)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            if u < share {
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

/// `a · b` (`a` [m, k], `b` [k, n], row-major) as f32 sums of each entry's terms in increasing
/// k, from +0, multiplying every term (so `0 · ∞` is NaN, as IEEE and gemm have it).
fn sequential_product(a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f32> {
    let mut out = vec![0.0f32; m * n];
    for i in 0..m {
        for l in 0..k {
            for j in 0..n {
                out[i * n + j] += a[i * k + l] * b[l * n + j];
            }
        }
    }
    out
}

#[test]
fn products_of_a_zero_one_left_operand_are_its_rows_sums_bit_for_bit() {
    // A sparse matrix of zeros and ones on the left (a binarised input, and its transpose in a
    // linear layer's weight gradient) is multiplied by summing the right operand's rows where
    // it holds ones (patches/burn-flex/src/ops/indicator.rs): the sequential sums of the terms,
    // bit for bit (gemm's AVX-512 kernels split a depth of 784 into blocks and round
    // differently, so this fails if the products go there). Shapes: the default VAE's first
    // layer on a replica's 64 rows, its weight gradient, a partial block of columns, and a
    // product on rayon's threads (more than 2^20 additions).
    let device = device();
    for (m, k, n) in [
        (64usize, 784usize, 400usize),
        (784, 64, 400),
        (5, 300, 100),
        (128, 64, 130),
        (512, 784, 400),
    ] {
        let ones = zeros_and_ones(m, k, 0.08);
        let b: Vec<f32> = values(k * n + 5)[5..].to_vec();
        let rhs = Tensor::<2>::from_data(TensorData::new(b.clone(), [k, n]), &device);
        let want = sequential_product(&ones, &b, (m, k, n));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // Row-major, and the same matrix as the transposed view of its transpose.
        let lhs = Tensor::<2>::from_data(TensorData::new(ones.clone(), [m, k]), &device);
        let mut stored_t = vec![0.0f32; m * k];
        for i in 0..m {
            for l in 0..k {
                stored_t[l * m + i] = ones[i * k + l];
            }
        }
        let view = Tensor::<2>::from_data(TensorData::new(stored_t, [k, m]), &device).transpose();
        for (layout, lhs) in [("row-major", lhs), ("transposed view", view)] {
            let got: Vec<f32> = lhs.matmul(rhs.clone()).try_into_vec_as::<f32>().unwrap();
            assert_eq!(bits(&got), bits(&want), "{layout} {m}x{k}x{n}");
        }
    }
}

#[test]
fn products_of_a_zero_one_left_operand_keep_gemms_answers_elsewhere() {
    let device = device();
    let (m, k, n) = (64usize, 784usize, 400usize);
    let ones = zeros_and_ones(m, k, 0.08);
    let b: Vec<f32> = values(k * n + 5)[5..].to_vec();
    let product = |a: &[f32], b: &[f32]| -> Vec<f32> {
        let lhs = Tensor::<2>::from_data(TensorData::new(a.to_vec(), [m, k]), &device);
        let rhs = Tensor::<2>::from_data(TensorData::new(b.to_vec(), [k, n]), &device);
        lhs.matmul(rhs).try_into_vec_as::<f32>().unwrap()
    };
    // An infinity or a NaN on the right: 0 · ∞ and 0 · NaN are NaN, as gemm has them, in the
    // rows with a zero there, where summing the rows of the ones alone would skip them; the
    // rows with a one there get the infinity (or the NaN).
    assert!(ones[27 * k + 3] == 1.0 && ones[k + 3] == 0.0);
    for bad in [f32::INFINITY, f32::NAN] {
        let mut b = b.clone();
        b[3 * n + 7] = bad;
        let got = product(&ones, &b);
        let want = sequential_product(&ones, &b, (m, k, n));
        for i in 0..m {
            let (g, w) = (got[i * n + 7], want[i * n + 7]);
            assert!(
                g.is_nan() == w.is_nan() && (w.is_nan() || g == w),
                "{bad}: row {i}: {g}"
            );
            assert!(got[i * n + 8].is_finite(), "{bad}: row {i}, next column");
        }
        assert!(got[n + 7].is_nan() && (got[27 * n + 7] == bad || bad.is_nan()));
    }
    // One value that is neither 0 nor 1, a dense 0/1 matrix, and negative zeros: the product.
    let mut half = ones.clone();
    half[5 * k + 100] = 0.5;
    let mut dense = zeros_and_ones(m, k, 0.6);
    dense[0] = 1.0;
    let mut signed = ones.clone();
    for v in signed.iter_mut().filter(|v| **v == 0.0).step_by(2) {
        *v = -0.0;
    }
    for (what, a) in [
        ("a half", half),
        ("60 % ones", dense),
        ("negative zeros", signed),
    ] {
        assert_product(what, &product(&a, &b), &a, &b, (m, k, n));
    }
}
