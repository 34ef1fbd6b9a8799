"""Rigid registration of a sequence onto the reference sequence (the T1c), for native-space studies.

A TCIA study's series share one patient space, but the patient may move between series: a FLAIR
acquired minutes after the T1c can be a few degrees and millimetres off. With ``registration:
rigid`` each other sequence is registered onto the reference with SimpleITK's registration
framework (Mattes mutual information, so different contrasts align; a multi-resolution regular
step gradient descent over a 6-parameter Euler transform), then resampled through the found
transform. The transform and the final metric are stored in the case's preprocessing metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

REGISTRATIONS = ("none", "rigid")


@dataclass(frozen=True)
class Registration:
    """Maps points of the fixed (reference) image to points of the moving image."""

    transform: sitk.Euler3DTransform
    metric: float  # Mattes mutual information at the end (more negative: better aligned)
    iterations: int

    def describe(self) -> dict:
        angles = np.degrees(np.array(self.transform.GetParameters()[:3]))
        return {"kind": "rigid (Euler 3D)", "center_mm": list(self.transform.GetCenter()),
                "angles_deg": angles.round(4).tolist(),
                "translation_mm": np.array(self.transform.GetTranslation()).round(4).tolist(),
                "mattes_mi": self.metric, "iterations": self.iterations}


def register_rigid(fixed: sitk.Image, moving: sitk.Image, seed: int = 0) -> Registration:
    """The rigid transform that best aligns ``moving`` to ``fixed`` (seeded metric sampling)."""
    fixed = sitk.Cast(fixed, sitk.sitkFloat32)
    moving = sitk.Cast(moving, sitk.sitkFloat32)
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=50)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.25, seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-4, numberOfIterations=300,
                                                    relaxationFactor=0.5, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([2.0, 1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(initial, inPlace=False)
    found = method.Execute(fixed, moving)
    # Execute returns a composite around the initial transform; flatten to one Euler transform.
    euler = sitk.Euler3DTransform(sitk.CompositeTransform(found).GetNthTransform(0)) if isinstance(
        found, sitk.CompositeTransform) else sitk.Euler3DTransform(found)
    return Registration(euler, float(method.GetMetricValue()), int(method.GetOptimizerIteration()))


def rotation_angle_deg(a: sitk.Euler3DTransform, b: sitk.Euler3DTransform) -> float:
    """The angle of the rotation between two rigid transforms' rotation parts."""
    ra = np.array(a.GetMatrix()).reshape(3, 3)
    rb = np.array(b.GetMatrix()).reshape(3, 3)
    cosine = (np.trace(ra.T @ rb) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))
