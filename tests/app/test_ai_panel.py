"""The AI dock end to end with tiny plugins exported at test time (ONNX, no binaries in the repo).

Plugins (built once per module in a tmp folder, discovered through a registry given to the panel):
``t.seg`` thresholds intensity (CT, 3D), ``t.mr`` the same for MR only (incompatible with the CT
here), ``t.cls`` a per-slice classifier (2D), ``t.den`` an identity "denoiser", ``t.slow`` a
segmenter with tiny patches (many windows: something to cancel), and a broken manifest.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

pytestmark = pytest.mark.gui

import tests.inference.infer_helpers as ih  # noqa: E402


@pytest.fixture(scope="module")
def plugin_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ai_plugins")
    ih.write_plugin(root, "t.seg", ih.TinyThreshold3d())
    ih.write_plugin(root, "t.mr", ih.TinyThreshold3d(), modality='["MR"]')
    ih.write_plugin(
        root,
        "t.slow",
        ih.TinyThreshold3d(),
        input_extra="spatial_shape = [4, 4, 4]\noverlap = 0.5\nbatch_size = 1",
    )
    ih.write_plugin(
        root,
        "t.cls",
        ih.TinyClassifier(),
        task="classification",
        dims=2,
        normalization='kind = "ct_window"\nwindow = [-1000.0, 1000.0]',
        output='num_channels = 2\nactivation = "softmax"\nclass_names = ["no", "yes"]\n',
    )
    ih.write_plugin(
        root,
        "t.den",
        ih.Identity3d(),
        task="denoising",
        output='num_channels = 1\nactivation = "none"\n',
    )
    one = ih.write_plugin(root, "t.one", ih.TinyThreshold3d())
    with (one / "plugin.toml").open("a") as f:
        f.write("\n[options]\nkeep_largest_component = true\n")
    broken = root / "t.broken"
    broken.mkdir()
    (broken / "plugin.toml").write_text(textwrap.dedent('id = "t.broken"\nname = "Broken"\n'))
    return root


@pytest.fixture
def panel(window, plugin_root, ct_volume):
    from medlens.app.ai_panel import show_ai_panel
    from medlens.inference import PluginRegistry

    registry = PluginRegistry.discover(
        [plugin_root], builtin=False, user=False, entry_points=False, adapters=False
    )
    window.ai.set_registry(registry)
    window.show_volume(ct_volume)
    show_ai_panel(window)
    return window.ai


def run_and_wait(qtbot, panel, plugin_id, options=None, timeout=30000):
    with qtbot.waitSignal(panel.result_ready, timeout=timeout) as blocker:
        job = panel.run(plugin_id, options)
        assert job is not None, panel.last_message
    return blocker.args[0]


def test_plugins_listed_with_compatibility_device_and_broken_reason(panel):
    ids = {panel.plugin_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(panel.plugin_list.count())}
    assert {"t.seg", "t.mr", "t.cls", "t.den", "t.broken"} <= ids
    seg, mr, broken = panel.item_for("t.seg"), panel.item_for("t.mr"), panel.item_for("t.broken")
    assert seg.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "CPU (onnxruntime)" in seg.text()
    assert not mr.flags() & Qt.ItemFlag.ItemIsEnabled  # greyed
    assert "accepts MR, this series is CT" in mr.text()
    assert not broken.flags() & Qt.ItemFlag.ItemIsEnabled
    assert "cannot be used" in broken.text()
    # asking to run the incompatible one: a one-line refusal, no job
    assert panel.run("t.mr") is None
    assert "accepts MR" in panel.last_message


def test_segmentation_runs_in_background_and_overlays_every_pane(qtbot, window, panel, ct_volume):
    before = window.panes["axial"].capture().astype(int)
    progress: list[tuple[int, int]] = []
    with qtbot.waitSignal(panel.result_ready, timeout=30000):
        job = panel.run("t.seg")
        job.progress.connect(lambda d, t: progress.append((d, t)))
        assert panel.progress.isVisible() and panel.cancel_button.isEnabled()
        assert job.is_running  # run() returned at once: the work is on a worker thread
    assert progress and progress[-1][0] == progress[-1][1]
    assert not panel.progress.isVisible()
    lm = panel.ai_label_map
    assert lm is not None and lm is panel.last_result.label_map
    assert lm.array.sum() > 0
    assert np.array_equal(lm.array > 0, ct_volume.array > 0.5)  # the threshold model's answer
    for pane in window.slice_panes:
        assert pane.view.label_map is lm
    after = window.panes["axial"].capture().astype(int)
    reddish = lambda img: ((img[..., 0] - img[..., 1]) > 60).sum()  # noqa: E731
    assert reddish(after) > reddish(before) + 500
    surfaces = window.panes["3d"].view.label_surfaces
    assert surfaces is not None and 1 in surfaces.actors
    assert "done" in panel.last_message and "CPU" in panel.last_message


def test_uncertainty_heatmap_and_flagged_slices(qtbot, window, panel):
    from medlens.inference import RunOptions

    result = run_and_wait(qtbot, panel, "t.seg", RunOptions(tta_flips=True, use_cache=False))
    assert panel.ai_heatmap is not None and panel.ai_heatmap.kind == "uncertainty"
    assert window.panes["axial"].view.heatmap is panel.ai_heatmap
    assert result.label_map is panel.ai_label_map
    # flagged slices are listed and clicking one moves every pane there
    panel.flagged_slices = [(3, 0.5)]
    panel._show_segmentation(result, {"flagged": [(3, 0.5)]})
    item = panel.flagged_list.item(0)
    assert item.text().startswith("slice 4")
    panel.flagged_list.itemClicked.emit(item)
    axial = window.panes["axial"].view
    assert axial.slice_index == 3


def test_cancel_stops_the_run_and_changes_nothing(qtbot, window, panel):
    from medlens.inference import RunOptions

    with qtbot.waitSignal(panel.run_cancelled, timeout=30000):
        job = panel.run("t.slow", RunOptions(tta_flips=True, use_cache=False))
        assert job is not None
        panel.cancel()
    assert job.state == "cancelled"
    assert panel.last_result is None and panel.ai_label_map is None
    assert "Cancelled" in panel.last_message
    assert panel.run_button.isEnabled()


def test_classification_plot_click_jumps_to_slice(qtbot, window, panel, ct_volume):
    result = run_and_wait(qtbot, panel, "t.cls")
    assert set(result.probabilities) == {"no", "yes"}
    assert "yes" in panel.probabilities.text()
    plot = panel.score_plot
    assert plot.scores is not None and len(plot.scores) == ct_volume.array.shape[0]
    qtbot.waitUntil(lambda: plot.isVisible() and plot.width() > 50, timeout=5000)
    target = 7
    qtbot.mouseClick(
        plot, Qt.MouseButton.LeftButton, pos=QPoint(round(plot.x_of_slice(target)), plot.height() // 2)
    )
    assert window.panes["axial"].view.slice_index == target
    for _name in ("coronal", "sagittal"):  # the crosshair moved: other panes show slice 7's line
        assert window.cursor_lps is not None
    assert round(ct_volume.lps_to_index(window.cursor_lps)[2]) == target


def test_denoising_opens_linked_comparison_and_keeps_the_original(qtbot, window, panel, ct_volume):
    original = ct_volume.array.copy()
    run_and_wait(qtbot, panel, "t.den")
    derived = panel.derived_volume
    assert derived is not None and derived is not ct_volume
    assert not np.shares_memory(derived.array, ct_volume.array)
    assert np.array_equal(ct_volume.array, original)
    pane = window.panes["compare"]
    assert pane.isVisible() and window.panes["axial"].isVisible()
    assert not window.panes["coronal"].isVisible()
    # linked scrolling: the original axial pane moves, the derived one follows
    window.panes["axial"].view.set_slice(5)
    assert pane.view.slice_index == 5
    img = pane.capture()
    assert (img != img[0, 0]).any(axis=2).mean() > 0.05
    panel.difference.setChecked(True)  # identity denoiser: the difference is 0 everywhere
    assert np.abs(panel.comparison.difference_volume().array).max() < 1e-3
    assert pane.view.volume is panel.comparison.difference_volume()
    assert np.array_equal(ct_volume.array, original)
    panel.compare_button.click()  # close: the four panes come back
    assert "compare" not in window.panes
    assert window.panes["coronal"].isVisible()


def test_flip_tta_checkbox_follows_the_task(qtbot, window, panel, ct_volume):
    """Flip TTA is offered where it has a per-voxel meaning: a segmenter's uncertainty map, a
    denoiser's average over mirror images; never for a classifier. A denoiser run with it still
    leaves the original untouched and opens the comparison."""
    from medlens.inference import RunOptions

    panel.select_plugin("t.cls")
    assert not panel.tta.isEnabled()
    panel.select_plugin("t.seg")
    assert panel.tta.isEnabled() and panel.tta.text().startswith("Uncertainty map")
    panel.select_plugin("t.den")
    assert panel.tta.isEnabled() and panel.tta.text().startswith("Average over mirror images")
    original = ct_volume.array.copy()
    result = run_and_wait(qtbot, panel, "t.den", RunOptions(tta_flips=True, use_cache=False))
    assert [h.kind for h in result.heatmaps] == ["uncertainty"]
    assert panel.derived_volume is not None and panel.flagged_slices == []
    np.testing.assert_allclose(panel.derived_volume.array, original, atol=1e-3)  # identity, any flip
    assert np.array_equal(ct_volume.array, original)


def test_errors_are_one_line_never_a_dialog(qtbot, window, panel, plugin_root, monkeypatch):
    import medlens.inference.runner as runner

    def boom(*_a, **_k):
        raise RuntimeError("model exploded\nwith a second line")

    monkeypatch.setattr(runner, "run_plugin", boom)
    monkeypatch.setattr("medlens.inference.run_plugin", boom)
    with qtbot.waitSignal(panel.run_failed, timeout=10000) as blocker:
        panel.run("t.seg")
    assert "\n" not in blocker.args[0] and "model exploded" in blocker.args[0]
    assert panel.last_message.startswith("Plugin failed")
    assert window.last_message == panel.last_message


def test_every_candidate_region_on_request(qtbot, window, panel, ct_volume):
    """A plugin that reports one region: the panel can ask for all of its candidates instead."""
    from scipy import ndimage

    from medlens.viewer.model import Volume

    array = np.zeros(ct_volume.array.shape, np.float32)
    array[2:6, 2:8, 2:8] = 1.0  # the larger region
    array[-5:-2, -6:-2, -6:-2] = 1.0
    window.show_volume(Volume(array, ct_volume.geometry, ct_volume.meta))
    assert not panel.all_regions.isEnabled()  # nothing selected yet
    panel.plugin_list.setCurrentItem(panel.item_for("t.one"))
    assert panel.all_regions.isEnabled() and not panel.all_regions.isChecked()
    counts = []
    for every in (False, True):
        panel.all_regions.setChecked(every)
        result = run_and_wait(qtbot, panel, None)
        counts.append(ndimage.label(result.label_map.array > 0, np.ones((3, 3, 3)))[1])
    assert counts == [1, 2]
    panel.plugin_list.setCurrentItem(panel.item_for("t.seg"))  # reports every region anyway: no choice
    assert not panel.all_regions.isEnabled() and not panel.all_regions.isChecked()


def test_score_plot_draws_padded_end_slices_grey(qtbot):
    """A 2.5D classifier's padded end slices are drawn grey and dashed, the judged stretch blue."""
    from medlens.app.score_plot import ScorePlot

    plot = ScorePlot()
    qtbot.addWidget(plot)
    plot.resize(300, 140)
    plot.set_scores(np.full(6, 0.5), None, "yes per slice", padded=1)
    assert "padded" in plot.toolTip()
    image = plot.grab().toImage()
    y = round(plot.y_of_score(0.5))

    def colour_between(a: int, b: int) -> tuple[int, int, int]:
        x0, x1 = plot.x_of_slice(a), plot.x_of_slice(b)
        xs = range(round(x0 + 0.25 * (x1 - x0)), round(x0 + 0.75 * (x1 - x0)))  # dashes have gaps
        found = [image.pixelColor(x, y + dy) for x in xs for dy in (-1, 0, 1)]  # antialiased 1.5 px line
        c = max(found, key=lambda c: c.red() + c.green() + c.blue())  # its brightest pixel
        return c.red(), c.green(), c.blue()

    r, g, b = colour_between(2, 3)
    assert b > 180 and b - r > 80 and g > r  # judged: blue
    with pytest.raises(ValueError, match="leave none"):  # the engine sends 0 for a series this short
        ScorePlot().set_scores(np.full(2, 0.5), None, "yes per slice", padded=1)
    for a, z in ((0, 1), (4, 5)):
        r, g, b = colour_between(a, z)
        assert max(r, g, b) - min(r, g, b) < 40 and r > 100  # padded ends: grey


def test_score_plot_names_its_threshold_and_the_slices_that_reach_it(qtbot):
    """The dashed line is the plugin's operating threshold: the plot says its value, how many judged
    slices reach it (padded end slices left out, as in the study score) and which, 1-based as the plot
    counts them; the line is drawn amber at that height."""
    from medlens.app.score_plot import ScorePlot

    plot = ScorePlot()
    qtbot.addWidget(plot)
    plot.resize(300, 140)
    plot.set_scores(np.array([0.9, 0.1, 0.3, 0.25, 0.1, 0.95]), 0.24, "lesion per slice", padded=1)
    assert plot.flagged() == [2, 3]
    assert plot.caption() == "lesion per slice · 2 ≥ 0.24"
    assert "threshold 0.24" in plot.toolTip() and "slices at or above it: 3, 4" in plot.toolTip()
    image = plot.grab().toImage()
    y = round(plot.y_of_score(0.24))
    x0, x1 = round(plot.x_of_slice(4)), round(plot.x_of_slice(5))  # the score line is far from 0.24 here
    amber = [image.pixelColor(x, y + dy) for x in range(x0 + 5, x1 - 5) for dy in (-1, 0, 1)]  # antialiased
    assert any(c.red() > 150 and c.green() > 110 and c.blue() < 100 for c in amber)
    plot.set_scores(np.array([0.1, 0.2]), None, "lesion per slice")
    assert plot.flagged() == [] and plot.caption() == "lesion per slice" and "Amber" not in plot.toolTip()


def test_the_flagged_slice_buttons_step_through_slices_at_or_above_the_threshold(
    qtbot, window, panel, ct_volume
):
    """Next / previous flagged go to the nearest judged slice at or above the threshold that way, do not
    wrap round, and are off when no slice reaches it."""
    run_and_wait(qtbot, panel, "t.cls")
    n = ct_volume.array.shape[0]
    scores = np.full(n, 0.1)
    scores[[0, 3, 7]] = 0.9  # slice 0 is a padded end: scored, never flagged
    panel.score_plot.set_scores(scores, 0.5, "yes per slice", padded=1)
    panel.sync_flagged_buttons()
    assert panel.next_flagged.isEnabled() and panel.score_plot.flagged() == [3, 7]
    panel.jump_to_slice(1)
    qtbot.mouseClick(panel.next_flagged, Qt.MouseButton.LeftButton)
    assert window.panes["axial"].view.slice_index == 3
    qtbot.mouseClick(panel.next_flagged, Qt.MouseButton.LeftButton)
    assert window.panes["axial"].view.slice_index == 7
    qtbot.mouseClick(panel.next_flagged, Qt.MouseButton.LeftButton)  # none after: stays, and says so
    assert window.panes["axial"].view.slice_index == 7 and "No flagged slice after" in panel.status.text()
    qtbot.mouseClick(panel.prev_flagged, Qt.MouseButton.LeftButton)
    assert window.panes["axial"].view.slice_index == 3
    panel.score_plot.set_scores(np.full(n, 0.1), 0.5, "yes per slice", padded=1)
    panel.sync_flagged_buttons()
    assert not panel.next_flagged.isEnabled() and not panel.prev_flagged.isEnabled()
