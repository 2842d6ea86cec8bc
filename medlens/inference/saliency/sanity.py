"""The sanity check shown with every map (Adebayo et al., "Sanity Checks for Saliency Maps", 2018).

Two questions a user should see answered beside a heatmap:

1. *Does the map depend on what the model learned?* The same method is run on a copy of the model
   whose weights are re-initialised (same seed every time, so the check is reproducible). A map that
   barely changes (high rank correlation of ``|attribution|``) is an edge detector, not an explanation.
2. *Does the map point at what the score depends on?* The deletion curve: the score as the most
   salient pixels are replaced by the baseline, step by step, against random removal orders. A
   faithful map makes the score drop sooner, so its area under the curve is smaller.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

SIMILARITY_PASS = 0.5  # Spearman rank correlation of |maps| below which the randomisation test passes
DELETION_MARGIN = 0.9  # salient-first deletion AUC must be below this fraction of the random-order AUC


@dataclass(frozen=True)
class SanityReport:
    """The check's figures; ``passed`` needs both a changed map and a faster-than-random deletion."""

    similarity_to_random_model: float | None  # Spearman of |attributions|, trained vs randomised
    deletion_auc: float
    random_deletion_auc: float
    passed: bool
    note: str
    ssim_to_random_model: float | None = None
    randomisation: str = "full"


# -- weight randomisation ------------------------------------------------------------------------
def _reinit_(param: Any, generator: Any) -> None:
    """PyTorch's default conv/linear init (kaiming-uniform, a=sqrt(5)) for weights, U(+-1/sqrt(n)) else."""
    import torch

    with torch.no_grad():
        if param.ndim >= 2:
            fan_in = int(np.prod(param.shape[1:]))
            bound = 1.0 / math.sqrt(max(fan_in, 1))  # kaiming_uniform(a=sqrt(5)) gives exactly this
        else:
            bound = 1.0 / math.sqrt(max(param.numel(), 1))
        param.copy_((torch.rand(param.shape, generator=generator) * 2 - 1) * bound)


def randomized_copy(module: Any, *, seed: int = 0, cascade_fraction: float = 1.0) -> Any:
    """A copy of a TorchScript module with re-initialised parameters (the original is untouched).

    ``cascade_fraction`` < 1 randomises only that fraction of the parameter tensors counted from the
    output side (Adebayo's cascading randomisation); 1.0 is full randomisation. Batch-norm running
    statistics are kept, as in the paper's re-initialisation of learnable weights only.
    """
    import torch

    from medlens.inference.saliency.twin import clone_module

    copy = clone_module(module)
    params = list(copy.parameters())
    count = max(1, round(len(params) * cascade_fraction))
    generator = torch.Generator().manual_seed(seed)
    for param in reversed(params[-count:]):
        _reinit_(param, generator)
    return copy


_WEIGHT_INPUTS = {
    "Conv": (1, 2),
    "ConvTranspose": (1, 2),
    "Gemm": (1, 2),
    "MatMul": (1,),
    "BatchNormalization": (1, 2),
}


def randomized_onnx(path: str, *, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    """An ONNX model with its learnable initialisers (conv/gemm weights and biases, BN affine)
    re-drawn like :func:`randomized_copy`; returns a numpy forward. For plugins without a twin."""
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load(path)
    learnable = {
        node.input[i]
        for node in model.graph.node
        if node.op_type in _WEIGHT_INPUTS
        for i in _WEIGHT_INPUTS[node.op_type]
        if i < len(node.input)
    }
    rng = np.random.default_rng(seed)
    for init in model.graph.initializer:
        if init.name not in learnable:
            continue
        value = numpy_helper.to_array(init)
        if value.dtype != np.float32 or value.size == 0:
            continue
        fan = int(np.prod(value.shape[1:])) if value.ndim >= 2 else value.size
        new = ((rng.random(value.shape) * 2 - 1) / math.sqrt(max(fan, 1))).astype(np.float32)
        init.CopyFrom(numpy_helper.from_array(new, init.name))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: batch.astype(np.float32)})[0], np.float32)

    return run


# -- similarity -----------------------------------------------------------------------------------
def rank_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of |a| and |b| (0 when either map is constant)."""
    from scipy.stats import spearmanr

    x, y = np.abs(a).ravel(), np.abs(b).ravel()
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y).statistic)


def ssim_similarity(a: np.ndarray, b: np.ndarray) -> float | None:
    """SSIM of |a| and |b| each scaled to [0, 1]; None without scikit-image or for tiny maps."""
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        return None
    if min(a.shape) < 7:
        return None

    def unit(m: np.ndarray) -> np.ndarray:
        m = np.abs(m).astype(np.float64)
        span = np.ptp(m)
        return (m - m.min()) / span if span > 0 else np.zeros_like(m)

    return float(structural_similarity(unit(a), unit(b), data_range=1.0))


def bounding_organ(mask: np.ndarray) -> np.ndarray | None:
    """The organ to compare maps inside (``randomisation_similarities``), or None when the input is all
    organ or has none: then there is nothing to bound the comparison by, and the whole input counts."""
    return None if mask.all() or not mask.any() else mask


def randomisation_similarities(
    amap: np.ndarray, rmap: np.ndarray, organ: np.ndarray | None
) -> tuple[float, float | None]:
    """Rank similarity and SSIM of the trained and the randomised model's maps; for a plugin with
    ``input.organ_channel`` compared inside ``organ`` only (SSIM on its bounding box); ``organ`` is
    None for other plugins, and for a slice that is all organ or has none (nothing to bound by).

    Why: such a model says nothing outside the organ by construction, so both maps are flat there;
    counted in, that shared flat area alone makes any two maps look alike (a rank similarity near 1)
    and the check would fail every map of the model for the mask's shape, not for what it learned.
    """
    if organ is None:
        ssim = ssim_similarity(amap, rmap) if amap.ndim == 2 else None
        return rank_similarity(amap, rmap), ssim
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in np.nonzero(organ))
    ssim = ssim_similarity(amap[box], rmap[box]) if amap.ndim == 2 else None
    return rank_similarity(amap[organ], rmap[organ]), ssim


# -- deletion curves ------------------------------------------------------------------------------
def deletion_curve(
    x: np.ndarray,
    order: np.ndarray,
    score: Callable[[np.ndarray], np.ndarray],
    *,
    baseline: float,
    steps: int = 16,
    batch: int = 4,
    fixed_channels: int = 0,
) -> np.ndarray:
    """Scores of ``x`` (``(1, C, *spatial)``) with the first k/steps of ``order`` (flat spatial
    indices) set to ``baseline`` in every image channel (all but the last ``fixed_channels``, an
    organ mask that stays), k = 0..steps; ``score`` maps a batch to ``(N,)``."""
    n = order.size
    image = x.shape[1] - fixed_channels
    variants = []
    for k in range(steps + 1):
        v = x[0].reshape(x.shape[1], -1).copy()
        v[:image, order[: round(n * k / steps)]] = baseline
        variants.append(v.reshape(x.shape[1:]))
    stack = np.stack(variants).astype(np.float32)
    return np.concatenate([np.asarray(score(stack[i : i + batch])) for i in range(0, len(stack), batch)])


def curve_auc(curve: np.ndarray) -> float:
    """Area under a deletion curve over the removed fraction 0..1 (trapezoid rule)."""
    xs = np.linspace(0.0, 1.0, len(curve))
    return float(np.sum((curve[1:] + curve[:-1]) * np.diff(xs) / 2))


def deletion_aucs(
    x: np.ndarray,
    attribution: np.ndarray,
    score: Callable[[np.ndarray], np.ndarray],
    *,
    baseline: float,
    normalise: bool,
    seed: int = 0,
    random_orders: int = 3,
    steps: int = 16,
    fixed_channels: int = 0,
) -> tuple[float, float]:
    """(AUC removing the most salient pixels first, mean AUC over random removal orders).

    ``normalise`` divides by the unperturbed score (segmentation region scores are sums, not
    probabilities) so the AUC is comparable between cases.
    """
    order = np.argsort(-np.abs(attribution).ravel(), kind="stable")
    curve = deletion_curve(x, order, score, baseline=baseline, steps=steps, fixed_channels=fixed_channels)
    rng = np.random.default_rng(seed)
    randoms = [
        deletion_curve(x, rng.permutation(order.size), score, baseline=baseline, steps=steps,
                       fixed_channels=fixed_channels)
        for _ in range(random_orders)
    ]
    scale = 1.0
    if normalise:
        scale = float(curve[0]) if abs(float(curve[0])) > 1e-12 else 1.0
    return curve_auc(curve / scale), float(np.mean([curve_auc(r / scale) for r in randoms]))


def judge(similarity: float | None, deletion: float, random_deletion: float) -> tuple[bool, str]:
    """Pass/fail and the sentence shown under the map."""
    changed = similarity is None or similarity < SIMILARITY_PASS
    faster = deletion < DELETION_MARGIN * random_deletion  # a margin: random maps land just around 1.0
    parts = []
    if similarity is None:
        parts.append("model randomisation not run")
    elif changed:
        parts.append(f"map changes when the weights are randomised (rank similarity {similarity:.2f})")
    else:
        parts.append(
            f"map barely changes when the weights are randomised (rank similarity {similarity:.2f} >= "
            f"{SIMILARITY_PASS}): it may show image structure rather than what the model learned"
        )
    if faster:
        parts.append(
            f"deleting salient pixels drops the score faster than random (AUC {deletion:.3f} vs "
            f"{random_deletion:.3f})"
        )
    else:
        parts.append(
            f"deleting salient pixels drops the score no faster than random (AUC {deletion:.3f} "
            f"vs {random_deletion:.3f})"
        )
    return changed and faster, "; ".join(parts)
