"""Named jobs for the UI's launchpad; the graph itself needs none of them
(declarative automation and backfills select assets directly)."""

import dagster as dg

PATIENT_ASSETS = ["raw_scans", "normalized_images", "voi_extraction"]

patient_job = dg.define_asset_job("patient_job", selection=PATIENT_ASSETS,
                                  description="Validate and normalize one patient's scans, cut its rings and extract every VOI.")
