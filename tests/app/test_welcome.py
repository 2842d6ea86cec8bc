"""First-run experience: welcome page, model cards, About box, persisted settings (offscreen Qt)."""

from __future__ import annotations

import hashlib
import os

import pytest

from medlens.app.settings import AppSettings

pytestmark = pytest.mark.gui

CARD = "# Tiny model\n\nTrained on nothing. Licence: CC0 (test).\n"


def _fake_plugin(root, plugin_id="test.seg"):
    """A plugin whose manifest validates (discovery never opens the weights)."""
    folder = root / plugin_id
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"not really onnx")
    sha = hashlib.sha256(b"not really onnx").hexdigest()
    (folder / "MODEL_CARD.md").write_text(CARD)
    (folder / "plugin.toml").write_text(
        f'id = "{plugin_id}"\nname = "Tiny seg"\nversion = "1.0"\ntask = "segmentation"\nruntime = "onnx"\n'
        f'model_card = "MODEL_CARD.md"\n[weights]\nfile = "model.onnx"\nsha256 = "{sha}"\n'
        '[input]\nmodality = ["CT"]\ndims = 2\n[input.normalization]\nkind = "none"\n'
        '[output]\ntype = "probabilities"\nnum_channels = 1\nactivation = "sigmoid"\n'
        'labels = [{ value = 1, name = "lesion", color = [255, 0, 0] }]\n'
    )
    return folder


@pytest.fixture
def entries(tmp_path):
    from medlens.inference.discovery import discover

    _fake_plugin(tmp_path / "plugins")
    found = discover([tmp_path / "plugins"], builtin=False, user=False, entry_points=False, adapters=False)
    assert [e.ok for e in found] == [True]
    return found


@pytest.fixture
def welcome(window, entries):
    from medlens.app.welcome import install_welcome

    return install_welcome(window, plugin_entries=entries)


def test_welcome_page_shows_until_a_study_is_shown(window, welcome, ct_volume):
    assert window.central_stack.currentWidget() is welcome
    assert welcome.folder_button.isEnabled()
    window.show_volume(ct_volume)
    assert window.central_stack.currentWidget() is window.views_widget
    assert window.slice_panes[0].isVisible()
    window.act_welcome.trigger()
    assert window.central_stack.currentWidget() is welcome


def test_pacs_button_greyed_with_reason_until_a_server_is_configured(window, welcome):
    assert not welcome.pacs_button.isEnabled()
    assert "No PACS server is configured" in welcome.pacs_button.toolTip()
    assert "medlens pacs servers add" in welcome.pacs_note.text()

    from medlens.pacs.config import ServerConfig, ServerRegistry

    ServerRegistry(window.recent.path.parent).save(ServerConfig("demo", dicomweb_url="http://localhost:1/dw"))
    welcome.refresh()
    assert welcome.pacs_button.isEnabled()
    assert "demo" in welcome.pacs_note.text()


def test_model_card_is_one_click_away(window, welcome, qtbot):
    button = welcome.card_buttons["test.seg"]
    button.click()
    dialog = welcome.card_dialogs[-1]
    qtbot.waitExposed(dialog)
    assert not dialog.isModal()
    text = dialog.browser.toPlainText()
    assert "Tiny seg" in text and "Trained on nothing" in text
    dialog.close()


def test_recent_studies_are_listed_and_open(window, welcome, tmp_path):
    window.recent.add(tmp_path)
    welcome.refresh()
    assert welcome.recent_list.item(0).text() == str(tmp_path.resolve())


def test_open_sample_study_loads_the_chest_ct(window, welcome, qtbot, sample_files):
    assert welcome.sample_button.isEnabled()
    with qtbot.waitSignal(window.load_finished, timeout=60_000) as blocker:
        welcome.sample_button.click()
    # the window loads the first series, the page then switches to the CT
    if blocker.args[0].meta.modality != "CT":
        with qtbot.waitSignal(window.load_finished, timeout=60_000) as blocker:
            pass
    assert blocker.args[0].meta.modality == "CT"
    assert window.central_stack.currentWidget() is window.views_widget


def test_sample_button_greyed_when_no_sample(window, welcome, monkeypatch):
    import medlens.app.welcome as w

    monkeypatch.setattr(w, "sample_status", lambda: (None, "The sample study is not prepared yet: run it"))
    welcome.refresh()
    assert not welcome.sample_button.isEnabled()
    assert "not prepared" in welcome.sample_button.toolTip()


def test_about_lists_versions_licences_and_not_for_clinical_use(window, entries):
    from medlens.app.about import about_html, component_versions

    names = dict(component_versions())
    for key in ("MedLens", "Qt", "VTK", "SimpleITK", "pydicom", "ONNX Runtime", "PyTorch"):
        assert names.get(key)
    assert "unavailable" not in names["VTK"] and "unavailable" not in names["Qt"]
    text = about_html(entries)
    assert "Not for clinical use" in text
    assert "pyradiomics" in text and "BSD 3-Clause" in text
    assert "Tiny seg" in text and "CC0" in text
    window.act_about.trigger()
    assert "Not for clinical use" in window.about_box.text()
    assert not window.about_box.isModal()
    window.about_box.close()


# -- settings ---------------------------------------------------------------------------------------
def test_app_settings_round_trip_and_corruption(tmp_path):
    s = AppSettings(tmp_path / "settings.json")
    assert s.layout == "quad" and s.window_presets() == {} and s.plugin_folders() == []
    s.layout = "axial"
    s.save_window_preset("Nodule", -500, 1200)
    s.add_plugin_folder(tmp_path / "p")
    again = AppSettings(tmp_path / "settings.json")
    assert again.layout == "axial"
    assert again.window_presets() == {"Nodule": (-500.0, 1200.0)}
    assert again.plugin_folders() == [str((tmp_path / "p").resolve())]
    again.remove_window_preset("Nodule")
    again.remove_plugin_folder(tmp_path / "p")
    assert again.window_presets() == {} and again.plugin_folders() == []
    with pytest.raises(ValueError):
        again.save_window_preset("bad", 0, 0)
    (tmp_path / "settings.json").write_text("{not json")
    assert AppSettings(tmp_path / "settings.json").layout == "quad"
    s.layout = "nonsense"
    assert s.layout == "quad"


def test_plugin_folders_go_to_the_discovery_path(tmp_path):
    s = AppSettings(tmp_path / "settings.json")
    s.add_plugin_folder(tmp_path / "mine")
    env = {"MEDLENS_PLUGIN_PATH": "/already/there"}
    value = s.apply_plugin_folders(env)
    assert value.split(os.pathsep) == ["/already/there", str((tmp_path / "mine").resolve())]
    assert env["MEDLENS_PLUGIN_PATH"] == value
    s.apply_plugin_folders(env)  # idempotent
    assert env["MEDLENS_PLUGIN_PATH"] == value


def test_persistence_restores_layout_and_saves_presets(window, ct_volume, monkeypatch):
    from medlens.app.persist import fill_user_presets_menu, install_persistence, save_current_preset

    monkeypatch.delenv("MEDLENS_PLUGIN_PATH", raising=False)
    settings = AppSettings(window.recent.path.with_name("settings.json"))
    settings.layout = "coronal"
    settings.add_plugin_folder(window.recent.path.parent / "extra")
    install_persistence(window)
    assert window.layout_state.single == "coronal"
    assert str((window.recent.path.parent / "extra").resolve()) in os.environ["MEDLENS_PLUGIN_PATH"]

    window.layout_actions["axial"].trigger()
    assert AppSettings(settings.path).layout == "axial"
    window.layout_actions[None].trigger()
    assert AppSettings(settings.path).layout == "quad"

    window.show_volume(ct_volume)
    window.set_window(123, 456)
    assert save_current_preset(window, settings, "Mine")
    assert settings.window_presets()["Mine"] == (123.0, 456.0)
    fill_user_presets_menu(window, settings)
    mine = [a for a in window.user_presets_menu.actions() if a.text().startswith("Mine")]
    window.set_window(0, 100)
    mine[0].trigger()
    assert window.window == (123.0, 456.0)

    window.close()  # saves the dock/toolbar arrangement
    assert "|" in AppSettings(settings.path).window_state
