"""The PACS dock in a real main window: search, retrieve with progressive display, send back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pacs_helpers import PASSWORD

from medlens.pacs.backend import connect
from medlens.pacs.config import ServerConfig, ServerRegistry
from medlens.viewer.model import Volume

pytestmark = pytest.mark.gui


def test_open_from_pacs(
    qtbot,
    registry: ServerRegistry,
    server_config: ServerConfig,
    ct_study: tuple[Volume, list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from medlens.app.main_window import MainWindow
    from medlens.app.settings import RecentStudies

    monkeypatch.setenv("MEDLENS_CACHE_DIR", str(tmp_path / "cache"))
    source, files = ct_study
    connect(server_config, PASSWORD, "dimse").store(files)
    study_uid = str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)

    window = MainWindow(recent=RecentStudies(tmp_path / "recent.json"))
    qtbot.addWidget(window)
    window.act_open_pacs.trigger()
    panel = window.pacs_panel
    assert window.pacs_dock.isVisible() or not window.isVisible()
    assert panel.server_box.currentText() == "test-pacs"

    panel.patient.setText("DOE")
    with qtbot.waitSignal(panel.studies_found, timeout=20000) as found:
        panel.search()
    assert study_uid in {s.study_uid for s in found.args[0]}
    row = [s.study_uid for s in panel.studies].index(study_uid)
    panel.table.selectRow(row)

    shown: list[Volume] = []
    window.volume_shown.connect(shown.append)
    with qtbot.waitSignal(panel.retrieve_finished, timeout=30000) as done:
        panel.retrieve_selected()
    result = done.args[0]
    assert result.complete
    assert shown and shown[0].array.shape == source.array.shape  # displayed while arriving
    np.testing.assert_array_equal(result.volumes[0].array, source.array)

    with qtbot.waitSignal(panel.sent, timeout=20000) as sent:
        panel.send([files[0]])
    assert sent.args[0] == 1


def test_dock_reports_a_dead_pacs(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medlens.app.pacs_dock import PacsPanel
    from medlens.pacs.config import SecretStore
    from medlens.pacs.orthanc import free_port

    reg = ServerRegistry(tmp_path, SecretStore(tmp_path, backend="file"))
    reg.save(ServerConfig("dead", ae_title="X", host="127.0.0.1", port=free_port(), timeout_s=2))
    panel = PacsPanel(registry=reg, cache_root=tmp_path / "cache")
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.failed, timeout=20000) as failed:
        panel.search()
    assert "no answer" in failed.args[0]
    assert panel.search_button.isEnabled()
