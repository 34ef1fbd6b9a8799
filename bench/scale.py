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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import become_subreaper, measured

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


def _through_run(patients: int, window: int) -> dict[str, float]:
    """N small synthetic patients (64^3 voxels, ``demo`` parameters, every ring, the grade task
    with one classifier) through ``glioma-rings run``: one GraphQL backfill of every patient,
    executed by the daemon ``run`` starts, each patient a run in its own process; ``run`` is
    stopped once ``window`` patient runs have succeeded (the runs in flight finish). Returns the CPU
    of every process involved (this process is their subreaper, so orphans are counted), the wall
    time, and the patient runs' mean duration from the instance's run records."""
    import dagster as dg

    from radiomics_core.cohorts.synthetic import DemoConfig, write_demo_cohort

    with tempfile.TemporaryDirectory(prefix="glioma-rings-scale-") as folder:
        work = Path(folder)
        write_demo_cohort(work / "cohort", DemoConfig(patients=patients, shape=(64, 64, 64)), progress=False)
        home = work / "home"
        done = dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS])
        opened: list[dg.DagsterInstance] = []

        def window_done() -> bool:
            # Before every patient has ended no cohort-wide run can start: each success is a patient.
            # Opened once `run` has started its daemon, so after `run` created the instance's
            # storage: two processes creating a fresh SQLite storage at once race on its migrations.
            if not opened and (work / "data" / "logs" / "daemon.log").is_file():
                opened.append(dg.DagsterInstance.from_config(str(home)))
            return bool(opened) and opened[0].get_runs_count(done) >= window

        cost = measured([sys.executable, "-m", "cli", "run", str(work / "cohort"), "--data-dir", str(work / "data"),
                         "--params", "demo", "--task", "grade", "--classifier", "logistic"],
                        stop_when=window_done, env={**os.environ, "DAGSTER_HOME": str(home)},
                        stdout=subprocess.DEVNULL, cwd=ROOT)
        durations = []
        with dg.DagsterInstance.from_config(str(home)) as instance:
            for record in instance.get_run_records(done):
                if "voi_extraction" in {k.to_user_string() for k in record.dagster_run.asset_selection or ()}:
                    durations.append(record.end_time - record.start_time)
        for instance in opened:
            instance.dispose()
        return {"cpu_s": cost.cpu_s, "wall_s": cost.wall_s, "patients_done": len(durations),
                "run_s": sum(durations) / len(durations)}


def _cohort_stages(patients: int) -> dict[str, float]:
    """The cohort-wide stages over ``patients`` synthetic patients with the default parameters'
    feature count (4,106 per VOI, 32,848 per patient; values drawn with a planted grade signal,
    ``warehouse.synthetic``): feature tables, both tasks' splits, the three classifiers' fitted
    models and the evaluation reports, run as ``glioma-rings run`` runs them once every patient
    is extracted (``run_cohort`` with no patient left, in process). Wall seconds per stage, from
    the instance's run records."""
    import dagster as dg

    from cli.launcher import run_cohort
    from orchestration.resources import PipelineResource
    from warehouse.synthetic import DEFAULT_IMAGE_TYPES, build_warehouse

    with tempfile.TemporaryDirectory(prefix="glioma-rings-stages-") as folder:
        pipeline = PipelineResource(cohort_dir=str(Path(folder, "cohort")), data_dir=str(Path(folder, "data")),
                                    params="default")
        started = time.perf_counter()
        build_warehouse(pipeline.warehouse().root, patients, tasks=(), image_types=DEFAULT_IMAGE_TYPES,
                        feature_identity=pipeline.settings.feature_identity)
        print(f"N={patients}: synthetic warehouse written in {time.perf_counter() - started:.0f} s", flush=True)
        Path(folder, "home").mkdir()
        with dg.instance_for_test(temp_dir=str(Path(folder, "home"))) as instance:
            started = time.perf_counter()
            summary = run_cohort(pipeline, instance, workers=1, patients=[])
            total = time.perf_counter() - started
            assert not summary.failed, [(o.job, o.error[:300]) for o in summary.failed]
            stages: dict[str, float] = {}
            for record in instance.get_run_records():
                selection = "+".join(sorted(k.to_user_string() for k in record.dagster_run.asset_selection or ()))
                stages[selection] = stages.get(selection, 0.0) + record.end_time - record.start_time
        return {"total_s": total, **stages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--part", choices=["tick", "run", "stages", "all"], default="all",
                        help="tick: the automation tick; run: patients through glioma-rings run; stages: the "
                             "cohort-wide stages at N with the default feature count; all: the three")
    args = parser.parse_args()
    sizes = sorted({50, args.patients})
    last = []
    if args.part in ("tick", "all"):
        results = {}
        _tick(UPDATED + 1)  # a process's first evaluation pays one-time work (imports, caches): not timed
        for n in sizes:
            first_s, second_s, requested = _tick(n)
            results[n] = second_s
            print(f"N={n} ({n * 8} patient x ring partitions): first tick {first_s:.2f} s, second tick "
                  f"{second_s:.2f} s (requested {requested} extractions)", flush=True)
        ratio = (results[args.patients] / args.patients) / (results[50] / 50)
        last.append(f"tick_s={results[args.patients]:.2f} tick_ratio_per_patient={ratio:.2f}")
    if args.part in ("run", "all"):
        become_subreaper()
        costs = {}
        for n in sizes:
            cost = _through_run(n, window=min(sizes))
            costs[n] = cost["cpu_s"] / cost["patients_done"]
            print(f"N={n} through glioma-rings run, the backfill's first {cost['patients_done']:.0f} patients: "
                  f"{cost['wall_s']:.0f} s wall, {cost['cpu_s']:.0f} s CPU in all (daemon, code servers, runs, "
                  f"GraphQL) = {costs[n]:.2f} s CPU per patient; a patient run {cost['run_s']:.1f} s of wall "
                  "on average", flush=True)
        last.append(f"per_patient_ratio={costs[args.patients] / costs[50]:.2f}")
    if args.part in ("stages", "all"):
        stages = _cohort_stages(args.patients)
        for stage, seconds in stages.items():
            print(f"  {stage}: {seconds:.1f} s", flush=True)
        last.append(f"cohort_stages_s={stages['total_s']:.0f}")
    print(" ".join(last))


if __name__ == "__main__":
    main()
