"""Extraction benchmark: naive per-VOI PyRadiomics versus glioma-rings, measured in the same run.

One patient, four z-scored sequences, VOI_T + brain-clipped rings of 1-5, 10 and 15 mm, the
shipped default parameters (Original + LoG + Wavelet, all feature classes). The patient is a
synthetic one (the demo generator; full size 240x240x155 at 1 mm, --quick a small volume) or,
with --case, a real case folder in BraTS 2021 or 2023 naming, preprocessed as the pipeline does
(``preprocess_case``: the derived brain, z-scores inside it; ``case_vois``: the brain-clipped rings).
Each side runs in its own child process pinned to one core (``os.sched_setaffinity``), so its CPU
time and peak memory (max RSS) are its own. Each side first extracts a 16^3 cube, timed apart: a
process's first call pays one-time work (lazy imports, loading our compiled kernels) that a run
over many patients pays once. Prints, as the last line:
``speedup=<x> cpu_ratio=<c> parity_max_rel=<y> peak_mib_ours=<m> peak_mib_naive=<n>``;
``cpu_ratio`` (naive CPU seconds / ours) is the figure that survives other work on the machine.

    uv run python bench/extraction.py --quick
    uv run python bench/extraction.py
    uv run python bench/extraction.py --case /tmp/real/brats2021/BraTS2021_06692
    uv run python bench/extraction.py --case DIR --profile ours.prof   # ours only, cProfile, CPU clock

The real cases of ../shared/data/real are arranged into those folders by the real-scan tests'
own helpers (copies of the files under BraTS names, TCGA-FG-6692 with its ``fusion-mav``
segmentation):

    uv run python -c "from pathlib import Path; from tests.test_real_scans import _brats2021, _brats2023; \
        _brats2021(Path('/tmp/real/brats2021')); _brats2023(Path('/tmp/real/brats2023'))"
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says

SEQUENCES = ("T1", "T1c", "T2", "FLAIR")
RINGS = (1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 15.0)


def _real_inputs(folder: Path):
    """A real case's z-scored images and brain-clipped VOIs, as the pipeline makes them."""
    from radiomics_core.cohorts.layouts import CohortConfig, detect_layout, read_cohort
    from radiomics_core.imaging.preprocessing import preprocess_case
    from radiomics_core.imaging.rings import case_vois

    folder = folder.resolve()
    cohort = read_cohort(folder.parent, CohortConfig(layout=detect_layout(folder.parent)))
    case = next((c for c in cohort.cases if c.folder.resolve() == folder), None)
    if case is None:
        raise SystemExit(f"{folder}: not a case folder in BraTS 2021/2023 naming (see --help)")
    prepared = preprocess_case(case)
    return prepared.images, case_vois(prepared.labels, prepared.tumor_labels, RINGS, prepared.brain)


def _inputs(shape: tuple[int, int, int]):
    import numpy as np
    import SimpleITK as sitk

    from radiomics_core.cohorts.synthetic import (
        DemoConfig,
        DemoPatient,
        patient_volumes,
    )
    from radiomics_core.imaging.rings import case_vois

    volumes = patient_volumes(DemoConfig(shape=shape), DemoPatient("b", "b", 1, 4, True, 50, "M"),
                              np.random.default_rng(7))
    brain = volumes["brain_segmentation"] > 0
    images = {}
    for seq in SEQUENCES:
        array = volumes[seq]
        images[seq] = sitk.GetImageFromArray(((array - array[brain].mean()) / array[brain].std()).astype(np.float32))
    vois = case_vois(sitk.GetImageFromArray(volumes["tumor_segmentation"]), {1, 2, 4}, RINGS,
                     sitk.GetImageFromArray(brain.astype(np.uint8)))
    return images, vois


def _extract(mode: str, images, vois, params) -> dict[tuple, float]:
    from radiomics_core.features.extraction import SHAPE_SEQUENCE, extract_case_features

    values: dict[tuple, float] = {}
    if mode == "ours":
        for row in extract_case_features(images, vois, params).rows:
            values[(row.ring_mm, row.sequence, row.feature)] = row.value
    else:
        extractor = params.extractor()
        for seq, image in images.items():
            for ring, voi in vois.items():
                for name, value in extractor.execute(image, voi).items():
                    values[(ring, SHAPE_SEQUENCE if "_shape_" in name else seq, name)] = float(value)
    return values


def _tiny_case():
    """A 16^3 cube and a 2-voxel shell around an inner cube: the first call's one-time work
    (lazy imports, loading compiled kernels) happens here, for both sides alike."""
    import numpy as np
    import SimpleITK as sitk

    array = np.random.default_rng(0).normal(size=(16, 16, 16)).astype(np.float32)
    inner = np.zeros((16, 16, 16), np.uint8)
    inner[5:11, 5:11, 5:11] = 1
    shell = np.zeros((16, 16, 16), np.uint8)
    shell[3:13, 3:13, 3:13] = 1
    shell[inner > 0] = 0
    return {"T1": sitk.GetImageFromArray(array)}, {0.0: sitk.GetImageFromArray(inner), 2.0: sitk.GetImageFromArray(shell)}


def _child(mode: str, shape: tuple[int, int, int], case: Path | None, params_name: str, out: Path,
           profile: Path | None = None) -> None:
    from radiomics_core.features.extraction import ExtractionParams

    images, vois = _real_inputs(case) if case else _inputs(shape)
    params = ExtractionParams.load(params_name)
    start = time.perf_counter()
    _extract(mode, *_tiny_case(), params)
    overhead = time.perf_counter() - start
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU seconds: what other work cannot stretch
        profiler.enable()
    start, cpu_start = time.perf_counter(), time.process_time()
    values = _extract(mode, images, vois, params)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_bytes(pickle.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "overhead": overhead, "peak_mib": peak_mib, "values": values,
                                  "voxels": {r: int(__import__("SimpleITK").GetArrayViewFromImage(v).sum())
                                             for r, v in vois.items()}}))


def _run(mode: str, shape, case: Path | None, params: str, core: int, profile: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.pkl"
        command = [sys.executable, __file__, "--child", mode, "--shape", ",".join(map(str, shape)),
                   "--params", params, "--out", str(out), "--core", str(core)]
        if case:
            command += ["--case", str(case)]
        if profile:
            command += ["--profile", str(profile)]
        subprocess.run(command, check=True)
        return pickle.loads(out.read_bytes())


def _print_profile(path: Path, top: int = 30) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    print(f"cProfile (CPU clock) of ours: {stats.total_tt:.1f} s; top {top} by own time")
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 96x96x64 volume (under a minute)")
    parser.add_argument("--shape", default=None, help="x,y,z voxels (default 240,240,155)")
    parser.add_argument("--case", type=Path, help="a real case folder (BraTS 2021 or 2023 naming) instead of the phantom")
    parser.add_argument("--params", default="default")
    parser.add_argument("--core", type=int, default=0, help="the core both sides are pinned to, one after the other")
    parser.add_argument("--profile", type=Path, help="run ours only under cProfile (CPU clock) and write the stats here")
    parser.add_argument("--child", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(int(v) for v in (args.shape or ("96,96,64" if args.quick else "240,240,155")).split(","))
    if args.child:
        os.sched_setaffinity(0, {args.core})
        _child(args.child, shape, args.case, args.params, Path(args.out), args.profile)
        return
    if args.profile:
        ours = _run("ours", shape, args.case, args.params, args.core, args.profile)
        print(f"ours: {ours['cpu_seconds']:.1f} s CPU under the profiler, peak {ours['peak_mib']:.0f} MiB")
        _print_profile(args.profile)
        return
    load_start = os.getloadavg()
    naive = _run("naive", shape, args.case, args.params, args.core)
    ours = _run("ours", shape, args.case, args.params, args.core)
    worst_original, worst_filtered, worst_name = 0.0, 0.0, ""
    for key, value in ours["values"].items():
        ref = naive["values"][key]
        rel = abs(value - ref) / max(abs(ref), 1e-12)
        if key[2].startswith("original_"):
            worst_original = max(worst_original, rel)
        elif rel > worst_filtered:
            worst_filtered, worst_name = rel, f"{key[1]}:{key[2]} ring {key[0]:g}"
    assert set(ours["values"]) == set(naive["values"]), "feature sets differ"
    speedup = naive["seconds"] / ours["seconds"]
    where = f"case {args.case.name}" if args.case else f"volume {shape}"
    print(f"{where}, {len(SEQUENCES)} sequences x {len(ours['voxels'])} VOIs, params {args.params}, "
          f"{len(ours['values'])} feature values")
    print("VOI voxels: " + ", ".join(f"{'T' if r == 0 else f'{r:g}mm'}={v}" for r, v in ours["voxels"].items()))
    print(f"naive PyRadiomics execute per VOI: {naive['seconds']:.1f} s, peak {naive['peak_mib']:.0f} MiB "
          f"(first call in the process, a 16^3 cube: {naive['overhead']:.2f} s)")
    print(f"glioma-rings extract_case_features: {ours['seconds']:.1f} s, peak {ours['peak_mib']:.0f} MiB "
          f"(first call in the process, a 16^3 cube: {ours['overhead']:.2f} s)")
    cold = (naive["seconds"] + naive["overhead"]) / (ours["seconds"] + ours["overhead"])
    print(f"speed-up with each side's first-call overhead counted in: {cold:.2f}")
    # CPU time is what the processes themselves used: a check on the wall-time ratio when other
    # work shares the core.
    print(f"CPU time: naive {naive['cpu_seconds']:.1f} s, ours {ours['cpu_seconds']:.1f} s, "
          f"ratio {naive['cpu_seconds'] / ours['cpu_seconds']:.2f}")
    print(f"parity: original_* max relative difference {worst_original:.2e}; "
          f"filtered max {worst_filtered:.2e} ({worst_name or 'none'})")
    print(f"load average (1, 5, 15 min) at the start: {' '.join(f'{v:.1f}' for v in load_start)}, "
          f"at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"speedup={speedup:.2f} cpu_ratio={naive['cpu_seconds'] / ours['cpu_seconds']:.2f} parity_max_rel={max(worst_original, worst_filtered):.2e} "
          f"peak_mib_ours={ours['peak_mib']:.0f} peak_mib_naive={naive['peak_mib']:.0f}")


if __name__ == "__main__":
    main()
