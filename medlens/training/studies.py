"""What the synthetic-volume studies share: their command line and their volumes.

Why: post-processing and slice-head choices (``component_rule.py``, ``end_slices.py``,
``organ_bound.py``, ``tta_study.py``) are decided on synthetic whole volumes built from each fold's
*own training anatomy*, never on the real test cases. Building those volumes and reading the options
the same way in every study keeps the protocol one protocol.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from medlens.training import baseline, lesion_data, members


def fold_anatomy(fold: str) -> list[lesion_data.Anatomy]:
    """Every anatomy volume the fold trained on (all but the fold's test case)."""
    names = (*lesion_data.ANATOMY_CT, *lesion_data.ANATOMY_MR)
    return [lesion_data.prepare(n) for n in names if n != fold]


def fold_volumes(
    fold: str, per_modality: int, seed: int
) -> list[tuple[lesion_data.Anatomy, np.ndarray, np.ndarray]]:
    """``per_modality`` CT then MR whole volumes of ``fold``'s training anatomy, one synthetic lesion
    each: (anatomy, image, lesion mask)."""
    anat = fold_anatomy(fold)
    return [v for m in ("CT", "MR") for v in baseline.synthetic_volumes(anat, m, per_modality, seed)]


def study_args(doc: str | None, threads: int = 1) -> argparse.Namespace:
    """A study's command line: ``--per-modality`` (volumes per modality and fold), ``--threads`` (applied
    to torch here) and ``--tags`` (the U-Net members each fold model is the mean of)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-modality", type=int, default=6)
    ap.add_argument("--threads", type=int, default=threads)
    ap.add_argument("--tags", nargs="+", default=list(members.SEED_TAGS))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    return args


def script_module(path: Path) -> ModuleType:
    """A plugin's script (``train.py``) as a module, for its network head and seeds: plugin folders
    are not packages, and a study must build the network exactly as the script does."""
    spec = importlib.util.spec_from_file_location(f"medlens_script_{path.parent.name}_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
