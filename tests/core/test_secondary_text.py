"""Free text naming a secondary cause, read as a clinician reads it (negation, family history, route, codes)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmd import content
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import CodedText
from sigmd.core.secondary import MatchStatus, SecondaryMatch, match_secondary_causes
from sigmd.report import Report
from tests.cases import NORMAL_BLOOD_COUNT, adult_normal_igg_iga, build_case, outcome, run

JAN, JUL = "2026-01-10", "2026-07-14"
VERY_LOW_IGM_TWICE = [("IgM", 12, "mg/dL", JAN), ("IgM", 11, "mg/dL", JUL), *adult_normal_igg_iga(JUL)]


def read(knowledge: Knowledge, text: str, code: str = "", system: str = "") -> tuple[SecondaryMatch, ...]:
    return match_secondary_causes(
        (CodedText(text, code, system, origin="conditions[0]"),),
        knowledge.secondary_causes,
        knowledge.secondary_context,
    )


def status_of(knowledge: Knowledge, text: str, cause: str, code: str = "", system: str = "") -> MatchStatus | None:
    return next((m.status for m in read(knowledge, text, code, system) if m.cause.id == cause), None)


# --- negation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("No history of lymphoma", "lymphoma"),
        ("HIV negative", "infections"),
        ("negative for HIV", "infections"),
        ("Lymphoma ruled out on PET-CT", "lymphoma"),
        ("Denies clozapine use", "clozapine"),
        ("No history of asthma, lymphoma or CLL", "cll"),
        ("No history of asthma, lymphoma or CLL", "lymphoma"),
        ("Not on prednisolone", "corticosteroids"),
        ("Rituximab declined", "anti_cd20"),
        ("Declined rituximab", "anti_cd20"),
        ("Clozapine allergy", "clozapine"),
        ("Mycophenolate intolerance", "immunosuppressants"),
        ("Rituximab contraindicated", "anti_cd20"),
    ],
)
def test_a_negated_mention_does_not_make_a_secondary_cause(knowledge: Knowledge, text: str, cause: str) -> None:
    """A cause named only to say it is absent ("No history of lymphoma", "HIV negative") does not count."""
    assert status_of(knowledge, text, cause) is MatchStatus.DOES_NOT_COUNT


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("Rituximab 1 g for ANCA negative vasculitis", "anti_cd20"),
        ("Rituximab (HBsAg negative) 2026-06", "anti_cd20"),
        ("Follicular lymphoma PET negative after R-CHOP 2025", "lymphoma"),
        ("CLL del17p absent, watch and wait", "cll"),
        ("No side effects on clozapine 400 mg", "clozapine"),
        ("Never misses clozapine doses", "clozapine"),
        ("Allogeneic donor stem cell transplant for Hodgkin lymphoma 2022", "lymphoma"),
        ("Sibling donor transplant for CLL", "cll"),
        ("HIV test negative", "infections"),
        ("Family history (mother): CLL", "cll"),
    ],
)
def test_a_negation_or_relative_that_may_be_about_something_else_leaves_the_cause_uncertain(
    knowledge: Knowledge, text: str, cause: str
) -> None:
    """A negation or a relative further from the mention than it is sure of, or across a bracket, may be about
    something else (the test, the vasculitis, the donor): the cause is uncertain, never excluded, and the reason
    names the trigger. Each of these once read as "does not count" and confirmed a primary verdict."""
    found = next(m for m in read(knowledge, text) if m.cause.id == cause)
    assert found.status is MatchStatus.UNCERTAIN
    assert "cannot tell whether it is about this cause" in found.reason


def test_not_currently_on_a_drug_reads_as_past_use(knowledge: Knowledge) -> None:
    """ "Not currently on rituximab (last dose May)" says it was taken: a past cause, which counts."""
    assert status_of(knowledge, "Not currently on rituximab (last dose 2026-05-10)", "anti_cd20") is MatchStatus.COUNTS


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("Follicular lymphoma, in remission", "lymphoma"),
        ("HIV positive, on antiretroviral therapy", "infections"),
        ("HIV positive and HCV negative", "infections"),
        ("CLL with negative DAT", "cll"),
        ("Non-Hodgkin lymphoma", "lymphoma"),
        ("No known allergies, prednisolone 20 mg daily", "corticosteroids"),
        ("Previous asthma, now on clozapine 300 mg", "clozapine"),
        ("No response to rituximab", "anti_cd20"),
        ("Did not respond to rituximab", "anti_cd20"),
        ("No change in clozapine dose", "clozapine"),
        ("Allergic asthma on prednisolone 40 mg", "corticosteroids"),
        ("CLL lymphocyte count declined", "cll"),
        ("Penicillin allergy; clozapine 300 mg", "clozapine"),
    ],
)
def test_an_affirmed_mention_makes_a_secondary_cause(knowledge: Knowledge, text: str, cause: str) -> None:
    """A cause the text affirms counts, even beside a negation that belongs to something else."""
    assert status_of(knowledge, text, cause) is MatchStatus.COUNTS


def test_the_output_shows_the_trigger_that_negated_a_mention(knowledge: Knowledge) -> None:
    """The match names the words matched and why they did not count ("negated by 'No history of'")."""
    (match,) = read(knowledge, "No history of lymphoma")
    assert (match.text_matched, match.reason) == ("lymphoma", "does not count: negated by 'No history of'")
    assert match.mentions[0].trigger == "No history of"


# --- family history ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("Family history of CLL", "cll"),
        ("Mother had lymphoma", "lymphoma"),
        ("Lymphoma in paternal uncle", "lymphoma"),
        ("FH: myeloma", "myeloma"),
        ("Daughter with coeliac disease", "protein_losing_enteropathy"),
        ("Mother on clozapine", "clozapine"),
    ],
)
def test_a_relatives_illness_does_not_make_a_secondary_cause(knowledge: Knowledge, text: str, cause: str) -> None:
    """A family history of CLL or lymphoma is about someone else and does not count."""
    assert status_of(knowledge, text, cause) is MatchStatus.DOES_NOT_COUNT
    (match,) = read(knowledge, text)
    assert "another person" in match.reason


def test_the_patients_own_cll_counts(knowledge: Knowledge) -> None:
    """The patient's own CLL counts, as the family-history case does not."""
    assert status_of(knowledge, "CLL, Binet stage A", "cll") is MatchStatus.COUNTS


# --- route ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Prednisolone eye drops",
        "Prednisolone 0.5% eye drops",
        "Hydrocortisone 1% cream",
        "Topical hydrocortisone",
        "Inhaled corticosteroids",
        "Dexamethasone ear drops",
    ],
)
def test_a_local_corticosteroid_is_not_a_systemic_corticosteroid(knowledge: Knowledge, text: str) -> None:
    """Eye drops, creams, ear drops and inhalers are local: they do not make a systemic corticosteroid."""
    assert status_of(knowledge, text, "corticosteroids") is MatchStatus.DOES_NOT_COUNT
    (match,) = read(knowledge, text)
    assert match.reason.startswith("does not count: local route")


@pytest.mark.parametrize(
    "text",
    [
        "Prednisolone 20 mg daily",
        "Prednisolone 30 mg for nasal polyps",
        "Prednisolone 5 mg tablets and hydrocortisone cream",
    ],
)
def test_a_systemic_corticosteroid_counts(knowledge: Knowledge, text: str) -> None:
    """Oral prednisolone is a systemic corticosteroid, even beside a cream or a word such as "nasal"."""
    assert status_of(knowledge, text, "corticosteroids") is MatchStatus.COUNTS


def test_a_locally_coded_corticosteroid_is_not_systemic(knowledge: Knowledge) -> None:
    """ "Prednisolone" coded ATC S01BA04 (eye) is local; coded H02AB06 (systemic) it counts with its text."""
    assert status_of(knowledge, "Prednisolone", "corticosteroids", "S01BA04", "ATC") is MatchStatus.DOES_NOT_COUNT
    assert status_of(knowledge, "Prednisolone", "corticosteroids", "H02AB06", "ATC") is MatchStatus.COUNTS


def test_a_local_route_only_concerns_systemic_only_causes(knowledge: Knowledge) -> None:
    """A route word does not change a cause that is not systemic-only: methotrexate cream still names methotrexate."""
    assert status_of(knowledge, "Methotrexate cream", "immunosuppressants") is MatchStatus.COUNTS


# --- uncertainty ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("?lymphoma", "lymphoma"),
        ("Lymphoma not excluded", "lymphoma"),
        ("Possible CLL, awaiting flow cytometry", "cll"),
        ("HIV status unknown", "infections"),
        ("Consider rituximab", "anti_cd20"),
    ],
)
def test_a_suspected_or_planned_cause_is_neither_counted_nor_excluded(
    knowledge: Knowledge, text: str, cause: str
) -> None:
    """A suspected or planned cause leaves the exclusion unknown rather than excluded or counted."""
    assert status_of(knowledge, text, cause) is MatchStatus.UNCERTAIN
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, conditions=[text], medications=[], **NORMAL_BLOOD_COUNT)
    assessment = run(knowledge, case)
    assert outcome(assessment, "secondary_causes_excluded") == "unknown"
    assert assessment.diagnosis.label != "secondary_low_igm"
    assert "rule_out_secondary_causes" in {w.advice.id for w in assessment.workup}


# --- codes ------------------------------------------------------------------------------------------------


def test_an_unverified_code_alone_does_not_count(knowledge: Knowledge) -> None:
    """A code from an unverified list (other leukaemia C92.0) alone is uncertain: not counted, not excluded."""
    assert status_of(knowledge, "", "leukaemia_other", "C92.0", "ICD-10") is MatchStatus.UNCERTAIN
    case = build_case(
        knowledge,
        *VERY_LOW_IGM_TWICE,
        conditions=[{"code": "C92.0", "system": "ICD-10"}],
        medications=[],
        **NORMAL_BLOOD_COUNT,
    )
    assessment = run(knowledge, case)
    assert assessment.secondary_matches == ()
    assert outcome(assessment, "secondary_causes_excluded") == "unknown"


def test_an_unverified_code_with_matching_text_counts(knowledge: Knowledge) -> None:
    """The same code with text naming the cause counts, and says it matched on both."""
    (match,) = read(knowledge, "Acute myeloid leukaemia", "C92.0", "ICD-10")
    assert match.status is MatchStatus.COUNTS
    assert match.matched_on == 'ICD-10 C92.0 with term "leukaemia"'


def test_a_verified_code_counts_alone(knowledge: Knowledge) -> None:
    """A code from a verified list (CLL C91.1) counts without text."""
    assert status_of(knowledge, "", "cll", "C91.1", "ICD-10") is MatchStatus.COUNTS


def test_a_code_its_own_text_contradicts_is_uncertain(knowledge: Knowledge) -> None:
    """A CLL code on a record whose text reads "Family history of CLL" is for review, never counted or dropped."""
    assert status_of(knowledge, "Family history of CLL", "cll", "C91.1", "ICD-10") is MatchStatus.UNCERTAIN


def test_a_broad_code_with_other_text_does_not_count(knowledge: Knowledge) -> None:
    """I89.0 is every lymphoedema: "lymphoedema of the left arm" is not intestinal lymphangiectasia."""
    assert status_of(knowledge, "Lymphoedema of the left arm", "protein_losing_enteropathy", "I89.0", "ICD-10") is (
        MatchStatus.DOES_NOT_COUNT
    )
    assert status_of(knowledge, "Intestinal lymphangiectasia", "protein_losing_enteropathy", "I89.0", "ICD-10") is (
        MatchStatus.COUNTS
    )


def test_q87_1_counts_for_noonan_but_not_for_prader_willi(knowledge: Knowledge) -> None:
    """Q87.1 covers all short-stature syndromes: Noonan syndrome counts, Prader-Willi syndrome does not."""
    assert status_of(knowledge, "Noonan syndrome", "lymphatic_syndromes", "Q87.1", "ICD-10") is MatchStatus.COUNTS
    assert status_of(knowledge, "Prader-Willi syndrome", "lymphatic_syndromes", "Q87.1", "ICD-10") is (
        MatchStatus.DOES_NOT_COUNT
    )


def test_k90_4_is_not_read_as_lymphangiectasia(knowledge: Knowledge) -> None:
    """K90.4 (malabsorption due to intolerance) names no secondary cause; I89.0 with its text does."""
    assert read(knowledge, "Lactose intolerance", "K90.4", "ICD-10") == ()


@pytest.mark.parametrize(
    ("code", "text", "cause"),
    [
        ("C88.0", "Waldenstrom macroglobulinaemia", "lymphoma"),
        ("B20", "HIV disease", "infections"),
        ("B24", "HIV disease", "infections"),
        ("T31.4", "Burns 40% body surface", "other_protein_loss"),
        ("C96.6", "Langerhans cell histiocytosis", "histiocytosis"),
    ],
)
def test_reviewed_codes_with_their_text_count(knowledge: Knowledge, code: str, text: str, cause: str) -> None:
    """Waldenstrom (C88.0), HIV (B20-B24), burns (T20-T32) and histiocytosis are causes with their text."""
    assert status_of(knowledge, text, cause, code, "ICD-10") is MatchStatus.COUNTS


# --- the diagnosis ----------------------------------------------------------------------------------------


def test_a_negated_cause_cannot_make_secondary_low_igm(knowledge: Knowledge) -> None:
    """With only "No history of lymphoma" and "Prednisolone eye drops", secondary causes are excluded."""
    case = build_case(
        knowledge,
        *VERY_LOW_IGM_TWICE,
        conditions=["No history of lymphoma", "Family history of CLL"],
        medications=["Prednisolone eye drops"],
        **NORMAL_BLOOD_COUNT,
    )
    assessment = run(knowledge, case)
    assert assessment.secondary_matches == ()
    assert outcome(assessment, "secondary_causes_excluded") == "met"
    assert assessment.diagnosis.label == "partial_sigmd"
    assert {m.cause.id for m in assessment.other_secondary_matches} == {"lymphoma", "cll", "corticosteroids"}
    facts = next(c.facts for c in assessment.criteria if c.id == "secondary_causes_excluded")
    assert any("negated by 'No history of'" in f for f in facts)


def test_an_affirmed_cause_makes_secondary_low_igm(knowledge: Knowledge) -> None:
    """With "Follicular lymphoma, in remission", low IgM is secondary."""
    case = build_case(
        knowledge,
        *VERY_LOW_IGM_TWICE,
        conditions=["Follicular lymphoma, in remission"],
        medications=[],
        **NORMAL_BLOOD_COUNT,
    )
    assessment = run(knowledge, case)
    assert [m.cause.id for m in assessment.secondary_matches] == ["lymphoma"]
    assert assessment.diagnosis.label == "secondary_low_igm"


def test_the_machine_output_shows_why_a_match_did_or_did_not_count(knowledge: Knowledge) -> None:
    """The JSON lists counting causes and, apart, the others, each with the words matched, trigger and reason."""
    case = build_case(
        knowledge,
        *VERY_LOW_IGM_TWICE,
        conditions=["No history of lymphoma"],
        medications=["Clozapine 300 mg nocte"],
        **NORMAL_BLOOD_COUNT,
    )
    report = Report(None, case, run(knowledge, case)).to_json()
    (counted,) = report["secondary_causes"]
    (other,) = report["secondary_causes_not_counted"]
    assert (counted["id"], counted["status"], counted["text_matched"][0]["text"]) == (
        "clozapine",
        "counts",
        "Clozapine",
    )
    assert (other["id"], other["status"], other["reason"]) == (
        "lymphoma",
        "does_not_count",
        "does not count: negated by 'No history of'",
    )
    assert other["text_matched"][0] | {"reason": ""} == {
        "text": "lymphoma",
        "term": "lymphoma",
        "status": "does_not_count",
        "modifier": "negated",
        "trigger": "No history of",
        "reason": "",
    }


def test_no_rituximab_opens_no_anti_cd20_window(knowledge: Knowledge) -> None:
    """IgG taken while the record says "no rituximab" is used; "rituximab 1 g" sets it aside."""

    def igg_used(medication: str) -> bool:
        case = build_case(knowledge, *VERY_LOW_IGM_TWICE, medications=[medication])
        return not any(n.result.analyte.value == "IgG" for n in run(knowledge, case).not_used)

    assert igg_used("No rituximab")
    assert not igg_used("Rituximab 1 g")


@pytest.mark.parametrize(
    ("medication", "set_aside"),
    [
        ("IVIG 0.4 g/kg every 4 weeks", True),
        ("Privigen 30 g monthly", True),
        ("IVIG planned", True),
        ("Previous IVIG", True),
        ("No IVIG", False),
        ("IVIG declined", False),
        ("Allergic to IVIG", False),
        ("Mother on IVIG", False),
        ("Not on immunoglobulin replacement", False),
    ],
)
def test_immunoglobulin_replacement_sets_igg_aside_unless_the_text_negates_it(
    knowledge: Knowledge, medication: str, set_aside: bool
) -> None:
    """Replacement named in the text sets IgG aside, planned or past included (it may have been given); a negated
    mention or another person's treatment does not, so the IgG is judged."""
    case = build_case(knowledge, *VERY_LOW_IGM_TWICE, medications=[medication])
    assessment = run(knowledge, case)
    aside = any(n.result.analyte.value == "IgG" for n in assessment.not_used)
    assert aside is set_aside
    assert outcome(assessment, "igg_normal") == ("unknown" if set_aside else "met")


# --- robustness -------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200), code=st.text(max_size=12))
def test_the_matcher_never_raises_on_arbitrary_text(knowledge: Knowledge, text: str, code: str) -> None:
    """Any text and code, however malformed, is read without error and each match carries a reason."""
    for system in ("ICD-10", "ATC", ""):
        for match in read(knowledge, text, code, system):
            assert match.reason


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["", "No ", "Family history of ", "?", "Possible ", "History of "]),
    filler=st.text(alphabet=st.characters(categories=["L", "Zs"]), max_size=30),
)
def test_the_reading_depends_on_the_text_only(knowledge: Knowledge, prefix: str, filler: str) -> None:
    """The same text reads the same on any record, so a batch can read each distinct text once."""
    text = f"{prefix}lymphoma {filler}"
    first = read(knowledge, text)
    again = match_secondary_causes(
        (CodedText(text, origin="medications[3]"),), knowledge.secondary_causes, knowledge.secondary_context
    )
    fresh = dataclasses.replace(knowledge.secondary_context, memo={})
    third = match_secondary_causes((CodedText(text),), knowledge.secondary_causes, fresh)
    assert [(m.status, m.reason) for m in first] == [(m.status, m.reason) for m in again]
    assert [(m.status, m.reason) for m in first] == [(m.status, m.reason) for m in third]


# --- the rule file ----------------------------------------------------------------------------------------


def test_the_context_rules_cite_negex_and_context(knowledge: Knowledge) -> None:
    """The shipped rule set names ConText as its source and NegEx beside it."""
    rules = knowledge.secondary_context
    assert (rules.source.id, [s.id for s in rules.see_also]) == ("harkema_2009_context", ["chapman_2001_negex"])


def _load_with(monkeypatch: pytest.MonkeyPatch, old: str, new: str) -> None:
    original = content._read

    def patched(name: str) -> str:
        text = original(name)
        return text.replace(old, new, 1) if name == "context_rules.toml" else text

    monkeypatch.setattr(content, "_read", patched)
    content.load_context_rules(content.load_sources())


def test_a_phrase_in_two_rules_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A trigger phrase listed under two rules is an error naming the phrase and the other rule."""
    with pytest.raises(
        content.ContentError, match=r"rules.historical.*'history of' is already in rule 'negation_before'"
    ):
        _load_with(monkeypatch, 'phrases = ["no", "not",', 'phrases = ["history of", "no", "not",')


def test_a_backward_reach_on_a_one_way_rule_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """`max_words_backward` applies to a rule reaching both ways; on a forward-only rule it is an error."""
    with pytest.raises(content.ContentError, match=r"rules.negation_before.*max_words_backward applies to a rule"):
        _load_with(
            monkeypatch,
            'direction = "forward"\nmax_words = 4\n',
            'direction = "forward"\nmax_words = 4\nmax_words_backward = 0\n',
        )


def test_a_certain_reach_beyond_the_reach_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """`certain_within` cannot exceed `max_words`: a rule cannot be sure further than it reaches."""
    with pytest.raises(content.ContentError, match=r"rules.negation_before.*certain_within must be within max_words"):
        _load_with(monkeypatch, "max_words = 4\ncertain_within = 0\n", "max_words = 4\ncertain_within = 5\n")


def test_an_unknown_modifier_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rule with a modifier sigmd does not know is an error naming the rule and the value."""
    with pytest.raises(content.ContentError, match=r"rules.negation_before.*'denial'"):
        _load_with(monkeypatch, 'modifier = "negated"', 'modifier = "denial"')


def test_the_shipped_rules_load_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same loader accepts the shipped file, so the refusals above come from the edits alone."""
    _load_with(monkeypatch, "", "")
