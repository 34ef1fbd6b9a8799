"""Named jobs for the UI's launchpad; the graph itself needs none of them
(declarative automation and backfills select assets directly)."""

import dagster as dg

PATIENT_ASSETS = ["raw_scans", "normalized_images"]
RING_ASSETS = ["ring_masks", "ring_features"]

patient_job = dg.define_asset_job("patient_job", selection=PATIENT_ASSETS,
                                  description="Validate and normalize one patient's scans.")
ring_job = dg.define_asset_job("ring_job", selection=RING_ASSETS,
                               description="Cut a patient's rings and extract their features (pick all of a "
                                           "patient's ring keys: they are computed in one pass).")

