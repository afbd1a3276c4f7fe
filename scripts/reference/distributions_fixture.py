#!/usr/bin/env python3
"""Write crates/latent-distributions/tests/fixtures/scipy_reference.json.

Reference log-densities, entropies and KL divergences computed by scipy in float64, for the
distributions crate to match in float32. Normal-Normal KL is integrated numerically
(scipy.integrate.quad) so it does not reuse the closed form under test.

    python3 -m pip install -r scripts/reference/requirements.txt
    python3 scripts/reference/distributions_fixture.py
"""
import json
import pathlib

import numpy as np
import scipy
from scipy import integrate, special, stats

OUT = (pathlib.Path(__file__).resolve().parents[2]
       / "crates/latent-distributions/tests/fixtures/scipy_reference.json")
rng = np.random.default_rng(20261126)


def f32(values):
    """Round inputs to float32 (what the Rust side holds), then compute in float64."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def normal_cases():
    cases = []
    for log_var_range in [(-2.0, 2.0), (-30.0, -25.0), (25.0, 30.0)]:
        mean = f32(rng.uniform(-3, 3, size=4))
        log_var = f32(rng.uniform(*log_var_range, size=4))
        scale = np.exp(0.5 * log_var)
        x = f32(mean + scale * rng.normal(size=4))
        cases.append({
            "mean": mean.tolist(), "log_var": log_var.tolist(), "x": x.tolist(),
            "log_prob": stats.norm.logpdf(x, loc=mean, scale=scale).tolist(),
            "entropy": stats.norm.entropy(loc=mean, scale=scale).tolist(),
        })
    return cases


def kl_quad_1d(mp, sp, mq, sq):
    p, q = stats.norm(mp, sp), stats.norm(mq, sq)
    lo, hi = mp - 12 * sp, mp + 12 * sp
    value, _ = integrate.quad(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)), lo, hi,
                              epsabs=1e-13, epsrel=1e-12, limit=200)
    return value


def normal_kl_cases():
    cases = []
    for _ in range(4):
        p_mean, q_mean = f32(rng.uniform(-2, 2, size=3)), f32(rng.uniform(-2, 2, size=3))
        p_lv, q_lv = f32(rng.uniform(-1.5, 1.5, size=3)), f32(rng.uniform(-1.5, 1.5, size=3))
        per_dim = [kl_quad_1d(a, np.exp(0.5 * b), c, np.exp(0.5 * d))
                   for a, b, c, d in zip(p_mean, p_lv, q_mean, q_lv)]
        cases.append({"p_mean": p_mean.tolist(), "p_log_var": p_lv.tolist(),
                      "q_mean": q_mean.tolist(), "q_log_var": q_lv.tolist(),
                      "kl_elementwise": per_dim})
    return cases


def bernoulli_cases():
    cases = []
    for logit_range in [(-4.0, 4.0), (-100.0, -60.0), (60.0, 100.0)]:
        logits = f32(rng.uniform(*logit_range, size=4))
        q_logits = f32(rng.uniform(-4.0, 4.0, size=4))
        x = rng.integers(0, 2, size=4).astype(float)
        p = special.expit(logits)
        if logit_range == (-4.0, 4.0):
            log_prob = stats.bernoulli.logpmf(x, p)
            entropy = stats.bernoulli.entropy(p)
            q = special.expit(q_logits)
            kl = [stats.entropy([a, 1 - a], [b, 1 - b]) for a, b in zip(p, q)]
        else:
            # expit rounds to exactly 0 or 1 here: use scipy's log_expit, which does not.
            log_prob = x * special.log_expit(logits) + (1 - x) * special.log_expit(-logits)
            entropy = -(p * special.log_expit(logits) + (1 - p) * special.log_expit(-logits))
            kl = (p * (special.log_expit(logits) - special.log_expit(q_logits))
                  + special.expit(-logits) * (special.log_expit(-logits)
                                              - special.log_expit(-q_logits)))
        cases.append({"logits": logits.tolist(), "x": x.tolist(), "q_logits": q_logits.tolist(),
                      "log_prob": np.asarray(log_prob).tolist(),
                      "entropy": np.asarray(entropy).tolist(),
                      "kl_elementwise": np.asarray(kl).tolist()})
    return cases


def categorical_cases():
    cases = []
    for scale in [1.0, 3.0, 40.0]:
        logits = f32(rng.normal(scale=scale, size=5))
        q_logits = f32(rng.normal(scale=1.0, size=5))
        log_probs = special.log_softmax(logits)
        p = special.softmax(logits)
        cases.append({"logits": logits.tolist(), "q_logits": q_logits.tolist(),
                      "log_prob_per_class": log_probs.tolist(),
                      "entropy": float(stats.entropy(p)),
                      "kl": float(stats.entropy(p, special.softmax(q_logits)))})
    return cases


def main():
    fixture = {
        "generator": "scripts/reference/distributions_fixture.py",
        "scipy": scipy.__version__, "numpy": np.__version__,
        "normal": normal_cases(), "normal_kl": normal_kl_cases(),
        "bernoulli": bernoulli_cases(), "categorical": categorical_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
