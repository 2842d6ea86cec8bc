"""Is the CT deficit against NLM the model's, or the move from one chest CT to another? (a report only)

Why: on the test volume lung2 the model trails oracle NLM by 1.0-1.2 dB at 10-20 HU. CT training has one
chest CT (lung1), so lung2's scanner, kernel and native noise are new to the model. The same comparison
on lung1's held-out validation slices (``train.py --holdout``: never trained on, same scanner and
patient) separates the two: the model's margin over oracle NLM there, against its margin on lung2.
Both methods are scored on the validation slices with ``train.validate``'s noise and seeds; NLM gets the
true sigma and the per-level h-factor ``evaluate.py`` tuned (``metrics.json``), as on the test volumes.
The MR rows (brain1 validation, brain2 test) are the same comparison for the modality that meets the goal.
Also how noisy each chest CT's own reference is (``native_noise``): a noisier reference costs a
denoiser PSNR for the native noise it removes.

    .venv/bin/python plugins/denoise/shift_report.py    # ~2 min; writes shift_report.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import train
from evaluate import nlm

from medlens.training import sources

HERE = Path(__file__).resolve().parent
TEST_CASE = {"CT": "lung2", "MR": "brain2"}


def validation_nlm(scans: list[sources.Scan], tuned: dict) -> dict[str, float]:
    """Oracle NLM's mean PSNR per volume and level on the validation slices (``train.validation_psnr``,
    the model's noisy slices): the true sigma and ``evaluate.py``'s per-level h-factor (``tuned``)."""
    return train.validation_psnr(
        scans, lambda noisy, sigma, s, level: nlm(noisy, sigma, tuned[s.modality][str(level)]["nlm_h"]))


def native_noise(scan: sources.Scan) -> dict[str, float]:
    """How noisy a CT's own reference is, on every fourth slice: the SD of the high-pass residual (the
    slice minus its 1.5 px Gaussian) in soft tissue (9 px mean 0-80 HU) and in air (mean < -950 HU), the
    raw SD in that air, and the pixel size (mm)."""
    from scipy import ndimage

    soft, air, raw = [], [], []
    for z in range(0, scan.image.shape[0], 4):
        sl = scan.image[z].astype(np.float64)
        hp = sl - ndimage.gaussian_filter(sl, 1.5)
        local = ndimage.uniform_filter(sl, 9)
        soft.append(hp[(local > 0) & (local < 80)])
        air.append(hp[local < -950])
        raw.append(sl[local < -950])
    return {"highpass_sd_soft_tissue_hu": round(float(np.concatenate(soft).std()), 1),
            "highpass_sd_air_hu": round(float(np.concatenate(air).std()), 1),
            "raw_sd_air_hu": round(float(np.concatenate(raw).std()), 1),
            "pixel_mm": round(float(scan.spacing[0]), 3)}


def main() -> None:
    torch.set_num_threads(1)
    metrics = json.loads((HERE / "metrics.json").read_text())
    model = train.build("unet")
    model.load_state_dict(torch.load(HERE / "model.pt", weights_only=True))
    scans = [s for s in train.load_training_volumes() if s.name in train.VAL_CASES]
    model_val = train.validate(model, scans)
    nlm_val = validation_nlm(scans, metrics["tuned_classical"])
    rows = {}
    for key, m in model_val.items():
        name, level = key.split("@")
        modality = "CT" if name in train.TRAIN_CT else "MR"
        test = metrics[TEST_CASE[modality]][str(float(level))]
        margin_val = round(m - nlm_val[key], 3)
        margin_test = round(test["model"]["psnr"] - test["nlm"]["psnr"], 3)
        rows[key] = {"model_validation": m, "oracle_nlm_validation": nlm_val[key],
                     "margin_validation_db": margin_val, "margin_test_db": margin_test,
                     "shift_db": round(margin_test - margin_val, 3)}
        print(key, rows[key], flush=True)
    native = {case: native_noise(sources.load_case(case)) for case in ("lung1", "lung2")}
    print(native, flush=True)
    (HERE / "shift_report.json").write_text(json.dumps({**rows, "native_noise_ct": native}, indent=1))


if __name__ == "__main__":
    main()
