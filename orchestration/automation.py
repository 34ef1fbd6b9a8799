"""When Dagster materializes what: declarative automation, the graph's only scheduler.

- ``PER_CASE`` (Dagster's ``eager``): a new patient partition, or an upstream update, requests
  the patient's assets; in one evaluation the whole chain raw scans -> ring features is requested
  together, and the automation sensor emits it as one backfill (a patient run, then one run for
  all of the patient's rings).
- ``AFTER_CASES``: cohort-wide assets (feature tables, splits) wait until no upstream partition is
  in progress or about to be requested, then refresh once for everything that changed. A failed
  case does not block them (unlike ``eager``, which waits for every upstream partition to exist,
  and a bad case never will).
"""

from __future__ import annotations

import dagster as dg

PER_CASE = dg.AutomationCondition.eager()

AFTER_CASES = (
    dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).since_last_handled()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested())
    & ~dg.AutomationCondition.in_progress()
).with_label("after upstream cases settle")

# Models follow their split in the same run (eager chains within one evaluation).
AFTER_SPLIT = dg.AutomationCondition.eager()
