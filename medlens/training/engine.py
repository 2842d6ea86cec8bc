"""Running a model through the MedLens engine exactly as the app will, for folds as for the shipped model.

Why: the card's figures must come from the plugin's documented preprocessing (``plugin.toml``), not
from a training-side re-implementation. Cross-validation folds are not shipped, so each fold's ONNX is
wrapped in a temporary copy of the plugin folder (same manifest, its own id, weights and sha256).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from medlens.inference import PluginRegistry
from medlens.training.export import sha256_of


def _only(folder: Path) -> PluginRegistry:
    """A registry that sees ``folder`` and nothing else (no built-ins, user folder or adapters)."""
    return PluginRegistry.discover([folder], builtin=False, user=False, entry_points=False, adapters=False)


def registry_for(
    plugin_dir: Path,
    weights: Path | None = None,
    suffix: str = "",
    slice_context: int | None = None,
    saliency: Path | None = None,
) -> tuple[PluginRegistry, str]:
    """A registry holding the plugin in ``plugin_dir`` (optionally with other ``weights``, and with
    them another ``slice_context`` for a 2D / 2.5D variant: num_channels follows; ``saliency``: the
    fold's TorchScript twin, so the engine's gradient saliency runs on the fold too).

    Returns the registry and the plugin id to run. The temporary folder lives as long as the process.
    """
    text = (plugin_dir / "plugin.toml").read_text(encoding="utf-8")
    plugin_id = re.search(r'^id\s*=\s*"([^"]+)"', text, re.M).group(1)  # type: ignore[union-attr]
    if weights is None:
        return _only(plugin_dir), plugin_id
    if slice_context is not None:  # rewrite the [input] table's two keys, nothing else
        head, rest = text.split("[input]\n", 1)
        table, sep, tail = rest.partition("\n[")
        table = re.sub(r"^(num_channels|slice_context)\s*=.*(\n|$)", "", table, flags=re.M)
        keys = f"num_channels = {2 * slice_context + 1}\nslice_context = {slice_context}\n"
        text = f"{head}[input]\n{keys}{table}{sep}{tail}"
    tmp = Path(tempfile.mkdtemp(prefix="medlens-fold-")) / plugin_dir.name
    tmp.mkdir(parents=True)
    new_id = f"{plugin_id}.{suffix or 'fold'}"
    text = re.sub(r'^id\s*=\s*"[^"]+"', f'id = "{new_id}"', text, count=1, flags=re.M)
    text = re.sub(
        r'(\[weights\][^\[]*?file\s*=\s*")[^"]+(")', r"\g<1>model.onnx\g<2>", text, count=1, flags=re.S
    )
    text = re.sub(r'(\[weights\][^\[]*?sha256\s*=\s*")[0-9a-fA-F]*(")', rf"\g<1>{sha256_of(weights)}\g<2>",
                  text, count=1, flags=re.S)
    text = re.sub(r"\n\[extra_weights[^\n]*\n(?:[^\[\n][^\n]*\n?)*", "\n", text)
    if saliency is not None:
        shutil.copy(saliency, tmp / "model.pt")
        text += f'\n[extra_weights.saliency]\nfile = "model.pt"\nsha256 = "{sha256_of(saliency)}"\n'
    (tmp / "plugin.toml").write_text(text, encoding="utf-8")
    shutil.copy(weights, tmp / "model.onnx")
    for card in plugin_dir.glob("MODEL_CARD.md"):
        shutil.copy(card, tmp / card.name)
    return _only(tmp), new_id
