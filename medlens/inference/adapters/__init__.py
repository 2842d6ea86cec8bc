"""Adapters: third-party model packages presented as MedLens plugins through the same contract.

An adapter contributes a manifest (built in code, pointing at the package's own weights with their
sha256) and a *pipeline*: the pre/post-processing the package's models were trained with, run on
sessions from our runtimes. Discovery only asks whether the package's distribution is installed
(``importlib.metadata``); nothing is imported until the plugin runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from medlens.inference.errors import InferenceError

if TYPE_CHECKING:
    from medlens.inference.discovery import PluginEntry
    from medlens.inference.runner import InferenceResult, PipelineContext

Pipeline = Callable[["PipelineContext"], "InferenceResult"]

# adapter name -> module (each exposes ``entry() -> PluginEntry | None`` and ``pipeline(ctx)``)
ADAPTERS: dict[str, str] = {"deepbet": "medlens.inference.adapters.deepbet"}


def adapter_entries() -> list[PluginEntry]:
    """Plugin entries for every adapter whose package is installed (broken ones with their reason)."""
    import importlib

    from medlens.inference.discovery import PluginEntry

    entries: list[PluginEntry] = []
    for name, module_name in ADAPTERS.items():
        try:
            entry = importlib.import_module(module_name).entry()
        except Exception as exc:  # an adapter must never break discovery
            entry = PluginEntry(name, "adapter", None, None, f"adapter {name} failed: {exc}")
        if entry is not None:
            entries.append(entry)
    return entries


def get_pipeline(name: str) -> Pipeline:
    """The pipeline function of adapter ``name``."""
    import importlib

    if name not in ADAPTERS:
        raise InferenceError(f"unknown pipeline {name!r} (known: {', '.join(ADAPTERS)})")
    return importlib.import_module(ADAPTERS[name]).pipeline
