"""A reader's verdict on an AI classification (agree / disagree + the corrected class), as JSON.

Kept as plain JSON next to the study so the corrections store (and later fine-tuning) can collect
it without DICOM tooling; it names the series, the plugin and what the model said, so a decision
can never be separated from the output it judges.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ClassificationDecision:
    plugin: str
    predicted: str
    agree: bool
    corrected_class: str | None = None  # required when disagreeing
    probabilities: dict[str, float] = field(default_factory=dict)
    plugin_version: str = ""
    series_uid: str = ""
    source_path: str = ""
    reader: str = ""
    comment: str = ""
    decided_at: str = ""
    note: str = "not for clinical use"

    def __post_init__(self) -> None:
        if not self.agree and not self.corrected_class:
            raise ValueError("a disagreement needs the corrected class")
        if self.agree:
            self.corrected_class = None

    @property
    def final_class(self) -> str:
        return self.predicted if self.agree else str(self.corrected_class)


def save_decision(decision: ClassificationDecision, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    d = asdict(decision)
    d["decided_at"] = d["decided_at"] or time.strftime("%Y-%m-%dT%H:%M:%S%z")
    d["final_class"] = decision.final_class
    out.write_text(json.dumps(d, indent=2), encoding="utf-8")
    return out


def load_decision(path: str | Path) -> ClassificationDecision:
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    d.pop("final_class", None)
    return ClassificationDecision(**d)


__all__ = ["ClassificationDecision", "load_decision", "save_decision"]
