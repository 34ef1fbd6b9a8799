"""The numbers behind a paper's model figures: the LASSO cross-validation curve and coefficient
path, the correlation of the selected features, and the nomogram of a logistic model.

Every function takes a fitted pipeline and the training data it was fitted on, and returns plain
DataFrames whose columns match the warehouse tables (without the task/model keys, which the
caller adds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import lasso_path
from sklearn.pipeline import Pipeline

from radiomics_core.modeling.selectors import LassoSelector

# More lines than this make a coefficient path unreadable; the selected features always stay.
PATH_FEATURES = 30
# Each figure table's columns after its task/model/ring_mm keys.
COLUMNS = {
    "lasso_cv": ["alpha", "cv_mse", "cv_mse_sd", "chosen"],
    "lasso_path": ["alpha", "feature", "coefficient"],
    "feature_correlation": ["feature_a", "feature_b", "r"],
    "nomogram": ["axis", "axis_order", "value", "label", "points", "position"],
}


def _lasso_step(pipeline: Pipeline) -> tuple[int, LassoSelector] | None:
    for index, (_, step) in enumerate(pipeline.steps):
        if isinstance(step, LassoSelector):
            return index, step
    return None


def lasso_input(pipeline: Pipeline, X_train: pd.DataFrame) -> pd.DataFrame | None:
    """The standardized training matrix the pipeline's LASSO step was fitted on (the earlier steps
    replayed: they are fitted transforms, so this is exactly the LASSO's input), or None."""
    found = _lasso_step(pipeline)
    if found is None:
        return None
    index, _ = found
    return pipeline[:index].transform(X_train) if index else X_train


def lasso_cv_curve(pipeline: Pipeline) -> pd.DataFrame:
    """Mean and SD over folds of the cross-validated mean squared error at each alpha of the
    LASSO step's grid (LassoCV's own ``mse_path_``), the chosen alpha flagged; empty without one."""
    found = _lasso_step(pipeline)
    if found is None:
        return pd.DataFrame(columns=COLUMNS["lasso_cv"])
    _, lasso = found
    return pd.DataFrame({
        "alpha": lasso.alphas_,
        "cv_mse": lasso.mse_path_.mean(axis=1),
        "cv_mse_sd": lasso.mse_path_.std(axis=1, ddof=1),
        "chosen": np.isclose(lasso.alphas_, lasso.alpha_, rtol=1e-12, atol=0.0),
    })


def lasso_coefficient_path(pipeline: Pipeline, X_train: pd.DataFrame, y_train: pd.Series,
                           max_features: int = PATH_FEATURES) -> pd.DataFrame:
    """Coefficients along LassoCV's alpha grid on the LASSO step's own training input
    (``sklearn.linear_model.lasso_path``), as long rows (alpha, feature, coefficient).

    LassoCV fits an intercept; ``lasso_path`` does not, so X and y are centred first, which gives
    the same coefficients. Only the features in the selected set plus those that enter the path
    earliest (at the largest alpha), ``max_features`` in all, are kept.
    """
    found = _lasso_step(pipeline)
    X = lasso_input(pipeline, X_train)
    if found is None or X is None:
        return pd.DataFrame(columns=COLUMNS["lasso_path"])
    _, lasso = found
    values = X.to_numpy(dtype=float)
    target = np.asarray(y_train, dtype=float)
    alphas, coefs, _ = lasso_path(values - values.mean(axis=0), target - target.mean(), alphas=lasso.alphas_,
                                  max_iter=20000)
    nonzero = np.abs(coefs) > 1e-10
    entered = np.where(nonzero.any(axis=1), np.argmax(nonzero, axis=1), len(alphas))  # grid runs high to low
    keep = [j for j in np.flatnonzero(lasso.support_)]
    for j in np.argsort(entered, kind="stable"):
        if len(keep) >= max(max_features, int(lasso.support_.sum())):
            break
        if entered[j] < len(alphas) and j not in keep:
            keep.append(int(j))
    names = list(X.columns)
    return pd.DataFrame([{"alpha": float(a), "feature": names[j], "coefficient": float(coefs[j, k])}
                         for j in sorted(keep) for k, a in enumerate(alphas)],
                        columns=COLUMNS["lasso_path"])


def selected_design(pipeline: Pipeline, X_train: pd.DataFrame) -> pd.DataFrame:
    """The training matrix as the final classifier sees it: the selected features only."""
    return pipeline[:-1].transform(X_train)


def feature_correlation(design: pd.DataFrame) -> pd.DataFrame:
    """Pearson r between every ordered pair of ``design``'s columns, as long rows (feature_a,
    feature_b, r); a constant column correlates with nothing (NaN)."""
    names = list(design.columns)
    if not names:
        return pd.DataFrame(columns=COLUMNS["feature_correlation"])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.atleast_2d(np.corrcoef(design.to_numpy(dtype=float), rowvar=False))
    return pd.DataFrame([{"feature_a": a, "feature_b": b, "r": float(r[i, j])}
                         for i, a in enumerate(names) for j, b in enumerate(names)])


@dataclass(frozen=True)
class Nomogram:
    """A logistic model drawn as points: each variable's contribution to the linear predictor,
    shifted so its lowest value over the training range scores 0 and scaled so the variable with
    the widest contribution spans 0-100. Total points map back to the probability exactly."""

    variables: tuple[str, ...]
    weights: np.ndarray  # per variable, on the raw (unscaled) variable
    lows: np.ndarray  # per variable, the training range's end that contributes least
    highs: np.ndarray  # the other end
    intercept: float  # linear predictor when every variable sits at its ``lows`` value
    points_per_unit: float  # points per unit of linear predictor

    def points(self, X: pd.DataFrame) -> pd.DataFrame:
        values = X[list(self.variables)].to_numpy(dtype=float)
        return pd.DataFrame(self.points_per_unit * self.weights * (values - self.lows), index=X.index,
                            columns=list(self.variables))

    def total_points(self, X: pd.DataFrame) -> pd.Series:
        return self.points(X).sum(axis=1)

    def probability(self, total_points) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.intercept + np.asarray(total_points, dtype=float) / self.points_per_unit)))

    def total_for(self, probability) -> np.ndarray:
        p = np.asarray(probability, dtype=float)
        return (np.log(p / (1 - p)) - self.intercept) * self.points_per_unit


def nomogram(pipeline: Pipeline, X_train: pd.DataFrame) -> Nomogram:
    """The nomogram of a fitted scaler + logistic-regression pipeline over ``X_train``'s range."""
    scaler, model = pipeline[:-1], pipeline[-1]
    if not hasattr(model, "coef_") or np.ravel(model.coef_).size != X_train.shape[1]:
        raise ValueError("a nomogram needs a logistic regression on the pipeline's own columns")
    # The scaler is linear: push a zero row and unit rows through it to get the raw-scale weights.
    columns = list(X_train.columns)
    basis = pd.DataFrame(np.vstack([np.zeros(len(columns)), np.eye(len(columns))]), columns=columns)
    scaled = np.asarray(scaler.transform(basis), dtype=float)
    beta, b0 = np.ravel(model.coef_), float(np.ravel(model.intercept_)[0])
    offset = scaled[0] @ beta + b0
    weights = (scaled[1:] - scaled[0]) @ beta
    minimum, maximum = X_train.min().to_numpy(float), X_train.max().to_numpy(float)
    lows = np.where(weights >= 0, minimum, maximum)
    highs = np.where(weights >= 0, maximum, minimum)
    spans = np.abs(weights * (highs - lows))
    widest = spans.max() if spans.max() > 0 else 1.0
    return Nomogram(tuple(columns), weights, lows, highs, float(offset + weights @ lows), 100.0 / widest)


VALUE_LABELS = {"sex_male": {0.0: "female", 1.0: "male"}}


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) inside [low, high], about
    ``count`` of them; the two ends when the range is empty."""
    if not high > low:
        return [float(low)]
    raw = (high - low) / count
    power = 10 ** np.floor(np.log10(raw))
    step = min((m * power for m in (1, 2, 5, 10)), key=lambda s: abs(np.log(s / raw)))
    first = np.ceil(low / step - 1e-9) * step
    return [float(np.round(v, 10)) + 0.0 for v in np.arange(first, high + step * 1e-9, step)]


def nomogram_rows(chart: Nomogram, ticks: int = 5, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The nomogram's axes as tick rows (axis, axis_order, value, label, points, position):
    a 0-100 points ruler, one axis per variable, total points and the probability.

    ``position`` is where a tick sits on the drawing's 0-100 width; on the variable axes it equals
    ``points``, on the total-points and probability axes it is total points rescaled to the width.
    """
    labels = labels or {}
    rows = [{"axis": "Points", "axis_order": 0, "value": float(v), "label": f"{v:g}", "points": float(v),
             "position": float(v)} for v in np.linspace(0, 100, 11)]
    for k, name in enumerate(chart.variables):
        low, high = chart.lows[k], chart.highs[k]
        values = sorted(VALUE_LABELS[name]) if name in VALUE_LABELS else nice_ticks(min(low, high), max(low, high), ticks)
        for value in values:
            points = float(chart.points_per_unit * chart.weights[k] * (value - low))
            text = VALUE_LABELS.get(name, {}).get(float(value), f"{value:.3g}")
            rows.append({"axis": labels.get(name, name), "axis_order": k + 1, "value": float(value), "label": text,
                         "points": points, "position": points})
    most = float(chart.points_per_unit * np.abs(chart.weights * (chart.highs - chart.lows)).sum())
    scale = 100.0 / most if most > 0 else 1.0
    last = len(chart.variables) + 1
    for total in nice_ticks(0.0, most, 10):
        rows.append({"axis": "Total points", "axis_order": last, "value": float(total), "label": f"{total:.0f}",
                     "points": float(total), "position": float(total * scale)})
    lowest, highest = chart.probability([0.0, most])
    for p in (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99):
        if lowest <= p <= highest:
            total = float(chart.total_for(p))
            rows.append({"axis": "Probability", "axis_order": last + 1, "value": p, "label": f"{p:g}",
                         "points": total, "position": total * scale})
    return pd.DataFrame(rows, columns=COLUMNS["nomogram"])


# How the Clinical-Omics variables are named on the nomogram's axes.
AXIS_NAMES = {"age": "Age (years)", "sex_male": "Sex", "radscore": "Radscore (logit)"}


@dataclass
class ModelFigures:
    """One fitted model's figure data (empty frames where a figure does not apply)."""

    lasso_cv: pd.DataFrame
    lasso_path: pd.DataFrame
    correlation: pd.DataFrame
    nomogram: pd.DataFrame


def describe(pipeline: Pipeline, X_train: pd.DataFrame, y_train: pd.Series, with_nomogram: bool) -> ModelFigures:
    """Every figure's data for a pipeline fitted on ``X_train``/``y_train``; the nomogram only when
    asked (it needs a logistic regression)."""
    return ModelFigures(
        lasso_cv=lasso_cv_curve(pipeline),
        lasso_path=lasso_coefficient_path(pipeline, X_train, y_train),
        correlation=feature_correlation(selected_design(pipeline, X_train)),
        nomogram=nomogram_rows(nomogram(pipeline, X_train), labels=AXIS_NAMES) if with_nomogram
        else pd.DataFrame(columns=COLUMNS["nomogram"]),
    )


FIGURE_TABLES = {"lasso_cv": "lasso_cv", "lasso_path": "lasso_path", "correlation": "feature_correlation",
                 "nomogram": "nomogram"}  # ModelFigures field -> warehouse table


def figure_tables(task: str, models: list) -> dict[str, pd.DataFrame]:
    """The warehouse tables of a task's fitted models' figures (``FittedModel.figures``), keyed by
    task, model and ring_mm: one copy per (model, ring), the logistic model's where several
    classifiers were fitted (they share the selection, so the LASSO and correlation figures are
    the same; the nomogram draws the logistic one)."""
    frames: dict[str, list[pd.DataFrame]] = {table: [] for table in FIGURE_TABLES.values()}
    seen: set[tuple[str, float | None]] = set()
    # The logistic model's copy first: the nomogram (and the Clinical-Omics radscore) are its.
    for model in sorted(models, key=lambda m: m.classifier != "logistic"):
        figures = model.figures
        key = (model.model, None if model.ring_mm is None or pd.isna(model.ring_mm) else float(model.ring_mm))
        if figures is None or key in seen:
            continue
        seen.add(key)
        for field, table in FIGURE_TABLES.items():
            frame = getattr(figures, field)
            if len(frame):
                frames[table].append(frame.assign(task=task, model=model.model,
                                                  ring_mm=np.nan if key[1] is None else key[1]))
    return {table: pd.concat(parts, ignore_index=True) if parts
            else pd.DataFrame(columns=["task", "model", "ring_mm", *COLUMNS[table]])
            for table, parts in frames.items()}
