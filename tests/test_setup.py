"""The installed stack works: PyRadiomics 3.0.1 built with numpy, and its C extensions load."""

import radiomics
import SimpleITK as sitk
from radiomics import firstorder


def test_pyradiomics_is_the_pinned_version():
    assert radiomics.__version__.lstrip("v") == "3.0.1"


def test_pyradiomics_extracts_a_feature_from_a_real_scan(pyradiomics_data):
    image = sitk.ReadImage(str(pyradiomics_data / "brain1_image.nrrd"))
    mask = sitk.ReadImage(str(pyradiomics_data / "brain1_label.nrrd"))
    features = firstorder.RadiomicsFirstOrder(image, mask, binWidth=25)
    features.enableFeatureByName("Mean")
    values = features.execute()
    assert 700 < values["Mean"] < 900  # baseline: 825.2354
