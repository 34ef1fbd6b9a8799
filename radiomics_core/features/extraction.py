"""PyRadiomics features for VOI_T and every ring, computing each filtered image once.

PyRadiomics' ``RadiomicsFeatureExtractor.execute`` loads, checks, filters and computes for one
mask at a time, so a patient with 8 VOIs filters every sequence 8 times (the wavelet alone takes
~2 s on a full brain). Here each sequence is cropped once to the union of all VOIs plus a margin
wide enough for the filters' support, filtered once, and every VOI's features are computed from
those filtered crops with PyRadiomics' feature classes (``feature_classes``: PyRadiomics' own,
with their slow parts rewritten to give the same values; tests/test_features.py and
tests/test_fast_matrices.py compare them with PyRadiomics). Shape depends on the mask only, so it
is computed once per VOI, not once per sequence, and stored under the pseudo-sequence ``mask``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import radiomics
import SimpleITK as sitk
import yaml
from radiomics import featureextractor, imageoperations

from radiomics_core.cohorts.validation import GeometryTolerance, geometry_differences
from radiomics_core.features.fast.feature_classes import (
    DISCRETIZATION_SETTING,
    Discretization,
    FastShape,
    VoiArray,
    texture_classes,
)
from radiomics_core.files.presets import is_file_source, read_source

SHAPE_SEQUENCE = "mask"
PARAMS_PRESETS = ("default", "demo")
PYRADIOMICS_VERSION = radiomics.__version__.lstrip("v")
# PyRadiomics logs every feature class at INFO on the "radiomics" logger; keep only errors (it also warns about every symmetric GLCM).
logging.getLogger("radiomics").setLevel(logging.ERROR)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractionParams:
    """A PyRadiomics parameter set (the YAML users already have) and its provenance."""

    name: str
    content: dict = field(hash=False, compare=False)

    @property
    def hash(self) -> str:
        canonical = json.dumps(self.content, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @classmethod
    def load(cls, source: str | Path) -> ExtractionParams:
        """A shipped parameter set by name ('default', 'demo') or a user's YAML file, checked
        against PyRadiomics' own parameter schema (a misspelled key is an error naming it)."""
        text, where = read_source(source, "radiomics_core.features.params", "parameter set", PARAMS_PRESETS)
        name = str(source) if is_file_source(source) else str(source)
        try:
            content = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"{where}: not a YAML file: {error}") from None
        if not isinstance(content, dict):
            raise ValueError(f"{where}: a PyRadiomics parameter file is a mapping (setting, imageType, featureClass)")
        problem = schema_problem(content)
        if problem:
            raise ValueError(f"{where}: {problem}")
        setting = content.get("setting") or {}
        if setting.get("resampledPixelSpacing"):
            raise ValueError(f"{where}: resampledPixelSpacing is set; resampling belongs to preprocessing "
                             "(PreprocessConfig.spacing_mm), remove it from the parameter file")
        return cls(name, content)

    def extractor(self) -> featureextractor.RadiomicsFeatureExtractor:
        return featureextractor.RadiomicsFeatureExtractor(self.content)

    def shared_extractor(self) -> featureextractor.RadiomicsFeatureExtractor:
        """One extractor per parameter set and process, for reading only (its settings, enabled
        image types and features): building one validates the parameters with pykwalify again,
        ~0.5 s, which every patient would pay."""
        return _shared_extractor(self.hash, json.dumps(self.content, sort_keys=True, default=str))

    def expected_feature_count(self) -> int:
        """How many features one VOI of one sequence yields (shape excluded)."""
        return _expected_feature_count(self.hash, json.dumps(self.content, sort_keys=True, default=str))


def schema_problem(content: dict) -> str | None:
    """What PyRadiomics' parameter schema (radiomics/schemas/paramSchema.yaml, validated with
    pykwalify as PyRadiomics itself does) finds wrong in ``content``, or None."""
    import pykwalify.core
    import pykwalify.errors

    schema, functions = radiomics.getParameterValidationFiles()
    # pykwalify logs every error at ERROR before raising; the raised message says the same.
    quiet = logging.getLogger("pykwalify")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        pykwalify.core.Core(source_data=content, schema_files=[schema], extensions=[functions]).validate()
    except pykwalify.errors.PyKwalifyException as error:
        lines = [line.strip(" -") for line in str(error.msg or error).splitlines() if line.strip(" -")]
        lines = [line for line in lines if not line.startswith(("validation.invalid", "Schema validation failed"))]
        return "not a valid PyRadiomics parameter file: " + "; ".join(lines)
    finally:
        quiet.level = level
    return None


@functools.cache
def _shared_extractor(params_hash: str, content_json: str) -> featureextractor.RadiomicsFeatureExtractor:
    return featureextractor.RadiomicsFeatureExtractor(json.loads(content_json))


@functools.cache
def _expected_feature_count(params_hash: str, content_json: str) -> int:
    # Memoized per parameter set: every ring_features partition asks, the answer never changes.
    extractor = featureextractor.RadiomicsFeatureExtractor(json.loads(content_json))
    return sum(1 for name in _feature_names(extractor) if "_shape_" not in name)


def _feature_names(extractor: featureextractor.RadiomicsFeatureExtractor) -> list[str]:
    # Names follow from the enabled classes and image types; computing on a tiny cube is the
    # only way PyRadiomics tells which names a filter set yields (LoG sigmas, wavelet bands).
    array = np.zeros((12, 12, 12), np.float32)
    array[3:9, 3:9, 3:9] = np.random.default_rng(0).normal(size=(6, 6, 6))
    mask = np.zeros((12, 12, 12), np.uint8)
    mask[4:8, 4:8, 4:8] = 1
    return list(extractor.execute(sitk.GetImageFromArray(array), sitk.GetImageFromArray(mask)).keys())


@dataclass(frozen=True)
class FeatureRow:
    ring_mm: float  # 0 = VOI_T
    sequence: str
    feature: str  # PyRadiomics' name, e.g. original_firstorder_Mean
    value: float

    @property
    def column(self) -> str:
        return feature_column(self.sequence, self.feature)


def feature_column(sequence: str, feature: str) -> str:
    """A feature's column in a wide feature table (``warehouse.queries.feature_matrix``)."""
    return f"{sequence}__{feature}"


@dataclass
class VoiStatus:
    ring_mm: float
    status: str  # "ok", or why no features were computed
    voxels: int


@dataclass
class CaseFeatures:
    rows: list[FeatureRow]
    statuses: list[VoiStatus]
    params_hash: str
    pyradiomics_version: str = PYRADIOMICS_VERSION


def filter_margin_voxels(params: ExtractionParams, spacing: tuple[float, ...]) -> int:
    """Voxels of context a crop needs so filtered values inside the VOIs match the full image."""
    image_types = params.content.get("imageType") or {}
    setting = params.content.get("setting") or {}
    margin = int(setting.get("padDistance", 5))
    sigmas = (image_types.get("LoG") or {}).get("sigma") or setting.get("sigma") or []
    if "LoG" in image_types and sigmas:
        margin = max(margin, math.ceil(6 * max(sigmas) / min(spacing)) + 2)
    if "Wavelet" in image_types:
        level = int((image_types.get("Wavelet") or {}).get("level", setting.get("level", 1)))
        margin = max(margin, 16 * 2 ** (level - 1))
    return margin


def _bounding_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) indices in (z, y, x) of the non-zero voxels, high exclusive."""
    nonzero = np.nonzero(mask)
    return np.array([a.min() for a in nonzero]), np.array([a.max() + 1 for a in nonzero])


def crop_to_union(images: dict[str, sitk.Image], vois: dict[float, sitk.Image], margin: int
                  ) -> tuple[dict[str, sitk.Image], dict[float, sitk.Image]]:
    """Crop every image and VOI to the union of the VOIs plus ``margin`` voxels."""
    union = np.zeros(sitk.GetArrayViewFromImage(next(iter(vois.values()))).shape, dtype=bool)
    for voi in vois.values():
        union |= sitk.GetArrayViewFromImage(voi).astype(bool)
    low, high = _bounding_box(union)
    shape = np.array(union.shape)
    low, high = np.maximum(low - margin, 0), np.minimum(high + margin, shape)
    index = [int(v) for v in low[::-1]]  # SimpleITK wants (x, y, z)
    size = [int(v) for v in (high - low)[::-1]]

    def crop(image: sitk.Image) -> sitk.Image:
        return sitk.RegionOfInterest(image, size, index)

    return {k: crop(v) for k, v in images.items()}, {k: crop(v) for k, v in vois.items()}


def extract_case_features(images: dict[str, sitk.Image], vois: dict[float, sitk.Image],
                          params: ExtractionParams,
                          on_progress: Callable[[str], None] | None = None) -> CaseFeatures:
    """Features of every VOI (key: ring in mm, 0 = VOI_T) on every sequence."""
    extractor = params.shared_extractor()
    settings = dict(extractor.settings)
    if settings.get("normalize"):
        # PyRadiomics normalizes the whole image before cropping; so do we.
        images = {k: imageoperations.normalizeImage(v, **settings) for k, v in images.items()}
    reference = next(iter(vois.values()))
    for sequence, image in images.items():
        diffs = geometry_differences(reference, image, GeometryTolerance())
        if diffs:
            raise ValueError(f"sequence {sequence} is not on the VOIs' grid: {'; '.join(diffs)}")
    images, vois = crop_to_union(images, vois, filter_margin_voxels(params, reference.GetSpacing()))
    reference = next(iter(images.values()))

    boxes: dict[float, tuple] = {}
    statuses: list[VoiStatus] = []
    rows: list[FeatureRow] = []
    for ring, voi in vois.items():
        voxels = int(np.count_nonzero(sitk.GetArrayViewFromImage(voi)))
        if voxels == 0:
            statuses.append(VoiStatus(ring, "no features: empty mask", 0))
            continue
        try:
            box = _check_mask(reference, voi, settings)
        except ValueError as error:
            statuses.append(VoiStatus(ring, f"no features: {error}", voxels))
            continue
        if box is None:
            statuses.append(VoiStatus(ring, "no features: invalid mask", voxels))
            continue
        boxes[ring] = box
        statuses.append(VoiStatus(ring, "ok", voxels))
        for name, value in _shape_features(extractor, reference, voi, box, settings):
            rows.append(FeatureRow(ring, SHAPE_SEQUENCE, name, float(value)))

    if not boxes:
        return CaseFeatures(rows, statuses, params.hash)
    # PyRadiomics' filter functions take a mask argument but filter the whole (cropped) image.
    filter_mask = vois[next(iter(boxes))]
    # (x, y, z) low and high (inclusive) corners of all boxes: where filtered values are read.
    corners = np.array(list(boxes.values()))
    extent = (corners[:, 0::2].min(axis=0), corners[:, 1::2].max(axis=0))
    # PyRadiomics' cropToTumorMask (padDistance 0) as numpy boxes: each VOI's mask is cut once,
    # each filtered image is read once, and the classes get arrays instead of SimpleITK crops.
    spacing = reference.GetSpacing()
    box_slices = {ring: tuple(slice(int(box[2 * axis]), int(box[2 * axis + 1]) + 1) for axis in (2, 1, 0))
                  for ring, box in boxes.items()}
    masks = {ring: VoiArray(sitk.GetArrayFromImage(vois[ring])[cut], spacing) for ring, cut in box_slices.items()}
    voi_stores: dict[float, dict] = {ring: {} for ring in boxes}
    for sequence, image in images.items():
        if on_progress:
            on_progress(sequence)
        for image_type, custom in extractor.enabledImagetypes.items():
            args = {**settings, **custom}
            for filtered, type_name, kwargs in _filtered_images(image, filter_mask, image_type, args, extent):
                array = sitk.GetArrayViewFromImage(filtered)
                for ring, cut in box_slices.items():
                    cropped = VoiArray(np.ascontiguousarray(array[cut]), filtered.GetSpacing())
                    for name, value in _texture_features(extractor, cropped, masks[ring], type_name, kwargs,
                                                         voi_stores[ring]):
                        rows.append(FeatureRow(ring, sequence, name, float(value)))
    return CaseFeatures(rows, statuses, params.hash)


def _filtered_images(image: sitk.Image, mask: sitk.Image, image_type: str, settings: dict, extent):
    """PyRadiomics' ``get<image_type>Image`` generator. LoG runs once per sigma on a crop with
    12 sigma of context around ``extent`` (the crop around all VOIs is made for the widest filter):
    the recursive Gaussian's values inside the VOIs then match the whole image's to float32
    rounding, and sigma 1 filters half the voxels. Pasted back onto the crop's grid, so every
    VOI's box is unchanged."""
    function = getattr(imageoperations, f"get{image_type}Image")
    if image_type != "LoG":
        yield from function(image, mask, **settings)
        return
    size = np.array(image.GetSize())
    for sigma in settings.get("sigma") or []:
        margin = math.ceil(12 * sigma / min(image.GetSpacing()))
        low = np.maximum(extent[0] - margin, 0)
        high = np.minimum(extent[1] + margin + 1, size)
        if np.all(low == 0) and np.all(high == size):
            yield from function(image, mask, **{**settings, "sigma": [sigma]})
            continue
        index, sub_size = [int(v) for v in low], [int(v) for v in high - low]
        for filtered, type_name, kwargs in function(sitk.RegionOfInterest(image, sub_size, index),
                                                     sitk.RegionOfInterest(mask, sub_size, index),
                                                     **{**settings, "sigma": [sigma]}):
            canvas = sitk.Image(image.GetSize(), filtered.GetPixelID())
            canvas.CopyInformation(image)
            yield sitk.Paste(canvas, filtered, sub_size, [0, 0, 0], index), type_name, {**kwargs, "sigma": settings["sigma"]}


def _check_mask(image: sitk.Image, voi: sitk.Image, settings: dict) -> np.ndarray | None:
    """PyRadiomics' ``checkMask`` bounding box, with its LabelStatistics run on the VOI's own box:
    over the crop around all VOIs it costs ~50 ms a VOI. The box is shifted back to ``image``."""
    inside = sitk.GetArrayViewFromImage(voi) == settings.get("label", 1)
    if not inside.any():
        return imageoperations.checkMask(image, voi, **settings)[0]  # PyRadiomics' own error
    low, high = _bounding_box(inside)
    index, size = [int(v) for v in low[::-1]], [int(v) for v in (high - low)[::-1]]
    box = imageoperations.checkMask(sitk.RegionOfInterest(image, size, index), sitk.RegionOfInterest(voi, size, index),
                                    **settings)[0]
    return None if box is None else box + np.repeat(index, 2)


def _shape_features(extractor: featureextractor.RadiomicsFeatureExtractor, image: sitk.Image, mask: sitk.Image,
                    box, settings: dict):
    """3D shape by ``FastShape``; shape2D (force2D settings) by PyRadiomics' own ``computeShape``."""
    enabled = extractor.enabledFeatures
    if "shape2D" in enabled or mask.GetDimension() != 3:
        logger.info("shape2D or a 2D mask: shape by PyRadiomics' own classes")
        yield from extractor.computeShape(image, mask, box, **settings).items()
        return
    if "shape" not in enabled:
        return
    cropped_image, cropped_mask = imageoperations.cropToTumorMask(image, mask, box)
    shape = FastShape(cropped_image, cropped_mask, **settings)
    for feature in enabled["shape"] or []:
        shape.enableFeatureByName(feature)
    for name, value in shape.execute().items():
        yield f"original_shape_{name}", value


def _texture_features(extractor: featureextractor.RadiomicsFeatureExtractor, image: VoiArray, mask: VoiArray,
                      image_type: str, settings: dict, voi_store: dict):
    """``RadiomicsFeatureExtractor.computeFeatures`` with one discretization shared by the classes
    (``voi_store``: kept by the caller for this VOI across image types)."""
    classes = texture_classes()
    fuse = {"glcm", "gldm", "ngtdm"} <= set(extractor.enabledFeatures)
    settings = {**settings, DISCRETIZATION_SETTING: Discretization(voi_store, fuse)}
    for class_name, feature_names in extractor.enabledFeatures.items():
        if class_name.startswith("shape"):
            continue
        feature_class = classes[class_name](image, mask, **settings)
        for feature in feature_names or []:
            feature_class.enableFeatureByName(feature)
        for name, value in feature_class.execute().items():
            yield f"{image_type}_{class_name}_{name}", value
