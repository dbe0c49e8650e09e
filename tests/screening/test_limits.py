"""The engines' limit tables give, for every age, sex, analyte and reference set, the core's own low limit."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmd import content
from sigmd.core.ages import ExactAge
from sigmd.core.interpret import applicable_cutoff, interpret
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, LabResult, Patient, Quantity, Sex
from sigmd.screening.bands import content_day_horizon, cutoff_limits, set_limits
from sigmd.screening.tables import content_tables

KNOWLEDGE = content.load()


def _key(birth: date, on: date, horizon: int) -> tuple[int, int]:
    age = ExactAge.between(birth, on)
    return age.months, age.days if age.days < horizon else -1


@cache
def _table(set_id: str, profile_id: str) -> dict[tuple[str, str, int, int], float]:
    profile = KNOWLEDGE.profiles[profile_id]
    limits = set_limits(KNOWLEDGE.reference_sets[set_id], profile, content_day_horizon(KNOWLEDGE, profile))
    columns = limits.data
    keys = zip(columns["analyte"], columns["sex"], columns["months"], columns["day_key"], strict=True)
    return dict(zip(keys, columns["limit_mg_dl"], strict=True))


def _result(analyte: Analyte, on: date) -> LabResult:
    return LabResult(analyte, on, Quantity(100.0), "100", "mg/dL", origin="synthetic")


@settings(max_examples=300, deadline=None)
@given(
    birth=st.dates(date(1930, 1, 1), date(2025, 12, 31)),
    days=st.one_of(st.integers(0, 400), st.integers(0, 121 * 365)),
    sex=st.sampled_from(list(Sex)),
    set_id=st.sampled_from(sorted(KNOWLEDGE.reference_sets)),
    profile_id=st.sampled_from(sorted(KNOWLEDGE.profiles)),
)
def test_the_limit_table_equals_the_core_limit(birth: date, days: int, sex: Sex, set_id: str, profile_id: str) -> None:
    knowledge: Knowledge = KNOWLEDGE
    profile = knowledge.profiles[profile_id]
    horizon = content_day_horizon(knowledge, profile)
    table = _table(set_id, profile_id)
    on = birth + timedelta(days=days)
    months, day_key = _key(birth, on, horizon)
    patient = Patient(sex, birth)
    for analyte in Analyte:
        judged = interpret(
            _result(analyte, on), patient, knowledge.reference_sets[set_id], profile, knowledge.thresholds
        )
        core = None if judged.low_limit is None else judged.low_limit.value_mg_dl
        if analyte is Analyte.IGM and profile.igm_cutoffs:
            continue  # judged against the profile's cut-off: see the next test
        assert table.get((analyte.value, sex.value, months, day_key)) == core, (analyte, months, day_key)


@pytest.mark.parametrize("profile_id", sorted(p for p in KNOWLEDGE.profiles if KNOWLEDGE.profiles[p].igm_cutoffs))
def test_the_cutoff_table_equals_the_core_cutoff_at_every_age(profile_id: str) -> None:
    profile = KNOWLEDGE.profiles[profile_id]
    horizon = content_day_horizon(KNOWLEDGE, profile)
    cutoffs = cutoff_limits(profile, horizon).data
    table = dict(zip(zip(cutoffs["months"], cutoffs["day_key"], strict=True), cutoffs["limit_mg_dl"], strict=True))
    birth = date(2000, 2, 29)
    for days in range(0, 121 * 366, 7):
        on = birth + timedelta(days=days)
        cutoff = applicable_cutoff(profile, Patient(Sex.UNKNOWN, birth), _result(Analyte.IGM, on))
        assert table.get(_key(birth, on, horizon)) == (None if cutoff is None else cutoff.below_mg_dl), days


def test_without_the_sensitivity_table_only_the_chosen_sets_rows_are_built() -> None:
    """`every_set=False` builds the tables of every set for the chosen set only, row for row the same."""
    profile = KNOWLEDGE.profiles[KNOWLEDGE.default_profile]
    chosen = KNOWLEDGE.default_reference_set
    every = content_tables(KNOWLEDGE, profile, chosen).tables
    one = content_tables(KNOWLEDGE, profile, chosen, every_set=False).tables
    for name in ("intervals", "igm_limits"):
        assert set(every[name].column("set_id").to_pylist()) == set(KNOWLEDGE.reference_sets), name
        mine = [row for row in every[name].to_pylist() if row["set_id"] == chosen]
        assert one[name].to_pylist() == mine and mine, name
    for name in set(every) - {"intervals", "igm_limits"}:
        assert one[name].equals(every[name]), name
