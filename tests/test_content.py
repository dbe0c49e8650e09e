"""The strict loaders of clinical content."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sigmd import content
from sigmd.core.knowledge import Knowledge
from sigmd.core.rules import CRITERIA
from sigmd.core.workup import WORKUP_FOR_CRITERION


def _patched(monkeypatch: pytest.MonkeyPatch, name: str, edit: Callable[[str], str]) -> None:
    original = content._read
    monkeypatch.setattr(content, "_read", lambda n: edit(original(n)) if n == name else original(n))


def test_bundled_content_loads(knowledge: Knowledge) -> None:
    """All bundled data files pass their strict checks and name their defaults."""
    assert knowledge.default_profile == "idf"
    assert knowledge.default_reference_set == "mayo"
    assert len(knowledge.reference_sets) >= 3
    assert len(knowledge.content_version) == 12


def test_unknown_key_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt key in a data file is an error naming the file and entry."""
    _patched(
        monkeypatch,
        "advice.toml",
        lambda t: t.replace("[advice.measure_igg]\n", '[advice.measure_igg]\nsoruce = "x"\n', 1),
    )
    with pytest.raises(content.ContentError, match=r"advice.toml \[advice.measure_igg\]: unknown key"):
        content.load_advice(content.load_sources())


def test_an_analyte_both_not_judged_and_judged_on_a_unit_slip_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """An analyte listed in `analytes` (not judged) and `warn_analytes` (judged with a warning) is a contradiction."""
    _patched(
        monkeypatch,
        "thresholds.toml",
        lambda t: t.replace('warn_analytes = ["IgM", "IgA"]', 'warn_analytes = ["IgM", "IgG"]', 1),
    )
    with pytest.raises(content.ContentError, match=r"\[unit_slip\]: IgG is in analytes .* and warn_analytes"):
        content.load_thresholds(content.load_sources())


def test_missing_source_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A threshold whose source id is not in the bibliography cannot load."""
    _patched(monkeypatch, "thresholds.toml", lambda t: t.replace('source = "idf_sigmd"', 'source = "nowhere"', 1))
    with pytest.raises(content.ContentError, match="unknown source id 'nowhere'"):
        content.load_thresholds(content.load_sources())


def test_interval_row_without_source_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reference-interval row without a source id is rejected with its line number."""
    _patched(monkeypatch, "reference_intervals.csv", lambda t: t.replace(",mg/dL,mayo_igm,", ",mg/dL,,", 1))
    sources = content.load_sources()
    with pytest.raises(content.ContentError, match=r"line 2: unknown source id ''"):
        content.load_reference_sets(sources, content.load_units(sources))


def test_profiles_use_only_defined_criteria(monkeypatch: pytest.MonkeyPatch) -> None:
    """A profile naming a criterion that the core does not define cannot load."""
    _patched(
        monkeypatch,
        "profiles.toml",
        lambda t: t.replace("[profiles.idf.criteria.igg_normal]", "[profiles.idf.criteria.igg_fine]", 1),
    )
    with pytest.raises(content.ContentError, match="no criterion with id 'igg_fine'"):
        content.load_profiles(content.load_sources())


def test_every_workup_item_maps_to_a_defined_criterion_and_advice(knowledge: Knowledge) -> None:
    """Work-up items are tied to criteria the core defines and advice the data provides."""
    assert set(WORKUP_FOR_CRITERION) <= set(CRITERIA)
    assert set(WORKUP_FOR_CRITERION.values()) <= set(knowledge.advice)
