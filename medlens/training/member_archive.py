"""The lesion U-Net members the cards' figures were computed with, kept in git so they can be re-derived
without retraining.

Why: a member is a CPU training run of ~18 min, and a retrain moves the cross-validated figures (the
same recipe gave brain2 a classifier AUC of 0.41 on one machine and 0.61 on another), so a card whose
figures need a retrain to check cannot be checked. The members of ``members.SEG_TAGS`` and
``members.CLS_TAGS`` (the segmenter's and the classifier's, both the 4 000-step ``STEPS_4000_TAGS`` since
lesion-seg 0.6 / lesion-cls 0.7) and ``members.K3_TAGS`` (lesion-seg 0.5's and lesion-cls 0.6.x's, whose
records are kept) - four folds and the all-anatomy pair each, networks of 0.5 MB - are archived in
``plugins/lesion_seg/members/`` as their state dicts and training records, with a ``SHA256SUMS`` list.
``restore`` copies them into the training cache (``members.folds_dir()``), re-exports each member's
ONNX and checks it has the sha256 its record says, so ``evaluate.py`` and the classifier's ``train.py
--fold`` run on exactly those weights.

    .venv/bin/python -m medlens.training.member_archive restore   # into the cache (make members)
    .venv/bin/python -m medlens.training.member_archive save      # from the cache, after a retrain
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch

from medlens.training import members, sources
from medlens.training.export import export_onnx, sha256_of

ARCHIVE = Path(__file__).resolve().parents[2] / "plugins" / "lesion_seg" / "members"
SUMS = "SHA256SUMS"


ARCHIVED_TAGS = tuple(dict.fromkeys((*members.SEG_TAGS, *members.CLS_TAGS, *members.K3_TAGS)))


def member_names(tags: Sequence[str] = ARCHIVED_TAGS) -> list[str]:
    """``seg_{name}{tag}`` for the four folds and ``all``, each tag."""
    return [f"seg_{n}{t}" for n in ("all", *sources.CASES) for t in tags]


def save(tags: Sequence[str] = ARCHIVED_TAGS, archive: Path = ARCHIVE) -> list[str]:
    """Copy members ``tags`` (state dict + record) from the cache into ``archive`` and list their sha256."""
    archive.mkdir(parents=True, exist_ok=True)
    lines = []
    for stem in member_names(tags):
        for suffix in (".state.pt", ".json"):
            src = members.folds_dir() / f"{stem}{suffix}"
            shutil.copyfile(src, archive / src.name)
            lines.append(f"{sha256_of(src)}  {src.name}")
    (archive / SUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [line.split()[1] for line in lines]


def _sums(archive: Path) -> dict[str, str]:
    out = {}
    for line in (archive / SUMS).read_text(encoding="utf-8").splitlines():
        if line.strip():
            sha, name = line.split()
            out[name] = sha
    return out


def restore(archive: Path = ARCHIVE, force: bool = False) -> list[str]:
    """Put the archived members into the training cache: each file checked against ``SHA256SUMS``, and
    each member's ONNX re-exported and checked against its record's sha256. A member the cache already
    holds with those checksums is left alone; one it holds with other weights (a retrain) is replaced
    only with ``force``. Returns the members written.

    Raises ``ValueError`` naming the file when a checksum differs (a damaged archive or a re-export
    that no longer reproduces the member: another torch or onnx version) or a retrained member is in
    the way."""
    sums = _sums(archive)
    written = []
    for name, sha in sums.items():
        if sha256_of(archive / name) != sha:
            raise ValueError(f"{archive / name}: sha256 differs from {SUMS}")
    dest = members.folds_dir()
    stems = sorted({n.removesuffix(".state.pt").removesuffix(".json") for n in sums})
    retrained = [s for s in stems if (dest / f"{s}.state.pt").is_file()
                 and sha256_of(dest / f"{s}.state.pt") != sums[f"{s}.state.pt"]]
    if retrained and not force:
        raise ValueError(f"the cache holds other weights for {', '.join(retrained)} (a retrain?); "
                         "restore --force replaces them with the archived members")
    for stem in stems:
        files = (f"{stem}.state.pt", f"{stem}.json")
        onnx = dest / f"{stem}.onnx"
        if all((dest / f).is_file() and sha256_of(dest / f) == sums[f] for f in files) and onnx.is_file():
            continue
        for f in files:
            shutil.copyfile(archive / f, dest / f)
        name, tag = _split(stem)
        rec = members.info(name, tag)
        context = int(rec.get("context", 0))
        sha = export_onnx(members.load_unet(name, tag), torch.zeros(1, 2 * context + 1, 128, 128), onnx,
                          dynamic_hw=True, spatial_output=True)
        if sha != rec["sha256"]:
            raise ValueError(f"{stem}: the re-exported ONNX has sha256 {sha}, its record {rec['sha256']}")
        written.append(stem)
    return written


def _split(stem: str) -> tuple[str, str]:
    """``seg_lung1_k3s2`` -> (``lung1``, ``_k3s2``)."""
    name, _, tag = stem.removeprefix("seg_").partition("_")
    return name, f"_{tag}"


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["restore", "save"])
    ap.add_argument("--force", action="store_true", help="restore: replace retrained members in the cache")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        done = restore(force=args.force) if args.action == "restore" else save()
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"member_archive {args.action}: {exc}") from None
    what = "member(s) written to the cache" if args.action == "restore" else f"file(s) written to {ARCHIVE}"
    print(f"{len(done)} {what}" + (f": {', '.join(done)}" if done else ""))


if __name__ == "__main__":
    main()
