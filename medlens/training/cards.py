"""Model cards: the metrics tables between ``<!-- metrics:begin -->`` and ``<!-- metrics:end -->``.

Why markers: each plugin's ``evaluate.py`` rewrites only its table, so the prose around it (what the
numbers mean, what failed) is written by hand and survives a re-run.
"""

from __future__ import annotations

import re
from pathlib import Path

BEGIN, END = "<!-- metrics:begin -->", "<!-- metrics:end -->"


def write_metrics_block(card: Path, rows: list[str]) -> bool:
    """Replace the card's metrics block with ``rows``; False when the card or its markers are missing."""
    if not card.exists():
        return False
    text = card.read_text(encoding="utf-8")
    block = BEGIN + "\n" + "\n".join(rows) + "\n" + END
    new, n = re.subn(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, count=1, flags=re.S)
    if n:
        card.write_text(new, encoding="utf-8")
    return bool(n)
