"""``medlens pacs …``: servers, echo, query, retrieve and send from the command line.

Why secrets are never arguments: a password on the command line shows in ``ps``, shell history and
CI logs, so ``servers add`` reads it from standard input (``--secret-stdin``) or prompts for it.
Failures end as one line and exit code 3 (the CLI's "wrong input" code); a partial retrieve says how
much arrived and that running it again resumes.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .backend import PacsBackend, connect_named
from .config import AUTH_KINDS, ServerConfig, ServerRegistry
from .errors import PacsError
from .records import QueryFilters

EXIT_OK = 0
EXIT_PACS = 3


def _progress(label: str) -> Callable[[int, int], None] | None:
    """A progress bar on stderr when it is a terminal (``--progress`` forces it)."""
    force = os.environ.get("MEDLENS_PROGRESS") == "1"
    if not (force or sys.stderr.isatty()):
        return None

    def report(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        end = "\n" if done >= total else ""
        print(
            f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return report


def _backend(args: argparse.Namespace) -> PacsBackend:
    return connect_named(args.server, ServerRegistry(), args.protocol)


# -- servers -------------------------------------------------------------------------------------
def cmd_servers_list(args: argparse.Namespace) -> int:
    servers = ServerRegistry().servers()
    if args.json:
        print(json.dumps([asdict(s) for s in servers.values()], indent=2))
    elif not servers:
        print(
            "no PACS configured; add one with "
            "`medlens pacs servers add NAME --url … | --aet … --host … --port …`"
        )
    for s in servers.values() if not args.json else ():
        print(s.describe())
    return EXIT_OK


def cmd_servers_add(args: argparse.Namespace) -> int:
    server = ServerConfig(
        name=args.name,
        dicomweb_url=args.url or "",
        ae_title=args.aet or "",
        host=args.host or "",
        port=args.port or 0,
        calling_ae=args.calling_aet,
        auth=args.auth,
        username=args.user or "",
        verify_tls=not args.no_verify_tls,
        ca_bundle=args.ca_bundle or "",
        timeout_s=args.timeout,
        retrieve_via=args.retrieve_via,
        move_port=args.move_port or 0,
    )
    if not (server.has_dicomweb or server.has_dimse):
        raise PacsError("give a DICOMweb --url, or --aet with --host and --port (or both)")
    secret = None
    if server.auth != "none":
        what = "password" if server.auth == "basic" else "token"
        secret = sys.stdin.readline().rstrip("\n") if args.secret_stdin else getpass.getpass(f"{what}: ")
        if not secret:
            raise PacsError(f"no {what} given")
    registry = ServerRegistry()
    registry.save(server, secret)
    where = (
        ""
        if secret is None
        else f"; {('password' if server.auth == 'basic' else 'token')} kept in "
        + (
            "the OS keyring"
            if registry.secrets.backend == "keyring"
            else f"{registry.secrets.path} (mode 0600)"
        )
    )
    print(f"saved {server.describe()}{where}")
    return EXIT_OK


def cmd_servers_remove(args: argparse.Namespace) -> int:
    if not ServerRegistry().remove(args.name):
        raise PacsError(f"no PACS named {args.name!r}")
    print(f"removed {args.name}")
    return EXIT_OK


# -- echo / query ----------------------------------------------------------------------------------
def cmd_echo(args: argparse.Namespace) -> int:
    backend = _backend(args)
    backend.echo()
    print(f"{backend.server.name}: {backend.protocol} OK")
    return EXIT_OK


def cmd_query(args: argparse.Namespace) -> int:
    backend = _backend(args)
    filters = QueryFilters(
        patient=args.patient or "",
        patient_id=args.patient_id or "",
        modality=args.modality or "",
        date=args.date or "",
        study_uid=args.study_uid or "",
        limit=args.limit,
    )
    if args.series:
        if not filters.study_uid:
            raise PacsError("--series lists the series of one study: give --study-uid")
        series = backend.find_series(filters.study_uid, filters.modality)
        if args.json:
            print(json.dumps([asdict(s) for s in series], indent=2))
        for s in series if not args.json else ():
            print(
                f"{s.series_uid}  {s.modality:<4} #{s.number if s.number is not None else '-'} "
                f"{s.description or '(no description)'}  {s.n_instances or '?'} instance(s)"
            )
        return EXIT_OK
    studies = backend.find_studies(filters)
    if args.json:
        print(json.dumps([asdict(s) for s in studies], indent=2))
        return EXIT_OK
    if not studies:
        print("no matching studies")
    for s in studies:
        print(
            f"{s.study_uid}  {s.study_date or '--------'}  {s.patient_name or '?'} ({s.patient_id or '?'})  "
            f"{'/'.join(s.modalities) or '?'}  {s.description or ''}".rstrip()
        )
    return EXIT_OK


# -- retrieve / send -------------------------------------------------------------------------------
def cmd_retrieve(args: argparse.Namespace) -> int:
    from .retrieve import retrieve_study

    backend = _backend(args)
    try:
        result = retrieve_study(
            backend,
            args.study_uid,
            Path(args.out),
            series_uids=args.series or None,
            progress=_progress("retrieving"),
            build_volumes=False,
        )
    finally:
        backend.close()
    for s in result.series:
        print(
            f"{s.directory}  {s.modality or '?'} {s.description or '(no description)'}: "
            f"{s.received}/{s.expected} instance(s) ({s.fetched} fetched now)"
        )
    return EXIT_OK


def dicom_files(paths: list[str]) -> list[Path]:
    """Every DICOM file under ``paths`` (folders recursively), by the 'DICM' marker."""
    out: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise PacsError(f"{p}: no such file or folder")
        for f in sorted(p.rglob("*")) if p.is_dir() else [p]:
            if f.is_file() and not f.name.startswith("."):
                with f.open("rb") as fh:
                    head = fh.read(132)
                if head[128:132] == b"DICM":
                    out.append(f)
    return out


def cmd_send(args: argparse.Namespace) -> int:
    files = dicom_files(args.paths)
    if not files:
        raise PacsError(f"no DICOM files in {', '.join(args.paths)}")
    backend = _backend(args)
    try:
        n = backend.store(files, progress=_progress("sending"))
    finally:
        backend.close()
    print(f"sent {n} instance(s) to {backend.server.name} over {backend.protocol}")
    return EXIT_OK


def _guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """PACS failures become the CLI's one-line errors."""

    def run(args: argparse.Namespace) -> int:
        from ..app.cli import CliError

        try:
            return fn(args)
        except PacsError as exc:
            raise CliError(str(exc), EXIT_PACS) from exc

    return run


def add_parser(sub: Any) -> None:
    """Register ``pacs`` and its actions on the top-level sub-parsers of ``medlens``."""
    p = sub.add_parser("pacs", help="query, retrieve from and send to a PACS (DICOMweb or DIMSE)")
    psub = p.add_subparsers(dest="pacs_command", required=True, metavar="ACTION")

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--server", help="configured PACS name (default: the first one)")
        q.add_argument(
            "--protocol", choices=("dicomweb", "dimse"), help="default: DICOMweb when the server has a URL"
        )

    s = psub.add_parser("servers", help="list, add or remove PACS servers")
    ssub = s.add_subparsers(dest="servers_command", required=True, metavar="ACTION")
    q = ssub.add_parser("list", help="the configured servers (no secrets)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_guard(cmd_servers_list))
    q = ssub.add_parser("add", help="add or replace a server")
    q.add_argument("name")
    q.add_argument("--url", help="DICOMweb base URL, e.g. https://pacs/dicom-web")
    q.add_argument("--aet", help="the PACS's AE title (DIMSE)")
    q.add_argument("--host")
    q.add_argument("--port", type=int)
    q.add_argument("--calling-aet", default="MEDLENS", help="our AE title as registered on the PACS")
    q.add_argument("--auth", choices=AUTH_KINDS, default="none")
    q.add_argument("--user", help="user name for basic auth")
    q.add_argument("--secret-stdin", action="store_true", help="read the password/token from stdin")
    q.add_argument("--no-verify-tls", action="store_true", help="accept any certificate (unsafe)")
    q.add_argument("--ca-bundle", help="CA certificates file for an in-house authority")
    q.add_argument("--timeout", type=float, default=30.0)
    q.add_argument(
        "--retrieve-via", choices=("get", "move"), default="get", help="DIMSE retrieve: C-GET or C-MOVE"
    )
    q.add_argument("--move-port", type=int, help="our storage port for C-MOVE")
    q.set_defaults(func=_guard(cmd_servers_add))
    q = ssub.add_parser("remove", help="forget a server and its secret")
    q.add_argument("name")
    q.set_defaults(func=_guard(cmd_servers_remove))

    q = psub.add_parser("echo", help="check the PACS answers (C-ECHO or a QIDO request)")
    common(q)
    q.set_defaults(func=_guard(cmd_echo))

    q = psub.add_parser("query", help="find studies (QIDO-RS or C-FIND)")
    common(q)
    q.add_argument("--patient", help="patient name (wildcards *) or ID")
    q.add_argument("--patient-id")
    q.add_argument("--modality", help="e.g. CT, MR, SEG")
    q.add_argument("--date", help="YYYYMMDD or YYYYMMDD-YYYYMMDD")
    q.add_argument("--study-uid")
    q.add_argument("--series", action="store_true", help="list the series of --study-uid instead")
    q.add_argument("--limit", type=int, default=200)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_guard(cmd_query))

    q = psub.add_parser("retrieve", help="download a study into a folder (resumes if interrupted)")
    common(q)
    q.add_argument("study_uid")
    q.add_argument("--out", required=True, help="cache folder: OUT/<study>/<series>/<instance>.dcm")
    q.add_argument("--series", action="append", help="only this series UID (repeatable)")
    q.set_defaults(func=_guard(cmd_retrieve))

    q = psub.add_parser("send", help="send DICOM files or folders (e.g. a DICOM SEG) to the PACS")
    common(q)
    q.add_argument("paths", nargs="+")
    q.set_defaults(func=_guard(cmd_send))


__all__ = ["add_parser", "dicom_files"]
