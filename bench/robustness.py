"""Robustness benchmark: one extraction pass over every perturbation's VOIs versus one
extraction per perturbation (the naive way: every filtered image recomputed per outline).

One synthetic patient (the demo generator), four z-scored sequences, VOI_T + rings of 1, 3 and
5 mm, the 6 default perturbations (original, dilate, erode, 3 contour randomizations), the
shipped default parameters (Original + LoG + Wavelet). Both sides run in this process one after
the other, after a warm-up extraction, with OMP_NUM_THREADS=1. Prints, as the last line:
``speedup=<wall x> cpu_speedup=<cpu x> max_rel_diff=<d>``.

    uv run python bench/robustness.py --quick
    uv run python bench/robustness.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")

SEQUENCES = ("T1", "T1c", "T2", "FLAIR")
RINGS = (1.0, 3.0, 5.0)


def main() -> None:
    import numpy as np
    import pandas as pd
    import SimpleITK as sitk

    from radiomics_core.cohorts.synthetic import DemoConfig, DemoPatient, patient_volumes
    from radiomics_core.features.extraction import ExtractionParams, extract_case_features
    from radiomics_core.imaging.rings import voi_t_mask
    from radiomics_core.robustness.perturbations import (DEFAULT_PERTURBATIONS, extract_named_vois,
                                                         perturbed_case_features, perturbed_vois)

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a 96 x 96 x 64 volume instead of 160 x 160 x 100")
    shape = (96, 96, 64) if parser.parse_args().quick else (160, 160, 100)
    volumes = patient_volumes(DemoConfig(shape=shape), DemoPatient("b", "b", 1, 4, True, 50, "M"),
                              np.random.default_rng(7))
    brain_array = volumes["brain_segmentation"] > 0
    images = {s: sitk.GetImageFromArray(((volumes[s] - volumes[s][brain_array].mean()) / volumes[s][brain_array].std())
                                        .astype(np.float32)) for s in SEQUENCES}
    brain = sitk.GetImageFromArray(brain_array.astype(np.uint8))
    voi_t = voi_t_mask(sitk.GetImageFromArray(volumes["tumor_segmentation"]), {1, 2, 4})
    params = ExtractionParams.load("default")
    extract_case_features({"T1": images["T1"]}, {0.0: voi_t}, ExtractionParams.load("demo"))  # warm-up

    wall, cpu = time.perf_counter(), time.process_time()
    ours = perturbed_case_features(images, voi_t, brain, RINGS, params, DEFAULT_PERTURBATIONS, "b")
    ours_wall, ours_cpu = time.perf_counter() - wall, time.process_time() - cpu

    wall, cpu = time.perf_counter(), time.process_time()
    frames = []
    for perturbation in DEFAULT_PERTURBATIONS:  # the naive way: one extraction per outline
        vois = perturbed_vois(voi_t, brain, RINGS, [perturbation], "b")
        frames.append(extract_named_vois(images, vois, params, "perturbation"))
    naive = pd.concat(frames, ignore_index=True)
    naive_wall, naive_cpu = time.perf_counter() - wall, time.process_time() - cpu

    keys = ["perturbation", "ring_mm", "sequence", "feature"]
    joined = ours.merge(naive, on=keys, suffixes=("_ours", "_naive"))
    assert len(joined) == len(ours) == len(naive), (len(joined), len(ours), len(naive))
    absolute = np.abs(joined.value_ours - joined.value_naive)
    relative = absolute / np.maximum(np.abs(joined.value_naive), 1e-9)
    worst = joined.assign(relative=relative).sort_values("relative").iloc[-1]
    print(f"largest relative difference: {worst.relative:.3g} ({worst.perturbation} {worst.ring_mm} "
          f"{worst.sequence} {worst.feature}: {worst.value_ours:.6g} vs {worst.value_naive:.6g})")
    diff = float(np.nanmax(relative))
    print(f"shape={shape} values={len(ours)} ours: {ours_wall:.1f} s wall / {ours_cpu:.1f} s CPU; "
          f"naive: {naive_wall:.1f} s wall / {naive_cpu:.1f} s CPU")
    print(f"speedup={naive_wall / ours_wall:.2f} cpu_speedup={naive_cpu / ours_cpu:.2f} max_rel_diff={diff:.3g}")


if __name__ == "__main__":
    main()
