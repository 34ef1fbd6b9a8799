"""Table 1 as papers print it, from the warehouse's ``clinical_characteristics`` rows: a row per
variable (levels indented), columns train (N) and test (N) by class (and external (N) for a task
with an external set), p within each split and between train and each other split, the tests named in a footnote; and its LaTeX form. Pure pandas, so the page
and the HTML report print the same table."""

from __future__ import annotations

import pandas as pd

from reporting.charts import format_p

INDENT = "\u2003"  # an em space: leading ASCII spaces vanish in table cells
LABELS = {"age": "Age (years), mean ± SD", "sex": "Sex, n (%)"}
NOT_TESTED = {"too few cases", "one level only"}


def class_counts(splits: pd.DataFrame, names: dict[int, str]) -> pd.DataFrame:
    """Cases per split (rows: test, train and external when there is one) and class name (columns) from a task's ``splits`` rows."""
    counts = splits.groupby(["split", "label"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=[0, 1], fill_value=0).rename(columns=names)
    return counts.reindex([s for s in ("test", "train", "external") if s in counts.index])


# The selection flow's columns (warehouse.queries.selection_flow) as the page and the report head them.
FLOW_HEADERS = {"step": "Step", "criterion": "Criterion", "reason": "Excluded because", "n_in": "Exams in",
                "n_excluded": "Excluded", "n_out": "Exams out"}


def selection_flow_table(flow: pd.DataFrame) -> pd.DataFrame:
    """The selection flow as a paper's flow diagram lists it: a row per step, exams in, excluded
    and why, out; then excluded and out per class ("Excluded: WHO 4")."""
    table = flow.rename(columns=FLOW_HEADERS)
    return table.rename(columns={c: c[:1].upper() + c[1:] for c in table.columns if c not in FLOW_HEADERS.values()})


def task_definition(source: str | None) -> str | None:
    """Where a stored selection flow's rules came from, as the Clinical page and the HTML report
    name it: a shipped preset with its description, or the user's task file; None when the flow
    does not say (stored before the warehouse kept it)."""
    from radiomics_core.tasks.config import preset, preset_files

    if not source:
        return None
    if source in preset_files():
        return f"Task definition: preset {source} ({preset(source).description})"
    return f"Task definition: task file {source}"


def _scope_and_test(comparison: str) -> tuple[str, str]:
    scope, _, test = comparison.partition(" (")
    return scope, test.removesuffix(")")


def table_one(rows: pd.DataFrame, counts: pd.DataFrame, names: dict[int, str]) -> tuple[pd.DataFrame, str]:
    """Table 1 and its footnote from ``clinical_characteristics`` rows of one task.

    ``counts`` has splits as rows and class names as columns (``class_counts``).
    """
    splits = [s for s in ("train", "test", "external") if s in counts.index]
    columns = {(s, c): f"{s.capitalize()} {c} (N={int(counts.loc[s, c])})" for s in splits for c in names.values()}
    held_out = [s for s in splits if s != "train"]
    p_columns = {**{s: f"p ({s})" for s in splits}, **{f"train vs {s}": f"p (train vs {s})" for s in held_out}}
    markers: dict[str, str] = {}
    untested = False

    def p_cell(variable: str, scope: str) -> str:
        nonlocal untested
        hit = rows[(rows["variable"] == variable) & rows["comparison"].str.startswith(scope + " (")]
        if scope == "train" and len(hit):  # "train (" must not match "train vs test ("
            hit = hit[~hit["comparison"].str.startswith("train vs ")]
        if hit.empty:
            return ""
        _, test = _scope_and_test(hit["comparison"].iloc[0])
        p = hit["p_value"].iloc[0]
        if test in NOT_TESTED or pd.isna(p):
            untested = True
            return "–"
        marker = markers.setdefault(test, "abcdefgh"[len(markers)])
        return f"{format_p(float(p))} {marker}"

    def summary(variable: str, level: str, split: str, name: str) -> str:
        hit = rows[(rows["variable"] == variable) & (rows["level"].fillna("") == level)
                   & (rows["group"] == f"{split}: {name}")]
        return hit["summary"].iloc[0] if len(hit) else ""

    out = []
    for variable in dict.fromkeys(rows["variable"]):
        levels = [lv for lv in dict.fromkeys(rows.loc[rows["variable"] == variable, "level"].fillna("")) if lv]
        head = {"Variable": LABELS.get(variable, variable)}
        for (split, name), column in columns.items():
            head[column] = "" if levels else summary(variable, "", split, name)
        for scope, column in p_columns.items():
            head[column] = p_cell(variable, scope)
        out.append(head)
        for level in levels:
            line = {"Variable": INDENT + level}
            for (split, name), column in columns.items():
                line[column] = summary(variable, level, split, name)
            out.append(line)
    order = ["Variable"]
    for split in splits:
        order += [columns[(split, name)] for name in names.values()] + [p_columns[split]]
    order += [p_columns[f"train vs {split}"] for split in held_out]
    table = pd.DataFrame(out).reindex(columns=order).fillna("")
    notes = [f"{m} {test}" for test, m in markers.items()]
    if untested:
        notes.append("– not tested (too few cases or a single level)")
    versus = " and ".join(f"train vs {s} compares all training with all {s} cases" for s in held_out)
    footnote = "p-values: " + "; ".join(notes) + f". Classes are compared within each split; {versus}."
    return table, footnote


def latex(table: pd.DataFrame, footnote: str) -> str:
    def escape(text: str) -> str:
        return (str(text).replace("\\", "\\textbackslash{}").replace("%", "\\%").replace("_", "\\_")
                .replace("&", "\\&").replace("±", "$\\pm$").replace("<", "$<$").replace(INDENT, "\\quad "))
    header = " & ".join(escape(c) for c in table.columns) + " \\\\"
    body = "\n".join(" & ".join(escape(v) for v in row) + " \\\\" for row in table.itertuples(index=False))
    return ("\\begin{tabular}{l" + "c" * (len(table.columns) - 1) + "}\n\\hline\n" + header + "\n\\hline\n"
            + body + "\n\\hline\n\\end{tabular}\n% " + footnote + "\n")
