"""Clinical features: infections counted per year, recurrence, allergy and autoimmunity."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sigmd.core.course import autoimmune_kind
from sigmd.core.knowledge import FeatureRules
from sigmd.core.model import Case, Infection


@dataclass(frozen=True)
class FeatureSummary:
    recorded: bool
    symptomatic: bool | None
    recurrent_infections: bool | None
    severe_infection: bool
    recurrence_reason: str
    infections_per_year: dict[str, dict[str, int]]
    organisms: tuple[str, ...]
    allergies: tuple[str, ...]
    autoimmunity: tuple[str, ...]


def summarise_features(case: Case, rules: FeatureRules) -> FeatureSummary:
    """Symptomatic or not, recurrent infections by the documented rule, counts per calendar year."""
    autoimmune_from_conditions = tuple(
        f"{autoimmune_kind(c.text, rules)} ({c.text})" for c in case.conditions or () if autoimmune_kind(c.text, rules)
    )
    if case.features is None:
        return FeatureSummary(
            recorded=False,
            symptomatic=True if autoimmune_from_conditions else None,
            recurrent_infections=None,
            severe_infection=False,
            recurrence_reason="no clinical features were recorded",
            infections_per_year={},
            organisms=(),
            allergies=(),
            autoimmunity=autoimmune_from_conditions,
        )
    features = case.features
    per_year: dict[str, Counter[str]] = {}
    for infection in features.infections:
        year = str(infection.when.year) if infection.when else "undated"
        per_year.setdefault(year, Counter())[infection.kind] += infection.count
    recurrent, reason = _recurrent(features.infections, rules)
    severe = any(i.kind in rules.invasive_infections for i in features.infections)
    autoimmunity = (
        tuple(f"{a.kind} ({a.text})" if a.text else a.kind for a in features.autoimmune) + autoimmune_from_conditions
    )
    symptomatic = bool(features.infections or features.allergies or autoimmunity)
    return FeatureSummary(
        recorded=True,
        symptomatic=symptomatic,
        recurrent_infections=recurrent,
        severe_infection=severe,
        recurrence_reason=reason,
        infections_per_year={year: dict(sorted(c.items())) for year, c in sorted(per_year.items())},
        organisms=tuple(sorted({i.organism for i in features.infections if i.organism})),
        allergies=features.allergies,
        autoimmunity=autoimmunity,
    )


def _recurrent(infections: tuple[Infection, ...], rules: FeatureRules) -> tuple[bool, str]:
    rule = rules.recurrence
    basis = f"rule: {rule.note}"
    if rule.any_invasive:
        invasive = [i for i in infections if i.kind in rules.invasive_infections]
        if invasive:
            return True, f"invasive infection ({', '.join(sorted({i.kind for i in invasive}))}); {basis}"
    dated = sorted(((i.when, i) for i in infections if i.when is not None), key=lambda pair: pair[0])
    window_counts: list[tuple[int, int]] = []
    for start, _ in dated:
        end = rule.window.reached_on(start)
        inside = [i for when, i in dated if start <= when < end]
        window_counts.append(_counts(inside, rule.respiratory_types))
    for i in infections:
        if i.when is None and i.period_months is not None and i.period_months <= rule.window.months:
            window_counts.append(_counts([i], rule.respiratory_types))
    respiratory = max((r for r, _ in window_counts), default=0)
    pneumonia = max((p for _, p in window_counts), default=0)
    if respiratory >= rule.respiratory_min or pneumonia >= rule.pneumonia_min:
        return (
            True,
            f"{respiratory} respiratory infection(s) and {pneumonia} pneumonia(s) within {rule.window}; {basis}",
        )
    return (
        False,
        f"at most {respiratory} respiratory infection(s) and {pneumonia} pneumonia(s) within {rule.window}; {basis}",
    )


def _counts(infections: list[Infection], respiratory_types: tuple[str, ...]) -> tuple[int, int]:
    respiratory = sum(i.count for i in infections if i.kind in respiratory_types)
    pneumonia = sum(i.count for i in infections if i.kind == "pneumonia")
    return respiratory, pneumonia
