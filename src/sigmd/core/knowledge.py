"""Clinical content handed to the core: profiles, thresholds, reference sets, catalogues.

These are plain frozen values. The loaders in `sigmd.content` build them from the package's
data files; tests may build them directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from sigmd.core.ages import AgeSpec
from sigmd.core.context import ContextRules
from sigmd.core.intervals import ReferenceSet
from sigmd.core.model import Analyte
from sigmd.core.provenance import Source
from sigmd.core.units import UnitTable


class Label(StrEnum):
    """The diagnosis labels of the machine output."""

    NORMAL = "normal"
    PARTIAL_SIGMD = "partial_sigmd"
    COMPLETE_SIGMD = "complete_sigmd"
    SECONDARY_LOW_IGM = "secondary_low_igm"
    SELECTIVE_IGA_DEFICIENCY = "selective_iga_deficiency"
    CVID_PATTERN = "cvid_pattern"
    HYPER_IGM_PATTERN = "hyper_igm_pattern"
    UNCLASSIFIED_ANTIBODY_DEFICIENCY = "unclassified_antibody_deficiency"
    ISOLATED_LOW_IGM = "isolated_low_igm"
    """IgM low with IgG and IgA normal, but a clinical criterion the profile needs for SIgMD is not met (for example
    no invasive or recurrent infections under ESID): the finding is named, not the diagnosis."""
    OTHER_ABNORMAL = "other_abnormal"
    """An abnormal pattern sigmd does not name (never used for 'could not be judged')."""
    INSUFFICIENT_DATA = "insufficient_data"
    """IgM (or the results a pattern needs) is missing or could not be judged: no verdict."""


class CriterionId(StrEnum):
    """The criteria sigmd can judge, each defined once in `sigmd.core.rules.CRITERIA`; profiles choose among them."""

    IGM_LOW = "igm_low"
    IGM_ABSENT = "igm_absent"
    """Partial versus complete: IgM below the absent threshold makes a deficiency complete."""
    IGG_NORMAL = "igg_normal"
    IGA_NORMAL = "iga_normal"
    IGM_PERSISTENTLY_LOW = "igm_persistently_low"
    SECONDARY_CAUSES_EXCLUDED = "secondary_causes_excluded"
    IGG_SUBCLASSES_NORMAL = "igg_subclasses_normal"
    VACCINE_RESPONSE_NORMAL = "vaccine_response_normal"
    NO_T_CELL_DEFECT = "no_t_cell_defect"
    INFECTIONS_RECORDED = "infections_recorded"


class LowLimitBasis(StrEnum):
    """Which age-matched limit makes a result 'low'."""

    MINUS_2SD = "minus_2sd"
    """Geometric mean - 2 SD of the log-normal fitted to the published interval."""
    LOWER_LIMIT = "lower_limit"
    """The published lower reference limit itself."""


class Role(StrEnum):
    ENTRY = "entry"
    """Must be met for a SIgMD label; unknown leaves the label provisional."""
    CONFIRM = "confirm"
    """Must be met for a confirmed label; not met changes the label to `if_not_met`."""
    REPORT = "report"
    """Reported for the clinician; does not change the label under this profile."""


@dataclass(frozen=True)
class Threshold:
    value: float
    unit: str
    source: Source
    note: str = ""


@dataclass(frozen=True)
class AgeCutoff:
    """An absolute IgM cut-off published for an age range."""

    age_from: AgeSpec
    age_to: AgeSpec
    below_mg_dl: float
    published: str
    age_basis: str = ""
    """Why the cut-off applies from `age_from` (source or sigmd-default reasoning)."""


@dataclass(frozen=True)
class CriterionSpec:
    id: CriterionId
    role: Role
    requirement: str
    source: Source
    if_not_met: Label | None = None


@dataclass(frozen=True)
class RuleProfile:
    id: str
    name: str
    version: str
    description: str
    source: Source
    low_limit: LowLimitBasis
    igm_cutoffs: tuple[AgeCutoff, ...]
    """Empty for age-matched profiles; otherwise the absolute IgM cut-offs by age."""
    cutoff_source: Source | None
    criteria: tuple[CriterionSpec, ...]

    def criterion(self, criterion_id: CriterionId) -> CriterionSpec | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)


@dataclass(frozen=True)
class PersistenceRule:
    """When is a low IgM 'repeatedly' or 'persistently' low?"""

    min_low_results: int
    min_span_adult: AgeSpec
    min_span_child: AgeSpec
    child_below: AgeSpec
    source: Source
    note: str


@dataclass(frozen=True)
class FollowUpRule:
    short: AgeSpec
    long: AgeSpec
    source: Source
    note: str


@dataclass(frozen=True)
class InterferenceRule:
    """Treatments whose effect makes IgG and vaccine results uninterpretable for a while."""

    ig_replacement_terms: tuple[str, ...]
    ig_replacement_atc: tuple[str, ...]
    ig_replacement_washout: AgeSpec
    ig_replacement_source: Source
    anti_cd20_window: AgeSpec
    washout_source: Source
    note: str


@dataclass(frozen=True)
class TrendRule:
    z_drop: float
    source: Source
    note: str


@dataclass(frozen=True)
class UnitSlipRule:
    """When a result's size suggests a unit slip (for example IgG 10 written as mg/dL, meaning 10 g/L)."""

    analytes: tuple[Analyte, ...]
    """Analytes whose result is not judged when it looks like a slip (a warning asks to confirm the unit)."""
    warn_analytes: tuple[Analyte, ...]
    """Analytes whose result is judged as reported when it looks like a slip, with a warning (values near zero are
    real findings there)."""
    below_fraction: float
    """The value is below this fraction of the age-matched lower limit..."""
    read_factor: float
    """...and this many times the value (the value read in the larger unit) falls inside the interval."""
    read_as: str
    source: Source
    note: str


@dataclass(frozen=True)
class ResultHorizon:
    """Results older than this before the as-of date are named in a warning when a verdict rests on them."""

    horizon: AgeSpec
    source: Source
    note: str


@dataclass(frozen=True)
class Thresholds:
    absent: dict[Analyte, Threshold]
    """Below this an immunoglobulin counts as absent (IgM: complete SIgMD; IgA: selective IgA deficiency)."""
    iga_deficiency_min_age: Threshold
    cvid_min_age: Threshold
    implausible_factor: Threshold
    """A result more than this many times the upper reference limit is flagged as implausible."""
    persistence: PersistenceRule
    follow_up: FollowUpRule
    interference: InterferenceRule
    trend: TrendRule
    lab_range_max_ratio: Threshold
    """A laboratory range whose limits differ from the age-matched interval's by more than this factor is not used."""
    unit_slip: UnitSlipRule
    raised_igm: Threshold
    """IgM above this many times the upper limit: serum protein electrophoresis with immunofixation is suggested."""
    result_horizon: ResultHorizon
    transient_infancy_below: Threshold
    """Below this age (years) low IgG and IgA with normal IgM is more often transient hypogammaglobulinaemia of
    infancy than a hyper-IgM syndrome."""


@dataclass(frozen=True)
class SecondaryCause:
    id: str
    category: str
    name: str
    mechanism: str
    icd10_prefixes: tuple[str, ...]
    atc_prefixes: tuple[str, ...]
    terms: tuple[str, ...]
    evidence: str
    source: Source
    codes_verified: bool = False
    """Whether the codes were checked against a code list; unverified codes count only with a counting term."""
    codes_need_text: tuple[str, ...] = ()
    """Verified codes that cover more than this cause (I89.0 is every lymphoedema): they too need a term."""
    systemic_only: bool = False
    """Only systemic use counts (corticosteroids): a local preparation ("eye drops", "cream") does not."""
    local_atc: tuple[str, ...] = ()
    """For a systemic-only cause, ATC groups of local preparations: a record coded so does not count."""

    @cached_property
    def term_pattern(self) -> re.Pattern[str]:
        """The terms as one case-insensitive whole-word pattern, longest first (matches lower-cased text)."""
        terms = sorted({t.lower() for t in self.terms if t.strip()}, key=len, reverse=True)
        if not terms:
            return re.compile(r"(?!x)x")
        return re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(t) for t in terms) + r")(?![a-z0-9])")


@dataclass(frozen=True)
class Advice:
    """A work-up item or recommendation: stable id, text for the clinician, and its source."""

    id: str
    kind: str
    text: str
    source: Source
    see_also: tuple[Source, ...] = ()


@dataclass(frozen=True)
class VaccineRuleSet:
    id: str
    name: str
    source: Source
    protective_ug_ml: float
    young_below: AgeSpec
    adequate_fraction_young: float
    adequate_fraction_older: float
    severe_max_protective: int
    fold_rise: float
    memory_window: AgeSpec
    classify_by: str
    """`protection` (AAAAI: share of protected serotypes) or `fold_rise` (share with a fold rise)."""
    good_fold_rise: float | None
    note: str


@dataclass(frozen=True)
class VaccineRules:
    default: str
    rule_sets: dict[str, VaccineRuleSet]
    ppsv23_serotypes: tuple[str, ...]
    ppsv23_source: Source
    min_age: AgeSpec
    min_age_source: Source
    min_age_note: str


@dataclass(frozen=True)
class RecurrenceRule:
    window: AgeSpec
    respiratory_types: tuple[str, ...]
    respiratory_min: int
    pneumonia_min: int
    any_invasive: bool
    source: Source
    note: str


@dataclass(frozen=True)
class FeatureRules:
    infection_types: tuple[str, ...]
    invasive_infections: tuple[str, ...]
    allergy_types: tuple[str, ...]
    autoimmune_conditions: tuple[str, ...]
    autoimmune_terms: dict[str, tuple[str, ...]]
    recurrence: RecurrenceRule
    source: Source


@dataclass(frozen=True)
class Knowledge:
    content_version: str
    sources: dict[str, Source]
    reference_sets: dict[str, ReferenceSet]
    default_reference_set: str
    profiles: dict[str, RuleProfile]
    default_profile: str
    thresholds: Thresholds
    secondary_causes: tuple[SecondaryCause, ...]
    secondary_context: ContextRules
    """How free text naming a secondary cause is read (negation, family history, route)."""
    advice: dict[str, Advice]
    loinc: dict[str, Analyte]
    analyte_names: dict[str, Analyte]
    units: UnitTable
    vaccines: VaccineRules
    features: FeatureRules
