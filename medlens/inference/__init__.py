"""Plugin runtime and inference engine (no Qt here; the app wraps jobs with signals).

Public API::

    from medlens.inference import discover, PluginRegistry, run_plugin, RunOptions, InferenceResult
    from medlens.inference.commands import plugins_list, plugins_show, run_infer
"""

from medlens.inference.discovery import PluginEntry, PluginRegistry, default_registry, discover
from medlens.inference.errors import (
    InferenceCancelled,
    InferenceError,
    ManifestError,
    OutOfMemory,
    PluginLoadError,
    WeightsError,
)
from medlens.inference.jobs import Job
from medlens.inference.manifest import Manifest, load_manifest, parse_manifest
from medlens.inference.runner import InferenceResult, RunOptions, run_plugin

__all__ = [
    "InferenceCancelled",
    "InferenceError",
    "InferenceResult",
    "Job",
    "Manifest",
    "ManifestError",
    "OutOfMemory",
    "PluginEntry",
    "PluginLoadError",
    "PluginRegistry",
    "RunOptions",
    "WeightsError",
    "default_registry",
    "discover",
    "load_manifest",
    "parse_manifest",
    "run_plugin",
]
