"""When Dagster materializes what: the assets' automation conditions, the graph's only scheduler.

- A new case: ``new_cases_sensor`` adds its patient partition and requests its patient assets
  (raw scans, normalized images) in one run.
- ``ON_UPDATE`` (Dagster's ``eager`` without its "newly missing" trigger): when a patient's
  normalized images are updated (by that run, or from the asset's page in the UI) and their
  blocking checks passed, its ring masks and features are requested together; the automation sensor emits them as one backfill,
  which the ring assets' backfill policy runs as one run per patient.
- ``AFTER_CASES``: cohort-wide assets (feature tables, splits) wait until no upstream partition is
  in progress or about to be requested, then refresh once for everything that changed. A failed
  case does not block them (``eager`` would wait for every upstream partition to exist, and a
  bad case's never will).
- Models and reports follow their split in the same run.

"Newly missing" is left out on purpose: it fires only for partitions that appear between two
evaluations, so a case added while the daemon starts would be missed, and a case that failed
would not be retried anyway; the sensor's run request covers both.
"""

import dagster as dg

ON_UPDATE = (
    dg.AutomationCondition.any_deps_updated().since_last_handled()
    & ~dg.AutomationCondition.any_deps_missing()
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("upstream updated")

AFTER_CASES = (
    dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested())
    & ~dg.AutomationCondition.in_progress()
).with_label("after upstream cases settle")

AFTER_SPLIT = ON_UPDATE
