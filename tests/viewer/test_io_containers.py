"""Zip archives, DICOMDIR media, several inputs at once, ``load()`` and thumbnails."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from conftest import dicom_test_file, write_series

from medlens.viewer import io as vio


@pytest.fixture
def series_dir(tmp_path, real_ct):
    folder = tmp_path / "study" / "series1"
    write_series(folder, real_ct[:8], series_uid="1.2.3.4.500")
    return folder


def test_zip_input_reads_members_without_extracting(tmp_path, series_dir, real_ct):
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(series_dir.iterdir()):
            zf.write(path, f"export/{path.name}")
        zf.writestr("export/README.txt", "not an image")
    before = set(tmp_path.rglob("*"))
    result = vio.scan(archive)
    assert len(result.series) == 1 and result.skipped_files == 1
    info = result.series[0]
    assert all(str(f).startswith(str(archive)) for f in info.files)  # virtual member paths
    volume = vio.load_series(info)
    folder_volume = vio.load_series(vio.scan(series_dir).series[0])
    assert np.array_equal(volume.array, real_ct[:8])
    assert volume.geometry.allclose(folder_volume.geometry)
    assert set(tmp_path.rglob("*")) == before  # nothing extracted
    # a single member (e.g. for a thumbnail) reads through its virtual path too
    single = vio.read_image_file(info.files[3])
    assert np.array_equal(single.array[0], real_ct[3])


def test_dicomdir_follows_its_records(tmp_path, series_dir, real_ct):
    import pydicom
    from pydicom.fileset import FileSet

    fs = FileSet()
    for path in sorted(series_dir.iterdir()):
        fs.add(pydicom.dcmread(path))
    media = tmp_path / "media"
    fs.write(media)
    (media / "stray.txt").write_text("ignored: not listed in the DICOMDIR")
    result = vio.scan(media / "DICOMDIR")
    assert len(result.series) == 1 and result.errors == [] and result.skipped_files == 0
    info = result.series[0]
    assert info.n_slices == 8
    assert all("DICOMDIR" not in f.name for f in info.files)
    assert np.array_equal(vio.load_series(info).array, real_ct[:8])


def test_several_inputs_and_image_files(tmp_path, series_dir):
    ct = dicom_test_file("CT_small.dcm")
    vol = vio.load_series(vio.scan(ct).series[0])
    nifti = tmp_path / "ct.nii.gz"
    vio.write_image_file(vol, nifti)
    result = vio.scan([series_dir, ct, nifti])
    kinds = sorted(s.kind for s in result.series)
    assert kinds == ["dicom-series", "dicom-series", "image-file"]
    image_info = next(s for s in result.series if s.kind == "image-file")
    assert image_info.size_xyz == (128, 128, 1)
    assert np.array_equal(vio.load_series(image_info).array, vol.array)


def test_load_convenience_and_errors(tmp_path, series_dir):
    (series_dir / "junk.txt").write_text("x")
    calls = []
    volumes, result = vio.load(series_dir.parent, progress=lambda d, t: calls.append((d, t)))
    assert len(volumes) == 1 and result.skipped_files == 1
    assert calls[-1] == (8, 8)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    with pytest.raises(vio.LoadError, match="no loadable image series"):
        vio.load(empty)
    missing = vio.scan(tmp_path / "nope")
    assert missing.series == [] and "nope" in missing.errors[0]


def test_thumbnail_is_square_uint8_with_aspect_kept(series_dir):
    volume = vio.load_series(vio.scan(series_dir).series[0])
    thumb = vio.thumbnail(volume, size=64)
    assert thumb.shape == (64, 64) and thumb.dtype == np.uint8
    assert thumb.std() > 10  # real anatomy, windowed
    # 80 rows x 0.7 mm vs 96 cols x 0.6 mm: 56 x 57.6 mm -> nearly square, letterboxed rows
    assert not thumb[0].any() or not thumb[-1].any() or thumb.all(axis=1).sum() < 64
    single = vio.load_series(vio.scan(dicom_test_file("RG1_UNCR.dcm")).series[0])
    assert vio.thumbnail(single).shape == (96, 96)
