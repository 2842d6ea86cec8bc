"""The AI dock's Explain section (saliency + sanity check on the panes) and "Report correction".

Plugins are built at test time: a tiny blob classifier (ONNX) with a TorchScript twin, the same
without a twin, and a threshold segmenter (ONNX, 3D).
"""

from __future__ import annotations

import numpy as np
import pytest

import tests.inference.infer_helpers as ih
import tests.inference.saliency_helpers as sh

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("torch_one_thread")]


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLENS_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from medlens.inference import PluginRegistry

    root = tmp_path_factory.mktemp("explain_plugins")
    net = sh.train_blob_net()
    sh.write_blob_plugin(root, net, "test.blob-cls")
    sh.write_blob_plugin(root, net, "test.blob-onnx", twin=False)
    ih.write_plugin(root, "t.seg", ih.TinyThreshold3d())
    return PluginRegistry.discover([root], builtin=False, user=False, entry_points=False, adapters=False)


def show(window, registry, volume):
    from medlens.app.ai_panel import show_ai_panel

    window.ai.set_registry(registry)
    window.show_volume(volume)
    show_ai_panel(window)
    return window.ai


def run_and_wait(qtbot, panel, plugin_id):
    with qtbot.waitSignal(panel.result_ready, timeout=30000) as blocker:
        job = panel.run(plugin_id)
        assert job is not None, panel.last_message
    return blocker.args[0]


def method_item(explain, method):
    i = explain.method_combo.findData(method)
    assert i >= 0
    return explain.method_combo.model().item(i)


def test_gradcam_map_on_the_panes_with_its_sanity_badge(qtbot, window, registry):
    volume, _centre = sh.blob_volume()
    panel = show(window, registry, volume)
    run_and_wait(qtbot, panel, "test.blob-cls")
    explain = panel.explain
    assert explain.isVisible()
    for method in ("integrated_gradients", "gradcam", "occlusion", "evidence"):
        assert method_item(explain, method).isEnabled()
    panel.jump_to_slice(1)  # the slice with the blob
    before = window.panes["axial"].capture().astype(int)
    explain.method_combo.setCurrentIndex(explain.method_combo.findData("gradcam"))
    explain.scope_combo.setCurrentIndex(explain.scope_combo.findData("current"))
    with qtbot.waitSignal(explain.explained, timeout=30000) as blocker:
        job = explain.run()
        assert job is not None, explain.last_message
        assert explain.cancel_button.isEnabled() and explain.progress.isVisible()
    result = blocker.args[0]
    assert result.method == "gradcam" and result.slices == [1]
    assert not explain.progress.isVisible()
    for pane in window.slice_panes:
        assert pane.view.heatmap is result.heatmap
    after = window.panes["axial"].capture().astype(int)
    changed = np.abs(after - before).sum(axis=2) > 30
    assert changed.sum() > 50, changed.sum()
    assert result.sanity is not None
    assert explain.badge.text() == ("PASSED" if result.sanity.passed else "FAILED")
    assert "randomised model" in explain.figures.text() and "deletion AUC" in explain.figures.text()
    assert f"{result.sanity.deletion_auc:.3f}" in explain.figures.text()
    assert result.sanity.note.split(";")[0] in explain.note.text()
    assert explain.controls.heatmap is result.heatmap  # opacity/threshold act on the map
    explain.controls.heat_opacity.setValue(0)
    assert window.panes["axial"].view.overlays.heatmap.opacity == 0.0
    # a new AI run drops the map
    explain.remove_map()
    assert window.panes["axial"].view.heatmap is None


def test_methods_without_a_twin_are_greyed_and_errors_are_one_line(qtbot, window, registry, monkeypatch):
    volume, _ = sh.blob_volume()
    panel = show(window, registry, volume)
    run_and_wait(qtbot, panel, "test.blob-onnx")
    explain = panel.explain
    for method in ("integrated_gradients", "gradcam", "evidence"):
        item = method_item(explain, method)
        assert not item.isEnabled()
        assert "TorchScript twin" in item.toolTip()
    assert method_item(explain, "occlusion").isEnabled()
    assert explain.method_combo.currentData() == "occlusion"

    import medlens.inference.saliency as saliency

    def boom(*_a, **_k):
        raise RuntimeError("saliency exploded\nsecond line")

    monkeypatch.setattr(saliency, "compute_saliency", boom)
    with qtbot.waitSignal(explain.explain_failed, timeout=10000) as blocker:
        assert explain.run() is not None
    assert "\n" not in blocker.args[0] and "saliency exploded" in blocker.args[0]
    assert explain.last_message.startswith("Explain failed")
    assert window.last_message == explain.last_message


def test_report_correction_of_an_edited_ai_segmentation(qtbot, window, registry):
    from medlens.corrections import CorrectionStore
    from medlens.corrections.metrics import dice

    volume = ih.ball_volume()
    panel = show(window, registry, volume)
    report = panel.report
    action = report.action
    assert action in panel.menu.actions()
    run_and_wait(qtbot, panel, "t.seg")
    assert panel.explain.isVisible()  # segmentation results can be explained too
    assert not method_item(panel.explain, "evidence").isEnabled()  # a classifier's map, not a segmenter's
    assert not action.isEnabled()  # nothing edited yet
    seg = window.segmentation
    assert seg.accept()
    assert not action.isEnabled()
    editor = seg.editor
    editor.radius_mm = 3.0
    box = editor.paint_stroke([(2.0, 2.0, 2.0), (6.0, 2.0, 2.0)], slice_axis=2)
    seg._changed(box, True)  # as the mouse handler reports a finished stroke
    assert action.isEnabled(), report.hint.text()
    edited = seg.label_map.array.copy()
    report.comment.setText("missed a bit")
    action.trigger()
    records = CorrectionStore().records()
    assert len(records) == 1
    record = records[0]
    expected = dice(panel.ai_label_map.array > 0, edited > 0)
    assert expected < 1.0
    assert record.dice == pytest.approx(expected)
    assert record.comment == "missed a bit" and record.plugin_id == "t.seg"
    assert window.last_message == f"Correction #1 stored locally (Dice {expected:.2f} vs AI)"
    assert report.comment.text() == ""


def test_report_classification_verdict(qtbot, window, registry):
    from medlens.corrections import CorrectionStore

    volume, _ = sh.blob_volume()
    panel = show(window, registry, volume)
    run_and_wait(qtbot, panel, "test.blob-cls")
    report, action = panel.report, panel.report.action
    assert report.isVisible() and not action.isEnabled()  # no verdict yet
    assert "agree or disagree" in report.hint.text()
    report.verdict_combo.setCurrentIndex(report.verdict_combo.findData(True))
    assert action.isEnabled()
    action.trigger()
    records = CorrectionStore().records()
    assert len(records) == 1 and records[0].agree is True and records[0].ai_class == "blob"
    assert window.last_message == "Correction #1 stored locally (agrees with the AI: blob)"
