"""Domain types of the pure core: analytes, quantities, lab results, patients and cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Analyte(StrEnum):
    """Serum immunoglobulins that sigmd interprets."""

    IGM = "IgM"
    IGG = "IgG"
    IGA = "IgA"
    IGG1 = "IgG1"
    IGG2 = "IgG2"
    IGG3 = "IgG3"
    IGG4 = "IgG4"


IGG_SUBCLASSES: tuple[Analyte, ...] = (Analyte.IGG1, Analyte.IGG2, Analyte.IGG3, Analyte.IGG4)


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Comparator(StrEnum):
    """How a reported value relates to the true value (`<5` means the true value is below 5)."""

    EQ = "="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class Truth(StrEnum):
    """Three-valued answer: a censored result can leave a comparison undecided."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"

    @staticmethod
    def of(value: bool) -> Truth:
        return Truth.YES if value else Truth.NO


@dataclass(frozen=True)
class Quantity:
    """A value with its comparator, in canonical mg/dL."""

    value: float
    comparator: Comparator = Comparator.EQ

    @property
    def is_censored(self) -> bool:
        return self.comparator is not Comparator.EQ

    def below(self, threshold: float) -> Truth:
        """Is the true value strictly below `threshold`?"""
        match self.comparator:
            case Comparator.EQ:
                return Truth.of(self.value < threshold)
            case Comparator.LT:
                return Truth.YES if self.value <= threshold else Truth.UNKNOWN
            case Comparator.LE:
                return Truth.YES if self.value < threshold else Truth.UNKNOWN
            case Comparator.GT:
                return Truth.NO if self.value >= threshold else Truth.UNKNOWN
            case Comparator.GE:
                return Truth.NO if self.value >= threshold else Truth.UNKNOWN
        raise AssertionError(self.comparator)  # pragma: no cover

    def above(self, threshold: float) -> Truth:
        """Is the true value strictly above `threshold`?"""
        match self.comparator:
            case Comparator.EQ:
                return Truth.of(self.value > threshold)
            case Comparator.GT:
                return Truth.YES if self.value >= threshold else Truth.UNKNOWN
            case Comparator.GE:
                return Truth.YES if self.value > threshold else Truth.UNKNOWN
            case Comparator.LT:
                return Truth.NO if self.value <= threshold else Truth.UNKNOWN
            case Comparator.LE:
                return Truth.NO if self.value <= threshold else Truth.UNKNOWN
        raise AssertionError(self.comparator)  # pragma: no cover

    def describe(self, unit: str = "mg/dL") -> str:
        prefix = "" if self.comparator is Comparator.EQ else self.comparator.value
        return f"{prefix}{self.value:g} {unit}"


@dataclass(frozen=True)
class LabRange:
    """A laboratory's own reference range, as printed on its report, converted to mg/dL."""

    low_mg_dl: float | None
    high_mg_dl: float | None
    text: str


@dataclass(frozen=True)
class LabResult:
    """One immunoglobulin result as reported and in canonical mg/dL."""

    analyte: Analyte
    collected: date
    quantity: Quantity
    reported_value: str
    reported_unit: str
    lab_range: LabRange | None = None
    origin: str = ""
    """Where the result came from (`results[2]`, `OBX 4`, an Observation id), for explanations."""


@dataclass(frozen=True)
class Patient:
    sex: Sex
    birth_date: date
    birth_date_is_estimated: bool = False
    """True when only an age in years was given and the birth date was estimated from it."""


@dataclass(frozen=True)
class CodedText:
    """A condition or medication as recorded: free text and, optionally, a code and dates."""

    text: str
    code: str = ""
    system: str = ""
    origin: str = ""
    start: date | None = None
    """Onset of a condition, or the start of a medication."""
    end: date | None = None
    """End of a medication (None: ongoing or unknown)."""
    reviewed_not_causal: bool = False
    """A clinician reviewed this record and judged it not to explain the low IgM."""
    review_note: str = ""


class VaccineResult(StrEnum):
    NORMAL = "normal"
    IMPAIRED = "impaired"


@dataclass(frozen=True)
class VaccineResponse:
    """A summary of a diagnostic-vaccination result (pneumococcal polysaccharide, tetanus...)."""

    antigen: str
    result: VaccineResult
    origin: str = ""
    collected: date | None = None
    """When the response was measured (None: not given; then it cannot be placed against treatments)."""


@dataclass(frozen=True)
class BloodCount:
    """A full blood count with differential, as summarised by the clinician or laboratory."""

    collected: date
    abnormal: bool
    note: str = ""


@dataclass(frozen=True)
class SerotypeTitre:
    """A serotype-specific pneumococcal IgG titre in ug/mL."""

    serotype: str
    collected: date
    titre: Quantity
    origin: str = ""


@dataclass(frozen=True)
class PneumococcalChallenge:
    """A PPSV23 diagnostic vaccination with the titres measured before and after it."""

    vaccinated: date
    titres: tuple[SerotypeTitre, ...]
    origin: str = "pneumococcal_challenge"


class ProteinAntigenResult(StrEnum):
    NORMAL = "normal"
    LOW = "low"


@dataclass(frozen=True)
class ProteinAntigenResponse:
    """A protein-antigen (tetanus, diphtheria) antibody result as judged by the laboratory."""

    antigen: str
    result: ProteinAntigenResult
    collected: date | None = None
    detail: str = ""
    origin: str = ""


@dataclass(frozen=True)
class Infection:
    kind: str
    when: date | None = None
    count: int = 1
    period_months: int | None = None
    """With `count`: the episodes happened within this many months (for undated summaries)."""
    organism: str = ""
    origin: str = ""


@dataclass(frozen=True)
class AutoimmuneCondition:
    kind: str
    text: str = ""
    diagnosed: date | None = None
    origin: str = ""


@dataclass(frozen=True)
class ClinicalFeatures:
    infections: tuple[Infection, ...] = ()
    allergies: tuple[str, ...] = ()
    autoimmune: tuple[AutoimmuneCondition, ...] = ()


class InputNoteKind(StrEnum):
    """What a reader did with a record it did not use as given."""

    SKIPPED = "skipped"
    """Read but not usable as a result (not an immunoglobulin, no collection time, no value...)."""
    REPLACED = "replaced"
    """Superseded by a correction (HL7 v2 OBX-11 = C, FHIR amended or corrected)."""
    IGNORED = "ignored"
    """Withdrawn by its source (HL7 v2 OBX-11 = D or W, FHIR entered-in-error or cancelled)."""


@dataclass(frozen=True)
class InputNote:
    """A record a reader did not pass on as a result, and why, so that it is never dropped silently."""

    kind: InputNoteKind
    origin: str
    """Where the record was (`OBX 4`, an Observation id, `results[2]`)."""
    reason: str

    def describe(self) -> str:
        return f"{self.origin} was {self.kind.value}: {self.reason}"


@dataclass(frozen=True)
class Case:
    """Everything known about one patient, as handed to the core."""

    patient: Patient
    results: tuple[LabResult, ...]
    conditions: tuple[CodedText, ...] | None = None
    """None when the case says nothing about conditions; () when it says there are none."""
    medications: tuple[CodedText, ...] | None = None
    vaccine_responses: tuple[VaccineResponse, ...] = ()
    t_cell_defect: bool | None = None
    blood_count: BloodCount | None = None
    pneumococcal: PneumococcalChallenge | None = None
    protein_antigens: tuple[ProteinAntigenResponse, ...] = ()
    features: ClinicalFeatures | None = None
    """None when the case records no clinical features (symptoms unknown)."""
    warnings: tuple[str, ...] = field(default=())
    """Warnings raised while reading the input (for example an estimated birth date)."""
    input_notes: tuple[InputNote, ...] = field(default=())
    """Records the reader skipped, replaced by a correction, or ignored as withdrawn, each with its reason."""
