"""Entry point of the frozen (PyInstaller) MedLens: the ``medlens`` command, plus double-click rules.

* no arguments (double-click on the icon, the desktop entry, the Start menu) → the viewer window
  with its welcome page;
* a first argument that is not a command (a file manager's "Open with MedLens" on ``.dcm`` /
  ``.nii`` / ``.nii.gz``, a file dropped on the icon) → ``medlens view`` those paths;
* anything else is the ordinary command line (``medlens infer …``, ``medlens screenshot …``).
"""

from __future__ import annotations

import multiprocessing
import sys


def frozen_argv(argv: list[str], commands: set[str]) -> list[str]:
    """The command line the frozen app runs for ``argv`` (without the program name)."""
    if not argv:
        return ["view"]
    first = argv[0]
    if first.startswith("-psn_"):  # old macOS Finder adds a process serial number
        return frozen_argv(argv[1:], commands)
    if first.startswith("-") or first in commands:
        return argv
    return ["view", *argv]


def gui_smoke(out: str, timeout_ms: int = 180_000) -> int:
    """``medlens --smoke-gui OUT.png``: the window a double-click opens, driven like a first-time user.

    Starts the main window with its welcome page, clicks "Open sample study", waits for the series
    to load, writes a snapshot of the whole window to OUT.png and prints one JSON line of what it
    saw. Used by ``packaging/smoke_test.py`` on the frozen build (headless: offscreen + OSMesa).
    """
    import json

    from medlens.app.viewer_entry import _prepare_headless_vtk, display_problem

    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    _prepare_headless_vtk()
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from medlens.app.main_window import MainWindow
    from medlens.app.persist import install_persistence
    from medlens.app.welcome import install_welcome

    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow()
    install_persistence(window)
    page = install_welcome(window)
    window.resize(1280, 860)
    window.show()
    app.processEvents()
    report = {
        "welcome_shown": window.central_stack.currentWidget() is page,
        "sample_enabled": page.sample_button.isEnabled(),
        "sample_dir": str(page.sample_dir),
        "pacs_enabled": page.pacs_button.isEnabled(),
        "pacs_reason": page.pacs_reason,
        "plugins": sorted(page.card_buttons),
    }
    window.snapshot().save(str(out).removesuffix(".png") + "-welcome.png")
    loop = QEventLoop()
    outcome: dict[str, str] = {}
    window.load_finished.connect(
        lambda v: (outcome.setdefault("done", v.meta.series_description or "series"), loop.quit())
    )
    window.load_failed.connect(lambda text: (outcome.setdefault("failed", text), loop.quit()))
    QTimer.singleShot(timeout_ms, loop.quit)
    page.sample_button.click()
    loop.exec()
    app.processEvents()
    report["views_shown"] = window.central_stack.currentWidget() is window.views_widget
    report["loaded"] = outcome.get("done")
    report["error"] = outcome.get("failed")
    if window.volume is not None:
        report["shape_xyz"] = list(window.volume.shape_xyz)
        window.snapshot().save(out)
        report["snapshot"] = out
    about = None
    try:
        window.show_about()
        about = window.about_box.text()
        window.about_box.close()
    except Exception as exc:
        report["about_error"] = repr(exc)
    report["about_not_for_clinical_use"] = bool(about and "Not for clinical use" in about)
    window.close()
    window.shutdown()
    print("SMOKE " + json.dumps(report))
    return 0 if report["loaded"] else 1


def main() -> int:
    multiprocessing.freeze_support()  # a no-op unless a worker process is spawned (Windows/macOS)
    if len(sys.argv) == 3 and sys.argv[1] == "--smoke-gui":
        return gui_smoke(sys.argv[2])
    from medlens.app.cli import build_parser
    from medlens.app.cli import main as cli_main

    parser = build_parser()
    commands: set[str] = set()
    for action in parser._subparsers._group_actions if parser._subparsers else []:  # type: ignore[union-attr]
        commands.update(getattr(action, "choices", {}) or {})
    return cli_main(frozen_argv(sys.argv[1:], commands))


if __name__ == "__main__":
    raise SystemExit(main())
