"""Re-running an evaluation rewrites only the card's metrics table; the prose around it stays."""

from __future__ import annotations

from pathlib import Path

from medlens.training.cards import write_metrics_block


def test_metrics_block_replaced_prose_kept(tmp_path: Path) -> None:
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(
        "# Card\n\nintro\n<!-- metrics:begin -->\n| old |\n<!-- metrics:end -->\n\nwhy it failed\n"
    )
    assert write_metrics_block(card, ["| a | b |", "| 1 | 2 |"])
    text = card.read_text()
    assert "| old |" not in text and "| a | b |\n| 1 | 2 |\n<!-- metrics:end -->" in text
    assert text.startswith("# Card\n\nintro\n") and text.endswith("\n\nwhy it failed\n")


def test_card_without_markers_is_left_alone(tmp_path: Path) -> None:
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# Card\n")
    assert not write_metrics_block(card, ["| x |"]) and card.read_text() == "# Card\n"
    assert not write_metrics_block(tmp_path / "missing.md", ["| x |"])
