#!/usr/bin/env python3
"""Write crates/latent-models/tests/fixtures/sklearn_bayesian_gmm.json.

Reference fits of scikit-learn's BayesianGaussianMixture (variational inference, float64) for
the models crate's Bayesian mixture to match. The data are the five datasets of
sklearn_gmm.json (written by gmm_fixture.py; read from there, not repeated). Each is fitted
with K = true K + 2 components, both weight priors and all four covariance types, with
scikit-learn's default priors; two more fits on blobs2d_k3 set every prior by hand.

Both sides must start from the same responsibilities for their results to be comparable
(the Dirichlet process is not symmetric in the components), so the fits here start from
stored labels — those of scikit-learn's KMeans(K, random_state=0) on the data — through a
subclass that replaces the initialisation; the Rust test passes the same labels as
`initial_labels`. Everything else is scikit-learn's own code path.

    python3 -m pip install -r scripts/reference/requirements.txt
    python3 scripts/reference/gmm_fixture.py            # if sklearn_gmm.json is missing
    python3 scripts/reference/bayesian_gmm_fixture.py
"""
import json
import pathlib

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.mixture import BayesianGaussianMixture

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "crates/latent-models/tests/fixtures"
SOURCE = FIXTURES / "sklearn_gmm.json"
OUT = FIXTURES / "sklearn_bayesian_gmm.json"
SETTINGS = {"tol": 1e-6, "max_iter": 2000, "reg_covar": 1e-6}
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIORS = ["dirichlet_process", "dirichlet_distribution"]


class FromLabels(BayesianGaussianMixture):
    """BayesianGaussianMixture started from given labels (one-hot responsibilities)."""

    def __init__(self, labels=None, **kwargs):
        super().__init__(**kwargs)
        self.labels = labels

    def _initialize_parameters(self, X, random_state, xp=None):
        resp = np.zeros((X.shape[0], self.n_components))
        resp[np.arange(X.shape[0]), self.labels] = 1.0
        self._initialize(X, resp)


def fit(x, labels, k, cov, prior, **priors):
    bgm = FromLabels(labels=labels, n_components=k, covariance_type=cov,
                     weight_concentration_prior_type=prior, n_init=1, **SETTINGS,
                     **priors).fit(x)
    concentration = bgm.weight_concentration_
    if prior == "dirichlet_process":
        concentration = [concentration[0].tolist(), concentration[1].tolist()]
    else:
        concentration = [concentration.tolist()]
    return {
        "covariance": cov, "weight_prior": prior, "k": k,
        "priors": {key: np.asarray(v).tolist() for key, v in priors.items()},
        "lower_bound": float(np.asarray(bgm.lower_bound_).ravel()[0]),
        "converged": bool(bgm.converged_), "n_iter": int(bgm.n_iter_),
        "weights": bgm.weights_.tolist(), "means": bgm.means_.tolist(),
        "covariances": np.asarray(bgm.covariances_).tolist(),
        "weight_concentration": concentration,
        "mean_precision": np.atleast_1d(bgm.mean_precision_).tolist(),
        "degrees_of_freedom": np.atleast_1d(bgm.degrees_of_freedom_).tolist(),
        # N_k >= 1: a_k = 1 + N_k (process), alpha_0 + N_k (distribution).
        "effective_components": int(np.sum(
            np.asarray(bgm.weight_concentration_[0] if prior == "dirichlet_process"
                       else bgm.weight_concentration_)
            - (1.0 if prior == "dirichlet_process" else bgm.weight_concentration_prior_)
            >= 1.0)),
    }


def main():
    source = json.loads(SOURCE.read_text())
    datasets = []
    for entry in source["datasets"]:
        x = np.asarray(entry["x"], dtype=np.float64)
        d = x.shape[1]
        k = entry["k"] + 2
        labels = KMeans(n_clusters=k, n_init=1, random_state=0).fit(x).labels_
        fits = [fit(x, labels, k, cov, prior) for prior in PRIORS for cov in COVARIANCE_TYPES]
        if entry["name"] == "blobs2d_k3":
            for cov, cov_prior in (("full", [[2.0, 0.3], [0.3, 1.0]]), ("diag", [2.0, 1.0])):
                fits.append(fit(x, labels, k, cov, "dirichlet_process",
                                weight_concentration_prior=0.01, mean_precision_prior=0.5,
                                mean_prior=[0.5, -0.5], degrees_of_freedom_prior=d + 2.0,
                                covariance_prior=cov_prior))
        datasets.append({"name": entry["name"], "initial_labels": labels.tolist(),
                         "fits": fits})
    fixture = {
        "generator": "scripts/reference/bayesian_gmm_fixture.py",
        "data": "sklearn_gmm.json", "sklearn": sklearn.__version__,
        "numpy": np.__version__, "settings": SETTINGS, "datasets": datasets,
    }
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    print(f"\n{'dataset':<14} {'prior':<24} {'cov':<10} {'lower bound':>14} {'n_iter':>6} "
          f"{'effective':>9}")
    for entry in datasets:
        for f in entry["fits"]:
            print(f"{entry['name']:<14} {f['weight_prior']:<24} {f['covariance']:<10} "
                  f"{f['lower_bound']:>14.6f} {f['n_iter']:>6} {f['effective_components']:>9}"
                  + ("  (priors set)" if f["priors"] else ""))


if __name__ == "__main__":
    main()
