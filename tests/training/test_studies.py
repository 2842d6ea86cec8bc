"""The rule the pointing studies share (``studies.choose_over_folds``), set before each was run."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlens.training import members, sources, studies


def _study(hits: dict[str, dict[str, int]]):
    """A fake fold study: ``hits[variant][fold]`` of 10 slices point inside the lesion."""

    def run(fold: str) -> dict:
        per = {k: [True] * v[fold] + [False] * (10 - v[fold]) for k, v in hits.items()}
        return {"pointing": {k: sum(v) / 10 for k, v in per.items()}, "_hits": per}

    return run


def test_a_candidate_must_win_pooled_and_in_three_folds() -> None:
    a, b, c, d = sources.CASES
    current = {a: 5, b: 5, c: 5, d: 5}
    three = {a: 6, b: 6, c: 6, d: 5}  # better in three folds, a tie in the fourth: adopted
    two = {a: 9, b: 9, c: 5, d: 4}  # better pooled, but in two folds only: not adopted
    r = studies.choose_over_folds(_study({"now": current, "three": three}), "now", ["three"])
    assert r["adopt"] == "three" and r["folds_where_it_wins"] == 3 and r["pooled"]["three"] == 0.575
    r = studies.choose_over_folds(_study({"now": current, "two": two}), "now", ["two"])
    assert r["pooled"]["two"] > r["pooled"]["now"] and r["folds_where_it_wins"] == 2 and r["adopt"] == "now"
    both = _study({"now": current, "two": two, "three": three})
    r = studies.choose_over_folds(both, "now", ["two", "three"])
    assert r["best"] == "two" and r["adopt"] == "now"  # the best pooled is the one judged


def test_a_rerun_on_other_members_never_overwrites_the_recorded_decision(tmp_path: Path) -> None:
    recorded = studies.record_path(tmp_path, "end_slices", list(members.SEED_TAGS))  # argparse gives lists
    assert recorded == tmp_path / "end_slices.json"
    other = studies.record_path(tmp_path, "end_slices", members.K3_TAGS)
    assert other == tmp_path / "end_slices_mean_k3_k3s2.json"


def test_the_adoption_rule_judges_only_the_candidates_it_is_given() -> None:
    """ig_baseline_sanity.py hands the rule only the eligible variants: an ineligible variant that
    points best is never adopted, and with none eligible the current one stays."""
    folds = {c: {"pointing": {"now": 0.2, "good": 0.4, "better": 0.5}} for c in ("a", "b", "c", "d")}
    pooled = {"now": 0.2, "good": 0.4, "better": 0.5}
    assert studies.adoption(folds, pooled, "now", ["good", "better"])["adopt"] == "better"
    assert studies.adoption(folds, pooled, "now", ["good"]) == {"best": "good", "folds_where_it_wins": 4,
                                                              "adopt": "good"}
    none = studies.adoption(folds, pooled, "now", [])
    assert none == {"best": None, "folds_where_it_wins": 0, "adopt": "now"}


def test_a_plugin_script_with_a_dataclass_loads(tmp_path: Path) -> None:
    """``script_module`` registers the script before running it: a dataclass under postponed
    annotations (lesion_cls/train.py's ``CalibratedValidation``) looks its module up while it is built."""
    script = tmp_path / "train.py"
    script.write_text("from __future__ import annotations\nfrom dataclasses import dataclass\n\n\n"
                      "@dataclass\nclass Fit:\n    a: float\n    b: float = 0.0\n", encoding="utf-8")
    mod = studies.script_module(script)
    assert mod.Fit(2.0).a == 2.0 and mod.Fit(2.0).b == 0.0


def test_the_recipe_rule_needs_a_higher_mean_and_three_folds() -> None:
    """``recipe_decision``: per-volume rows per fold; the candidate must beat the current recipe's
    mean Dice over the folds and win in at least three folds (organ_scale / bright_negatives studies)."""

    def rows(now: list[float], new: list[float]) -> list[dict]:
        pairs = enumerate(zip(now, new, strict=True))
        return [{"modality": "CT" if i % 2 == 0 else "MR", "current": {"dice": x, "lesion_peak": 0.9},
                 "candidate": {"dice": y, "lesion_peak": 0.4}} for i, (x, y) in pairs]

    a, b, c, d = sources.CASES
    two = {a: rows([0.2, 0.0], [0.9, 0.9]), b: rows([0.2, 0.0], [0.9, 0.9]),
           c: rows([0.5, 0.5], [0.4, 0.4]), d: rows([0.5, 0.5], [0.4, 0.4])}
    r = studies.recipe_decision(two, "current", "candidate")
    assert r["mean_dice"]["candidate"] > r["mean_dice"]["current"] and r["folds_where_candidate_wins"] == 2
    assert r["adopt"] == "current"
    three = {**two, c: rows([0.5, 0.5], [0.6, 0.6])}
    r = studies.recipe_decision(three, "current", "candidate")
    assert r["adopt"] == "candidate" and r["folds_where_candidate_wins"] == 3
    pooled = r["pooled"]
    assert pooled["CT"]["current"] == {"dice": 0.35, "hits": 4, "lesion_peak_over_0.5": 4, "volumes": 4}
    assert pooled["MR"]["candidate"]["lesion_peak_over_0.5"] == 0 and pooled["all"]["candidate"]["hits"] == 8


def test_a_real_lesion_the_engine_would_report_is_set_aside_for_the_synthetic_one() -> None:
    """``studies.replay_picks``: a synthetic volume on lung2 keeps lung2's real mass; the engine's rule
    reports it (more confident than the synthetic lesion), which a study would score as a miss."""
    import numpy as np

    from medlens.inference.manifest import load_manifest

    m = load_manifest(Path(__file__).resolve().parents[2] / "plugins" / "lesion_seg" / "plugin.toml")
    assert m.options.component_rule == "peak"
    prob = np.zeros((8, 40, 40), np.float32)
    real = np.zeros(prob.shape, bool)
    real[2:6, 5:15, 5:15] = True
    synthetic = np.zeros(prob.shape, bool)
    synthetic[2:6, 25:33, 25:33] = True
    prob[real], prob[synthetic] = 0.97, 0.8
    ignore = real.copy()  # the anatomy's ``ignore``: the real lesion (grown, in lesion_data)
    every, aside = studies.replay_picks(prob > 0.5, prob, m, ignore, (1.0, 1.0, 5.0))
    assert not every.any()  # the real mass is picked, and its voxels count neither way: a miss
    assert np.array_equal(aside, synthetic)  # set aside, the synthetic lesion is what is reported
    prob[real] = 0.6  # when the synthetic lesion already wins, setting aside changes nothing
    every, aside = studies.replay_picks(prob > 0.5, prob, m, ignore, (1.0, 1.0, 5.0))
    assert np.array_equal(every, synthetic) and np.array_equal(aside, synthetic)


def test_a_real_aside_study_decides_on_the_real_aside_dice() -> None:
    """``real_aside_rows``: the rule (which reads ``dice``) then judges each recipe by the Dice with the
    real lesion set aside; a recipe that reports the anatomy's real lesion is no longer penalised."""
    def row(now: tuple[float, float], new: tuple[float, float]) -> dict:
        return {"modality": "CT", "current": {"dice": now[0], "dice_real_aside": now[1], "lesion_peak": 0.9},
                "candidate": {"dice": new[0], "dice_real_aside": new[1], "lesion_peak": 0.9}}

    # the candidate finds the real lesion (all-regions Dice 0) and the synthetic one once it is set aside
    folds = {f: [row((0.3, 0.3), (0.0, 0.8))] for f in sources.CASES}
    assert studies.recipe_decision(folds, "current", "candidate")["adopt"] == "current"
    aside = studies.real_aside_rows(folds, ("current", "candidate"))
    r = studies.recipe_decision(aside, "current", "candidate")
    assert r["adopt"] == "candidate" and r["mean_dice"] == {"current": 0.3, "candidate": 0.8}
    assert folds[sources.CASES[0]][0]["candidate"]["dice"] == 0.0  # the cached rows are not changed


def test_a_steps_study_stops_on_a_member_trained_another_number_of_steps(monkeypatch) -> None:
    """``require_steps`` checks every member of each recipe, not only the first."""
    trained = {"_a": 2000, "_as2": 2000, "_b": 4000, "_bs2": 2000}
    monkeypatch.setattr(members, "info", lambda fold, tag: {"steps": trained[tag]})
    recipes = {"current": (("_a", "_as2"), 3.0), "candidate": (("_b", "_bs2"), 3.0)}
    with pytest.raises(ValueError, match="member _bs2 of lung1 trained 2000 steps, not 4000"):
        studies.require_steps("lung1", recipes, {"current": 2000, "candidate": 4000})
    trained["_bs2"] = 4000
    studies.require_steps("lung1", recipes, {"current": 2000, "candidate": 4000})
