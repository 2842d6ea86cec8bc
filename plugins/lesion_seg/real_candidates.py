"""Which regions compete with a real lesion? A diagnosis on a real case (never a decision).

Why: the cross-validated table says only whether a fold found its case's lesion. When it did not, what
to change next depends on why: the lesion never rose above the threshold (a sensitivity problem), or
it did and another region was reported (a ranking / false-positive problem). This runs a fold model
through the MedLens engine as shipped, but keeps every region the organ bound keeps, and lists them by
the engine's "mean" score (mean probability; the 2.5D end slices not counted; each region's "peak", the
shipped rule's score, and the lesion's rank by it beside), with their size, slices,
intensity (MR: against the brain's median; CT: HU) and overlap with the real lesion.

Reading a real case's output is test-informed by definition: a change motivated by it must still be
decided on synthetic volumes (``bright_negatives_study.py`` was).

    .venv/bin/python plugins/lesion_seg/real_candidates.py brain2 [--tags _k3 _k3s2] [--top 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from medlens.training import lesion_data, members, sources
from medlens.training.cases import case_volume

HERE = Path(__file__).resolve().parent


def candidates(case: str, tags: tuple[str, ...], top: int = 8) -> dict:
    """The real lesion's probabilities and the ``top`` regions inside the organ, best first."""
    from medlens.inference import RunOptions, run_plugin
    from medlens.inference.runner import padded_end_slices

    reg, pid = members.fold_registry(HERE, case, tags, f"candidates-{case}")
    vol, label = case_volume(case, None)
    truth = np.asarray(label) > 0
    result = run_plugin(pid, vol, RunOptions(keep_largest_component=False, use_cache=False), registry=reg)
    assert result.label_map is not None and result.heatmaps
    prob = np.asarray(result.heatmaps[0].array, np.float32)
    kept = np.asarray(result.label_map.array) > 0  # every region the organ bound keeps
    image = np.asarray(vol.array, np.float32)
    ends = padded_end_slices(prob.shape[0], members.context_of(case, tags))
    scored = prob.copy()
    if ends:
        scored[:ends] = scored[-ends:] = 0.0
    mr = (vol.meta.modality or "").upper() == "MR"
    # MR intensities against the brain's median (deepbet's brain, as training measures it); CT in HU
    scale = lesion_data.prepare(case).reference if mr else 1.0
    regions, n = ndimage.label(kept, structure=np.ones((3, 3, 3), bool))
    rows = []
    for i in range(1, n + 1):
        m = regions == i
        z = np.flatnonzero(m.any(axis=(1, 2)))
        rows.append({"mean": round(float(scored[m].mean()), 3), "peak": round(float(scored[m].max()), 3),
                     "voxels": int(m.sum()),
                     "slices": [int(z[0]), int(z[-1])], "lesion_voxels": int((m & truth).sum()),
                     "median_intensity": round(float(np.median(image[m])) / scale, 2)})
    rows.sort(key=lambda r: -r["mean"])
    lesion_rank = next((k + 1 for k, r in enumerate(rows) if r["lesion_voxels"]), None)
    by_peak = sorted(rows, key=lambda r: -r["peak"])
    peak_rank = next((k + 1 for k, r in enumerate(by_peak) if r["lesion_voxels"]), None)
    return {
        "case": case, "tags": list(tags), "warnings": result.warnings, "regions_inside_organ": len(rows),
        "lesion": {"voxels": int(truth.sum()), "probability_max": round(float(prob[truth].max()), 3),
                   "share_over_0.5": round(float((prob[truth] > 0.5).mean()), 3),
                   "median_intensity": round(float(np.median(image[truth])) / scale, 2),
                   "rank_of_first_region_touching_it": lesion_rank,
                   "rank_by_peak_of_first_region_touching_it": peak_rank},
        "intensity_unit": "x the brain's median" if mr else "HU", "top": rows[:top],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case", choices=list(sources.CASES))
    ap.add_argument("--tags", nargs="+", default=list(members.SEG_TAGS))
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = candidates(args.case, tuple(args.tags), args.top)
    path = HERE / f"real_candidates_{args.case}{members.mean_tag(tuple(args.tags))}.json"
    path.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
