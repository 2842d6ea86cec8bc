"""Exceptions the readers raise.

Why two: a :class:`LoadError` is the user's problem (a file that cannot be read) and its message is
shown as is, so it is one line and names the file; a :class:`LoadCancelled` is the user's choice
and must never be reported as a failure.
"""

from __future__ import annotations


class LoadError(Exception):
    """A study could not be read; the message is one user-facing line that names the file."""


class LoadCancelled(Exception):  # noqa: N818 - public name fixed by the API
    """A load was cancelled through its ``cancel`` event before it finished."""


def one_line(path: object, reason: object) -> str:
    """``"<path>: <reason>"`` on one line, whatever the reason's text looks like."""
    text = " ".join(str(reason).split()) or type(reason).__name__
    return f"{path}: {text}"


__all__ = ["LoadCancelled", "LoadError", "one_line"]
