"""GradCAM on a TorchScript module, split at a layer by graph surgery.

Why not captum's ``LayerGradCam``: it needs forward hooks, and ``register_forward_hook`` raises
"not supported on ScriptModules" (checked with torch 2.13), so it cannot see a scripted layer's
activations. Instead the scripted ``forward`` graph is copied, inlined, and the output of the last
node executed inside the target layer (found by the module hierarchy TorchScript records on each
inlined node) is returned beside the network output. Running that graph gives the activations ``A``
as a live autograd tensor, so ``d score / d A`` comes from ``torch.autograd.grad`` and the map is
``ReLU(sum_c mean_xy(dS/dA_c) * A_c)``, exactly captum's definition.

Limit: a layer whose computation sits inside a TorchScript ``if``/``loop`` block cannot be split (its
nodes are not on the top level of the inlined graph); :class:`InferenceError` says so. Plain
``nn.Module`` objects go through captum's ``LayerGradCam``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from medlens.inference.errors import InferenceError

_PART = re.compile(r"^(.*)\((.*)\)$")


def _module_path(node: Any) -> str:
    """'features.6.2' from a hierarchy such as 'SELF(Net).features(Sequential).6(Sequential).2(ReLU)'.

    ``SELF`` marks a call of another method of the same module (``forward`` calling ``evidence``),
    ``UNKNOWN_INSTANCE`` a plain function; neither is a submodule name.
    """
    hierarchy = node.getModuleHierarchy()
    parts: list[str] = []
    for piece in hierarchy.split(".") if hierarchy else []:
        match = _PART.match(piece)
        if not match:
            break
        if match.group(1) not in ("SELF", "UNKNOWN_INSTANCE"):  # a method of the same module / a function
            parts.append(match.group(1))
    return ".".join(parts)


def split_at_layer(module: Any, layer: str) -> Callable[[Any], tuple[Any, Any]]:
    """``f(x) -> (network output, activations of layer)`` for a ScriptModule (see module docstring)."""
    import torch

    try:
        graph = module.forward.graph.copy()
    except AttributeError as exc:
        raise InferenceError("GradCAM graph split needs a TorchScript module") from exc
    torch._C._jit_pass_inline(graph)
    last = None
    for node in graph.nodes():
        path = _module_path(node)
        if (
            (path == layer or path.startswith(layer + "."))
            and node.outputsSize() == 1
            and node.output().type().kind() == "TensorType"
        ):
            last = node
    if last is None:
        names = sorted({p for p in (_module_path(n) for n in graph.nodes()) if p})
        hint = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
        raise InferenceError(
            f"saliency target layer {layer!r} not found on the top level of the TorchScript graph "
            f"(layers seen: {hint or 'none'})"
        )
    outputs = list(graph.outputs())
    if len(outputs) != 1:
        raise InferenceError("GradCAM graph split expects a network with one output")
    pair = graph.create("prim::TupleConstruct", [outputs[0], last.output()])
    graph.appendNode(pair)
    pair.output().setType(torch._C.TupleType([outputs[0].type(), last.output().type()]))
    graph.eraseOutput(0)
    graph.registerOutput(pair.output())
    fn = torch._C._create_function_from_graph("medlens_gradcam_split", graph)
    owner = module._c

    def run(x: Any) -> tuple[Any, Any]:
        out, act = fn(owner, x)
        return out, act

    return run


def _module_layer(module: Any, layer: str) -> Any:
    target = module
    for part in layer.split("."):
        target = (
            target[int(part)] if part.isdigit() and hasattr(target, "__getitem__") else getattr(target, part)
        )
    return target


def grad_cam(module: Any, layer: str, x: Any, reduce: Callable[[Any], Any]) -> tuple[Any, Any]:
    """GradCAM of ``reduce(module(x))`` (one scalar per sample) at ``layer``, upsampled to ``x``.

    Returns (map ``(N, *spatial)`` float tensor >= 0, scores ``(N,)``).
    """
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual torch alias

    if isinstance(module, torch.jit.ScriptModule):
        out, act = split_at_layer(module, layer)(x)
    else:  # a plain nn.Module: captum's hook-based implementation
        from captum.attr import LayerGradCam

        cam = LayerGradCam(lambda t: reduce(module(t)), _module_layer(module, layer))
        maps = cam.attribute(x, relu_attributions=True)
        with torch.no_grad():
            scores = reduce(module(x))
        mode = "bilinear" if x.ndim == 4 else "trilinear"
        up = F.interpolate(maps, size=x.shape[2:], mode=mode, align_corners=False)
        return up[:, 0].detach(), scores.detach()
    scores = reduce(out)
    (grads,) = torch.autograd.grad(scores.sum(), act)
    dims = tuple(range(2, act.ndim))
    weights = grads.mean(dim=dims, keepdim=True)
    maps = torch.relu((weights * act).sum(dim=1, keepdim=True))
    mode = "bilinear" if x.ndim == 4 else "trilinear"
    up = F.interpolate(maps, size=x.shape[2:], mode=mode, align_corners=False)
    return up[:, 0].detach(), scores.detach()
