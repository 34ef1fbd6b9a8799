"""The asset definitions, one module per stage."""

import warnings

import dagster as dg

# Backfill policies and partition mappings are "beta" in name only; the warnings would print on
# every load of the definitions (every CLI call, every run process).
warnings.filterwarnings("ignore", category=dg.BetaWarning)
