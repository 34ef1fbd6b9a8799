"""Dashboard load time on a large warehouse, written with the warehouse's own writers.

    uv run python bench/dashboard.py --patients 500

The warehouse is ``warehouse.synthetic.build_warehouse`` (the browser tests use it too).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from warehouse.synthetic import build_warehouse, write_viewer_images  # noqa: E402


def _time(function, repeat: int) -> tuple[float, float]:
    """Median and worst wall time in seconds over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warehouse", default=None, help="reuse (or create) a warehouse here")
    args = parser.parse_args()

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard.state import PAGES
    from warehouse import queries

    root = Path(args.warehouse) if args.warehouse else Path(tempfile.mkdtemp(prefix="bench-dashboard-")) / "warehouse"
    if not (root / "warehouse.duckdb").exists():
        start = time.perf_counter()
        build_warehouse(root, args.patients)
        print(f"built a {args.patients}-patient warehouse in {time.perf_counter() - start:.1f} s: {root}")
    if not (root.parent / "work" / "normalized" / "SYN-0001").exists():
        write_viewer_images(root.parent / "work", "SYN-0001")  # the patient the viewer opens first
    files = sum(1 for _ in (root / "tables").glob("*/*.parquet"))
    rows = queries.count(root, "features")
    print(f"{files} partition files, {rows} feature rows")

    print("\nqueries (median / worst of", args.repeat, "cold runs, s):")
    for name, where in [("patients", {}), ("splits", {"task": "grade"}), ("model_metrics", {"task": "grade"}),
                        ("delong_tests", {"task": "grade"}), ("roc_points", {"task": "grade", "split": "test"}),
                        ("clinical_characteristics", {"task": "grade"}), ("selected_features", {"task": "grade"}),
                        ("ring_volumes", {"patient_id": "SYN-0001"}),
                        ("features", {"sequence": "T1c", "feature": "original_firstorder_Feature00", "ring_mm": 3.0})]:
        median, worst = _time(lambda: queries.table(root, name, where), args.repeat)
        print(f"  {name:<26} {median:.3f} / {worst:.3f}")

    combined = [(0.0, "T1c", "original_firstorder_Feature00"), (3.0, "FLAIR", "original_firstorder_Feature01")]
    median, worst = _time(lambda: queries.feature_values(root, combined), args.repeat)
    print(f"  {'feature_values (2 rings)':<26} {median:.3f} / {worst:.3f}")

    print("\npage render with streamlit.testing AppTest (median / worst, s): first = empty cache, then cached")
    app_file = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
    argv = sys.argv
    # --no-auth: the login gate is not what is timed (it is ignored where the gate does not exist).
    sys.argv = ["app.py", "--warehouse", str(root), "--no-auth"]
    try:
        # Warm-up: a served dashboard has imported its modules before the first page is asked for.
        AppTest.from_file(app_file, default_timeout=120).run()
        for task in ("grade", "mgmt"):
            # The Features page also with a Combined model: its features come from two rings.
            for page, extra in [(p, {}) for p in PAGES] + [("Features", {"model": "Combined 3 mm"})]:
                firsts, agains = [], []
                for _ in range(args.repeat):
                    app = AppTest.from_file(app_file, default_timeout=120)
                    app.query_params.update({"page": page, "task": task, "split": "test", **extra})
                    st.cache_data.clear()  # the process-wide caches would make "first" warm
                    st.cache_resource.clear()
                    start = time.perf_counter()
                    app.run()
                    firsts.append(time.perf_counter() - start)
                    if app.exception:
                        raise RuntimeError(f"{page}: {[e.value for e in app.exception]}")
                    start = time.perf_counter()
                    app.run()
                    agains.append(time.perf_counter() - start)
                name = page + (f" ({extra['model']})" if extra else "")
                print(f"  {task:<6} {name:<36} first {statistics.median(firsts):.3f} / {max(firsts):.3f}"
                      f"   rerun {statistics.median(agains):.3f} / {max(agains):.3f}")
    finally:
        sys.argv = argv
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
