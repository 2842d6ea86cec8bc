"""The local correction loop: store what users corrected, export it de-identified, fine-tune on it.

Qt-free. :func:`report_correction` is what the app calls; :class:`CorrectionStore` is the crash-safe
SQLite + files store; :func:`export_bundle` writes the de-identified NIfTI + JSON bundle; fine-tuning
lives in :mod:`medlens.corrections.finetune` (imports torch, so it is not imported here).
"""

from medlens.corrections.export import export_bundle
from medlens.corrections.report import report_correction
from medlens.corrections.store import CorrectionRecord, CorrectionStore, StoreError, default_store_dir

__all__ = [
    "CorrectionRecord",
    "CorrectionStore",
    "StoreError",
    "default_store_dir",
    "export_bundle",
    "report_correction",
]
