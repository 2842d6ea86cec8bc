"""The "Report correction" action: hands the untouched AI output and the user's edit to the store.

Kept thin on purpose - everything that can be tested without a window lives in
:func:`medlens.corrections.report_correction`. What it reads from the window:

* ``window.ai.last_result`` - the :class:`InferenceResult` (plugin id, class probabilities);
* ``window.ai.ai_label_map`` or ``window.segmentation.reviewed_ai`` - the untouched AI label map;
* ``window.segmentation.label_map`` - the edited copy (the Segmentation dock's editor);
* ``window.segmentation.class_box`` - the class the user chose, for classification plugins;
* ``window.volume`` - the series the AI ran on.

Editing time is measured from the moment the dock starts an editable copy (its ``editing_changed``
signal) to the report.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QAction

from medlens.app.errors import one_line
from medlens.corrections import CorrectionStore, report_correction

_EDIT_STARTED: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_TRACKED: weakref.WeakSet[Any] = weakref.WeakSet()


def _registry(window: Any) -> Any:
    reg = getattr(getattr(window, "ai", None), "registry", None)
    if reg is None:
        from medlens.inference.discovery import default_registry

        reg = default_registry()
    return reg


def report_from_window(window: Any, store: CorrectionStore | None = None, comment: str = "") -> str:
    """Store the correction shown in ``window``; returns the record id. Raises ValueError with a
    sentence for the status bar when there is nothing to report."""
    ai = getattr(window, "ai", None)
    panel = getattr(window, "segmentation", None)
    result = getattr(ai, "last_result", None)
    volume = getattr(window, "volume", None)
    if result is None or volume is None:
        raise ValueError("Run an AI plugin on this series first")
    manifest = _registry(window).manifest(result.plugin_id)
    started = _EDIT_STARTED.get(panel) if panel is not None else None
    seconds = time.monotonic() - started if started is not None else 0.0
    store = store or CorrectionStore()
    if manifest.task == "segmentation":
        ai_map = getattr(ai, "ai_label_map", None) or getattr(panel, "reviewed_ai", None)
        edited = getattr(panel, "label_map", None)
        if ai_map is None or edited is None:
            raise ValueError("Accept and edit the AI segmentation before reporting a correction")
        return report_correction(
            store,
            plugin_manifest=manifest,
            volume=volume,
            ai_output=ai_map,
            corrected=edited,
            editing_seconds=seconds,
            comment=comment,
        )
    box = getattr(panel, "class_box", None)
    chosen = box.currentText() if box is not None and box.currentText() else None
    return report_correction(
        store,
        plugin_manifest=manifest,
        volume=volume,
        ai_output=result,
        corrected=None,
        editing_seconds=seconds,
        corrected_class=chosen,
        comment=comment,
    )


def track_editing(window: Any) -> None:
    """Time edits from the Segmentation dock's ``editing_changed``; safe to call again (once per dock).

    Call it once the dock exists: the AI dock (and its action) is built before the Segmentation dock.
    """
    panel = getattr(window, "segmentation", None)
    signal = getattr(panel, "editing_changed", None)
    if signal is None or panel in _TRACKED:
        return
    _TRACKED.add(panel)
    signal.connect(lambda on: on and _EDIT_STARTED.__setitem__(panel, time.monotonic()))


def report_message(store: CorrectionStore, record_id: str) -> str:
    """The status-bar line after a report: "Correction #3 stored locally (Dice 0.83 vs AI)"."""
    records = store.records()
    n = len(records)
    record = next((r for r in records if r.id == record_id), None)
    if record is None:
        return f"Correction #{n} stored locally"
    if record.dice is not None:
        what = f"Dice {record.dice:.2f} vs AI"
    elif record.agree:
        what = f"agrees with the AI: {record.ai_class}"
    else:
        what = f"AI said {record.ai_class}, corrected to {record.corrected_class}"
    return f"Correction #{n} stored locally ({what})"


def make_report_action(
    window: Any,
    parent: Any = None,
    comment: Callable[[], str] | None = None,
    prepare: Callable[[], None] | None = None,
) -> QAction:
    """A "Report correction" QAction for the AI dock or a menu; reports with status-bar feedback.

    ``comment`` supplies the free-text comment, ``prepare`` runs first (e.g. a form copying the
    verdict into the Segmentation dock); ``action.last_record_id`` is the id of the last report.
    """
    action = QAction("Report &correction…", parent or window)
    action.setToolTip("Store the AI output and your correction locally (no identifiers) for fine-tuning")
    action.last_record_id = None
    track_editing(window)

    def trigger() -> None:
        show = getattr(window, "show_message", None) or (lambda text: None)
        action.last_record_id = None
        try:
            if prepare is not None:
                prepare()
            store = CorrectionStore()
            record_id = report_from_window(window, store, comment=comment() if comment is not None else "")
            text = report_message(store, record_id)
        except Exception as exc:  # a status line, never a crash of the GUI
            show(f"Correction not reported: {one_line(exc)}")
            return
        action.last_record_id = record_id
        show(text)

    action.triggered.connect(trigger)
    return action
