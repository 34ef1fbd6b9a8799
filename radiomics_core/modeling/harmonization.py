"""ComBat harmonization of features across sites (Johnson, Li & Rabinovic 2007; Fortin et al.
2017, 2018), fitted on training rows only.

Merged cohorts (UCSF-PDGM, BraTS, TCGA) differ by site and scanner, which a model can learn
instead of biology. ComBat models each feature as a grand mean plus a site's additive and
multiplicative effect, with empirical Bayes shrinkage of the site effects across features
(the parametric priors of Johnson et al.). ``fit`` estimates everything from the training rows
(grand mean, pooled variance, each site's shrunk location ``gamma_`` and scale ``delta_``);
``transform`` applies those estimates to any row of a site seen in training, so test and external
rows are harmonized without being seen by any fit (as neuroCombat's ``neuroCombatFromTraining``).

A site absent from training (a new hospital as the external cohort, the usual case) has no
estimated effect. Estimating one from its own rows would fit on held-out data, and without
covariates it would also remove that cohort's biology with its site (a site of mostly high-grade
exams would be pulled to the training mix). So ``transform(..., unseen="as_is")`` gives such a
site no site effect (gamma 0, delta 1): standardized by the training grand mean and pooled
variance and mapped back, which returns its rows unchanged. Its rows keep their scanner effect, and
the external metrics measure the model under that shift, as for an unharmonized model. The
default, ``unseen="error"``, refuses such rows, naming the sites.

No biological covariates are modelled: a label (grade, MGMT) would have to be known to apply
the model to a test row. The numbers equal neuroCombat's ``neuroCombat`` (parametric, no
covariates) on the same training data (tests/test_harmonization.py). One deviation: a feature
constant in training keeps variance 1 (neuroCombat assigns it the median of a boolean array).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


UNSEEN_SITES = ("error", "as_is")  # what ComBat.transform does with a site that has no training rows


class ComBat:
    """``fit(X, sites)`` on training rows, then ``transform(X, sites)`` on any rows."""

    def __init__(self, tolerance: float = 1e-4, max_iterations: int = 1000):
        self.tolerance = tolerance
        self.max_iterations = max_iterations

    def fit(self, X: pd.DataFrame, sites: pd.Series) -> "ComBat":
        values, sites = self._check(X, sites)
        self.sites_ = sorted(set(sites))
        if len(self.sites_) < 2:
            raise ValueError(f"ComBat needs at least two sites in the training rows, found {self.sites_}")
        counts = pd.Series(sites).value_counts()
        if counts.min() < 2:
            raise ValueError(f"ComBat needs at least two training rows per site: {counts[counts < 2].to_dict()}")
        self.columns_ = list(X.columns)
        masks = {s: sites == s for s in self.sites_}
        n = len(values)
        site_means = np.array([values[m].mean(axis=0) for m in masks.values()])
        weights = np.array([m.sum() for m in masks.values()]) / n
        self.grand_mean_ = weights @ site_means
        fitted = np.zeros_like(values)
        for i, m in enumerate(masks.values()):
            fitted[m] = site_means[i]
        pooled = np.square(values - fitted).mean(axis=0)
        self.var_pooled_ = np.where(pooled > 0, pooled, 1.0)
        z = (values - self.grand_mean_) / np.sqrt(self.var_pooled_)
        gamma_hat = np.array([z[m].mean(axis=0) for m in masks.values()])
        delta_hat = np.array([z[m].var(axis=0, ddof=1) for m in masks.values()])
        delta_hat[delta_hat == 0] = 1.0
        gamma_bar = gamma_hat.mean(axis=1)
        tau2 = gamma_hat.var(axis=1, ddof=1)
        mean_d, var_d = delta_hat.mean(axis=1), delta_hat.var(axis=1, ddof=1)
        a_prior = (2 * var_d + mean_d ** 2) / var_d
        b_prior = (mean_d * var_d + mean_d ** 3) / var_d
        gamma, delta = [], []
        for i, m in enumerate(masks.values()):
            g, d = self._posterior(z[m], gamma_hat[i], delta_hat[i], gamma_bar[i], tau2[i], a_prior[i], b_prior[i])
            gamma.append(g)
            delta.append(d)
        self.gamma_, self.delta_ = np.array(gamma), np.array(delta)
        return self

    def _posterior(self, z, g_hat, d_hat, g_bar, t2, a, b):
        """Johnson et al.'s parametric empirical Bayes estimates, iterated to ``tolerance``
        (neuroCombat's ``it_sol``: the relative change of both estimates)."""
        n = len(z)
        g_old, d_old = g_hat.copy(), d_hat.copy()
        for _ in range(self.max_iterations):
            g_new = (t2 * n * g_hat + d_old * g_bar) / (t2 * n + d_old)
            sum2 = np.square(z - g_new).sum(axis=0)
            d_new = (0.5 * sum2 + b) / (n / 2.0 + a - 1.0)
            change = max(np.max(np.abs(g_new - g_old) / g_old), np.max(np.abs(d_new - d_old) / d_old))
            g_old, d_old = g_new, d_new
            if change <= self.tolerance:
                break
        return g_old, d_old

    def transform(self, X: pd.DataFrame, sites: pd.Series, unseen: str = "error") -> pd.DataFrame:
        """``X`` harmonized with the fitted estimates. A row of a site without training rows is
        refused (``unseen="error"``) or given no site effect, i.e. returned as it is (``"as_is"``)."""
        if not hasattr(self, "gamma_"):
            raise ValueError("ComBat is not fitted: call fit on the training rows first")
        if unseen not in UNSEEN_SITES:
            raise ValueError(f"ComBat: unseen must be one of {', '.join(UNSEEN_SITES)}, not {unseen!r}")
        if list(X.columns) != self.columns_:
            raise ValueError("ComBat: the rows to harmonize have other columns than the training rows")
        values, sites = self._check(X, sites)
        new_sites = sorted(set(sites) - set(self.sites_))
        if new_sites and unseen == "error":
            raise ValueError(f"ComBat: sites {new_sites} have no training rows, so they cannot be harmonized "
                             f"without fitting on their own rows (training sites: {self.sites_}); "
                             "pass unseen='as_is' to leave their rows unharmonized")
        # A new site's effect is none: gamma 0, delta 1 (the appended last row).
        gamma = np.vstack([self.gamma_, np.zeros(len(self.columns_))])
        delta = np.vstack([self.delta_, np.ones(len(self.columns_))])
        index = np.array([self.sites_.index(s) if s in self.sites_ else len(self.sites_) for s in sites], dtype=int)
        z = (values - self.grand_mean_) / np.sqrt(self.var_pooled_)
        adjusted = (z - gamma[index]) / np.sqrt(delta[index])
        return pd.DataFrame(adjusted * np.sqrt(self.var_pooled_) + self.grand_mean_, index=X.index, columns=X.columns)

    @staticmethod
    def _check(X: pd.DataFrame, sites: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        missing = X.index.difference(sites.index)
        if len(missing):
            raise ValueError(f"ComBat: no site for {len(missing)} rows, e.g. {list(missing[:3])}")
        values = X.to_numpy(dtype=float)
        if not np.isfinite(values).all():
            raise ValueError("ComBat: features must be finite (impute first)")
        return values, sites.reindex(X.index).astype(str).to_numpy()


def harmonize_matrices(matrices: dict[float, pd.DataFrame], sites: pd.Series, train: pd.Index
                       ) -> dict[float, pd.DataFrame]:
    """Every VOI's wide features ComBat-harmonized, each ComBat fitted on ``train`` rows only
    (missing values filled with the training median first, as the selection's imputer would).
    Rows of a site without training rows are left as they are (``sites_without_training_rows``
    names them, for the caller to say so)."""
    out = {}
    for ring_mm, matrix in matrices.items():
        rows = matrix.index.intersection(train)
        filled = matrix.fillna(matrix.loc[rows].median()).fillna(0.0)
        out[ring_mm] = ComBat().fit(filled.loc[rows], sites).transform(filled, sites, unseen="as_is")
    return out


def sites_without_training_rows(sites: pd.Series, rows: pd.Index, train: pd.Index) -> dict[str, int]:
    """Site -> its number of ``rows`` for each site among ``rows`` that has none in ``train``:
    the rows ``harmonize_matrices`` leaves unharmonized."""
    of_rows = sites.reindex(rows).astype(str)
    trained = set(sites.reindex(train).astype(str))
    counts = of_rows[~of_rows.isin(trained)].value_counts()
    return {str(site): int(n) for site, n in counts.sort_index().items()}
