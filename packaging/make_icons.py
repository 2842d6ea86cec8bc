"""Render ``resources/medlens.svg`` into the raster icons the installers need (run once; outputs are kept).

medlens.png (256 px, window icon and Linux hicolor), medlens-48.png, medlens.ico (Windows, Inno Setup
and the .exe) and medlens.icns (macOS .app). Qt's own svg/ico/icns image plugins do the work.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def render(size: int):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(ROOT / "resources" / "medlens.svg"))
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 - needed for fonts/plugins
    res = ROOT / "resources"
    ok = render(256).save(str(res / "medlens.png"))
    ok &= render(48).save(str(res / "medlens-48.png"))
    ok &= render(256).save(str(res / "medlens.ico"), "ICO")
    ok &= render(512).save(str(res / "medlens.icns"), "ICNS")
    print("icons written" if ok else "some icons could not be written")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
