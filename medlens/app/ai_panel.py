"""The AI assist dock: pick a plugin for the loaded series, run it in the background, show results.

What it shows
-------------
* **Plugins**: every discovered plugin. Runnable ones (modality and dimensionality fit the series,
  :func:`~medlens.app.ai_compat.compatibility`) are selectable; incompatible ones are greyed with
  the reason ("accepts MR, this series is CT"), broken ones with theirs. Each row names the device
  the plugin would run on ("CPU (onnxruntime)").
* **Run**: a :class:`~medlens.app.jobs.Job` calls :func:`medlens.inference.run_plugin` on a worker
  thread with the job's progress and cancel event, so the event loop never waits; 3D surfaces and
  the uncertain-slice list are computed on that thread too. Progress bar + Cancel. Any failure
  (wrong modality, out of memory, a plugin that does not load, an unexpected exception) ends as one
  line in the panel and the status bar -- never a dialog, never a traceback on screen.
* **Results**, by task: classification -> probability per class for the study and the per-slice
  score plot (click -> every pane goes to that slice); segmentation -> the label map on every slice
  pane + per-label 3D surfaces, its uncertainty heatmap (flip-TTA spread, when asked for) as a
  heatmap layer and the list of slices where it is high (click -> go there); denoising -> the
  derived series opens beside the original (:mod:`medlens.app.compare`), with a difference toggle.

What stays reachable (a colleague's accept/edit/save builds on it): ``last_result`` (the
:class:`~medlens.inference.InferenceResult`), ``ai_label_map`` (the AI output itself, never
edited here -- *Accept* copies it), ``ai_heatmap``, ``derived_volume``, ``comparison``,
``flagged_slices`` and ``slice_scores``. ``window.ai`` is this panel.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from medlens.app.ai_compat import (
    UNCERTAIN_VOXEL,
    PluginChoice,
    plugin_choices,
    slice_scores,
    uncertain_slices,
)
from medlens.app.busy import error_line, show_busy, show_status
from medlens.app.jobs import Job, JobContext
from medlens.app.overlay_controls import OverlayControls
from medlens.app.score_plot import ScorePlot
from medlens.viewer.model import Heatmap, LabelMap, Volume

log = logging.getLogger(__name__)

ROLE_ID = Qt.ItemDataRole.UserRole
HEATMAP_CMAP = "inferno"


class AiPanel(QWidget):
    """The panel inside the "AI assist" dock (``window.ai``)."""

    result_ready = Signal(object)  # InferenceResult, after its display is set up
    run_failed = Signal(str)
    run_cancelled = Signal()

    def __init__(self, window: Any, registry: Any = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window = window
        self._registry = registry
        self.volume: Volume | None = None
        self.choices: dict[str, PluginChoice] = {}
        self.job: Job | None = None
        self._job_volume: Volume | None = None
        self.last_result: Any = None
        self.ai_label_map: LabelMap | None = None
        self.ai_heatmap: Heatmap | None = None
        self.derived_volume: Volume | None = None
        self.comparison: Any = None
        self.flagged_slices: list[tuple[int, float]] = []
        self.slice_scores: np.ndarray | None = None
        self.last_message = ""
        self._build()

    # ======================================================================================
    # construction
    # ======================================================================================
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(QLabel("<b>Plugins for this series</b> — research use, not for diagnosis", self))
        self.plugin_list = QListWidget(self)
        self.plugin_list.setMinimumHeight(90)
        self.plugin_list.itemSelectionChanged.connect(self._selection_changed)
        self.plugin_list.itemDoubleClicked.connect(lambda _item: self.run())
        outer.addWidget(self.plugin_list)
        self.tta = QCheckBox("Uncertainty map (flip TTA, ~4x slower)", self)
        outer.addWidget(self.tta)
        # a plugin that reports one region may have found the lesion among its other candidates
        self.all_regions = QCheckBox("Show every candidate region, not only the most likely", self)
        self.all_regions.setEnabled(False)
        outer.addWidget(self.all_regions)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run", self)
        self.run_button.clicked.connect(lambda: self.run())
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        outer.addLayout(row)
        self.status = QLabel("", self)
        self.status.setWordWrap(False)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.status)

        results = QWidget(self)
        rl = QVBoxLayout(results)
        rl.setContentsMargins(0, 0, 0, 0)
        # classification
        self.cls_box = QGroupBox("Classification", results)
        cl = QVBoxLayout(self.cls_box)
        self.probabilities = QLabel("", self.cls_box)
        self.class_combo = QComboBox(self.cls_box)
        self.class_combo.currentIndexChanged.connect(self._plot_class_changed)
        self.score_plot = ScorePlot(self.cls_box)
        self.score_plot.slice_clicked.connect(self.jump_to_slice)
        cl.addWidget(self.probabilities)
        cl.addWidget(self.class_combo)
        cl.addWidget(self.score_plot)
        steps = QHBoxLayout()
        self.prev_flagged = QPushButton("◂ Previous flagged", self.cls_box)
        self.next_flagged = QPushButton("Next flagged ▸", self.cls_box)
        for button, step in ((self.prev_flagged, -1), (self.next_flagged, 1)):
            button.setToolTip("Go to the nearest slice scored at or above the plugin's threshold that way")
            button.clicked.connect(lambda _=False, s=step: self.step_flagged(s))
            steps.addWidget(button)
        cl.addLayout(steps)
        rl.addWidget(self.cls_box)
        # segmentation
        self.seg_box = QGroupBox("Segmentation", results)
        sl = QVBoxLayout(self.seg_box)
        self.seg_summary = QLabel("", self.seg_box)
        sl.addWidget(self.seg_summary)
        self.overlay_controls = OverlayControls(self.overlay_views, self._redraw, self.seg_box)
        sl.addWidget(self.overlay_controls)
        sl.addWidget(QLabel("Slices with high uncertainty (click to go):", self.seg_box))
        self.flagged_list = QListWidget(self.seg_box)
        self.flagged_list.setMaximumHeight(110)
        self.flagged_list.itemClicked.connect(lambda item: self.jump_to_slice(int(item.data(ROLE_ID))))
        sl.addWidget(self.flagged_list)
        rl.addWidget(self.seg_box)
        # denoising
        self.den_box = QGroupBox("Denoising", results)
        dl = QVBoxLayout(self.den_box)
        self.den_summary = QLabel("", self.den_box)
        self.difference = QCheckBox("Show difference (denoised − original)", self.den_box)
        self.difference.toggled.connect(self.set_difference)
        self.compare_button = QPushButton("Close comparison", self.den_box)
        self.compare_button.clicked.connect(self._toggle_comparison)
        dl.addWidget(self.den_summary)
        dl.addWidget(self.difference)
        dl.addWidget(self.compare_button)
        rl.addWidget(self.den_box)
        from medlens.app.saliency_panel import install_explain

        install_explain(self, rl)  # "Explain" (saliency + sanity check) and "Report correction"
        rl.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(results)
        outer.addWidget(scroll, 1)
        self._set_running(False)
        self._show_result_boxes(None)

    # ======================================================================================
    # plugins and the series
    # ======================================================================================
    @property
    def registry(self) -> Any:
        """The plugin registry (the app-wide one unless a test or caller gave another)."""
        if self._registry is None:
            from medlens.inference import default_registry

            self._registry = default_registry()
        return self._registry

    def set_registry(self, registry: Any) -> None:
        self._registry = registry
        self.refresh_plugins()

    def set_volume(self, volume: Volume | None) -> None:
        """The window shows ``volume``: results of another series are dropped."""
        if volume is self.volume:
            self.refresh_plugins()
            return
        if self.job is not None and self.job.is_running:
            self.job.cancel()
        self.clear_results()
        self.volume = volume
        self.refresh_plugins()

    def refresh_plugins(self) -> None:
        """Re-list the plugins for the current series (cheap: manifests only)."""
        selected = self.selected_plugin_id()
        self.plugin_list.clear()
        self.choices = {}
        try:
            choices = plugin_choices(self.registry, self.volume)
        except Exception as exc:  # discovery itself never raises, but a registry may
            self._say(f"Could not list plugins: {error_line(exc)}")
            return
        if self.volume is not None and not self.volume.meta.complete:
            choices = [
                PluginChoice(
                    c.id, c.name, c.task, c.device, False, "wait: the series is still loading", c.broken
                )
                for c in choices
            ]
        for c in choices:
            self.choices[c.id] = c
            item = QListWidgetItem(c.text)
            item.setData(ROLE_ID, c.id)
            tip = c.reason or f"{c.name} ({c.id}) runs on {c.device}"
            item.setToolTip(tip)
            if not c.runnable:
                item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled & ~Qt.ItemFlag.ItemIsSelectable)
            self.plugin_list.addItem(item)
        if not choices:
            item = QListWidgetItem("no plugins found")
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.plugin_list.addItem(item)
        runnable = [c.id for c in choices if c.runnable]
        if runnable:
            self.select_plugin(selected if selected in runnable else runnable[0])
        self._selection_changed()

    def select_plugin(self, plugin_id: str) -> None:
        for i in range(self.plugin_list.count()):
            item = self.plugin_list.item(i)
            if item.data(ROLE_ID) == plugin_id and item.flags() & Qt.ItemFlag.ItemIsEnabled:
                self.plugin_list.setCurrentItem(item)
                return

    def selected_plugin_id(self) -> str | None:
        item = self.plugin_list.currentItem()
        return item.data(ROLE_ID) if item is not None and item.isSelected() else None

    def item_for(self, plugin_id: str) -> QListWidgetItem | None:
        for i in range(self.plugin_list.count()):
            item = self.plugin_list.item(i)
            if item.data(ROLE_ID) == plugin_id:
                return item
        return None

    def _selection_changed(self) -> None:
        pid = self.selected_plugin_id()
        choice = self.choices.get(pid) if pid else None
        running = self.job is not None and self.job.is_running
        self.run_button.setEnabled(choice is not None and choice.runnable and not running)
        manifest = self._manifest(pid) if choice is not None else None
        seg = manifest is not None and manifest.task == "segmentation"
        denoise = manifest is not None and manifest.task == "denoising"
        # flip TTA: a segmenter's spread is its uncertainty map; a denoiser's mean over mirror images is
        # a slightly better image (its spread follows the error only weakly, so it is not shown)
        self.tta.setEnabled(seg or denoise)
        one_region = seg and bool(manifest.options.keep_largest_component)
        self.all_regions.setEnabled(one_region)
        if not one_region:
            self.all_regions.setChecked(False)
        if manifest is not None:
            self.tta.setChecked(bool(manifest.options.tta_flips))
            passes = len(manifest.options.tta_axes) + 1
            what = "Average over mirror images" if denoise else "Uncertainty map"
            self.tta.setText(f"{what} (flip TTA, ~{passes}x slower)")
        if choice is not None and choice.reason:
            self._say(choice.reason)

    def _manifest(self, plugin_id: str | None) -> Any:
        try:
            return self.registry.manifest(plugin_id) if plugin_id else None
        except Exception:
            return None

    # ======================================================================================
    # running
    # ======================================================================================
    def run(self, plugin_id: str | None = None, options: Any = None) -> Job | None:
        """Run ``plugin_id`` (default: the selected one) on the shown series in the background."""
        from medlens.inference import InferenceCancelled, InferenceError, RunOptions, run_plugin

        plugin_id = plugin_id or self.selected_plugin_id()
        if self.job is not None and self.job.is_running:
            self._say("A plugin is already running; cancel it first")
            return None
        if plugin_id is None:
            self._say("Select a plugin first")
            return None
        choice = self.choices.get(plugin_id)
        if choice is None or not choice.runnable:
            self._say(f"{plugin_id}: {choice.reason if choice else 'not available for this series'}")
            return None
        volume = self.volume
        assert volume is not None
        if options is None:
            options = RunOptions(
                tta_flips=self.tta.isChecked() if self.tta.isEnabled() else None,
                keep_largest_component=False if self.all_regions.isChecked() else None,
            )
        registry = self.registry

        def work(ctx: JobContext) -> tuple[Any, dict[str, Any]]:
            result = run_plugin(
                plugin_id, volume, options, registry=registry, progress=ctx.progress, cancel=ctx.cancel_event
            )
            extras: dict[str, Any] = {}
            ctx.raise_if_cancelled()
            if result.label_map is not None:
                from medlens.viewer.render.surfaces import build_label_surfaces

                try:
                    extras["surfaces"] = build_label_surfaces(result.label_map, cancel=ctx.cancel_event)
                except Exception as exc:  # the slice overlays still work without 3D
                    extras["surface_error"] = error_line(exc)
            unc = [h for h in result.heatmaps if h.kind == "uncertainty"]
            if unc and result.task == "segmentation":  # its thresholds are probabilities
                extras["flagged"] = uncertain_slices(unc[0])
            return result, extras

        job = Job(
            work,
            name=f"ai:{plugin_id}",
            cancel_exceptions=(InferenceCancelled,),
            expected_errors=(InferenceError, MemoryError),
            message_for=error_line,
        )
        job.progress.connect(self._on_progress)
        job.finished.connect(lambda payload, j=job: self._on_finished(j, payload))
        job.failed.connect(lambda text, _exc, j=job: self._on_failed(j, text))
        job.cancelled.connect(lambda j=job: self._on_cancelled(j))
        self.job = job
        self._job_volume = volume
        self._set_running(True, f"Running {choice.name}…")
        self._say(f"Running {choice.name} on {choice.device}…")
        job.start()
        return job

    def cancel(self) -> None:
        if self.job is not None and self.job.is_running:
            self.job.cancel()
            self._say("Cancelling…")

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def _on_finished(self, job: Job, payload: tuple[Any, dict[str, Any]]) -> None:
        if job is not self.job:
            return
        self._set_running(False)
        if self._job_volume is not self.volume:
            self._say("The series changed while the plugin ran; result discarded")
            return
        result, extras = payload
        try:
            self.show_result(result, extras)
        except Exception as exc:  # showing must not crash the window either
            log.exception("showing the AI result failed")
            self._say(f"Could not show the result: {error_line(exc)}")
            self.run_failed.emit(error_line(exc))
            return
        self.result_ready.emit(result)

    def _on_failed(self, job: Job, text: str) -> None:
        if job is not self.job:
            return
        self._set_running(False)
        self._say(f"Plugin failed: {text}")
        self.refresh_plugins()  # a plugin that failed to load is now listed as broken
        self.run_failed.emit(text)

    def _on_cancelled(self, job: Job) -> None:
        if job is not self.job:
            return
        self._set_running(False)
        self._say("Cancelled; nothing was changed")
        self.run_cancelled.emit()

    def _set_running(self, running: bool, text: str = "") -> None:
        show_busy(self.progress, self.cancel_button, running, text)
        pid = self.selected_plugin_id()
        choice = self.choices.get(pid) if pid else None
        self.run_button.setEnabled(not running and choice is not None and choice.runnable)
        self.plugin_list.setEnabled(not running)

    def _say(self, text: str) -> None:
        """One line in the panel and in the window's status bar."""
        self.last_message = text
        show_status(self.status, text)
        show = getattr(self.window, "show_message", None)
        if show is not None:
            show(text)

    # ======================================================================================
    # results
    # ======================================================================================
    def show_result(self, result: Any, extras: dict[str, Any] | None = None) -> None:
        """Display ``result`` for the current series (also usable with a result from elsewhere)."""
        extras = extras or {}
        self.clear_results()
        self.last_result = result
        self._show_result_boxes(result.task)
        done = f"{result.plugin_id}: done in {result.elapsed_s:.1f} s on {result.device or 'CPU'}"
        if result.cached:
            done += " (cached)"
        if result.warnings:
            done += " — " + "; ".join(result.warnings)
        if result.task == "classification":
            self._show_classification(result)
        elif result.task == "segmentation":
            self._show_segmentation(result, extras)
        elif result.task == "denoising":
            self._show_denoising(result)
        if extras.get("surface_error"):
            done += f" — 3D surfaces unavailable: {extras['surface_error']}"
        self._say(done)

    def _show_result_boxes(self, task: str | None) -> None:
        self.cls_box.setVisible(task == "classification")
        self.seg_box.setVisible(task == "segmentation")
        self.den_box.setVisible(task == "denoising")

    def _show_classification(self, result: Any) -> None:
        probs = result.probabilities
        self.probabilities.setText(
            "<br>".join(f"{name}: <b>{p:.2f}</b>" for name, p in probs.items()) or "no probabilities"
        )
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItems(list(result.class_names or probs))
        self.class_combo.setCurrentIndex(max(self.class_combo.count() - 1, 0))  # the "positive" class
        self.class_combo.blockSignals(False)
        self.class_combo.setVisible(self.class_combo.count() > 1)
        self._plot_class_changed(self.class_combo.currentIndex())

    def _plot_class_changed(self, index: int) -> None:
        result = self.last_result
        if result is None or result.task != "classification" or self.volume is None:
            return
        n = self.volume.array.shape[0]
        self.slice_scores = slice_scores(result.slice_probabilities, max(index, 0), n)
        manifest = self._manifest(result.plugin_id)
        threshold = manifest.options.threshold if manifest is not None else None
        name = self.class_combo.itemText(index) if index >= 0 else ""
        per_slice = result.slice_probabilities
        padded = result.padded_end_slices if per_slice is not None and len(per_slice) == n else 0
        self.score_plot.set_scores(self.slice_scores, threshold, f"{name} per slice", padded)
        self.score_plot.set_current(self._current_slice())
        self.sync_flagged_buttons()

    def sync_flagged_buttons(self) -> None:
        """The step buttons work only when some judged slice reaches the threshold."""
        some = bool(self.score_plot.flagged())
        self.prev_flagged.setEnabled(some)
        self.next_flagged.setEnabled(some)

    def step_flagged(self, step: int) -> None:
        """Go to the next (``step`` = 1) or previous (-1) flagged slice; say so when there is none."""
        k = self.score_plot.next_flagged(self._current_slice(), step)
        if k is None:
            where = "after" if step > 0 else "before"
            self.status.setText(f"No flagged slice {where} this one")
            return
        self.jump_to_slice(k)

    def _show_segmentation(self, result: Any, extras: dict[str, Any]) -> None:
        lm = result.label_map
        self.ai_label_map = lm
        unc = [h for h in result.heatmaps if h.kind == "uncertainty"]
        self.ai_heatmap = unc[0] if unc else None
        self.flagged_slices = list(extras.get("flagged", []))
        controls = self.overlay_controls
        outline = controls.outline_only
        for view in self.overlay_views():
            view.set_label_map(lm, opacity=controls.label_opacity, outline=outline, fill=not outline)
            if self.ai_heatmap is not None:
                view.set_heatmap(self.ai_heatmap, HEATMAP_CMAP, controls.heatmap_opacity, UNCERTAIN_VOXEL)
        controls.set_label_map(lm)
        if self.ai_heatmap is not None:
            from medlens.viewer.render.heatmap_overlay import heatmap_range

            controls.set_heatmap(
                self.ai_heatmap, heatmap_range(self.ai_heatmap), UNCERTAIN_VOXEL, HEATMAP_CMAP
            )
        else:
            controls.set_heatmap(None, (0.0, 1.0), None, HEATMAP_CMAP)
        pane3d = self.window.panes.get("3d")
        if pane3d is not None and lm is not None:
            try:
                pane3d.view.set_label_surfaces(lm, extras.get("surfaces"))
            except Exception as exc:
                log.exception("3D label surfaces failed")
                self._say(f"3D surfaces unavailable: {error_line(exc)}")
        self.flagged_list.clear()
        if self.ai_heatmap is None:
            self.flagged_list.addItem("(run with the uncertainty map to list uncertain slices)")
        elif not self.flagged_slices:
            self.flagged_list.addItem("none above the flag level")
        for k, mean in self.flagged_slices:
            item = QListWidgetItem(f"slice {k + 1}: mean uncertainty {mean:.2f}")
            item.setData(ROLE_ID, k)
            self.flagged_list.addItem(item)
        self.seg_summary.setText(self._label_summary(lm))
        self._redraw()

    @staticmethod
    def _label_summary(lm: LabelMap | None) -> str:
        if lm is None:
            return "no label map"
        counts = np.bincount(lm.array.ravel())
        voxel_ml = float(np.prod(lm.geometry.spacing)) / 1000.0
        parts = []
        for lab in lm.labels:
            n = int(counts[lab.value]) if lab.value < len(counts) else 0
            parts.append(f"{lab.name}: {n * voxel_ml:.2f} ml ({n} voxels)")
        return "; ".join(parts) or "no labels"

    def _show_denoising(self, result: Any) -> None:
        from medlens.app.compare import ComparisonView

        self.derived_volume = result.volume
        if self.derived_volume is None or self.volume is None:
            self.den_summary.setText("the plugin returned no image")
            return
        self.comparison = ComparisonView.open(self.window, self.volume, self.derived_volume)
        self.difference.blockSignals(True)
        self.difference.setChecked(False)
        self.difference.blockSignals(False)
        self.difference.setEnabled(True)
        self.compare_button.setText("Close comparison")
        self.den_summary.setText(
            f"Left: original · right: {self.derived_volume.meta.series_description or 'denoised'} "
            "(linked scrolling)"
        )

    def set_difference(self, on: bool) -> None:
        if self.comparison is not None:
            self.comparison.set_difference(on)

    def _toggle_comparison(self) -> None:
        if self.comparison is not None:
            self.close_comparison()
            self.compare_button.setText("Show comparison")
            self.difference.setEnabled(False)
        elif self.derived_volume is not None and self.volume is not None:
            from medlens.app.compare import ComparisonView

            self.comparison = ComparisonView.open(self.window, self.volume, self.derived_volume)
            self.compare_button.setText("Close comparison")
            self.difference.setEnabled(True)
            self.difference.setChecked(False)

    def close_comparison(self) -> None:
        if self.comparison is not None:
            cmp, self.comparison = self.comparison, None
            cmp.close()

    def discard(self) -> None:
        """Reject: drop the AI result and its overlays (an accepted copy is not touched)."""
        self.clear_results()
        self._say("AI result discarded")

    def clear_results(self) -> None:
        """Remove overlays, surfaces and the comparison of the previous result."""
        had_overlay = self.ai_label_map is not None or self.ai_heatmap is not None
        self.close_comparison()
        if had_overlay:
            # only what is still the AI's: an accepted, edited copy on the panes stays
            for view in self.overlay_views():
                if self.ai_label_map is not None and view.label_map is self.ai_label_map:
                    view.set_label_map(None)
                if self.ai_heatmap is not None and view.heatmap is self.ai_heatmap:
                    view.set_heatmap(None)
            pane3d = self.window.panes.get("3d")
            if pane3d is not None and getattr(pane3d.view, "label_surfaces", None) is not None:
                pane3d.view.set_label_surfaces(None)
        self.last_result = None
        self.ai_label_map = None
        self.ai_heatmap = None
        self.derived_volume = None
        self.flagged_slices = []
        self.slice_scores = None
        self.overlay_controls.set_label_map(None)
        self.overlay_controls.set_heatmap(None, (0.0, 1.0), None, HEATMAP_CMAP)
        self.flagged_list.clear()
        self.score_plot.set_scores(None)
        self.sync_flagged_buttons()
        self._show_result_boxes(None)
        if had_overlay:
            self._redraw()
        from medlens.app.saliency_panel import results_cleared

        results_cleared(self)  # the saliency map and the report form go with the result

    # ======================================================================================
    # navigation and panes
    # ======================================================================================
    def overlay_views(self) -> list[Any]:
        """The slice views overlays go on: the three slice panes and the comparison pane."""
        views = [p.view for p in self.window.slice_panes if p.has_volume]
        if self.comparison is not None:
            views.append(self.comparison.view)
        return views

    def jump_to_slice(self, k: int) -> None:
        """Every pane goes to array slice ``k`` (z), keeping the cursor's in-plane position."""
        vol = self.volume
        if vol is None:
            return
        k = int(min(max(k, 0), vol.array.shape[0] - 1))
        cursor = self.window.cursor_lps
        x, y, _ = vol.shape_xyz
        ijk = (
            np.array(vol.lps_to_index(cursor))
            if cursor is not None
            else np.array([(x - 1) / 2, (y - 1) / 2, 0.0])
        )
        ijk[2] = k
        self.window.set_cursor_lps(vol.index_to_lps(ijk))
        self.score_plot.set_current(k)

    def _current_slice(self) -> int | None:
        cursor = self.window.cursor_lps
        if cursor is None or self.volume is None:
            return None
        return int(np.floor(self.volume.lps_to_index(cursor)[2] + 0.5))

    def _redraw(self) -> None:
        self.window.draw_all()

    def shutdown(self, wait_s: float = 3.0) -> None:
        """Stop a running plugin and release the comparison pane (the window calls this on close)."""
        if self.job is not None and self.job.is_running:
            self.job.cancel()
            self.job.wait(wait_s)
        explain = getattr(self, "explain", None)
        if explain is not None:
            explain.shutdown(wait_s)
        self.close_comparison()


def install_ai_panel(window: Any, registry: Any = None) -> AiPanel:
    """Create the "AI assist" dock (hidden until asked for) and the AI menu; returns the panel.

    The menu goes before Help. The panel follows the window's ``volume_shown`` and
    ``load_finished`` signals, so plugins are re-checked for each series.
    """
    panel = AiPanel(window, registry, window)
    dock = QDockWidget("AI assist", window)
    dock.setObjectName("ai")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.hide()
    panel.dock = dock
    dock.visibilityChanged.connect(lambda on: on and panel.refresh_plugins())
    window.volume_shown.connect(panel.set_volume)
    window.load_finished.connect(panel.set_volume)

    bar = window.menuBar()
    menu = bar.addMenu("&AI")
    help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
    if help_action is not None:
        bar.insertMenu(help_action, menu)
    run_action = menu.addAction("&Run plugin…")
    run_action.setShortcut("Ctrl+Shift+A")
    run_action.triggered.connect(lambda: show_ai_panel(window))
    menu.addAction(dock.toggleViewAction())
    menu.addSeparator()
    menu.addAction("Clear AI &results").triggered.connect(panel.clear_results)
    report = getattr(panel, "report", None)
    if report is not None:  # "Report correction…" (medlens.app.saliency_panel)
        menu.addAction(report.action)
        menu.aboutToShow.connect(report.refresh)
    panel.menu = menu
    panel.run_action = run_action
    return panel


def show_ai_panel(window: Any) -> None:
    """Show and raise the AI dock with the plugin list up to date ("Run plugin…")."""
    panel = window.ai
    panel.dock.show()
    panel.dock.raise_()
    panel.refresh_plugins()
