"""Saliency cost per 2D slice on the CPU, as a ratio to a plain forward pass measured in the same run.

    .venv/bin/python bench/saliency.py [--size 256] [--repeats 3] [--ig-steps 32] [--threads 0]

Network: the built-in classifier's shape (``medlens.training.nets.SliceClassifier`` when importable,
else a same-sized stand-in: four conv blocks 16-32-48-64, global max pooling), randomly initialised
and traced - timing does not depend on the weights. Measured on one slice ``(1, 1, S, S)``:

* forward: one ``torch.no_grad`` forward pass (the baseline);
* Integrated Gradients: captum, ``n_steps`` interpolation steps in batches of 8 (what MedLens runs);
* GradCAM: the traced graph split at the last block (``medlens.inference.saliency.gradcam``);
* the model's evidence map: the network's own pooled logit map (``saliency_evidence``; one forward);
* sanity check: the map of a weight-randomised copy plus the deletion curves (IG, GradCAM, evidence).

Why a ratio: absolute times depend on the machine and on what else runs on it; the ratio to a
forward pass says what a user pays for a map relative to running the model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from torch import nn


def _network() -> tuple[nn.Module, str]:
    try:
        from medlens.training.nets import SliceClassifier

        return SliceClassifier(), "features.6"
    except Exception:  # the training package is optional

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(),
            )

        class Stand(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.features = nn.Sequential(
                    block(1, 16),
                    nn.MaxPool2d(2),
                    block(16, 32),
                    nn.MaxPool2d(2),
                    block(32, 48),
                    nn.MaxPool2d(2),
                    block(48, 64),
                )
                self.logit_map = nn.Conv2d(64, 1, 1)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.amax(self.logit_map(self.features(x)), dim=(2, 3))

        return Stand(), "features.6"


def _time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (TorchScript profiling runs, allocator)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ig-steps", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from medlens.inference.saliency import sanity
    from medlens.inference.saliency.methods import Target, attribute, make_reduce, numpy_forward

    torch.manual_seed(0)
    net, layer = _network()
    x = torch.rand(1, 1, args.size, args.size)
    # traced like the built-in twins (lesion_cls/train.py): its forward calls evidence(), which
    # scripting would keep as a method call, hiding the GradCAM layer from the top-level graph
    methods = {"forward": x, "evidence": x} if hasattr(net, "evidence") else {"forward": x}
    module = torch.jit.trace_module(net.eval(), methods)
    reduce = make_reduce(Target("classification", 0, "sigmoid"))
    forward = numpy_forward(lambda b: module(torch.from_numpy(b)).detach().numpy())

    def plain() -> None:
        with torch.no_grad():
            module(x)

    def ig() -> None:
        attribute("integrated_gradients", x, forward, reduce, module=module, n_steps=args.ig_steps)

    def cam() -> None:
        attribute("gradcam", x, forward, reduce, module=module, layer=layer)

    def evidence() -> None:
        attribute("evidence", x, forward, reduce, module=module, evidence="evidence")

    def check(method: str) -> Callable[[], None]:
        kw = {"layer": layer, "n_steps": args.ig_steps, "evidence": "evidence"}
        amap = attribute(method, x, forward, reduce, module=module, **kw)
        prob = make_reduce(Target("classification", 0, "sigmoid"), probability=True)

        def run() -> None:
            rnd = sanity.randomized_copy(module)
            rmap = attribute(method, x, forward, reduce, module=rnd, **kw)
            sanity.rank_similarity(amap, rmap)
            sanity.deletion_aucs(
                x.numpy(),
                amap,
                lambda b: prob(forward(torch.from_numpy(b))).detach().numpy(),
                baseline=0.0,
                normalise=False,
            )

        return run

    base = _time(plain, args.repeats)
    rows = [
        ("forward pass (baseline)", base),
        (f"Integrated Gradients ({args.ig_steps} steps)", _time(ig, args.repeats)),
        ("GradCAM", _time(cam, args.repeats)),
        ("IG sanity check", _time(check("integrated_gradients"), max(1, args.repeats - 1))),
        ("GradCAM sanity check", _time(check("gradcam"), max(1, args.repeats - 1))),
    ]
    if hasattr(net, "evidence"):  # the stand-in network has no map of its own
        rows += [
            ("model's evidence map", _time(evidence, args.repeats)),
            ("evidence map sanity check", _time(check("evidence"), max(1, args.repeats - 1))),
        ]
    print(
        f"saliency per {args.size}x{args.size} slice, CPU, {torch.get_num_threads()} torch thread(s), "
        f"{type(net).__name__}, median of {args.repeats}"
    )
    for name, seconds in rows:
        print(f"  {name:34s} {seconds * 1000:9.1f} ms   x{seconds / base:7.1f}")
    return 0 if np.isfinite(base) else 1


if __name__ == "__main__":
    raise SystemExit(main())
