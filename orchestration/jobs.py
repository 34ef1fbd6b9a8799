"""Jobs: one per partitioning, so each run materializes exactly one partition of its assets."""

import dagster as dg

from orchestration.assets.imaging import normalized_images, ring_features, ring_masks, raw_scans
from orchestration.assets.modeling import evaluation_reports, feature_tables, fitted_models, splits

patient_job = dg.define_asset_job("patient_job", selection=[raw_scans, normalized_images],
                                  description="Validate and normalize one patient's scans.")
ring_job = dg.define_asset_job("ring_job", selection=[ring_masks, ring_features],
                               description="Cut one ring of one patient and extract its features.")
feature_tables_job = dg.define_asset_job("feature_tables_job", selection=[feature_tables],
                                         description="Rebuild one ring's wide feature table.")
models_job = dg.define_asset_job("models_job", selection=[splits, fitted_models, evaluation_reports],
                                 description="Split, fit and evaluate one task's models.")
