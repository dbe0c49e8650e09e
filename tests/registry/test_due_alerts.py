"""The follow-up list keeps every patient with an open alert, whatever the label."""

from __future__ import annotations

from datetime import date

from sigmd.core.knowledge import Knowledge
from sigmd.registry import Registry
from tests.cases import build_case

AS_OF = date(2026, 8, 1)


def test_a_patient_progressing_to_a_cvid_pattern_is_due_with_the_alert_tests(
    registry: Registry, knowledge: Knowledge
) -> None:
    """Isolated low IgM that became a CVID pattern is on the due list at its review date, with B-cell subsets."""
    case = build_case(
        knowledge,
        ("IgM", 12, "mg/dL", "2026-01-10"),
        ("IgG", 950, "mg/dL", "2026-01-10"),
        ("IgA", 160, "mg/dL", "2026-01-10"),
        ("IgM", 11, "mg/dL", "2026-07-14"),
        ("IgG", 380, "mg/dL", "2026-07-14"),
        ("IgA", 20, "mg/dL", "2026-07-14"),
    )
    stored = registry.record(case, patient_id="cvid-1", actor="dr.a", as_of=AS_OF)
    assert (stored.label, stored.next_follow_up) == ("cvid_pattern", date(2027, 2, 1))
    assert registry.due_for_follow_up(date(2026, 12, 1), within_days=30) == []
    [entry] = registry.due_for_follow_up(date(2027, 2, 1), within_days=0)
    assert entry.patient_id == "cvid-1"
    assert "B-cell subsets with switched memory B cells" in entry.tests
    assert "pattern_progression" in entry.reason


def test_an_unchanged_normal_patient_with_no_alert_is_never_due(registry: Registry, knowledge: Knowledge) -> None:
    """Normal IgM, IgG and IgA at two visits open no alert, plan no review and never appear on the due list."""
    case = build_case(
        knowledge,
        *(
            (analyte, value, "mg/dL", day)
            for day in ("2026-01-10", "2026-07-14")
            for analyte, value in (("IgM", 120), ("IgG", 1000), ("IgA", 200))
        ),
    )
    stored = registry.record(case, patient_id="n-2", actor="dr.a", as_of=AS_OF)
    assert (stored.label, stored.next_follow_up) == ("normal", None)
    assert registry.due_for_follow_up(date(2030, 1, 1), within_days=365) == []
