"""The real test cases as the viewer would hand them to a plugin (``Volume`` with modality set).

Why: evaluation must go through the same entry point as the app (``medlens.inference.run_plugin``)
so the card's figures include the plugin's own resampling, normalisation and post-processing.
"""

from __future__ import annotations

import numpy as np

from medlens.training import sources
from medlens.viewer.model import Volume, VolumeMeta


def case_volume(name: str, z_range: tuple[int, int] | None = None) -> tuple[Volume, np.ndarray]:
    """The case ``name`` as a ``Volume`` (optionally only slices ``z_range``) and its real lesion mask."""
    import SimpleITK as sitk

    scan = sources.load_case(name)
    image = scan.extra["sitk"]
    label = scan.label
    assert isinstance(image, sitk.Image) and label is not None
    if z_range is not None:
        z0, z1 = z_range
        image = image[:, :, z0:z1]
        label = label[z0:z1]
    meta = VolumeMeta(modality=scan.modality, units="HU" if scan.modality == "CT" else "")
    return Volume.from_sitk(sitk.Cast(image, sitk.sitkFloat32), meta), label


def spacing_zyx(volume: Volume) -> tuple[float, float, float]:
    sx, sy, sz = volume.spacing
    return (sz, sy, sx)
