"""Exceptions of the inference package.

Every error a user can cause (unknown plugin, wrong modality, a tampered weights file, running out of
memory with no way out) is an :class:`InferenceError` whose ``str()`` is one readable line, so the app
and the command line show it as it is, never as a traceback.
"""

from __future__ import annotations


class InferenceError(Exception):
    """A problem the user can understand and act on; ``str(err)`` is the message to show."""


class ManifestError(InferenceError):
    """A ``plugin.toml`` that does not follow the contract; the message lists every problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


class WeightsError(InferenceError):
    """Weights missing, unreadable, or with a sha256 that differs from the manifest's."""


class PluginLoadError(InferenceError):
    """The runtime could not open a plugin's model (corrupt file, unsupported operator...)."""


class InferenceCancelled(InferenceError):  # noqa: N818 - the name users and callers expect
    """Raised between windows when the job's cancel event is set."""

    def __init__(self, message: str = "inference cancelled") -> None:
        super().__init__(message)


class OutOfMemory(InferenceError):  # noqa: N818
    """No device and no batch size was small enough; the message says what to try."""
