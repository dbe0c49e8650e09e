"""FHIR Observations: the status rule, corrections, and why an Observation was not used.

`observation_status_use` is the one place the meaning of an Observation status is decided. The FHIR reader of
`sigmd assess` and population screening's Bulk NDJSON reader (`fhir_bulk`) both read Observations through
`ObservationReader`. A usable Observation is held until every resource of the input has been read, because a
correction may come before or after what it corrects:

- an amended or corrected result replaces every other result with the same id, and every other result of
  the same analyte with the same effective time (the exact effectiveDateTime, effectivePeriod.start or
  effectiveInstant as written); when several corrections compete, the last in the input is kept;
- an entered-in-error or cancelled Observation is ignored, and so is every copy with the same id;
- two copies of one id that are not corrections: an identical second copy is skipped, differing copies
  refuse the patient (in Bulk screening: both copies are rejects), because sigmd cannot tell which one is
  current.

What an Observation must show before its value is trusted (each failure skips it, with the reason naming the
field and the value):

- one analyte: codings that name two immunoglobulins (IgM 2472-9 beside IgG 2465-3) are not guessed between;
- serum or plasma: the LOINC codes sigmd reads are serum or plasma codes, so an Observation whose code text or a
  coding display names cerebrospinal fluid, urine or another body fluid, or whose specimen (contained, in the
  input, or its display) is clearly such a fluid, is not a serum result (`specimen_kind`); a specimen type sigmd
  does not recognise keeps the result, with a warning;
- one unit: a valueQuantity whose unit text and code name different units (after `Knowledge.units` has
  recognised both) may be 10 or 100 times off;
- collected while the patient lived: a result collected after Patient.deceasedDateTime cannot be this patient's
  (a misfiled result or a wrong date of death).

The laboratory's range is a referenceRange without `age`, `appliesTo` or a `type` other than normal; when the
remaining ranges differ, none is used. A range set aside is named in a warning, and the result is then judged
against sigmd's reference set (or the one plain range that remains).

Every Observation that is not passed on as a result is listed in the case's input notes (skipped, replaced
or ignored), with the reason. `settle` gives each held Observation's outcome, for readers that report per
Observation rather than per case (`fhir_bulk`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sigmd.adapters.grouping import PatientIndex, PatientRecords
from sigmd.adapters.results import build_result, check_date
from sigmd.adapters.specimens import OTHER_WORDS, SNOMED_CODES, SpecimenKind, kind_of_code, kind_of_words
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, InputNote, InputNoteKind, LabResult
from sigmd.errors import InputError

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.observation import Observation

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
V2_SPECIMEN_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0487"
V2_SPECIMEN_SOURCE = "http://terminology.hl7.org/CodeSystem/v2-0070"
RANGE_MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"


@dataclass(frozen=True)
class StatusUse:
    """What a reader does with an Observation of one status: use it (note None) or list it with the reason."""

    note: InputNoteKind | None
    """None: the result is used; SKIPPED or IGNORED: it is not, and is listed with `reason`."""
    reason: str
    corrects: bool = False
    """An amended or corrected result: it replaces the result with the same id, or of the same analyte and the
    same effective time."""

    @property
    def used(self) -> bool:
        return self.note is None


OBSERVATION_STATUS_USE: Mapping[str, StatusUse] = MappingProxyType(
    {
        "final": StatusUse(None, "its status is final"),
        "amended": StatusUse(None, "its status is amended", corrects=True),
        "corrected": StatusUse(None, "its status is corrected", corrects=True),
        "preliminary": StatusUse(
            InputNoteKind.SKIPPED,
            "its status is preliminary: the result may still change, and sigmd uses final, amended or corrected "
            "results only",
        ),
        "registered": StatusUse(InputNoteKind.SKIPPED, "its status is registered: no result is available yet"),
        "unknown": StatusUse(
            InputNoteKind.SKIPPED,
            "its status is unknown: the source does not say whether the result is final, so sigmd does not use it",
        ),
        "entered-in-error": StatusUse(InputNoteKind.IGNORED, "its status is entered-in-error: the source withdrew it"),
        "cancelled": StatusUse(InputNoteKind.IGNORED, "its status is cancelled: the observation was not completed"),
    }
)
"""The FHIR R4 Observation statuses (http://hl7.org/fhir/R4/valueset-observation-status.html) and what sigmd
does with each. sigmd default for preliminary, registered and unknown: not used (fail safe: a verdict must not
rest on a result its laboratory has not released as final)."""


def observation_status_use(status: object) -> StatusUse:
    """What to do with an Observation of this status; a missing or non-FHIR status is skipped with the reason."""
    if status is None or status == "":
        return StatusUse(InputNoteKind.SKIPPED, "it has no status, so sigmd cannot tell whether it is final")
    known = OBSERVATION_STATUS_USE.get(str(status))
    if known is None:
        return StatusUse(InputNoteKind.SKIPPED, f"its status {str(status)[:40]!r} is not a FHIR R4 Observation status")
    return known


@dataclass(frozen=True)
class Reading:
    """An Observation's reported value and laboratory range, as handed to `build_result`."""

    value: str
    unit: str
    comparator: str | None
    range_low: str | None
    range_high: str | None
    range_unit: str | None
    range_text: str | None


@dataclass
class HeldObservation:
    """An Observation that passed its status and checks, held until corrections are applied."""

    name: str
    obs_id: str
    analyte: Analyte
    when: str
    status: str
    corrects: bool
    where: str = ""
    """Where it was in the input (`Bundle.entry[3].resource`, `Observation.ndjson line 7`)."""
    reading: Reading | None = None
    collected: date | None = None
    result: LabResult | None = None
    warnings: list[str] = field(default_factory=list)
    error: InputError | None = None


@dataclass(frozen=True)
class Settled:
    """A held Observation once corrections are applied: used when `note` is None, else listed with `note`.

    `error` is why its result could not be built (a used Observation with an error refuses its patient);
    `conflict` is set on both of two differing copies of one id, neither a correction.
    """

    held: HeldObservation
    note: InputNote | None
    error: InputError | None
    conflict: InputError | None = None


class ObservationReader:
    """Reads immunoglobulin Observations into their patients' records, applying status and corrections."""

    def __init__(self, knowledge: Knowledge, deceased: Callable[[str], tuple[date, str] | None] | None = None) -> None:
        self.knowledge = knowledge
        self.candidates: dict[str, list[HeldObservation]] = {}
        self.withdrawn: dict[str, set[str]] = {}
        self.deceased = deceased
        """A patient's date of death and where it was given (`Patient/p1.deceasedDateTime`), by patient key."""
        self.specimens: dict[str, Any] = {}
        """Specimen resources of the input (JSON), by the references that name them (`Specimen/s1`, a fullUrl)."""

    def read(self, obs: Observation, name: str, records: PatientRecords, where: str = "") -> None:
        """Check one Observation; a usable result is held until `finish`, anything else is listed with the reason."""
        analyte = self._analyte(obs, name, records)
        if analyte is None:
            return
        status = observation_status_use(obs.status)
        if status.note is not None:
            records.note(status.note, name, f"{analyte}: {status.reason}")
            if status.note is InputNoteKind.IGNORED and obs.id:
                self.withdrawn.setdefault(records.key, set()).add(obs.id)
            return
        not_serum = _code_names_other_fluid(obs, name)
        specimen_warning: list[str] = []
        if not not_serum:
            not_serum, specimen_warning = self._specimen(obs, name)
        if not_serum:
            records.note(
                InputNoteKind.SKIPPED,
                name,
                f"{analyte}: {not_serum}, which is not serum or plasma; sigmd judges serum or plasma "
                "immunoglobulins only",
            )
            return
        quantity = obs.valueQuantity
        if quantity is None:
            records.note(InputNoteKind.SKIPPED, name, f"{analyte}: {_missing_value(obs)}")
            return
        collected, when = _effective(obs, name)
        if collected is None:
            records.note(InputNoteKind.SKIPPED, name, f"{analyte}: {when}")
            return
        field = f"{name}.valueQuantity"
        conflict = self._unit_conflict(quantity, field)
        if conflict:
            records.note(InputNoteKind.SKIPPED, name, f"{analyte}: {conflict}")
            return
        candidate = HeldObservation(name, obs.id or "", analyte, when, str(obs.status), status.corrects, where)
        candidate.collected = collected
        self.candidates.setdefault(records.key, []).append(candidate)
        try:
            candidate.reading, range_warnings = _reading(obs, quantity, field, name)
            candidate.result, candidate.warnings = build_result(
                analyte=analyte,
                value=candidate.reading.value,
                unit=candidate.reading.unit,
                collected=collected,
                knowledge=self.knowledge,
                field=field,
                comparator=candidate.reading.comparator,
                range_low=candidate.reading.range_low,
                range_high=candidate.reading.range_high,
                range_unit=candidate.reading.range_unit,
                range_text=candidate.reading.range_text,
                origin=name,
            )
        except InputError as error:
            candidate.error = error
            return
        candidate.warnings[:0] = [*range_warnings, *specimen_warning]

    def _unit_conflict(self, quantity: Any, field: str) -> str:
        """Why a result is skipped when its unit text and its code name different units (unit 'g/L', code 'mg/dL'):
        one of the two is wrong and the value may be 100 times off, so neither is trusted. Both are recognised by
        `Knowledge.units` (spellings of one unit, 'mg/dl' and 'mg/dL', agree); a text sigmd does not know ('grams
        per litre, nephelometry') says nothing either way. Empty when there is no conflict."""
        if not (quantity.code and quantity.unit) or quantity.unit == quantity.code:
            return ""
        try:
            shown = self.knowledge.units.find(str(quantity.unit))
            coded = self.knowledge.units.find(str(quantity.code))
        except ValueError:  # UnitError
            return ""
        if shown.ucum == coded.ucum:
            return ""
        return (
            f"{field}.unit {str(quantity.unit)[:40]!r} and {field}.code {str(quantity.code)[:40]!r} name different "
            f"units ({shown.ucum} and {coded.ucum}); one of them is wrong and the value may be off by their ratio, so "
            "sigmd does not use it: the laboratory must confirm the unit"
        )

    def _specimen(self, obs: Observation, name: str) -> tuple[str, list[str]]:
        """(why the specimen is not serum or plasma, or ''; warnings): Observation.specimen, its display, and the
        Specimen it refers to (contained, or a Specimen of the input)."""
        reference = getattr(obs, "specimen", None)
        if reference is None:
            return "", []
        field = f"{name}.specimen"
        target = str(reference.reference or "")
        mentions: list[tuple[SpecimenKind, str, str]] = []  # (kind, field, value)
        if reference.display:
            mentions.append((kind_of_words(str(reference.display)), f"{field}.display", str(reference.display)))
        specimen: Any = None
        if target.startswith("#"):
            specimen = next(
                (
                    c
                    for c in getattr(obs, "contained", None) or []
                    if c.get_resource_type() == "Specimen" and c.id == target[1:]
                ),
                None,
            )
        elif target:
            specimen = self.specimens.get(target) or self.specimens.get(target.split("/_history", 1)[0])
        where = f"{field} ({target[:80]}) Specimen.type" if target else f"{field} Specimen.type"
        if specimen is not None:
            mentions.extend(specimen_kinds(_get(specimen, "type"), where))
        other = next((m for m in mentions if m[0] is SpecimenKind.OTHER), None)
        if other is not None:
            return f"{other[1]} is {other[2][:100]!r}", []
        if any(m[0] is SpecimenKind.BLOOD for m in mentions):
            return "", []
        if specimen is None and not mentions:
            about = (
                f"{field} {target[:80]!r} is not in the input, so the specimen type is unknown"
                if target
                else f"{field} has no reference or display, so the specimen type is unknown"
            )
        elif not mentions:
            about = f"{field} ({target[:80]}) has no type, so the specimen type is unknown"
        else:
            shown = ", ".join(repr(m[2][:60]) for m in mentions) or "no type"
            about = f"{field} ({target[:80] or 'display'}) has {shown}, which sigmd does not recognise as {SpecimenKind.BLOOD}"
        return "", [
            f"{name}: {about}; the result was used as a serum or plasma result (the LOINC codes sigmd reads are serum "
            "or plasma codes): confirm the specimen"
        ]

    def _analyte(self, obs: Observation, name: str, records: PatientRecords) -> Analyte | None:
        if getattr(obs, "code", None) is None:  # required in FHIR, but the models accept `"code": null`
            records.note(InputNoteKind.SKIPPED, name, "it has no code, so sigmd cannot tell what was measured")
            return None
        codings = obs.code.coding or []
        named = {
            str(c.code): self.knowledge.loinc[str(c.code)]
            for c in codings
            if c.system == LOINC and c.code in self.knowledge.loinc
        }
        if len(set(named.values())) > 1:
            listed = ", ".join(f"{LOINC}|{code} ({analyte})" for code, analyte in named.items())
            records.note(
                InputNoteKind.SKIPPED,
                name,
                f"{name}.code has codings for different analytes ({listed}); sigmd cannot tell which was measured",
            )
            return None
        if named:
            return next(iter(named.values()))
        near = next((c for c in codings if c.code in self.knowledge.loinc), None)
        if near is not None:
            system = f"its system is {near.system}" if near.system else "it has no system"
            records.note(
                InputNoteKind.SKIPPED,
                name,
                f"code {near.code} ({self.knowledge.loinc[str(near.code)]}) without the LOINC system ({system}; "
                f"sigmd reads immunoglobulin codes only with {LOINC})",
            )
            return None
        codes = ", ".join(f"{c.system or '(no system)'}|{c.code}" for c in codings) or (
            f"text {obs.code.text!r} without a coding" if obs.code.text else "(no code)"
        )
        records.note(
            InputNoteKind.SKIPPED, name, f"its code {codes} is not an immunoglobulin LOINC code that sigmd reads"
        )
        return None

    def finish(self, index: PatientIndex) -> None:
        """Apply corrections and withdrawals, then pass each patient's remaining results on."""
        for key, settled in self.settle():
            records = index.get(key)
            records.errors.extend(s.conflict for s in settled if s.conflict is not None and s.note is not None)
            for one in settled:
                if one.note is not None:
                    records.input_notes.append(one.note)
                elif one.error is not None:
                    records.errors.append(one.error)
                elif one.held.result is not None:
                    records.results.append(one.held.result)
                    records.warnings.extend(one.held.warnings)

    def settle(self) -> Iterator[tuple[str, list[Settled]]]:
        """Each patient's held Observations, in input order, once corrections and withdrawals are applied."""
        for key, candidates in self.candidates.items():
            withdrawn = self.withdrawn.get(key, set())
            death = self.deceased(key) if self.deceased is not None else None
            dropped: dict[int, tuple[InputNoteKind, str]] = {}
            for position, candidate in enumerate(candidates):
                if candidate.obs_id and candidate.obs_id in withdrawn:
                    dropped[position] = (
                        InputNoteKind.IGNORED,
                        f"{candidate.analyte}: another copy of the same id is entered-in-error or cancelled",
                    )
                elif death is not None and candidate.collected is not None and candidate.collected > death[0]:
                    dropped[position] = (InputNoteKind.SKIPPED, _after_death(candidate, *death))
            _apply_corrections(candidates, dropped, lambda c: c.obs_id, "the same id")
            _apply_corrections(candidates, dropped, lambda c: f"{c.analyte}|{c.when}", "the same analyte and time")
            conflicts = _conflicting_copies(candidates, dropped)
            settled = []
            for position, candidate in enumerate(candidates):
                note = None
                if position in dropped:
                    kind, reason = dropped[position]
                    if candidate.error is not None:
                        reason += f" (it could not be read either: {candidate.error})"
                    note = InputNote(kind, candidate.name, reason)
                settled.append(Settled(candidate, note, candidate.error, conflicts.get(position)))
            yield key, settled


def _apply_corrections(
    candidates: list[HeldObservation],
    dropped: dict[int, tuple[InputNoteKind, str]],
    key: Callable[[HeldObservation], str],
    sameness: str,
) -> None:
    """Within each group of the same key, the last amended or corrected result replaces the others."""
    groups: dict[str, list[int]] = {}
    for position, candidate in enumerate(candidates):
        if position not in dropped and key(candidate):
            groups.setdefault(key(candidate), []).append(position)
    for positions in groups.values():
        corrections = [p for p in positions if candidates[p].corrects]
        if not corrections:
            continue
        keeper = candidates[corrections[-1]]
        for position in positions:
            if position != corrections[-1]:
                dropped[position] = (
                    InputNoteKind.REPLACED,
                    f"{keeper.analyte}: replaced by {keeper.name} ({keeper.status}) with {sameness}",
                )


def _conflicting_copies(
    candidates: list[HeldObservation], dropped: dict[int, tuple[InputNoteKind, str]]
) -> dict[int, InputError]:
    """Two copies of one id, neither a correction: a second identical copy is skipped; differing copies are
    refused, and the error is returned for both positions (the earlier copy keeps its first conflict)."""
    conflicts: dict[int, InputError] = {}
    first: dict[str, int] = {}
    for position, candidate in enumerate(candidates):
        if position in dropped or not candidate.obs_id:
            continue
        if candidate.obs_id not in first:
            first[candidate.obs_id] = position
            continue
        earlier = candidates[first[candidate.obs_id]]
        if _same_reading(earlier, candidate):
            dropped[position] = (InputNoteKind.SKIPPED, f"{candidate.analyte}: a second copy of {earlier.name}")
        else:
            conflicts[position] = InputError(
                candidate.name,
                candidate.obs_id,
                "appears twice with different results and neither copy is amended or corrected, "
                "so sigmd cannot tell which one is current",
            )
            conflicts.setdefault(first[candidate.obs_id], conflicts[position])
            dropped[position] = (InputNoteKind.SKIPPED, f"{candidate.analyte}: conflicting copy of {earlier.name}")
    return conflicts


def _same_reading(one: HeldObservation, other: HeldObservation) -> bool:
    if one.result is None or other.result is None:
        return False
    return (one.when, one.result.quantity, one.result.reported_unit) == (
        other.when,
        other.result.quantity,
        other.result.reported_unit,
    )


def _missing_value(obs: Observation) -> str:
    present = next((k for k in type(obs).model_fields if k.startswith("value") and getattr(obs, k) is not None), "")
    if present:
        reason = f"it has {present} instead of valueQuantity"
    elif any(getattr(c, "valueQuantity", None) is not None for c in obs.component or []):
        reason = "its values are only in component; sigmd reads valueQuantity of the Observation itself"
    else:
        reason = "it has no value"
    if obs.dataAbsentReason is not None:
        reason += f" (dataAbsentReason: {_concept_text(obs.dataAbsentReason)})"
    return reason


def _after_death(candidate: HeldObservation, died: date, origin: str) -> str:
    """Why a result collected after the patient's recorded death is skipped (fail safe: it cannot be this patient's,
    so either it was filed to the wrong patient or the date of death is wrong; sigmd cannot tell which)."""
    return (
        f"{candidate.analyte}: collected on {candidate.collected}, after {origin} {died}; a result collected after "
        "the recorded death cannot be this patient's (a misfiled result, or a wrong date of death), so sigmd does "
        "not use it"
    )


def _reading(obs: Observation, quantity: Any, field: str, name: str) -> tuple[Reading, list[str]]:
    """The value, comparator, unit (the UCUM code, else the unit text) and the laboratory's range
    (`_reference_range`), with warnings about ranges set aside."""
    if quantity.value is None:
        raise InputError(f"{field}.value", None, "is missing")
    unit = quantity.code if quantity.system == UCUM and quantity.code else (quantity.unit or quantity.code)
    if not unit:
        raise InputError(f"{field}.unit", None, "is missing; sigmd needs the unit of every result")
    (low, high, range_unit, range_text), warnings = _reference_range(obs, name)
    reading = Reading(str(quantity.value), str(unit), quantity.comparator, low, high, range_unit, range_text)
    return reading, warnings


_Range = tuple[str | None, str | None, str | None, str | None]


def _reference_range(obs: Observation, name: str) -> tuple[_Range, list[str]]:
    """The laboratory's range for this patient: the one referenceRange with a bound and no `age`, `appliesTo` or
    `type` other than normal (several that agree count as one). A range restricted to an age or a population, or
    of another meaning (treatment, therapeutic), is not the patient's normal range; when the plain ranges differ,
    sigmd cannot tell which applies. Each range set aside is named in a warning, with the reason."""
    plain: list[tuple[int, _Range]] = []
    set_aside: list[tuple[int, _Range, str]] = []
    for index, rng in enumerate(obs.referenceRange or []):
        if rng.low is None and rng.high is None:
            continue
        low = None if rng.low is None or rng.low.value is None else str(rng.low.value)
        high = None if rng.high is None or rng.high.value is None else str(rng.high.value)
        bound = rng.low if rng.low is not None else rng.high
        unit = None
        if bound is not None:
            unit = bound.code if bound.system == UCUM and bound.code else (bound.unit or bound.code)
        found: _Range = (low, high, unit, rng.text)
        why = _range_restriction(rng)
        if why:
            set_aside.append((index, found, why))
        else:
            plain.append((index, found))
    field = f"{name}.referenceRange"
    warnings: list[str] = []
    chosen: tuple[int, _Range] | None = None
    if plain and all(one[1][:3] == plain[0][1][:3] for one in plain):
        chosen = plain[0]
    elif plain:
        shown = ", ".join(f"[{index}] {_range_text(found)}" for index, found in plain)
        warnings.append(
            f"{field}: the ranges {shown} differ and none is restricted to an age or a population, so sigmd cannot "
            "tell which is the laboratory's range for this patient; none was used, and the result is judged against "
            "sigmd's reference set"
        )
    using = f"{field}[{chosen[0]}] was used" if chosen else "the result is judged against sigmd's reference set"
    for index, found, why in set_aside:
        warnings.append(
            f"{field}[{index}] ({_range_text(found)}) was not used as the laboratory's range: {why}; {using}"
        )
    return (chosen[1] if chosen else (None, None, None, None)), warnings


def _range_restriction(rng: Any) -> str:
    """Why a referenceRange is not the laboratory's normal range for every patient, or ''."""
    reasons = []
    if rng.age is not None:
        low = "" if rng.age.low is None or rng.age.low.value is None else f"{rng.age.low.value}"
        high = "" if rng.age.high is None or rng.age.high.value is None else f"{rng.age.high.value}"
        bound = rng.age.low if rng.age.low is not None else rng.age.high
        unit = (bound.code or bound.unit or "") if bound is not None else ""
        reasons.append(f"it is restricted to age {low}-{high} {unit}".rstrip())
    if rng.appliesTo:
        reasons.append(
            f"it applies only to {', '.join(repr(_concept_text(c)[:40]) for c in rng.appliesTo)} (appliesTo)"
        )
    if rng.type is not None:
        codes = {(c.system, c.code) for c in rng.type.coding or []}
        meanings = {code for system, code in codes if system == RANGE_MEANING}
        if meanings != {"normal"}:
            reasons.append(f"its type is {_concept_text(rng.type)[:40]!r}, not normal ({RANGE_MEANING}|normal)")
    return " and ".join(reasons)


def _range_text(found: _Range) -> str:
    low, high, unit, text = found
    return text or f"{low or ''}-{high or ''} {unit or ''}".strip()


def _code_names_other_fluid(obs: Observation, name: str) -> str:
    """Where the Observation's code says it was measured in a fluid other than serum or plasma ('IgM, CSF'), or ''."""
    concept = obs.code
    named = [(f"{name}.code.text", concept.text)] if concept.text else []
    named += [(f"{name}.code.coding[{i}].display", c.display) for i, c in enumerate(concept.coding or []) if c.display]
    for place, text in named:
        if OTHER_WORDS.search(str(text)):
            return f"{place} is {str(text)[:60]!r}"
    return ""


def specimen_kinds(concept: Any, field: str) -> list[tuple[SpecimenKind, str, str]]:
    """What a Specimen.type (a model or JSON) says: (kind, field, value) for its text and for each
    coding (a v2-0487 or SNOMED CT code sigmd knows, else its display)."""
    if concept is None:
        return []
    found: list[tuple[SpecimenKind, str, str]] = []
    text = _get(concept, "text")
    if isinstance(text, str) and text:
        found.append((kind_of_words(text), f"{field}.text", text))
    codings = _get(concept, "coding")
    for index, coding in enumerate(codings if isinstance(codings, list) else []):
        system, code, display = (_get(coding, key) for key in ("system", "code", "display"))
        place = f"{field}.coding[{index}]"
        if isinstance(code, str) and code:
            kind = SpecimenKind.UNKNOWN
            if system in (V2_SPECIMEN_TYPE, V2_SPECIMEN_SOURCE, None, ""):
                kind = kind_of_code(code)
            elif system == SNOMED:
                kind = SNOMED_CODES.get(code.strip(), SpecimenKind.UNKNOWN)
            if kind is not SpecimenKind.UNKNOWN:
                shown = f" ({display})" if isinstance(display, str) and display else ""
                found.append((kind, place, f"{system or '(no system)'}|{code}{shown}"))
                continue
            if not (isinstance(display, str) and display):
                found.append((SpecimenKind.UNKNOWN, f"{place}.code", f"{system or '(no system)'}|{code}"))
        if isinstance(display, str) and display:
            found.append((kind_of_words(display), f"{place}.display", display))
    return found


def _get(item: Any, key: str) -> Any:
    """An element of a FHIR model or of its JSON."""
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def _effective(obs: Observation, name: str) -> tuple[date | None, str]:
    """The collection date and the exact effective time (for matching corrections), or None and the reason."""
    for element, value in (
        ("effectiveDateTime", obs.effectiveDateTime),
        ("effectivePeriod.start", obs.effectivePeriod.start if obs.effectivePeriod is not None else None),
        ("effectiveInstant", obs.effectiveInstant),
    ):
        if value is None:
            continue
        collected = as_date(value)
        if collected is None:
            return None, f"its {element} {str(value)!r} is a partial date; sigmd needs the full collection date"
        check_date(collected, f"{name}.{element}")
        when = value.isoformat() if isinstance(value, date | datetime) else str(value)
        return collected, when
    if obs.effectivePeriod is not None:
        return None, "its effectivePeriod has no start; sigmd needs the collection time"
    if obs.effectiveTiming is not None:
        return None, "it has effectiveTiming, which sigmd does not read; it needs the collection time"
    if obs.issued is not None:
        return None, "it has only issued (the report time) and no collection time (effective[x])"
    return None, "it has no collection time (effective[x])"


def _concept_text(concept: CodeableConcept) -> str:
    return concept.text or ", ".join(str(c.display or c.code) for c in concept.coding or []) or "(no text)"


def as_date(value: object) -> date | None:
    """A full date from a FHIR date/dateTime/instant; partial dates (`2016-03`) give None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    if len(text) >= 10:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None
    return None
