"""Errors a PACS user can meet, each with a message a radiologist can act on.

Why a small hierarchy instead of the libraries' exceptions: ``requests``, ``dicomweb-client`` and
``pynetdicom`` report the same situations (server down, credentials refused, wrong AE title) in
very different ways; the CLI and the dock show one line, never a traceback, and tests check the
kind of failure, not a library's wording.
"""

from __future__ import annotations


class PacsError(Exception):
    """A PACS operation failed for a reason the user can understand (the message says which)."""


class PacsConfigError(PacsError):
    """A server entry is missing or incomplete (no URL, no AE title…)."""


class PacsUnreachable(PacsError):  # noqa: N818 - reads as a condition
    """Nothing answered: the server is down, the host/port is wrong, or the network is out."""


class PacsAuthError(PacsError):
    """The server refused the credentials (HTTP 401/403)."""


class PacsRejected(PacsError):  # noqa: N818 - reads as a condition
    """The server answered but refused the request (wrong AE title, unsupported SOP class, HTTP 4xx)."""


class RetrieveIncomplete(PacsError):  # noqa: N818 - reads as a condition
    """A retrieve stopped part-way. What arrived is kept in the cache; running it again resumes.

    ``received``/``expected`` count instances of the whole request; ``series`` maps series UIDs to
    (received, expected).
    """

    def __init__(
        self,
        message: str,
        received: int = 0,
        expected: int = 0,
        series: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        super().__init__(message)
        self.received = received
        self.expected = expected
        self.series = dict(series or {})


__all__ = [
    "PacsAuthError",
    "PacsConfigError",
    "PacsError",
    "PacsRejected",
    "PacsUnreachable",
    "RetrieveIncomplete",
]
