"""Dagster concurrency pools: what may run at once across all runs, whoever launched them.

Their limits come from the settings (``extraction_slots``, ``model_fit_slots``,
``download_slots``); ``cli.instance`` sets them on the instance whenever ``run`` or ``dev``
starts, and ``dagster.yaml`` holds the limit of any other pool.
"""

from radiomics_core.settings import Settings

EXTRACTION = "extraction"  # per-patient ring cutting and PyRadiomics: CPU and memory bound
MODEL_FITS = "model_fits"  # cross-validated selection and three classifiers per task
TCIA_DOWNLOADS = "tcia_downloads"  # NBIA asks clients to keep their parallel downloads few


def limits(settings: Settings) -> dict[str, int]:
    """Each pool's limit under these settings."""
    return {EXTRACTION: settings.extraction_slots, MODEL_FITS: settings.model_fit_slots,
            TCIA_DOWNLOADS: settings.download_slots}
