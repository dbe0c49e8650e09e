"""The decision procedure reads in one hop: every verdict names the criteria that decided it, each defined once."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from sigmd.core.diagnosis import Certainty, decide
from sigmd.core.interpret import Status
from sigmd.core.knowledge import CriterionId, Knowledge
from sigmd.core.patterns import Pattern
from sigmd.core.rules import CRITERIA
from tests.cases import build_case, outcome, run

ROOT = Path(__file__).resolve().parents[2]
LOW_TWICE = (("IgM", 25, "mg/dL", "2025-01-10"), ("IgM", 22, "mg/dL", "2025-08-10"))
ABSENT_TWICE = (("IgM", 3, "mg/dL", "2025-01-10"), ("IgM", "<4", "mg/dL", "2025-08-10"))
NORMAL_IGG_IGA = (("IgG", 1000, "mg/dL", "2025-08-10"), ("IgA", 200, "mg/dL", "2025-08-10"))


def test_every_criterion_id_is_defined_once_and_nowhere_spelt_out_in_the_code() -> None:
    """Each CriterionId has exactly one definition in rules.CRITERIA, and no module outside rules spells an id."""
    assert set(CRITERIA) == set(CriterionId)
    pattern = re.compile("|".join(rf'"{c.value}"' for c in CriterionId))
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src" / "sigmd").rglob("*.py")
        if path.name not in ("knowledge.py",) and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_partial_sigmd_is_decided_by_igm_low_and_the_form_criterion(knowledge: Knowledge) -> None:
    """IgM low but not below 5 mg/dL is partial SIgMD, decided by 'IgM below the limit' and 'IgM absent' not met."""
    assessment = run(knowledge, build_case(knowledge, *LOW_TWICE, *NORMAL_IGG_IGA))
    assert assessment.diagnosis.label == "partial_sigmd"
    assert assessment.diagnosis.decided_by == (CriterionId.IGM_LOW, CriterionId.IGM_ABSENT)
    assert outcome(assessment, "igm_absent") == "not_met"


def test_complete_sigmd_is_decided_by_the_sourced_absent_threshold(knowledge: Knowledge) -> None:
    """IgM below 5 mg/dL twice is complete SIgMD; the form criterion cites the threshold and its source."""
    assessment = run(knowledge, build_case(knowledge, *ABSENT_TWICE, *NORMAL_IGG_IGA))
    form = next(c for c in assessment.criteria if c.id is CriterionId.IGM_ABSENT)
    assert assessment.diagnosis.label == "complete_sigmd" and form.outcome.value == "met"
    assert "below 5 mg/dL" in form.reason and form.source.title
    assert CriterionId.IGM_ABSENT in assessment.diagnosis.decided_by


def test_a_secondary_label_names_the_criterion_that_overrode_sigmd(knowledge: Knowledge) -> None:
    """Low IgM on clozapine is decided by 'IgM below the limit' and 'secondary causes excluded' (not met)."""
    case = build_case(knowledge, *LOW_TWICE, *NORMAL_IGG_IGA, medications=["Clozapine 300 mg daily"])
    diagnosis = run(knowledge, case).diagnosis
    assert diagnosis.label == "secondary_low_igm"
    assert diagnosis.decided_by == (CriterionId.IGM_LOW, CriterionId.SECONDARY_CAUSES_EXCLUDED)


def test_a_pattern_label_is_decided_by_the_pattern_not_a_criterion(knowledge: Knowledge) -> None:
    """Low IgG and IgA with normal IgM in an adult is a CVID pattern: the pattern decided it, no SIgMD criterion."""
    case = build_case(
        knowledge,
        ("IgM", 120, "mg/dL", "2025-08-10"),
        ("IgG", 300, "mg/dL", "2025-08-10"),
        ("IgA", 10, "mg/dL", "2025-08-10"),
    )
    diagnosis = run(knowledge, case).diagnosis
    assert diagnosis.label == "cvid_pattern" and diagnosis.decided_by == ()


def test_the_machine_output_and_the_report_name_the_deciding_criteria(knowledge: Knowledge) -> None:
    """`decided_by` in the JSON lists criteria ids that are all present in the criteria list."""
    from sigmd.report import Report

    case = build_case(knowledge, *LOW_TWICE, *NORMAL_IGG_IGA)
    report = Report(None, case, run(knowledge, case)).to_json()
    listed = {c["id"] for c in report["criteria"]}
    assert report["diagnosis"]["decided_by"] == ["igm_low", "igm_absent"]
    assert set(report["diagnosis"]["decided_by"]) <= listed


def test_a_decision_resting_on_an_implausible_result_is_at_most_provisional() -> None:
    """`decide` caps the certainty when the latest result of an analyte is implausible, and changes nothing else."""
    sure = decide(Pattern.CVID, [], Status.NORMAL, True)
    capped = decide(Pattern.CVID, [], Status.NORMAL, True, latest_unit_doubt=True)
    assert sure.certainty is Certainty.CONFIRMED
    assert capped == replace(sure, certainty=Certainty.PROVISIONAL)
    unsure = decide(Pattern.CVID, [], Status.NORMAL, False)
    assert decide(Pattern.CVID, [], Status.NORMAL, False, latest_unit_doubt=True) == unsure


def test_a_raised_igg_or_iga_caps_a_decision_only_beside_a_low_igm() -> None:
    """`other_class_raised` makes a decision at most provisional when the latest IgM is low or absent (a monoclonal
    protein can suppress it), and changes nothing beside a normal IgM."""
    for status in (Status.LOW, Status.ABSENT):
        sure = decide(Pattern.OTHER, [], status, True)
        assert sure.certainty is Certainty.CONFIRMED
        assert decide(Pattern.OTHER, [], status, True, other_class_raised=True) == replace(
            sure, certainty=Certainty.PROVISIONAL
        )
    normal = decide(Pattern.NORMAL, [], Status.NORMAL, True)
    assert decide(Pattern.NORMAL, [], Status.NORMAL, True, other_class_raised=True) == normal
