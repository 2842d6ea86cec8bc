"""Shared test set-up: headless Qt/VTK and the sample study.

The environment variables must be set before Qt or VTK is imported anywhere, so they live at the
top of the root conftest (pytest imports it first).
"""

from __future__ import annotations

import os

os.environ.pop("DISPLAY", None)
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkOSOpenGLRenderWindow")

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_study() -> Path:
    """The bundled sample chest CT as a DICOM series folder (built at set-up; built here if missing)."""
    from medlens.sample import ensure_sample_study

    try:
        return ensure_sample_study().dicom_dir
    except Exception as exc:  # pragma: no cover - only without registry access
        pytest.skip(f"sample study unavailable: {exc}")


@pytest.fixture(scope="session")
def sample_files():
    """All files of the sample study (DICOM folder, source NRRDs and the lesion mask)."""
    from medlens.sample import ensure_sample_study

    try:
        return ensure_sample_study()
    except Exception as exc:  # pragma: no cover
        pytest.skip(f"sample study unavailable: {exc}")


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny test networks: one torch thread is much faster than two when other jobs share the cores.

    Modules opt in with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
