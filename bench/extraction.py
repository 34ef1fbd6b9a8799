"""Extraction benchmark: naive per-VOI PyRadiomics versus glioma-rings, measured in the same run.

One synthetic patient (the demo generator; full size 240x240x155 at 1 mm, --quick a small
volume), four z-scored sequences, VOI_T + rings of 1-5, 10 and 15 mm, the shipped default
parameters (Original + LoG + Wavelet, all feature classes). Each side runs in its own child
process on one core so peak memory (max RSS) is its own. Each side first extracts a 16^3 cube,
timed apart: a process's first call pays one-time work (lazy imports, loading our compiled
kernels) that a run over many patients pays once. Prints, as the last line:
``speedup=<x> parity_max_rel=<y> peak_mib_ours=<m> peak_mib_naive=<n>``.

    uv run python bench/extraction.py --quick
    uv run python bench/extraction.py
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


def _inputs(shape: tuple[int, int, int]):
    import numpy as np
    import SimpleITK as sitk

    from radiomics_core.imaging.rings import case_vois
    from radiomics_core.cohorts.synthetic import DemoConfig, DemoPatient, patient_volumes

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


def _child(mode: str, shape: tuple[int, int, int], params_name: str, out: Path) -> None:
    from radiomics_core.features.extraction import ExtractionParams

    images, vois = _inputs(shape)
    params = ExtractionParams.load(params_name)
    start = time.perf_counter()
    _extract(mode, *_tiny_case(), params)
    overhead = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    values = _extract(mode, images, vois, params)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_bytes(pickle.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "overhead": overhead, "peak_mib": peak_mib, "values": values,
                                  "voxels": {r: int(__import__("SimpleITK").GetArrayViewFromImage(v).sum())
                                             for r, v in vois.items()}}))


def _run(mode: str, shape, params: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.pkl"
        command = [sys.executable, __file__, "--child", mode, "--shape", ",".join(map(str, shape)),
                   "--params", params, "--out", str(out)]
        # taskset pins the child to one core where available.
        if os.path.exists("/usr/bin/taskset"):
            command = ["taskset", "-c", "0", *command]
        subprocess.run(command, check=True)
        return pickle.loads(out.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 96x96x64 volume (under a minute)")
    parser.add_argument("--shape", default=None, help="x,y,z voxels (default 240,240,155)")
    parser.add_argument("--params", default="default")
    parser.add_argument("--child", choices=["ours", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    shape = tuple(int(v) for v in (args.shape or ("96,96,64" if args.quick else "240,240,155")).split(","))
    if args.child:
        _child(args.child, shape, args.params, Path(args.out))
        return
    naive = _run("naive", shape, args.params)
    ours = _run("ours", shape, args.params)
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
    print(f"volume {shape}, {len(SEQUENCES)} sequences x {len(ours['voxels'])} VOIs, params {args.params}, "
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
    print(f"speedup={speedup:.2f} parity_max_rel={max(worst_original, worst_filtered):.2e} "
          f"peak_mib_ours={ours['peak_mib']:.0f} peak_mib_naive={naive['peak_mib']:.0f}")


if __name__ == "__main__":
    main()
