"""The assessment report as every front end shows it: typed, and written as the stable machine output.

`document` turns the core's `Assessment` into a `ReportDocument`: frozen dataclasses whose attribute names are
the keys of `sigmd assess --json` (documented in docs/output.md). The terminal report, the CDS Hooks cards and
the web pages read its attributes; `ReportDocument.to_json` writes it as output version 1 (the `--json` output,
the registry's stored column, `Report.to_json`) and `ReportDocument.from_json` reads it back (the registry's
saved assessments), so a saved assessment is shown exactly as it was made, whatever the content is now.
Closed sets (labels, statuses, outcomes) are kept as their text values, as written in the output.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import date
from functools import cache
from typing import Any, Union, get_args, get_origin, get_type_hints

from sigmd import __version__
from sigmd.core.ages import age_in_years
from sigmd.core.assessment import Assessment
from sigmd.core.explain import DISCLAIMER, patient_summary
from sigmd.core.features import FeatureSummary
from sigmd.core.interpret import Interpretation
from sigmd.core.model import Analyte, Case
from sigmd.core.plan import Recommendation
from sigmd.core.provenance import Source
from sigmd.core.secondary import SecondaryMatch
from sigmd.core.vaccines import PneumococcalResponse

OUTPUT_VERSION = 1

OPTIONAL = {"optional": True}
"""Field metadata: the key is left out of the JSON when the value is empty ("", (), None)."""
# Keys added to output version 1 after the registry first stored it have defaults (`kw_only` where they sit
# between other keys), so that an assessment saved by an earlier sigmd still reads: a missing key with a default
# is read as that default. Such keys are always written.

NO_PUBLISHED_SOURCE = "no published source: sigmd default"


@dataclass(frozen=True)
class SourceRef:
    """Where a rule, interval or piece of advice comes from."""

    id: str
    title: str
    url: str = field(default="", metadata=OPTIONAL)
    note: str = field(default="", metadata=OPTIONAL)
    """`no published source: sigmd default` for sigmd's own defaults."""


@dataclass(frozen=True)
class PatientEntry:
    id: str | None
    sex: str
    birth_date: date
    birth_date_is_estimated: bool
    age_years: float
    """At `as_of`."""


@dataclass(frozen=True)
class DiagnosisEntry:
    label: str
    certainty: str
    profile: str
    summary: str
    reasons: tuple[str, ...]
    decided_by: tuple[str, ...] = ()
    """Ids of the criteria that decided the label (empty when the pattern of results decided it)."""


@dataclass(frozen=True)
class ProfileEntry:
    id: str
    name: str
    version: str
    low_limit: str
    source: SourceRef


@dataclass(frozen=True)
class ReferenceSetEntry:
    id: str
    name: str
    version: str
    percentiles: str
    gap_fills: tuple[str, ...]
    limitations: tuple[str, ...]


@dataclass(frozen=True)
class IntervalEntry:
    description: str
    from_laboratory: bool
    source: SourceRef


@dataclass(frozen=True)
class ResultEntry:
    """One result used, as interpreted: values and limits in mg/dL."""

    analyte: str
    date: date
    origin: str
    reported: str
    """The value and unit as reported (`0.25 g/L`)."""
    value_mg_dl: float
    comparator: str
    age_years: float
    status: str
    lower_limit_mg_dl: float | None
    upper_limit_mg_dl: float | None
    minus_2sd_mg_dl: float | None
    z_score: float | None
    z_score_is_bound: bool
    percentile: float | None
    limit_used_mg_dl: float | None
    limit_basis: str | None
    limit_description: str | None = field(default=None, kw_only=True)
    interval: IntervalEntry | None
    not_judged_because: str | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class IgmEntry:
    """The latest IgM, judged as in `ResultEntry`."""

    value_mg_dl: float
    comparator: str
    reported: str
    date: date
    status: str
    lower_limit_mg_dl: float | None
    upper_limit_mg_dl: float | None
    minus_2sd_mg_dl: float | None
    z_score: float | None
    z_score_is_bound: bool
    percentile: float | None
    limit_used_mg_dl: float | None
    limit_basis: str | None
    limit_description: str | None = field(default=None, kw_only=True)
    interval: IntervalEntry | None
    not_judged_because: str | None = None


@dataclass(frozen=True)
class PatternEntry:
    id: str
    reason: str


@dataclass(frozen=True)
class CriterionEntry:
    id: str
    version: int
    title: str
    role: str
    outcome: str
    reason: str
    facts: tuple[str, ...]
    requirement: str
    source: SourceRef


@dataclass(frozen=True)
class TextMatchEntry:
    """One mention of a secondary cause in a record's text, and how it reads."""

    text: str
    term: str
    status: str
    modifier: str | None
    trigger: str
    reason: str


@dataclass(frozen=True)
class RecordEntry:
    text: str
    code: str
    system: str
    origin: str


@dataclass(frozen=True)
class SecondaryCauseEntry:
    id: str
    name: str
    category: str
    mechanism: str
    matched_on: str
    status: str = field(default="counts", kw_only=True)
    """`counts`, or for `secondary_causes_not_counted` `uncertain` or `does_not_count`."""
    reason: str = field(default="", kw_only=True)
    text_matched: tuple[TextMatchEntry, ...] = field(default=(), kw_only=True)
    record: RecordEntry
    evidence: str
    source: SourceRef


@dataclass(frozen=True)
class WorkupEntry:
    id: str
    text: str
    reason: str
    required_by_profile: bool
    source: SourceRef


@dataclass(frozen=True)
class RecommendationEntry:
    id: str
    text: str
    reason: str
    source: SourceRef
    see_also: tuple[SourceRef, ...] = field(default=(), metadata=OPTIONAL)


@dataclass(frozen=True)
class FollowUpEntry:
    next_follow_up: date
    interval: str
    reason: str
    tests: tuple[str, ...]
    source: SourceRef


@dataclass(frozen=True)
class CourseEntry:
    state: str
    explanation: str


@dataclass(frozen=True)
class AlertEntry:
    id: str
    text: str
    facts: tuple[str, ...]


@dataclass(frozen=True)
class ClinicalEntry:
    recorded: bool
    symptomatic: bool | None
    recurrent_infections: bool | None
    severe_infection: bool
    recurrence_reason: str
    infections_per_year: dict[str, dict[str, int]]
    organisms: tuple[str, ...]
    allergies: tuple[str, ...]
    autoimmunity: tuple[str, ...]


@dataclass(frozen=True)
class SerotypeEntry:
    serotype: str
    pre_ug_ml: str | None
    post_ug_ml: str
    protective: str
    fold_rise: float | None
    fold_rise_is_bound: bool
    fold_class: str = field(default="", metadata=OPTIONAL)


@dataclass(frozen=True)
class VaccineEntry:
    classification: str
    rule_set: str
    rule_set_name: str
    serotypes_protective: tuple[str, ...]
    serotypes_tested: tuple[str, ...]
    serotypes_not_used: tuple[str, ...]
    reason: str
    per_serotype: tuple[SerotypeEntry, ...]
    source: SourceRef
    note: str


@dataclass(frozen=True)
class ReviewedCauseEntry:
    """A secondary cause a clinician reviewed and judged not causal."""

    id: str
    name: str
    record: str
    origin: str
    review_note: str


@dataclass(frozen=True)
class NotUsedEntry:
    analyte: str
    date: date
    origin: str
    reason: str


@dataclass(frozen=True)
class ProfileVerdictEntry:
    """The verdict under one profile, for comparing profiles side by side."""

    profile: str
    name: str
    label: str
    certainty: str
    summary: str
    criteria: dict[str, str]
    """Outcome by criterion id."""


@dataclass(frozen=True)
class ReportDocument:
    """One assessment as sigmd reports it (output version 1); `by_profile` only when every profile was assessed."""

    output_version: int
    sigmd_version: str
    content_version: str
    disclaimer: str
    as_of: date
    patient: PatientEntry
    diagnosis: DiagnosisEntry
    profile: ProfileEntry
    reference_set: ReferenceSetEntry
    igm: IgmEntry | None
    pattern: PatternEntry
    criteria: tuple[CriterionEntry, ...]
    results: tuple[ResultEntry, ...]
    secondary_causes: tuple[SecondaryCauseEntry, ...]
    secondary_causes_not_counted: tuple[SecondaryCauseEntry, ...] = field(default=(), kw_only=True)
    workup: tuple[WorkupEntry, ...]
    recommendations: tuple[RecommendationEntry, ...]
    follow_up: FollowUpEntry | None
    igm_course: CourseEntry
    alerts: tuple[AlertEntry, ...]
    clinical: ClinicalEntry
    vaccine_response: VaccineEntry | None
    reviewed_secondary_causes: tuple[ReviewedCauseEntry, ...]
    results_not_used: tuple[NotUsedEntry, ...]
    patient_summary: str
    warnings: tuple[str, ...]
    by_profile: tuple[ProfileVerdictEntry, ...] = field(default=(), metadata=OPTIONAL)

    @property
    def management(self) -> tuple[RecommendationEntry, ...]:
        """Recommendations that are not work-up items (the work-up is listed on its own)."""
        workup = {item.id for item in self.workup}
        return tuple(r for r in self.recommendations if r.id not in workup)

    def to_json(self) -> dict[str, Any]:
        """The machine output: what `sigmd assess --json` prints and the registry stores."""
        written = _to_json(self)
        assert isinstance(written, dict)
        return written

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportDocument:
        """Read machine output back. Raises `ValueError` naming the key for anything that is not output version 1."""
        if not isinstance(data, Mapping):
            raise ValueError(f"report: {type(data).__name__} is not an object")
        if data.get("output_version") != OUTPUT_VERSION:
            raise ValueError(f"output_version: {data.get('output_version')!r} is not {OUTPUT_VERSION}")
        read = _from_json(cls, data, "report")
        assert isinstance(read, cls)
        return read


def document(
    assessment: Assessment,
    case: Case,
    *,
    patient_id: str | None,
    by_profile: tuple[Assessment, ...] = (),
) -> ReportDocument:
    """The report of an assessment of `case`, with the verdict under each of `by_profile` when given."""
    diagnosis = assessment.diagnosis
    follow = assessment.follow_up
    reference_set = assessment.reference_set
    profile = assessment.profile
    return ReportDocument(
        output_version=OUTPUT_VERSION,
        sigmd_version=__version__,
        content_version=assessment.content_version,
        disclaimer=DISCLAIMER,
        as_of=assessment.as_of,
        patient=PatientEntry(
            id=patient_id,
            sex=case.patient.sex.value,
            birth_date=case.patient.birth_date,
            birth_date_is_estimated=case.patient.birth_date_is_estimated,
            age_years=round(age_in_years(case.patient.birth_date, assessment.as_of), 2),
        ),
        diagnosis=DiagnosisEntry(
            label=diagnosis.label.value,
            certainty=diagnosis.certainty.value,
            profile=diagnosis.profile,
            summary=diagnosis.summary,
            reasons=tuple(diagnosis.reasons),
            decided_by=tuple(criterion.value for criterion in diagnosis.decided_by),
        ),
        profile=ProfileEntry(
            id=profile.id,
            name=profile.name,
            version=profile.version,
            low_limit=profile.low_limit.value,
            source=source_ref(profile.source),
        ),
        reference_set=ReferenceSetEntry(
            id=reference_set.id,
            name=reference_set.name,
            version=reference_set.version,
            percentiles=reference_set.percentiles,
            gap_fills=tuple(reference_set.gap_fills),
            limitations=tuple(reference_set.limitations),
        ),
        igm=_igm(assessment),
        pattern=PatternEntry(assessment.pattern.pattern.value, assessment.pattern.reason),
        criteria=tuple(
            CriterionEntry(
                id=c.id.value,
                version=c.version,
                title=c.title,
                role=c.role.value,
                outcome=c.outcome.value,
                reason=c.reason,
                facts=tuple(c.facts),
                requirement=c.requirement,
                source=source_ref(c.source),
            )
            for c in assessment.criteria
        ),
        results=tuple(
            _result(i)
            for i in sorted(assessment.interpretations, key=lambda i: (i.result.collected, i.result.analyte.value))
        ),
        secondary_causes=tuple(_secondary(m) for m in assessment.secondary_matches),
        secondary_causes_not_counted=tuple(_secondary(m) for m in assessment.other_secondary_matches),
        workup=tuple(
            WorkupEntry(
                id=w.advice.id,
                text=w.advice.text,
                reason=w.reason,
                required_by_profile=w.required_by_profile,
                source=source_ref(w.advice.source),
            )
            for w in assessment.workup
        ),
        recommendations=tuple(_recommendation(r) for r in assessment.recommendations),
        follow_up=None
        if follow is None
        else FollowUpEntry(
            next_follow_up=follow.next_date,
            interval=str(follow.interval),
            reason=follow.reason,
            tests=tuple(follow.tests),
            source=source_ref(follow.advice.source),
        ),
        igm_course=CourseEntry(assessment.igm_course.value, assessment.igm_course_explanation),
        alerts=tuple(AlertEntry(a.id, a.text, tuple(a.facts)) for a in assessment.alerts),
        clinical=_clinical(assessment.features),
        vaccine_response=_vaccine(assessment.pneumococcal),
        reviewed_secondary_causes=tuple(
            ReviewedCauseEntry(
                id=m.cause.id,
                name=m.cause.name,
                record=m.record.text or m.record.code,
                origin=m.record.origin,
                review_note=m.record.review_note,
            )
            for m in assessment.reviewed_matches
        ),
        results_not_used=tuple(
            NotUsedEntry(n.result.analyte.value, n.result.collected, n.result.origin, n.reason)
            for n in assessment.not_used
        ),
        patient_summary=patient_summary(assessment),
        warnings=tuple(assessment.warnings),
        by_profile=tuple(_verdict(a) for a in by_profile),
    )


def source_ref(source: Source) -> SourceRef:
    return SourceRef(
        id=source.id,
        title=source.title,
        url=source.url,
        note="" if source.has_published_basis else NO_PUBLISHED_SOURCE,
    )


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _result(interp: Interpretation) -> ResultEntry:
    result = interp.result
    interval = interp.interval
    low_limit = interp.low_limit
    return ResultEntry(
        analyte=result.analyte.value,
        date=result.collected,
        origin=result.origin,
        reported=f"{result.reported_value} {result.reported_unit}",
        value_mg_dl=round(result.quantity.value, 3),
        comparator=result.quantity.comparator.value,
        age_years=round(interp.age_years, 2),
        status=interp.status.value,
        lower_limit_mg_dl=_round(interval.lower_mg_dl if interval else None),
        upper_limit_mg_dl=_round(interval.upper_mg_dl if interval else None),
        minus_2sd_mg_dl=_round(interp.minus_2sd_mg_dl),
        z_score=_round(interp.z_score),
        z_score_is_bound=result.quantity.is_censored and interp.z_score is not None,
        percentile=_round(interp.percentile, 1),
        limit_used_mg_dl=_round(low_limit.value_mg_dl) if low_limit else None,
        limit_basis=low_limit.basis if low_limit else None,
        limit_description=low_limit.description if low_limit else None,
        interval=None
        if interval is None
        else IntervalEntry(interval.description, interval.from_laboratory, source_ref(interval.source)),
        not_judged_because=interp.no_interval_reason or interp.no_low_limit_reason or None,
        notes=tuple(interp.notes),
    )


def _igm(assessment: Assessment) -> IgmEntry | None:
    interp = assessment.latest(Analyte.IGM)
    if interp is None:
        return None
    result = _result(interp)
    return IgmEntry(**{f.name: getattr(result, f.name) for f in fields(IgmEntry)})


def _secondary(match: SecondaryMatch) -> SecondaryCauseEntry:
    """A secondary-cause match: the cause, the record, what matched, and whether and why it counts."""
    return SecondaryCauseEntry(
        id=match.cause.id,
        name=match.cause.name,
        category=match.cause.category,
        mechanism=match.cause.mechanism,
        matched_on=match.matched_on,
        status=match.status.value,
        reason=match.reason,
        text_matched=tuple(
            TextMatchEntry(
                text=m.text,
                term=m.term,
                status=m.status.value,
                modifier=m.modifier.value if m.modifier else None,
                trigger=m.trigger,
                reason=m.reason,
            )
            for m in match.mentions
        ),
        record=RecordEntry(match.record.text, match.record.code, match.record.system, match.record.origin),
        evidence=match.cause.evidence,
        source=source_ref(match.cause.source),
    )


def _recommendation(recommendation: Recommendation) -> RecommendationEntry:
    advice = recommendation.advice
    return RecommendationEntry(
        id=advice.id,
        text=advice.text,
        reason=recommendation.reason,
        source=source_ref(advice.source),
        see_also=tuple(source_ref(s) for s in advice.see_also),
    )


def _clinical(features: FeatureSummary) -> ClinicalEntry:
    return ClinicalEntry(
        recorded=features.recorded,
        symptomatic=features.symptomatic,
        recurrent_infections=features.recurrent_infections,
        severe_infection=features.severe_infection,
        recurrence_reason=features.recurrence_reason,
        infections_per_year={str(k): dict(v) for k, v in features.infections_per_year.items()},
        organisms=tuple(features.organisms),
        allergies=tuple(features.allergies),
        autoimmunity=tuple(features.autoimmunity),
    )


def _vaccine(response: PneumococcalResponse | None) -> VaccineEntry | None:
    if response is None:
        return None
    return VaccineEntry(
        classification=response.classification.value,
        rule_set=response.rule_set.id,
        rule_set_name=response.rule_set.name,
        serotypes_protective=tuple(response.serotypes_protective),
        serotypes_tested=tuple(response.serotypes_tested),
        serotypes_not_used=tuple(response.not_used),
        reason=response.reason,
        per_serotype=tuple(
            SerotypeEntry(
                serotype=o.serotype,
                pre_ug_ml=None if o.pre is None else o.pre.describe("").strip(),
                post_ug_ml=o.post.describe("").strip(),
                protective=o.protective.value,
                fold_rise=_round(o.fold_rise),
                fold_rise_is_bound=o.fold_rise_is_bound,
                fold_class=o.fold_class,
            )
            for o in response.serotypes
        ),
        source=source_ref(response.rule_set.source),
        note=response.rule_set.note,
    )


def _verdict(assessment: Assessment) -> ProfileVerdictEntry:
    return ProfileVerdictEntry(
        profile=assessment.profile.id,
        name=assessment.profile.name,
        label=assessment.diagnosis.label.value,
        certainty=assessment.diagnosis.certainty.value,
        summary=assessment.diagnosis.summary,
        criteria={c.id.value: c.outcome.value for c in assessment.criteria},
    )


def _to_json(value: Any) -> Any:
    """A report object as JSON values: dataclasses as objects (keys in field order), tuples as lists, ISO dates."""
    if is_dataclass(value) and not isinstance(value, type):
        written = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if not (f.metadata.get("optional") and item in (None, "", ())):
                written[f.name] = _to_json(item)
        return written
    if isinstance(value, tuple | list):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, date):
        return value.isoformat()
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _from_json(hint: Any, value: Any, path: str) -> Any:
    """`value` read as `hint`; every key of an object must be a field, and every field without a default a key."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        (inner,) = (arg for arg in get_args(hint) if arg is not type(None))
        return _from_json(inner, value, path)
    if origin is tuple:
        _expect(isinstance(value, list), path, value, "a list")
        return tuple(_from_json(get_args(hint)[0], item, f"{path}[{n}]") for n, item in enumerate(value))
    if origin is dict:
        _expect(isinstance(value, dict), path, value, "an object")
        return {str(key): _from_json(get_args(hint)[1], item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(hint, type) and is_dataclass(hint):
        _expect(isinstance(value, Mapping), path, value, "an object")
        names = {f.name for f in fields(hint)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"{path}.{unknown[0]}: is not a key of the machine output")
        hints = _hints(hint)
        found: dict[str, Any] = {}
        for f in fields(hint):
            if f.name in value:
                found[f.name] = _from_json(hints[f.name], value[f.name], f"{path}.{f.name}")
            elif f.default is MISSING:
                raise ValueError(f"{path}.{f.name}: is missing")
        return hint(**found)
    if hint is date:
        _expect(isinstance(value, str), path, value, "an ISO date")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{path}: {value!r} is not an ISO date") from None
    if hint is float:
        _expect(isinstance(value, int | float) and not isinstance(value, bool), path, value, "a number")
        return value
    if hint is int:
        _expect(isinstance(value, int) and not isinstance(value, bool), path, value, "an integer")
        return value
    if hint is bool:
        _expect(isinstance(value, bool), path, value, "true or false")
        return value
    if hint is str:
        _expect(isinstance(value, str), path, value, "a text")
        return value
    raise TypeError(f"{path}: cannot read {hint!r}")  # pragma: no cover - every field type is handled above


def _expect(ok: bool, path: str, value: Any, what: str) -> None:
    if not ok:
        raise ValueError(f"{path}: {value!r} is not {what}")
