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
from collections.abc import Callable, Sequence
from typing import Any

from medlens.inference.errors import InferenceError

_PART = re.compile(r"^(.*)\((.*)\)$")
_TRANSPARENT = ("SELF", "UNKNOWN_INSTANCE")  # another method of the same module / a plain function

Piece = tuple[str, str]  # (attribute name, module type name) as TorchScript records a call


def _pieces(node: Any) -> list[Piece]:
    """[('unet', 'UNet2d'), ('2', 'Sequential')] from 'unet(UNet2d).2(Sequential)'.

    TorchScript records one piece per *called* module, so containers that are never called
    (``ModuleList``, ``ModuleDict``) leave no piece: ``dec[2]`` and ``down[2]`` both appear as
    ``2(Sequential)``. :func:`_locate_call` resolves that ambiguity by call order.
    """
    hierarchy = node.getModuleHierarchy()
    pieces: list[Piece] = []
    for piece in hierarchy.split(".") if hierarchy else []:
        match = _PART.match(piece)
        if not match:
            break
        if match.group(1) not in _TRANSPARENT:
            pieces.append((match.group(1), match.group(2)))
    return pieces


def _module_path(node: Any) -> str:
    """'features.6.2' from a hierarchy such as 'SELF(Net).features(Sequential).6(Sequential).2(ReLU)'."""
    return ".".join(name for name, _ in _pieces(node))


def _attr_path(value: Any, self_value: Any) -> list[str] | None:
    """The attribute chain ``self.a.b`` that produced ``value`` (GetAttr nodes), or None."""
    names: list[str] = []
    while True:
        if value.unique() == self_value.unique():
            return names[::-1]
        node = value.node()
        if node.kind() != "prim::GetAttr":
            return None
        names.append(node.s("name"))
        value = node.input()


def _locate_call(
    module: Any, method: str, parts: list[str], counts: dict[Piece, int] | None = None
) -> list[tuple[Piece, int]] | None:
    """Where ``parts`` (e.g. ['unet', 'dec', '2']) is called: per level, its piece and its occurrence.

    The occurrence is how many calls with the same piece came before it at that level (``down[2]``
    runs before ``dec[2]``, both ``2(Sequential)``), read from the un-inlined graphs, where each call
    still names its full attribute chain. Calls to another method of the same module are followed
    and counted at the same level, as the inlined hierarchy does.
    """
    counts = {} if counts is None else counts
    graph = module._c._get_method(method).graph  # ``module.forward`` may be a Python wrapper
    self_value = next(iter(graph.inputs()))
    for node in graph.nodes():  # top level only: calls inside if/loop blocks are not located
        if node.kind() != "prim::CallMethod":
            continue
        path = _attr_path(node.inputsAt(0), self_value)
        if path is None:
            continue
        if not path:  # self.other_method(...)
            found = _locate_call(module, node.s("name"), parts, counts)
            if found:
                return found
            continue
        callee = module
        for name in path:
            callee = getattr(callee, name)
        piece = (path[-1], str(getattr(callee, "original_name", type(callee).__name__)))
        occurrence = counts.get(piece, 0)
        counts[piece] = occurrence + 1
        if path == parts[: len(path)]:
            here = (piece, occurrence)
            if len(path) == len(parts):
                return [here]
            rest = _locate_call(callee, node.s("name"), parts[len(path) :])
            if rest:
                return [here, *rest]
    return None


def _last_node_of(graph: Any, levels: list[tuple[Piece, int]]) -> Any:
    """The last node with one tensor output executed inside the call ``levels`` names (inlined graph)."""
    depth = len(levels)
    runs = [0] * depth  # runs of the level's piece seen inside the current parent call
    previous: list[Piece | None] = [None] * depth  # piece at the level of the last node in the parent
    last = None
    for node in graph.nodes():
        if node.kind() == "prim::Constant":  # inlining hoists constants out of order: not a call's work
            continue
        pieces = _pieces(node)
        inside = 0  # how many levels of the target this node is inside
        for level, (piece, occurrence) in enumerate(levels):
            if pieces[:level] != [p for p, _ in levels[:level]] or (level and inside < level):
                break
            current = pieces[level] if len(pieces) > level else None
            if current != previous[level]:
                if current == piece:
                    runs[level] += 1
                    for deeper in range(level + 1, depth):
                        runs[deeper], previous[deeper] = 0, None
                previous[level] = current
            if current == piece and runs[level] == occurrence + 1:
                inside = level + 1
            else:
                break
        if inside == depth and node.outputsSize() == 1 and node.output().type().kind() == "TensorType":
            last = node
    return last


def split_at_layers(module: Any, layers: Sequence[str]) -> Callable[[Any], tuple[Any, tuple[Any, ...]]]:
    """``f(x) -> (network output, activations of each layer)`` for a ScriptModule (see module
    docstring): one forward pass however many layers are asked for (an ensemble's members)."""
    import torch

    try:
        graph = module.forward.graph.copy()
    except AttributeError as exc:
        raise InferenceError("GradCAM graph split needs a TorchScript module") from exc
    located = [(layer, _locate_call(module, "forward", layer.split("."))) for layer in layers]
    torch._C._jit_pass_inline(graph)
    lasts = []
    for layer, levels in located:
        last = _last_node_of(graph, levels) if levels else None
        if last is None:
            names = sorted({p for p in (_module_path(n) for n in graph.nodes()) if p})
            hint = ", ".join(names[:12]) + (" ..." if len(names) > 12 else "")
            raise InferenceError(
                f"saliency target layer {layer!r} is not a module called on the top level of the "
                f"TorchScript graph (modules seen, containers left out: {hint or 'none'})"
            )
        lasts.append(last.output())
    outputs = list(graph.outputs())
    if len(outputs) != 1:
        raise InferenceError("GradCAM graph split expects a network with one output")
    values = [outputs[0], *lasts]
    pack = graph.create("prim::TupleConstruct", values)
    graph.appendNode(pack)
    pack.output().setType(torch._C.TupleType([v.type() for v in values]))
    graph.eraseOutput(0)
    graph.registerOutput(pack.output())
    fn = torch._C._create_function_from_graph("medlens_gradcam_split", graph)
    owner = module._c

    def run(x: Any) -> tuple[Any, tuple[Any, ...]]:
        out, *acts = fn(owner, x)
        return out, tuple(acts)

    return run


def split_at_layer(module: Any, layer: str) -> Callable[[Any], tuple[Any, Any]]:
    """``f(x) -> (network output, activations of layer)``: :func:`split_at_layers` for one layer."""
    split = split_at_layers(module, [layer])

    def run(x: Any) -> tuple[Any, Any]:
        out, (act,) = split(x)
        return out, act

    return run


def _module_layer(module: Any, layer: str) -> Any:
    target = module
    for part in layer.split("."):
        target = (
            target[int(part)] if part.isdigit() and hasattr(target, "__getitem__") else getattr(target, part)
        )
    return target


def grad_cam(
    module: Any, layer: str | Sequence[str], x: Any, reduce: Callable[[Any], Any]
) -> tuple[Any, Any]:
    """GradCAM of ``reduce(module(x))`` (one scalar per sample) at ``layer``, upsampled to ``x``.
    Several layers (an ensemble's members, one block each): the sum of their maps, each weighted by
    the gradient of the one score, from one forward pass on a ScriptModule.

    Returns (map ``(N, *spatial)`` float tensor >= 0, scores ``(N,)``).
    """
    import torch

    layers = [layer] if isinstance(layer, str) else list(layer)
    shape = tuple(x.shape[2:])
    if not isinstance(module, torch.jit.ScriptModule):  # a plain nn.Module: captum's hook-based one
        from captum.attr import LayerGradCam

        total = 0
        for name in layers:
            cam = LayerGradCam(lambda t: reduce(module(t)), _module_layer(module, name))
            total = total + to_input_grid(cam.attribute(x, relu_attributions=True), shape)
        with torch.no_grad():
            scores = reduce(module(x))
        return total[:, 0].detach(), scores.detach()
    out, acts = split_at_layers(module, layers)(x)
    scores = reduce(out)
    grads = torch.autograd.grad(scores.sum(), acts)
    total = 0
    for act, grad in zip(acts, grads, strict=True):
        weights = grad.mean(dim=tuple(range(2, act.ndim)), keepdim=True)
        total = total + to_input_grid(torch.relu((weights * act).sum(dim=1, keepdim=True)), shape)
    return total[:, 0].detach(), scores.detach()


def to_input_grid(maps: Any, shape: tuple[int, ...]) -> Any:
    """A layer's map ``(N, 1, *s)`` on the input's ``shape``.

    Why not a plain resize: a network that pads its input to a multiple of its pooling factor (as
    MedLens' 2D U-Nets do, at the end of each axis) has layers that cover the padded input. Stretching
    such a layer onto the unpadded input shifts the map by up to the padding (7 px on a full-resolution
    layer of a 3-pooling U-Net). When every axis is an integer factor ``r`` of the layer's side and the
    upsampled side covers the input, the map is upsampled by ``r`` and cropped at the end instead; other
    layers (cropped, or not an integer factor) are resized as before.
    """
    import torch.nn.functional as F  # noqa: N812 - the usual torch alias

    mode = "bilinear" if maps.ndim == 4 else "trilinear"
    sides = tuple(int(v) for v in maps.shape[2:])
    factors = tuple(max(1, round(h / s)) for h, s in zip(shape, sides, strict=True))
    if all(s * r >= h for h, s, r in zip(shape, sides, factors, strict=True)):
        if any(r > 1 for r in factors):
            maps = F.interpolate(maps, scale_factor=factors, mode=mode, align_corners=False)
        crop = (slice(None), slice(None), *(slice(0, h) for h in shape))
        return maps[crop]
    return F.interpolate(maps, size=shape, mode=mode, align_corners=False)
