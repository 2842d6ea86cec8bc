"""The AI dock's "Explain" section (saliency map + its sanity check) and "Report correction" form.

Explain
-------
Offered after a classification or segmentation result (``window.ai.last_result``). Pick a method
(Integrated Gradients, GradCAM, Occlusion, a classifier's own evidence map; the ones the plugin cannot
do are greyed with the reason, e.g. no TorchScript twin -> only Occlusion), a scope (classification:
the current slice, or every slice whose score for the class shown in the AI dock is >= the plugin's
threshold; segmentation: the current slice or the whole series, for the label picked) and Run. The
map is computed by :func:`medlens.inference.saliency.compute_saliency` in a background
:class:`~medlens.app.jobs.Job` (progress + Cancel) and drawn as a heatmap layer on every slice pane
(colour map :data:`SALIENCY_CMAP`; opacity/threshold through an
:class:`~medlens.app.overlay_controls.OverlayControls`). Every map comes with its sanity check:
similarity to the weight-randomised model, deletion AUC vs random order, and a PASSED / FAILED badge
with the note. Errors are one line in the section.

Report correction
-----------------
A small inline (non-modal) form: agree / disagree with the AI class (classification), the correct
class, a comment, and a button bound to :func:`medlens.app.corrections_actions.make_report_action`
(the same action is in the AI menu). Enabled only when there is an AI result and, for segmentation,
an edited segmentation (accepted and changed in the Segmentation dock) or, for classification, a
verdict. The outcome ("Correction #N stored locally (Dice 0.83 vs AI)") goes to the status bar.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from medlens.app.busy import error_line, show_busy, show_status
from medlens.app.jobs import Job, JobContext
from medlens.app.overlay_controls import OverlayControls
from medlens.inference.saliency.methods import METHOD_NAMES

log = logging.getLogger(__name__)

SALIENCY_CMAP = "hot"
DEFAULT_THRESHOLD_FRACTION = 0.2  # values below this fraction of the map's maximum start transparent
SCOPE_CURRENT = "current"
SCOPE_LESION = "lesion"
SCOPE_ALL = "all"
ROLE = Qt.ItemDataRole.UserRole
BADGE_STYLE = {
    True: "QLabel { background: #1b7f3b; color: white; font-weight: bold; padding: 2px 6px; }",
    False: "QLabel { background: #b3261e; color: white; font-weight: bold; padding: 2px 6px; }",
    None: "QLabel { background: #777; color: white; font-weight: bold; padding: 2px 6px; }",
}


def method_availability(manifest: Any) -> dict[str, str | None]:
    """Saliency method -> None when ``manifest``'s plugin can use it, else the reason (a tooltip).

    The rule and its wording are the engine's (:mod:`medlens.inference.saliency.availability`), so
    a method offered here is never refused when it runs.
    """
    from medlens.inference.saliency.availability import availability

    found = availability(manifest)
    if manifest is None:
        return found
    return {method: None if reason is None else f"The plugin {reason}" for method, reason in found.items()}


def sanity_text(report: Any) -> tuple[str, str]:
    """(badge text, figures line) for a :class:`~medlens.inference.saliency.SanityReport` or None."""
    if report is None:
        return "NOT CHECKED", "no sanity check: nothing was explained"
    sim = report.similarity_to_random_model
    sim_text = "not run" if sim is None else f"{sim:.2f}"
    figures = (
        f"Similarity to weight-randomised model: {sim_text} (should be low) · "
        f"deletion AUC {report.deletion_auc:.3f} vs random {report.random_deletion_auc:.3f} (should be lower)"
    )
    return ("PASSED" if report.passed else "FAILED"), figures


class ExplainSection(QGroupBox):
    """The "Explain" box in the AI dock (``window.ai.explain``)."""

    explained = Signal(object)  # SaliencyResult, once it is on the panes
    explain_failed = Signal(str)
    explain_cancelled = Signal()

    def __init__(self, ai: Any, parent: QWidget | None = None) -> None:
        super().__init__("Explain (saliency)", parent)
        self.ai = ai
        self.job: Job | None = None
        self._job_key: tuple[Any, Any] | None = None
        self.result: Any = None  # the last SaliencyResult shown
        self.heatmap: Any = None  # its heatmap, as put on the panes
        self.availability: dict[str, str | None] = {}
        self.last_message = ""
        self._build()
        self.setVisible(False)

    # -- construction -------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.method_combo = QComboBox(self)
        for method, label in METHOD_NAMES.items():
            self.method_combo.addItem(label, method)
        self.method_combo.setToolTip("How the map is computed; greyed methods say why on hover")
        form.addRow("Method", self.method_combo)
        self.scope_combo = QComboBox(self)
        form.addRow("Scope", self.scope_combo)
        self.label_combo = QComboBox(self)
        self.label_combo.setToolTip("The label whose predicted region is explained")
        self.label_row_label = QLabel("Label", self)
        form.addRow(self.label_row_label, self.label_combo)
        lay.addLayout(form)
        row = QHBoxLayout()
        self.run_button = QPushButton("Explain", self)
        self.run_button.setToolTip("Compute the saliency map and its sanity check in the background")
        self.run_button.clicked.connect(lambda: self.run())
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.remove_button = QPushButton("Remove map", self)
        self.remove_button.clicked.connect(lambda: self.remove_map())
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.remove_button)
        row.addWidget(self.progress, 1)
        lay.addLayout(row)
        self.status = QLabel("", self)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.status)
        # the sanity check, shown with every map
        sanity = QHBoxLayout()
        sanity.addWidget(QLabel("Sanity check:", self))
        self.badge = QLabel("", self)
        self.badge.setToolTip(
            "Adebayo et al. 2018: the map must change when the model's weights are randomised, and "
            "deleting the most salient pixels must lower the score faster than deleting random ones"
        )
        sanity.addWidget(self.badge)
        sanity.addStretch(1)
        lay.addLayout(sanity)
        self.figures = QLabel("", self)
        self.figures.setWordWrap(True)
        lay.addWidget(self.figures)
        self.note = QLabel("", self)
        self.note.setWordWrap(True)
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.note)
        self.controls = OverlayControls(self.ai.overlay_views, self.ai._redraw, self)
        forms = self.controls.findChildren(QFormLayout)
        for w in (self.controls.opacity, self.controls.outline):  # a heatmap only: no label rows
            w.hide()
            for f in forms:
                form_label = f.labelForField(w)
                if form_label is not None:
                    form_label.hide()
        lay.addWidget(self.controls)
        self._set_running(False)
        self._show_sanity(None, shown=False)

    # -- following the AI result --------------------------------------------------------------
    def _manifest(self) -> Any:
        result = self.ai.last_result
        return self.ai._manifest(result.plugin_id) if result is not None else None

    def result_changed(self, result: Any = None) -> None:
        """A new AI result is shown: offer Explain for classification and segmentation."""
        result = self.ai.last_result
        task = getattr(result, "task", None)
        self.setVisible(task in ("classification", "segmentation"))
        if task not in ("classification", "segmentation"):
            return
        manifest = self._manifest()
        self.availability = method_availability(manifest)
        model = self.method_combo.model()
        first_ok = None
        for i in range(self.method_combo.count()):
            method = self.method_combo.itemData(i)
            reason = self.availability.get(method)
            item = model.item(i)
            item.setEnabled(reason is None)
            label = METHOD_NAMES[method]
            item.setText(label if reason is None else f"{label} — unavailable")
            item.setToolTip(reason or f"{label} on {result.plugin_id}")
            if reason is None and first_ok is None:
                first_ok = i
        current = self.method_combo.currentData()
        if self.availability.get(current) is not None and first_ok is not None:
            self.method_combo.setCurrentIndex(first_ok)
        dims2 = manifest is not None and manifest.input.dims == 2
        self.scope_combo.clear()
        if task == "classification":
            thr = self._score_threshold()
            self.scope_combo.addItem("Current slice", SCOPE_CURRENT)
            self.scope_combo.addItem(f"All slices with score ≥ {thr:.2f}", SCOPE_LESION)
        else:
            self.scope_combo.addItem("Current slice", SCOPE_CURRENT)
            self.scope_combo.addItem("Whole series", SCOPE_ALL)
        self.scope_combo.setEnabled(dims2)
        if not dims2:
            self.scope_combo.setToolTip("A 3D model is explained on its whole input")
        self.label_combo.clear()
        if task == "segmentation" and manifest is not None:
            for lab in manifest.output.labels:
                self.label_combo.addItem(f"{lab.name} ({lab.value})", lab.value)
        seg = task == "segmentation"
        self.label_combo.setVisible(seg)
        self.label_row_label.setVisible(seg)
        self._say("" if first_ok is not None else "No saliency method is available for this plugin")
        self._set_running(False)

    def _score_threshold(self) -> float:
        manifest = self._manifest()
        thr = getattr(getattr(manifest, "options", None), "threshold", None)
        return float(thr) if thr is not None else 0.5

    # -- running ------------------------------------------------------------------------------
    def _current_slice(self) -> int:
        volume = self.ai.volume
        k = self.ai._current_slice()
        if k is None:
            axial = self.ai.window.panes.get("axial")
            view = getattr(axial, "view", None)
            k = getattr(view, "slice_index", None)
        if k is None:
            k = volume.array.shape[0] // 2 if volume is not None else 0
        n = volume.array.shape[0] if volume is not None else 1
        return int(min(max(k, 0), n - 1))

    def request(self) -> dict[str, Any] | None:
        """The keyword arguments of :func:`compute_saliency` for what the section shows, or None
        (with a one-line reason) when nothing can be explained."""
        result, volume = self.ai.last_result, self.ai.volume
        if result is None or volume is None or result.task not in ("classification", "segmentation"):
            self._say("Run a classification or segmentation plugin first")
            return None
        method = self.method_combo.currentData()
        reason = self.availability.get(method, "unknown method")
        if reason is not None:
            self._say(f"{METHOD_NAMES.get(method, method)}: {reason}")
            return None
        kwargs: dict[str, Any] = {"method": method}
        scope = self.scope_combo.currentData()
        if self.scope_combo.isEnabled():
            if scope == SCOPE_CURRENT:
                kwargs["slices"] = [self._current_slice()]
            elif scope == SCOPE_LESION:
                scores = self.ai.slice_scores
                thr = self._score_threshold()
                zs = [] if scores is None else [int(k) for k in np.flatnonzero(np.asarray(scores) >= thr)]
                if not zs:
                    self._say(f"No slice has a score ≥ {thr:.2f}; explain the current slice instead")
                    return None
                kwargs["slices"] = zs
        if result.task == "classification":
            kwargs["target"] = max(self.ai.class_combo.currentIndex(), 0)
        elif self.label_combo.count():
            kwargs["label"] = self.label_combo.currentData()
        return kwargs

    def run(self, **overrides: Any) -> Job | None:
        """Explain the AI result shown (method/scope from the controls, ``overrides`` win)."""
        from medlens.inference.errors import InferenceCancelled, InferenceError

        if self.job is not None and self.job.is_running:
            self._say("A map is already being computed; cancel it first")
            return None
        kwargs = self.request()
        if kwargs is None:
            return None
        kwargs.update(overrides)
        i = self.method_combo.findData(kwargs["method"])
        if i >= 0 and i != self.method_combo.currentIndex():
            self.method_combo.setCurrentIndex(i)
        result, volume, registry = self.ai.last_result, self.ai.volume, self.ai.registry
        plugin_id = result.plugin_id

        def work(ctx: JobContext) -> Any:
            from medlens.inference.saliency import compute_saliency

            return compute_saliency(
                plugin_id,
                volume,
                registry=registry,
                progress=ctx.progress,
                cancel=ctx.cancel_event,
                **kwargs,
            )

        job = Job(
            work,
            name=f"saliency:{plugin_id}",
            cancel_exceptions=(InferenceCancelled,),
            expected_errors=(InferenceError, MemoryError),
            message_for=error_line,
        )
        job.progress.connect(self._on_progress)
        job.finished.connect(lambda payload, j=job: self._on_finished(j, payload))
        job.failed.connect(lambda text, _exc, j=job: self._on_failed(j, text))
        job.cancelled.connect(lambda j=job: self._on_cancelled(j))
        self.job = job
        self._job_key = (result, volume)
        label = METHOD_NAMES[kwargs["method"]]
        self._set_running(True, f"{label}…")
        where = kwargs.get("slices")
        scope = f" on {len(where)} slice(s)" if where is not None else ""
        self._say(f"Computing {label}{scope} and its sanity check…")
        job.start()
        return job

    def cancel(self) -> None:
        if self.job is not None and self.job.is_running:
            self.job.cancel()
            self._say("Cancelling…")

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _on_finished(self, job: Job, saliency: Any) -> None:
        if job is not self.job:
            return
        self._set_running(False)
        if self._job_key != (self.ai.last_result, self.ai.volume):
            self._say("The AI result changed while the map was computed; map discarded")
            return
        try:
            self.show_saliency(saliency)
        except Exception as exc:  # showing must not crash the window
            log.exception("showing the saliency map failed")
            self._say(f"Could not show the map: {error_line(exc)}")
            self.explain_failed.emit(error_line(exc))
            return
        self.explained.emit(saliency)

    def _on_failed(self, job: Job, text: str) -> None:
        if job is not self.job:
            return
        self._set_running(False)
        self._say(f"Explain failed: {text}")
        self.explain_failed.emit(text)

    def _on_cancelled(self, job: Job) -> None:
        if job is not self.job:
            return
        self._set_running(False)
        self._say("Explain cancelled; nothing was changed")
        self.explain_cancelled.emit()

    def _set_running(self, running: bool, text: str = "") -> None:
        show_busy(self.progress, self.cancel_button, running, text)
        ok = self.availability.get(self.method_combo.currentData()) is None and bool(self.availability)
        self.run_button.setEnabled(not running and ok)
        self.remove_button.setEnabled(not running and self.heatmap is not None)

    def _say(self, text: str) -> None:
        self.last_message = text
        show_status(self.status, text)
        show = getattr(self.ai.window, "show_message", None)
        if show is not None and text:
            show(text)

    # -- showing ------------------------------------------------------------------------------
    def show_saliency(self, saliency: Any) -> None:
        """Put ``saliency.heatmap`` on every slice pane and show its sanity check."""
        from medlens.viewer.render.heatmap_overlay import heatmap_range

        hm = saliency.heatmap
        lo, hi = heatmap_range(hm)
        threshold = DEFAULT_THRESHOLD_FRACTION * hi if hi > 0 else None
        self.result = saliency
        self.heatmap = hm
        controls = self.controls
        for view in self.ai.overlay_views():
            view.set_heatmap(hm, SALIENCY_CMAP, controls.heatmap_opacity, threshold)
        controls.set_heatmap(hm, (lo, hi), threshold, SALIENCY_CMAP)
        if not controls.heat_visible.isChecked():
            controls.heat_visible.setChecked(True)
        self._show_sanity(saliency.sanity)
        # show a slice the map covers when the current one is empty
        k = self._current_slice()
        if hm.array.ndim == 3 and not np.any(hm.array[k]) and np.any(hm.array):
            per_slice = np.abs(hm.array).reshape(hm.array.shape[0], -1).max(axis=1)
            self.ai.jump_to_slice(int(np.argmax(per_slice)))
        self.ai._redraw()
        badge = self.badge.text()
        text = f"{hm.name}: sanity check {badge}"
        if saliency.warnings:
            text += " — " + "; ".join(saliency.warnings)
        self._set_running(False)
        self._say(text)

    def _show_sanity(self, report: Any, shown: bool = True) -> None:
        self.badge.setVisible(shown)
        self.figures.setVisible(shown)
        self.note.setVisible(shown)
        if not shown:
            self.badge.setText("")
            self.figures.setText("")
            self.note.setText("")
            return
        badge, figures = sanity_text(report)
        self.badge.setText(badge)
        self.badge.setStyleSheet(BADGE_STYLE[None if report is None else bool(report.passed)])
        self.figures.setText(figures)
        note = getattr(report, "note", "") or ""
        if report is not None and not report.passed:
            note = f"{note} — do not trust this map" if note else "do not trust this map"
        self.note.setText(note)

    def remove_map(self, restore: bool = True) -> None:
        """Take the saliency map off the panes (the AI's uncertainty map comes back, if any)."""
        hm, self.heatmap = self.heatmap, None
        self.result = None
        self._show_sanity(None, shown=False)
        self.controls.set_heatmap(None, (0.0, 1.0), None, SALIENCY_CMAP)
        if hm is not None:
            ai_hm = getattr(self.ai, "ai_heatmap", None) if restore else None
            ai_controls = self.ai.overlay_controls
            for view in self.ai.overlay_views():
                if view.heatmap is hm:
                    if ai_hm is not None:
                        from medlens.app.ai_panel import HEATMAP_CMAP

                        view.set_heatmap(
                            ai_hm, HEATMAP_CMAP, ai_controls.heatmap_opacity, ai_controls.heatmap_threshold
                        )
                    else:
                        view.set_heatmap(None)
            self.ai._redraw()
        self._set_running(False)

    def clear(self) -> None:
        """The AI result went (new run, other series, discard): stop and remove the map."""
        if self.job is not None and self.job.is_running:
            self.job.cancel()
        self.job = None
        self.remove_map(restore=False)
        self.availability = {}
        self.setVisible(False)
        self._set_running(False)

    def shutdown(self, wait_s: float = 3.0) -> None:
        if self.job is not None and self.job.is_running:
            self.job.cancel()
            self.job.wait(wait_s)


class ReportSection(QGroupBox):
    """The "Report correction" form in the AI dock (``window.ai.report``); ``action`` is the
    :func:`~medlens.app.corrections_actions.make_report_action` shared with the AI menu."""

    AGREE, DISAGREE = "Agree with the AI", "Disagree — correct class:"

    def __init__(self, ai: Any, parent: QWidget | None = None) -> None:
        super().__init__("Report correction", parent)
        from medlens.app.corrections_actions import make_report_action

        self.ai = ai
        self.window = ai.window
        self._connected_to: Any = None
        lay = QFormLayout(self)
        self.verdict_combo = QComboBox(self)
        self.verdict_combo.addItem("— choose —", None)
        self.verdict_combo.addItem(self.AGREE, True)
        self.verdict_combo.addItem(self.DISAGREE, False)
        self.verdict_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.class_combo = QComboBox(self)
        self.class_combo.setToolTip("The correct class when disagreeing")
        self.verdict_label = QLabel("Verdict", self)
        row = QHBoxLayout()
        row.addWidget(self.verdict_combo)
        row.addWidget(self.class_combo)
        lay.addRow(self.verdict_label, row)
        self.comment = QLineEdit(self)
        self.comment.setPlaceholderText("optional comment (stored locally)")
        lay.addRow("Comment", self.comment)
        self.action = make_report_action(
            self.window, self, comment=lambda: self.comment.text().strip(), prepare=self._prepare
        )
        self.action.triggered.connect(self._after_report)  # after the report (connected first)
        self.button = QToolButton(self)
        self.button.setDefaultAction(self.action)
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.hint = QLabel("", self)
        self.hint.setWordWrap(True)
        lay.addRow(self.button, self.hint)
        self.refresh()

    # -- state --------------------------------------------------------------------------------
    def _segmentation(self) -> Any:
        panel = getattr(self.window, "segmentation", None)
        if panel is not None and panel is not self._connected_to:
            # the Segmentation dock is installed after the AI dock: hook it up when first seen
            from medlens.app.corrections_actions import track_editing

            track_editing(self.window)
            for name in ("edited", "editing_changed"):
                signal = getattr(panel, name, None)
                if signal is not None:
                    signal.connect(lambda *_a: self.refresh())
            self._connected_to = panel
        return panel

    def why_disabled(self) -> str | None:
        """None when a correction can be reported, else what is missing (one sentence)."""
        result = self.ai.last_result
        if result is None or self.ai.volume is None:
            return "Run an AI plugin on this series first"
        panel = self._segmentation()
        if result.task == "segmentation":
            editor = getattr(panel, "editor", None)
            if editor is None or getattr(panel, "label_map", None) is None:
                return "Accept the AI segmentation (Segmentation dock) and edit it first"
            if getattr(editor, "generation", 0) <= 0:
                return "Edit the accepted segmentation first (Brush, Eraser, Fill)"
            return None
        if result.task == "classification":
            if self.verdict_combo.currentData() is None:
                return "Choose agree or disagree first"
            return None
        return f"Corrections are stored for segmentation and classification, not {result.task}"

    def refresh(self, *_args: Any) -> None:
        result = self.ai.last_result
        task = getattr(result, "task", None)
        cls = task == "classification"
        names = list(getattr(result, "class_names", None) or getattr(result, "probabilities", {}) or [])
        if cls and [self.class_combo.itemText(i) for i in range(self.class_combo.count())] != names:
            self.class_combo.clear()
            self.class_combo.addItems([str(n) for n in names])
        for w in (self.verdict_label, self.verdict_combo, self.class_combo):
            w.setVisible(cls)
        self.class_combo.setEnabled(cls and self.verdict_combo.currentData() is False)
        reason = self.why_disabled()
        self.action.setEnabled(reason is None)
        self.action.setToolTip(
            reason or "Store the AI output and your correction locally (no identifiers) for fine-tuning"
        )
        self.hint.setText(reason or "")
        self.setVisible(task in ("classification", "segmentation"))

    def _prepare(self) -> None:
        """Copy the verdict into the Segmentation dock, which ``report_from_window`` reads."""
        result = self.ai.last_result
        if getattr(result, "task", None) != "classification":
            return
        agree = self.verdict_combo.currentData()
        if agree is None:
            raise ValueError("choose agree or disagree first")
        probs = dict(getattr(result, "probabilities", {}) or {})
        chosen = max(probs, key=probs.__getitem__) if agree else self.class_combo.currentText()
        panel = self._segmentation()
        box = getattr(panel, "class_box", None)
        if box is None:
            raise ValueError("the Segmentation dock is not available")
        if box.findText(chosen) < 0:
            box.addItem(chosen)
        box.setCurrentIndex(box.findText(chosen))
        agree_box = getattr(panel, "agree_box", None)
        if agree_box is not None:
            agree_box.setCurrentIndex(0 if agree else 1)

    def _after_report(self) -> None:
        if self.action.last_record_id is not None:
            self.comment.clear()
        self.refresh()

    def clear(self) -> None:
        self.verdict_combo.setCurrentIndex(0)
        self.comment.clear()
        self.refresh()


def install_explain(ai: Any, layout: Any) -> None:
    """Add the Explain and Report sections to the AI dock's results ``layout`` (``ai.explain``,
    ``ai.report``) and follow the dock's results."""
    ai.explain = ExplainSection(ai)
    ai.report = ReportSection(ai)
    layout.addWidget(ai.explain)
    layout.addWidget(ai.report)
    ai.result_ready.connect(ai.explain.result_changed)
    ai.result_ready.connect(lambda _r: ai.report.clear())


def results_cleared(ai: Any) -> None:
    """The AI dock dropped its result (``AiPanel.clear_results`` calls this)."""
    explain = getattr(ai, "explain", None)
    if explain is not None:
        explain.clear()
    report = getattr(ai, "report", None)
    if report is not None:
        report.clear()


__all__ = [
    "SALIENCY_CMAP",
    "ExplainSection",
    "ReportSection",
    "install_explain",
    "method_availability",
    "results_cleared",
    "sanity_text",
]
