"""The denoiser's training loss weights (``plugins/denoise/train.py``, ``level_weights``)."""

from __future__ import annotations

from pathlib import Path

import torch

from medlens.training import studies

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "denoise"


def test_balanced_levels_weigh_low_noise_patches_more_and_keep_the_loss_scale() -> None:
    train = studies.script_module(PLUGIN / "train.py")
    share = torch.tensor([0.0, 0.125, 0.5, 1.0])  # 0, 10, 40 and 80 HU on CT
    w = train.level_weights(share, 0.125)
    assert torch.isclose(w.mean(), torch.tensor(1.0))
    assert bool((w[:-1] > w[1:]).all())  # less noise, more weight
    # 1 / (share + floor): a noise-free patch counts 9 times an 80 HU one, a 10 HU patch 4.5 times
    assert torch.isclose(w[0] / w[3], torch.tensor(9.0)) and torch.isclose(w[1] / w[3], torch.tensor(4.5))
    assert torch.equal(train.level_weights(share, None), torch.ones(4))  # the shipped recipe: equal
