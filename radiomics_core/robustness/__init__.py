"""Ring-feature robustness: contour perturbations of VOI_T, ICC across patients x perturbations,
and agreement between several segmentations of one case (inter-rater Dice and CV).

- ``perturbations``: seeded dilation, erosion and contour randomization of VOI_T, rings rebuilt
  from each, features re-extracted with each filtered image computed once per patient.
- ``icc``: ICC(2,1) and ICC(3,1) for many features at once, with McGraw & Wong's intervals.
"""
