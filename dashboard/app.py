"""glioma-rings dashboard: ``glioma-rings dashboard --warehouse PATH``, which serves this script behind
its guard (``python dashboard/server.py [streamlit options] -- --warehouse PATH``). A bare
``streamlit run dashboard/app.py -- --warehouse PATH`` runs the same login gate but without the
guard's Host, forwarded-address and ``/media`` checks."""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `streamlit run` puts only dashboard/ on the path

import streamlit as st  # noqa: E402

from dashboard import data, sharing, state  # noqa: E402
from dashboard.views import clinical, comparison, features, findings, overview, robustness, roc, viewer  # noqa: E402

PAGES = state.PAGES  # Findings first: the page that states the study's answer


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", default="data/warehouse")
    parser.add_argument("--work-dir", default=None, help="default: the warehouse's sibling 'work' folder")
    args, _ = parser.parse_known_args()
    return args


def main() -> None:
    st.set_page_config(page_title="glioma-rings", layout="wide")
    args = _arguments()
    root = str(Path(args.warehouse).resolve())
    work = Path(args.work_dir) if args.work_dir else Path(root).parent / "work"
    access = sharing.open_dashboard(root)  # login gate, audit trail, de-identified view
    if access is None:
        return
    root = access.root
    st.sidebar.title("glioma-rings")
    # The URL carries page, task, split, models and patient, both ways: a copied link or a reload
    # reproduces the view (dashboard/state.py).
    state.restore()
    page = st.sidebar.radio("Page", access.visible(PAGES, key="page"), key="page")
    access.record_view(page)
    st.sidebar.caption(f"Warehouse: {root}")
    if not data.available(root):
        st.title("No results yet")
        st.info(f"The warehouse at {root} is empty or missing. Run `make demo`, or "
                "`glioma-rings run COHORT_DIR`, then reload this page.")
        state.publish()
        return
    if page == "Findings":
        findings.render(root)
    elif page == "Cohort overview":
        overview.render(root)
    elif page == "ROC curves":
        roc.render(root)
    elif page == "Model comparison":
        comparison.render(root)
    elif page == "Clinical characteristics":
        clinical.render(root)
    elif page == "Patient viewer":
        viewer.render(root, work)
    elif page == "Robustness":
        robustness.render(root)
    else:
        features.render(root)
    state.publish()


main()
