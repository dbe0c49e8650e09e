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
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, InputNote, InputNoteKind, LabResult
from sigmd.errors import InputError

if TYPE_CHECKING:
    from fhir.resources.R4B.codeableconcept import CodeableConcept
    from fhir.resources.R4B.observation import Observation

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


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

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.candidates: dict[str, list[HeldObservation]] = {}
        self.withdrawn: dict[str, set[str]] = {}

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
        quantity = obs.valueQuantity
        if quantity is None:
            records.note(InputNoteKind.SKIPPED, name, f"{analyte}: {_missing_value(obs)}")
            return
        collected, when = _effective(obs, name)
        if collected is None:
            records.note(InputNoteKind.SKIPPED, name, f"{analyte}: {when}")
            return
        candidate = HeldObservation(name, obs.id or "", analyte, when, str(obs.status), status.corrects, where)
        self.candidates.setdefault(records.key, []).append(candidate)
        field = f"{name}.valueQuantity"
        try:
            candidate.reading = _reading(obs, quantity, field)
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
        conflict = self._unit_conflict(quantity, analyte, field)
        if conflict:
            candidate.warnings.append(conflict)

    def _unit_conflict(self, quantity: Any, analyte: Analyte, field: str) -> str:
        """A warning when the unit text and the UCUM code name units with different factors (unit 'mg/dL', code
        'g/L'): the code decides, as FHIR says, but one of the two is wrong and the value may be 100 times off."""
        if not (quantity.system == UCUM and quantity.code and quantity.unit) or quantity.unit == quantity.code:
            return ""
        try:
            shown = self.knowledge.units.find(str(quantity.unit)).factor(analyte)
            coded = self.knowledge.units.find(str(quantity.code)).factor(analyte)
        except ValueError:  # UnitError
            return ""  # a display text sigmd does not know ("grams per litre, nephelometry") says nothing either way
        if shown == coded:
            return ""
        return (
            f"{field}: the unit text {quantity.unit!r} and the UCUM code {quantity.code!r} are different units; the code "
            "was used (FHIR makes it the computable unit), but one of the two is wrong: confirm the unit"
        )

    def _analyte(self, obs: Observation, name: str, records: PatientRecords) -> Analyte | None:
        if getattr(obs, "code", None) is None:  # required in FHIR, but the models accept `"code": null`
            records.note(InputNoteKind.SKIPPED, name, "it has no code, so sigmd cannot tell what was measured")
            return None
        codings = obs.code.coding or []
        for coding in codings:
            if coding.system == LOINC and coding.code in self.knowledge.loinc:
                return self.knowledge.loinc[coding.code]
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
            dropped: dict[int, tuple[InputNoteKind, str]] = {}
            for position, candidate in enumerate(candidates):
                if candidate.obs_id and candidate.obs_id in withdrawn:
                    dropped[position] = (
                        InputNoteKind.IGNORED,
                        f"{candidate.analyte}: another copy of the same id is entered-in-error or cancelled",
                    )
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


def _reading(obs: Observation, quantity: Any, field: str) -> Reading:
    """The value, comparator, unit (the UCUM code, else the unit text) and the first laboratory range with a bound."""
    if quantity.value is None:
        raise InputError(f"{field}.value", None, "is missing")
    unit = quantity.code if quantity.system == UCUM and quantity.code else (quantity.unit or quantity.code)
    if not unit:
        raise InputError(f"{field}.unit", None, "is missing; sigmd needs the unit of every result")
    low, high, range_unit, range_text = _reference_range(obs)
    return Reading(str(quantity.value), str(unit), quantity.comparator, low, high, range_unit, range_text)


def _reference_range(obs: Observation) -> tuple[str | None, str | None, str | None, str | None]:
    for rng in obs.referenceRange or []:
        if rng.low is None and rng.high is None:
            continue
        low = None if rng.low is None or rng.low.value is None else str(rng.low.value)
        high = None if rng.high is None or rng.high.value is None else str(rng.high.value)
        bound = rng.low if rng.low is not None else rng.high
        unit = None
        if bound is not None:
            unit = bound.code if bound.system == UCUM and bound.code else (bound.unit or bound.code)
        return low, high, unit, rng.text
    return None, None, None, None


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
