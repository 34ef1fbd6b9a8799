"""Files written aside and renamed keep the umask's mode, so a shared data folder works."""

import os
import stat

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiomics_core.files.atomic import atomic_write, atomic_write_bytes, make_temp_dir
from radiomics_core.files.images import read_image, write_image_atomic
from warehouse.store import Warehouse


@pytest.fixture
def umask_002():
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_warehouse_written_under_umask_002_is_group_readable(tmp_path, umask_002):
    warehouse = Warehouse(tmp_path / "warehouse").initialize()
    warehouse.write_partition("patients", "P1", pd.DataFrame({
        "patient_id": ["P1"], "source_id": ["1"], "layout": ["ucsf-pdgm"], "folder": ["P1_nifti"], "usable": [True],
        "updated_at": [pd.Timestamp("2026-01-01")]}))
    files = [p for p in (tmp_path / "warehouse").rglob("*") if p.is_file()]
    assert any(p.name == "P1.parquet" for p in files)
    for path in files:
        assert _mode(path) & 0o060 == 0o060, f"{path} is {oct(_mode(path))}"
    for folder in [p for p in (tmp_path / "warehouse").rglob("*") if p.is_dir()]:
        assert _mode(folder) & 0o070 == 0o070, f"{folder} is {oct(_mode(folder))}"


def test_a_work_image_under_umask_022_is_0644_and_readable(tmp_path):
    previous = os.umask(0o022)
    try:
        path = write_image_atomic(sitk.GetImageFromArray(np.ones((3, 4, 5), np.float32)), tmp_path / "a" / "x.nii.gz")
    finally:
        os.umask(previous)
    assert _mode(path) == 0o644
    assert read_image(path).GetSize() == (5, 4, 3)
    assert [p.name for p in path.parent.iterdir()] == ["x.nii.gz"]


def test_a_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path):
    target = atomic_write_bytes(tmp_path / "t.bin", b"old")

    def fail(temp):
        temp.write_bytes(b"half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.bin"]


def test_a_temporary_folder_has_a_normal_folders_mode(tmp_path, umask_002):
    assert _mode(make_temp_dir(tmp_path)) == 0o775
