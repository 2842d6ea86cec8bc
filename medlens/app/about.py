"""Help ▸ About MedLens: versions of everything that draws or computes, licences, "Not for clinical use".

Versions come from distribution metadata where possible, so listing torch or onnxruntime does not
import them (torch alone takes seconds); a library that is not installed (torch in an ONNX-only
build) is listed as such, never an error.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Callable
from importlib import metadata, util
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

NOT_CLINICAL_HTML = (
    "<b>Not for clinical use.</b> MedLens is research and demonstration software, not a medical device: "
    "do not use it for diagnosis or treatment decisions. The AI models are research demos "
    "trained on small data; read their model cards."
)
SAMPLE_DATA_LICENCE = (
    "Sample study: chest CT with nodule mask (lung1) and T1 brain MR (brain1) from the pyradiomics 3.0.1 "
    "source distribution, © the pyradiomics developers, BSD 3-Clause licence; converted to DICOM by MedLens."
)


def _vtk_version() -> str:
    from vtkmodules.vtkCommonCore import vtkVersion

    return vtkVersion.GetVTKVersion()


def _qt_version() -> str:
    import PySide6
    from PySide6.QtCore import qVersion

    return f"{qVersion()} (PySide6 {PySide6.__version__})"


def _dist_version(dist: str, module: str) -> str | None:
    """The installed version of ``dist`` without importing it; None when it is not installed."""
    if util.find_spec(module) is None:
        return None
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        try:
            mod = __import__(module)
        except Exception:
            return "installed (version unknown)"
        return str(getattr(mod, "__version__", "installed (version unknown)"))


def component_versions() -> list[tuple[str, str]]:
    """(component, version) rows; missing optional parts say so."""
    from medlens import __version__

    rows: list[tuple[str, str]] = [("MedLens", __version__), ("Python", sys.version.split()[0])]
    getters: list[tuple[str, Callable[[], str]]] = [("Qt", _qt_version), ("VTK", _vtk_version)]
    for name, getter in getters:
        try:
            rows.append((name, getter()))
        except Exception as exc:
            rows.append((name, f"unavailable ({type(exc).__name__})"))
    for name, dist, module, missing in [
        ("SimpleITK", "SimpleITK", "SimpleITK", "not installed"),
        ("pydicom", "pydicom", "pydicom", "not installed"),
        ("NumPy", "numpy", "numpy", "not installed"),
        ("ONNX Runtime", "onnxruntime", "onnxruntime", "not installed: ONNX plugins cannot run"),
        ("PyTorch", "torch", "torch",
         "not included: TorchScript plugins and saliency maps are unavailable in this build"),
    ]:
        version = _dist_version(dist, module)
        rows.append((name, version if version is not None else missing))
    if getattr(sys, "frozen", False):
        rows.append(("Build", "stand-alone bundle (PyInstaller)"))
    return rows


def _card_licence(entry: Any) -> str:
    """The licence line of a plugin's model card, if it states one."""
    try:
        text = entry.manifest.model_card_path.read_text(encoding="utf-8")
    except Exception:
        return ""
    for line in text.splitlines():
        if re.search(r"licen[cs]e", line, re.IGNORECASE) and len(line) < 300:
            return line.strip(" #*-|")
    return ""


def model_licences(entries: list[Any] | None = None) -> list[tuple[str, str]]:
    """(plugin name, licence / origin) for each usable discovered plugin."""
    if entries is None:
        try:
            from medlens.inference.discovery import discover

            entries = discover()
        except Exception:
            entries = []
    rows = []
    for entry in entries:
        if entry.manifest is None:
            continue
        licence = _card_licence(entry) or "see its model card"
        rows.append((f"{entry.manifest.name} ({entry.source})", licence))
    return rows


def about_html(entries: list[Any] | None = None) -> str:
    from medlens import __version__

    def table(rows: list[tuple[str, str]]) -> str:
        cells = "".join(
            f"<tr><td style='padding-right:12px'>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>"
            for a, b in rows
        )
        return f"<table>{cells}</table>"

    models = model_licences(entries)
    model_part = table(models) if models else "<p>No AI plugins found.</p>"
    return (
        f"<h3>MedLens {html.escape(__version__)}</h3>"
        "<p>Desktop viewer for medical studies with local AI assist. "
        "MedLens itself: BSD 3-Clause licence.</p>"
        f"<p>{NOT_CLINICAL_HTML}</p>"
        f"<h4>Components</h4>{table(component_versions())}"
        f"<h4>Bundled data</h4><p>{html.escape(SAMPLE_DATA_LICENCE)}</p>"
        f"<h4>AI models</h4>{model_part}"
        "<p>Qt (LGPLv3), VTK (BSD-3), SimpleITK (Apache-2.0), pydicom (MIT), ONNX Runtime (MIT), "
        "PyTorch (BSD-3) keep their own licences.</p>"
    )


def show_about(parent: QWidget, entries: list[Any] | None = None) -> QMessageBox:
    """Open the About box (non-modal, deleted on close) and return it."""
    box = QMessageBox(parent)
    box.setWindowTitle("About MedLens")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_html(entries))
    try:
        from medlens.app.welcome import icon_path

        path = icon_path()
        if path is not None:
            from PySide6.QtGui import QPixmap

            box.setIconPixmap(QPixmap(str(path)).scaled(
                64, 64, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            ))
    except Exception:  # an icon is decoration only
        pass
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box
