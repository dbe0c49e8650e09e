"""The one place where findings become words for the clinician."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigmd.core.course import IgmCourse
from sigmd.core.interpret import Interpretation, Status
from sigmd.core.knowledge import Label
from sigmd.core.model import Analyte
from sigmd.core.vaccines import IMPAIRED

if TYPE_CHECKING:
    from sigmd.core.assessment import Assessment

DISCLAIMER = (
    "sigmd supports clinical judgement and does not replace it. Verdicts depend on the reference set, "
    "the rule profile and the completeness of the data given; review them against the full clinical picture."
)


def describe_result(interp: Interpretation) -> str:
    """`IgM <5 mg/dL on 2026-07-10 (age 46.2 y): absent; limit 36.2 mg/dL (age-matched mean - 2 SD)`."""
    result = interp.result
    head = f"{result.analyte} {result.quantity.describe()} on {result.collected.isoformat()} (age {interp.age_years:.1f} y)"
    if interp.status is Status.NO_INTERVAL:
        return f"{head}: not judged: {interp.no_interval_reason}"
    parts = [f"{head}: {interp.status.value}"]
    if interp.low_limit is not None:
        parts.append(f"limit {interp.low_limit.value_mg_dl:.1f} mg/dL ({interp.low_limit.description})")
    elif interp.no_low_limit_reason:
        parts.append(f"no low limit: {interp.no_low_limit_reason}")
    if interp.interval is not None:
        parts.append(f"interval {interp.interval.description}")
    z = interp.z_score
    if z is not None:
        bound = "at most " if result.quantity.comparator.value in ("<", "<=") else ""
        bound = "at least " if result.quantity.comparator.value in (">", ">=") else bound
        parts.append(f"z {bound}{z:.2f}")
    return "; ".join(parts)


def not_measured(analyte: Analyte) -> str:
    return f"{analyte} was not measured"


def status_list(interps: list[Interpretation]) -> str:
    return ", ".join(f"{i.result.analyte} {i.status.value}" for i in interps)


_PLAIN_TESTS = {
    "repeat_igm": "a repeat blood test for IgM",
    "measure_igg": "a blood test for IgG, another antibody",
    "measure_iga": "a blood test for IgA, another antibody",
    "measure_igg_subclasses": "a more detailed blood test of your IgG antibodies",
    "pneumococcal_vaccine_challenge": (
        "a vaccine test: you are given a pneumonia vaccine, and your blood is checked before and about a month "
        "after to see how well your body responds"
    ),
    "rule_out_secondary_causes": "a review of your other illnesses and medicines",
    "rule_out_leukaemia_lymphoma": "a full blood count",
    "assess_t_cells": "a blood test of your white blood cells",
}


def _other_antibodies(assessment: Assessment) -> str:
    """What is true of IgG and IgA: 'normal' only for results that were measured, judged and normal."""
    states = {analyte: assessment.latest(analyte) for analyte in (Analyte.IGG, Analyte.IGA)}
    if all(i is not None and i.status is Status.NORMAL for i in states.values()):
        return "Your other main antibodies, IgG and IgA, are normal."
    parts = []
    for analyte, interp in states.items():
        if interp is None:
            parts.append(f"Your {analyte} has not been measured yet.")
        elif interp.status is Status.NORMAL:
            parts.append(f"Your {analyte} is normal.")
        elif interp.status is Status.HIGH:
            parts.append(f"Your {analyte} is higher than usual.")
        elif interp.status in (Status.LOW, Status.ABSENT):
            parts.append(f"Your {analyte} is low.")
        else:
            parts.append(f"Your {analyte} result could not be judged and needs checking.")
    return " ".join(parts)


LABEL_WORDS: dict[str, str] = {
    "normal": "Normal",
    "partial_sigmd": "Partial selective IgM deficiency",
    "complete_sigmd": "Complete selective IgM deficiency",
    "secondary_low_igm": "Low IgM with a possible secondary cause",
    "selective_iga_deficiency": "Selective IgA deficiency",
    "cvid_pattern": "Pattern of common variable immunodeficiency (CVID)",
    "hyper_igm_pattern": "Hyper-IgM pattern",
    "unclassified_antibody_deficiency": "Unclassified antibody deficiency",
    "isolated_low_igm": "Low IgM; the profile's criteria for SIgMD are not met",
    "other_abnormal": "Another abnormal antibody pattern",
    "insufficient_data": "Not enough data to judge",
}
"""Each diagnosis label in clinical language, for people; the machine output keeps the label itself."""

WORDS: dict[str, str] = {
    "met": "met",
    "not_met": "not met",
    "unknown": "unknown",
    "minus_2sd": "mean − 2 SD",
    "lower_limit": "published lower limit",
    "no_interval": "not judged (no interval applies)",
    "indeterminate": "undecided (a censored value, or results of one day that disagree)",
    "isolated_low_igm": "isolated low IgM",
    "panhypogammaglobulinaemia": "low IgG, IgA and IgM",
    "igg_subclass_only": "IgG-subclass deficiency only",
    "incomplete": "incomplete (a result is missing or not judged)",
    "never_low": "never low",
    "single_low": "one low result",
    "low_not_yet_persistent": "low, not yet shown to persist",
    "persistent": "persistently low",
    "normalised": "low before, now normal",
    "not_judged": "not judged",
    "not_assessed": "not assessed",
}
"""Other machine terms (criterion outcomes, statuses, limit bases, patterns, IgM course) in plain words."""


CERTAINTY_WORDS: dict[tuple[str, str], str] = {
    ("secondary_low_igm", "confirmed"): "low IgM confirmed; possible cause to review",
    ("secondary_low_igm", "provisional"): "low IgM not yet confirmed; possible cause to review",
}
"""A verdict's certainty where the bare word would contradict its label: a secondary cause is only ever possible,
so what "confirmed" confirms for `secondary_low_igm` is the low IgM (entry criteria met and persistent), not
the cause. Other labels keep the word itself."""


def label_words(label: str) -> str:
    """A diagnosis label as a clinician reads it."""
    return LABEL_WORDS.get(str(label), str(label).replace("_", " "))


def certainty_words(certainty: object, label: object = "") -> str:
    """The certainty of a verdict in words that agree with its label (`label_words`)."""
    return CERTAINTY_WORDS.get((str(label), str(certainty)), str(certainty))


def in_words(term: str) -> str:
    """A machine term (outcome, status, limit basis, pattern, course) in plain words."""
    return WORDS.get(str(term), str(term).replace("_", " "))


def patient_summary(assessment: Assessment) -> str:
    """A short explanation for the patient: what was found and what happens next, without jargon."""
    label = assessment.diagnosis.label
    lines = ["Your blood tests measured IgM, one of the antibodies that help your body fight infection."]
    if label in (Label.PARTIAL_SIGMD, Label.COMPLETE_SIGMD):
        level = "very low" if label is Label.COMPLETE_SIGMD else "lower than expected for your age"
        lines.append(f"Your IgM level is {level}.")
        lines.append(_other_antibodies(assessment))
        lines.append("This can be a condition called selective IgM deficiency.")
        if assessment.diagnosis.certainty == "confirmed":
            lines.append("The tests so far fit this condition.")
        else:
            lines.append("More tests are needed before your doctor can be sure.")
        lines.append(
            "Many people with it have no symptoms. Some get more infections, allergies or autoimmune problems."
        )
    elif label is Label.SECONDARY_LOW_IGM:
        causes = sorted({m.cause.name for m in assessment.secondary_matches})
        lines.append(
            f"Your IgM level is low. This may be caused by {' or '.join(causes) or 'another illness or a medicine'} "
            "rather than by a problem of the immune system itself. Your doctor will look into this."
        )
    elif label is Label.ISOLATED_LOW_IGM:
        lines.append("Your IgM level is lower than expected for your age.")
        lines.append(_other_antibodies(assessment))
        lines.append(
            "Under the definition your doctor used, this is not called selective IgM deficiency, because a "
            "condition it needs (such as repeated or serious infections) is not recorded. Your doctor will keep "
            "checking your antibody levels."
        )
    elif label is Label.INSUFFICIENT_DATA:
        lines.append(
            "Your IgM result could not be judged from the information available (for example, there is no "
            "reference range for this age, or the result needs checking). Your doctor may repeat the test."
        )
    elif label is Label.NORMAL:
        igm = assessment.latest(Analyte.IGM)
        if igm is not None and igm.status is Status.HIGH:
            lines.append(
                "Your IgM level is higher than the usual range for your age. Your doctor may arrange a further "
                "blood test (protein electrophoresis) to look at it more closely."
            )
        else:
            lines.append("Your IgM level is in the expected range for your age.")
        if assessment.igm_course is IgmCourse.NORMALISED:
            lines.append("It was low before, but it is now normal, so the earlier low result was probably temporary.")
    else:
        lines.append(
            "Your results show a pattern of antibody levels that is different from selective IgM deficiency. "
            "Your doctor may arrange more tests to understand it."
        )
    response = assessment.pneumococcal
    if response is not None and response.classification in IMPAIRED:
        lines.append("Your body made fewer antibodies than expected after the pneumonia vaccine.")
    if any(r.advice.id == "consider_ig_replacement" for r in assessment.recommendations):
        lines.append(
            "Because you also have frequent or serious infections, your doctor may talk with you about treatment "
            "with antibodies from donors (immunoglobulin replacement)."
        )
    for alert in assessment.alerts:
        if alert.id == "new_autoimmune_disease":
            lines.append("Your doctor will also look at the new autoimmune condition recorded in your notes.")
        else:
            lines.append("One of your other antibody levels has gone down, so your doctor will check it more closely.")
    tests = [_PLAIN_TESTS[w.advice.id] for w in assessment.workup if w.advice.id in _PLAIN_TESTS]
    if tests:
        lines.append("What happens next:")
        lines.extend(f"{test[0].upper()}{test[1:]}." for test in tests)
    if assessment.follow_up is not None:
        lines.append(f"Your next check-up is due around {assessment.follow_up.next_date:%d %B %Y}.")
    lines.append("Your doctor will explain what these results mean for you.")
    return " ".join(lines)
