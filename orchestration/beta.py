"""Dagster APIs that are "beta" in name only (backfill policies, partition mappings).

Without this their BetaWarning would print on every load of the definitions (every CLI call,
every run process); only the calls that use them are silenced, so a new beta API still warns.
"""

import warnings
from contextlib import contextmanager
from typing import Iterator

import dagster as dg


@contextmanager
def beta_api() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        yield
