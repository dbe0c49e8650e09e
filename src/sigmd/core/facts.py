"""The facts of one case as of a date that every profile and reference set share: the results used and not
used (and why), the vaccine challenge, secondary-cause matches, treatment windows and clinical features."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from sigmd.core.course import (
    BLINDED,
    AntibodyData,
    BlindingWindow,
    blinded_by,
    blinding_windows,
    usable_antibody_data,
)
from sigmd.core.features import FeatureSummary, summarise_features
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Case, LabResult
from sigmd.core.secondary import MatchStatus, SecondaryMatch, match_secondary_causes
from sigmd.core.vaccines import PneumococcalResponse, assess_pneumococcal


class AssessmentError(ValueError):
    """The case cannot be assessed (for example it has no IgM result on or before the as-of date)."""


@dataclass(frozen=True)
class NotUsed:
    result: LabResult
    reason: str


@dataclass(frozen=True)
class CaseFacts:
    """What every assessment of a case as of a date shares, whatever the profile and reference set."""

    case: Case
    as_of: date
    used: tuple[LabResult, ...]
    not_used: tuple[NotUsed, ...]
    pneumococcal: PneumococcalResponse | None
    secondary_matches: tuple[SecondaryMatch, ...]
    """Matches to secondary causes, except those reviewed and marked not causal."""
    reviewed_matches: tuple[SecondaryMatch, ...]
    windows: tuple[BlindingWindow, ...] = ()
    """Treatments during which IgG and antibody responses cannot be interpreted."""
    uncertain_matches: tuple[SecondaryMatch, ...] = ()
    """Causes named but not settled (suspected, planned, coded without confirming text), not reviewed."""
    uncounted_matches: tuple[SecondaryMatch, ...] = ()
    """Causes named only to be negated, for someone else, or by a local route."""
    antibody: AntibodyData | None = None
    """The vaccine responses that may be used, and those set aside with the reason."""
    features: FeatureSummary | None = None


def case_facts(case: Case, knowledge: Knowledge, *, as_of: date, vaccine_rule_set: str | None = None) -> CaseFacts:
    """Sort the results into used and not used, and judge the vaccine challenge and secondary causes.

    Raises `AssessmentError` when no IgM result is left to assess.
    """
    windows = blinding_windows(case, knowledge)
    used: list[LabResult] = []
    not_used: list[NotUsed] = []
    for result in case.results:
        blinded = blinded_by(result.collected, windows) if result.analyte in BLINDED else ""
        if result.collected > as_of:
            not_used.append(NotUsed(result, f"dated after the as-of date {as_of}"))
        elif blinded:
            not_used.append(NotUsed(result, f"not used for IgG interpretation: taken during {blinded}"))
        else:
            used.append(result)
    if not any(r.analyte is Analyte.IGM for r in used):
        raise AssessmentError(
            f"results: no IgM result on or before the as-of date {as_of}; sigmd needs at least one"
            + _input_notes_summary(case)
        )
    pneumococcal = _pneumococcal(
        case, knowledge, windows_reason=_challenge_blinded(case, windows), as_of=as_of, rule_set=vaccine_rule_set
    )
    records = (case.conditions or ()) + (case.medications or ())
    matches = match_secondary_causes(records, knowledge.secondary_causes, knowledge.secondary_context)
    named = tuple(m for m in matches if m.status is not MatchStatus.DOES_NOT_COUNT)
    return CaseFacts(
        case=case,
        as_of=as_of,
        used=tuple(used),
        not_used=tuple(not_used),
        pneumococcal=pneumococcal,
        secondary_matches=tuple(m for m in named if m.counts and not m.record.reviewed_not_causal),
        reviewed_matches=tuple(m for m in named if m.record.reviewed_not_causal),
        windows=windows,
        uncertain_matches=tuple(m for m in named if not m.counts and not m.record.reviewed_not_causal),
        uncounted_matches=tuple(m for m in matches if m.status is MatchStatus.DOES_NOT_COUNT),
        antibody=usable_antibody_data(case, windows, as_of, knowledge.vaccines),
        features=summarise_features(case, knowledge.features),
    )


def _input_notes_summary(case: Case, limit: int = 5) -> str:
    """What the reader did not pass on, IgM first, for the message that says no IgM result is left."""
    notes = sorted(case.input_notes, key=lambda note: Analyte.IGM.value not in note.reason)
    if not notes:
        return ""
    listed = "; ".join(f"{note.origin} {note.kind.value} ({note.reason})" for note in notes[:limit])
    more = f"; and {len(notes) - limit} more in the warnings" if len(notes) > limit else ""
    return f". Not used from the input: {listed}{more}"


def _challenge_blinded(case: Case, windows: tuple[BlindingWindow, ...]) -> str:
    challenge = case.pneumococcal
    if challenge is None:
        return ""
    days = (challenge.vaccinated, *(t.collected for t in challenge.titres))
    reason = next((blinded_by(day, windows) for day in days if blinded_by(day, windows)), "")
    return f"the vaccination or its samples fall during {reason}" if reason else ""


def _pneumococcal(
    case: Case, knowledge: Knowledge, *, windows_reason: str, as_of: date, rule_set: str | None
) -> PneumococcalResponse | None:
    challenge = case.pneumococcal
    if challenge is None or challenge.vaccinated > as_of:
        return None
    titres = tuple(t for t in challenge.titres if t.collected <= as_of)
    return assess_pneumococcal(
        replace(challenge, titres=titres), case.patient, knowledge.vaccines, rule_set, windows_reason
    )
