"""Whether a saliency method can explain a plugin, and if not, why — one answer for every caller.

Why a module of its own: the engine refuses a method with an error and the Explain panel greys it
out with a tooltip; both must agree on the rule and say the same thing, so both ask this function.
"""

from __future__ import annotations

from medlens.inference.errors import InferenceError
from medlens.inference.manifest import Manifest
from medlens.inference.saliency.methods import METHODS, TWIN_METHODS
from medlens.inference.saliency.twin import NO_TWIN, twin_spec

EXPLAINED_TASKS = ("classification", "segmentation")


def unavailable_reason(manifest: Manifest, method: str) -> str | None:
    """None when ``method`` can explain ``manifest``'s plugin, else why not.

    The reason reads after the plugin's name ("plugin X <reason>"), e.g. "declares no
    saliency_target_layer; GradCAM needs one".
    """
    if method not in METHODS:
        return f"cannot be explained with {method!r}: MedLens knows {', '.join(METHODS)}"
    if manifest.task not in EXPLAINED_TASKS:
        return f"is a {manifest.task} plugin; saliency explains classification or segmentation"
    if manifest.pipeline:
        return "runs its own pipeline; saliency is not available for it"
    if method == "gradcam" and not manifest.saliency_target_layer:
        return "declares no saliency_target_layer; GradCAM needs one"
    if method == "evidence" and (manifest.task != "classification" or not manifest.saliency_evidence):
        return "declares no saliency_evidence method; the model's evidence map needs one"
    if method in TWIN_METHODS:
        try:
            spec = twin_spec(manifest)
        except InferenceError as exc:
            return f"has a TorchScript twin MedLens cannot use ({exc})"
        if spec is None:
            return f"{NO_TWIN} (Occlusion runs without one)"
    return None


def availability(manifest: Manifest | None) -> dict[str, str | None]:
    """Every method -> None when usable on ``manifest``'s plugin, else the reason (for a menu)."""
    if manifest is None:
        return dict.fromkeys(METHODS, "there is no plugin result to explain")
    return {method: unavailable_reason(manifest, method) for method in METHODS}
