#!/usr/bin/env python3
"""Write crates/latent-models/tests/fixtures/sklearn_gmm.json.

Reference Gaussian-mixture fits by scikit-learn (float64 EM) for the models crate's float32 EM
to match. Five synthetic datasets (well separated, anisotropic, badly scaled diagonal,
heavily overlapping, offset by +1000) are drawn from a seeded generator, rounded to float32 and
then to 6 significant digits, and stored; scikit-learn is fitted on exactly the stored numbers
with every covariance type ("full", "tied", "diag", "spherical"). For "blobs2d_k3" the fitted
full model's score_samples and predict_proba at five fixed points are stored as well, so a test
can load sklearn's parameters and compare densities directly.

    python3 -m pip install -r scripts/reference/requirements.txt
    python3 scripts/reference/gmm_fixture.py
"""
import json
import pathlib

import numpy as np
import sklearn
from scipy.optimize import linear_sum_assignment
from sklearn.mixture import GaussianMixture

OUT = (pathlib.Path(__file__).resolve().parents[2]
       / "crates/latent-models/tests/fixtures/sklearn_gmm.json")
rng = np.random.default_rng(20261203)

SETTINGS = {"n_init": 10, "tol": 1e-6, "max_iter": 1000, "reg_covar": 1e-6}
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
# Datasets whose components are far enough apart that sklearn must recover the true means.
WELL_SEPARATED = ["blobs2d_k3", "aniso5d_k4", "diag3d_k2", "offset4d_k3"]


def store(values):
    """Round to float32 (what the Rust side holds), then to 6 significant digits (compact JSON).

    The result is the float64 array that is both written out and fitted, so sklearn sees
    exactly the stored numbers."""
    x = np.asarray(values, dtype=np.float32).astype(np.float64)
    return np.vectorize(lambda v: float(f"{v:.6g}"), otypes=[np.float64])(x)


def random_spd(d, scale=1.0):
    a = rng.normal(size=(d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


def sample(n, weights, means, covariances):
    """Exactly round(n * w) points per component, shuffled."""
    counts = np.round(n * np.asarray(weights)).astype(int)
    counts[-1] = n - counts[:-1].sum()
    labels = rng.permutation(np.repeat(np.arange(len(weights)), counts))
    x = np.empty((n, len(means[0])))
    for j in range(len(weights)):
        idx = labels == j
        x[idx] = rng.multivariate_normal(means[j], covariances[j], size=idx.sum())
    return x, labels


def dataset_specs():
    """(name, n, weights, means, covariances); parameters are stored exactly as used."""
    specs = []

    specs.append(("blobs2d_k3", 600, [0.2, 0.3, 0.5],
                  [[-4.0, 0.0], [3.0, 3.0], [2.0, -4.0]],
                  [[[1.0, 0.6], [0.6, 0.8]],
                   [[0.5, -0.2], [-0.2, 1.2]],
                   [[1.5, 0.0], [0.0, 0.4]]]))

    d, k = 5, 4
    specs.append(("aniso5d_k4", 1000, [0.1, 0.2, 0.3, 0.4],
                  store(rng.normal(scale=2.0, size=(k, d))).tolist(),
                  [store(random_spd(d, scale=1.0)).tolist() for _ in range(k)]))

    specs.append(("diag3d_k2", 500, [0.7, 0.3],
                  [[0.0, 0.0, 0.0], [0.5, 12.0, -0.8]],
                  [np.diag([0.01, 25.0, 1.0]).tolist(),
                   np.diag([0.04, 16.0, 0.25]).tolist()]))

    specs.append(("overlap2d_k2", 400, [0.6, 0.4],
                  [[0.0, 0.0], [1.0, 0.0]],
                  [[[1.0, 0.2], [0.2, 1.0]],
                   [[0.8, -0.1], [-0.1, 1.2]]]))

    d, k = 4, 3
    specs.append(("offset4d_k3", 800, [0.25, 0.35, 0.4],
                  store(1000.0 + rng.normal(scale=3.0, size=(k, d))).tolist(),
                  [store(random_spd(d, scale=0.8)).tolist() for _ in range(k)]))
    return specs


def fit(x, k, cov):
    gm = GaussianMixture(n_components=k, covariance_type=cov, random_state=0, **SETTINGS).fit(x)
    result = {
        "avg_log_likelihood": float(gm.score(x)),
        "bic": float(gm.bic(x)), "aic": float(gm.aic(x)),
        "lower_bound": float(gm.lower_bound_),
        "converged": bool(gm.converged_), "n_iter": int(gm.n_iter_),
        "weights": gm.weights_.tolist(), "means": gm.means_.tolist(),
        "covariances": gm.covariances_.tolist(),
        "n_parameters": int(gm._n_parameters()),
    }
    return gm, result


def check_means(name, true_means, true_covs, fitted_means):
    """Match fitted to true components; error in units of the true per-axis std."""
    true_means = np.asarray(true_means)
    std = np.sqrt(np.array([np.diag(c) for c in true_covs]))
    cost = np.array([[np.max(np.abs(f - t) / s) for t, s in zip(true_means, std)]
                     for f in fitted_means])
    rows, cols = linear_sum_assignment(cost)
    worst = float(cost[rows, cols].max())
    print(f"{name}: max |fitted - true mean| / true std = {worst:.3f}")
    assert worst < 0.5, f"{name}: sklearn's full fit does not recover the true means"


def main():
    datasets = []
    for name, n, weights, means, covs in dataset_specs():
        x, labels = sample(n, weights, means, covs)
        x = store(x)
        k, d = len(weights), x.shape[1]
        entry = {"name": name, "n": n, "d": d, "k": k, "x": x.tolist(),
                 "labels": labels.tolist(), "true_weights": weights,
                 "true_means": means, "true_covariances": covs, "sklearn": {}}
        for cov in COVARIANCE_TYPES:
            gm, entry["sklearn"][cov] = fit(x, k, cov)
            if cov == "full":
                gm_full = gm
        if name in WELL_SEPARATED:
            check_means(name, means, covs, gm_full.means_)
        if name == "blobs2d_k3":
            # The means, a point between components, an off-centre point, and one far away.
            points = np.array([[-4.0, 0.0], [3.0, 3.0], [0.5, -0.5], [2.5, -2.0],
                               [20.0, -15.0]])
            entry["score_samples_check"] = {
                "points": points.tolist(),
                "full": gm_full.score_samples(points).tolist(),
                "predict_proba_full": gm_full.predict_proba(points).tolist(),
            }
        datasets.append(entry)

    fixture = {
        "generator": "scripts/reference/gmm_fixture.py",
        "sklearn": sklearn.__version__, "numpy": np.__version__,
        "settings": SETTINGS, "datasets": datasets,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")

    print(f"\n{'dataset':<14} {'cov':<10} {'avg_log_lik':>12} {'bic':>12} {'n_iter':>6} conv")
    for entry in datasets:
        for cov in COVARIANCE_TYPES:
            r = entry["sklearn"][cov]
            print(f"{entry['name']:<14} {cov:<10} {r['avg_log_likelihood']:>12.6f} "
                  f"{r['bic']:>12.4f} {r['n_iter']:>6} {r['converged']}")


if __name__ == "__main__":
    main()
