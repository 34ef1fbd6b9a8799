"""Scale benchmark: how the automation tick grows with the cohort.

The real asset graph (``build_definitions``: 8 ring keys, both tasks) on a real SQLite instance
holding N patients whose patient assets, VOI extraction and patient x ring views are all
materialized but for twelve that arrive between the ticks (reported as the runs report them, without running PyRadiomics). Then two ticks of
Dagster's own evaluation of every automation condition (``dg.evaluate_automation_conditions``,
what the automation sensor runs): the first over the whole history, the second after twelve new
patients' scans were normalized, which must request exactly those patients' extractions. Each is timed at N=50 and at N (default 500); prints, as the last line:
``tick_s=<second tick at N> tick_ratio_per_patient=<tick per patient at N / at 50>``.

    uv run python bench/scale.py            # N = 500 (500 x 8 = 4,000 patient x ring partitions)
    uv run python bench/scale.py --patients 100
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

UPDATED = 12  # patients whose normalized images change between the two ticks


def _tick(patients: int) -> tuple[float, float, int]:
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.partitions import patients_partitions
    from orchestration.resources import PipelineResource
    from radiomics_core.settings import Ring

    with tempfile.TemporaryDirectory() as folder:
        pipeline = PipelineResource(cohort_dir=str(Path(folder, "cohort")), data_dir=str(Path(folder, "data")),
                                    params="demo")
        defs = build_definitions(pipeline)
        ids = [f"UCSF-PDGM-{i:04d}" for i in range(1, patients + 1)]
        Path(folder, "home").mkdir()
        with dg.instance_for_test(temp_dir=str(Path(folder, "home"))) as instance:
            instance.add_dynamic_partitions(patients_partitions.name, ids)
            ring_keys = [Ring.of(mm).key for mm in pipeline.settings.rings_mm]
            for patient in ids[UPDATED:]:  # the first twelve arrive between the ticks
                _normalized(instance, patient)
                instance.report_runless_asset_event(dg.AssetMaterialization("voi_extraction", partition=patient))
                for asset in ("ring_masks", "ring_features"):
                    for key in ["T", *ring_keys]:
                        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=f"{patient}|{key}"))
            started = time.perf_counter()
            first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
            first_s = time.perf_counter() - started
            assert first.total_requested == 0, first.total_requested  # everything is up to date
            for patient in ids[:UPDATED]:  # their patient run ends: scans read and normalized
                _normalized(instance, patient)
            started = time.perf_counter()
            second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
            second_s = time.perf_counter() - started
            requested = second.get_requested_partitions(dg.AssetKey("voi_extraction"))
            assert requested == set(ids[:UPDATED]), sorted(requested)[:20]
            return first_s, second_s, len(requested)


def _normalized(instance, patient: str) -> None:
    """A patient's scans, normalized images and their blocking geometry check, as its run reports them."""
    import dagster as dg

    instance.report_runless_asset_event(dg.AssetMaterialization("raw_scans", partition=patient))
    instance.report_runless_asset_event(dg.AssetMaterialization("normalized_images", partition=patient))
    instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("normalized_images"), check_name="geometry_consistent", passed=True, partition=patient))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    args = parser.parse_args()
    results = {}
    _tick(UPDATED + 1)  # a process's first evaluation pays one-time work (imports, caches): not timed
    for n in sorted({50, args.patients}):
        first_s, second_s, requested = _tick(n)
        results[n] = second_s
        print(f"N={n} ({n * 8} patient x ring partitions): first tick {first_s:.2f} s, second tick {second_s:.2f} s "
              f"(requested {requested} extractions)", flush=True)
    ratio = (results[args.patients] / args.patients) / (results[50] / 50)
    print(f"tick_s={results[args.patients]:.2f} tick_ratio_per_patient={ratio:.2f}")


if __name__ == "__main__":
    main()
