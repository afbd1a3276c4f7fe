//! Special functions on the host, in f64: log Γ, the digamma function ψ and log B(a, b) — what
//! the Dirichlet, Beta and Wishart normalisers of variational inference need.

/// ln Γ(x) for x > 0 (Lanczos approximation, g = 7, nine coefficients; about 1e-15 relative;
/// reflection below 1/2). NaN for x ≤ 0 or NaN.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x < 0.5 {
        // Γ(x) Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series = COEFFICIENTS[1..]
        .iter()
        .enumerate()
        .fold(COEFFICIENTS[0], |acc, (i, c)| {
            acc + c / (x + i as f64 + 1.0)
        });
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

/// ψ(x) = d ln Γ(x) / dx for x > 0: the recurrence ψ(x) = ψ(x + 1) − 1/x up to x ≥ 10, then the
/// asymptotic series (about 1e-14 absolute). NaN for x ≤ 0 or NaN.
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    let (mut x, mut shift) = (x, 0.0);
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inv2 = 1.0 / (x * x);
    // ln x − 1/(2x) − Σ B_2k / (2k x^2k).
    let series = inv2
        * (1.0 / 12.0
            - inv2
                * (1.0 / 120.0
                    - inv2 * (1.0 / 252.0 - inv2 * (1.0 / 240.0 - inv2 * (1.0 / 132.0)))));
    shift + x.ln() - 0.5 / x - series
}

/// ln B(a, b) = ln Γ(a) + ln Γ(b) − ln Γ(a + b).
pub fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EULER: f64 = 0.577_215_664_901_532_9;

    #[test]
    fn known_values() {
        let pi = std::f64::consts::PI;
        assert!((ln_gamma(1.0)).abs() < 1e-14);
        assert!((ln_gamma(2.0)).abs() < 1e-14);
        assert!((ln_gamma(0.5) - 0.5 * pi.ln()).abs() < 1e-14);
        // Γ(11) = 10! = 3628800.
        assert!((ln_gamma(11.0) - 3_628_800f64.ln()).abs() < 1e-12);
        // Stirling's series far out: ln Γ(1000.5).
        let x = 1000.5f64;
        let stirling = (x - 0.5) * x.ln() - x + 0.5 * (2.0 * pi).ln() + 1.0 / (12.0 * x)
            - 1.0 / (360.0 * x.powi(3));
        assert!((ln_gamma(x) - stirling).abs() < 1e-9 * stirling);
        assert!((ln_gamma(0.1) - 2.252_712_651_734_206).abs() < 1e-13);
        assert!((digamma(1.0) + EULER).abs() < 1e-13);
        assert!((digamma(0.5) + EULER + 2.0 * 2f64.ln()).abs() < 1e-13);
        assert!((digamma(0.01) - (-100.560_885_457_869_2)).abs() < 1e-10);
        assert!((ln_beta(2.0, 3.0) - (1.0f64 / 12.0).ln()).abs() < 1e-14);
        assert!(ln_gamma(0.0).is_nan() && digamma(-1.0).is_nan());
    }

    #[test]
    fn recurrences_hold_everywhere() {
        for i in 1..400 {
            let x = i as f64 * 0.173;
            assert!(
                (ln_gamma(x + 1.0) - ln_gamma(x) - x.ln()).abs()
                    < 1e-12 * (1.0 + ln_gamma(x).abs()),
                "{x}"
            );
            assert!(
                (digamma(x + 1.0) - digamma(x) - 1.0 / x).abs() < 1e-12 * (1.0 + 1.0 / x),
                "{x}"
            );
            // ψ is the derivative of ln Γ.
            let h = 1e-5 * x.max(1.0);
            let numeric = (ln_gamma(x + h) - ln_gamma(x - h.min(x / 2.0))) / (h + h.min(x / 2.0));
            assert!(
                (numeric - digamma(x)).abs() < 1e-4 * (1.0 + digamma(x).abs()),
                "{x}"
            );
        }
    }
}
