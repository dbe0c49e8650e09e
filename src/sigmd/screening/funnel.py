"""The screening funnel of Janssen et al. 2018, counted from the core's ESID assessments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sigmd.core.interpret import Interpretation, Status
from sigmd.core.knowledge import CriterionId
from sigmd.core.model import Analyte
from sigmd.core.patterns import Pattern, PatternFinding
from sigmd.core.rules import CriterionResult, Outcome


class Judged(Protocol):
    """What the funnel reads from an assessment (or from the findings it is completed from)."""

    @property
    def interpretations(self) -> tuple[Interpretation, ...]: ...
    @property
    def pattern(self) -> PatternFinding: ...
    @property
    def criteria(self) -> tuple[CriterionResult, ...]: ...


FUNNEL_PROFILE = "esid"
"""The rule profile the funnel is counted under, whatever profile the run judges by."""
LOW = (Status.LOW, Status.ABSENT)
STEPS = (
    ("low_igm_results", "IgM results below the age-matched limit"),
    ("patients_with_low_igm", "patients with at least one low IgM result"),
    ("isolated_low_igm", "patients whose latest IgM is low with normal IgG and IgA"),
    ("persistent", "... and IgM persistently low"),
    ("secondary_excluded", "... and secondary causes excluded"),
    ("workup_complete", "... and every ESID criterion assessed (none unknown)"),
    ("esid_met", "... and all ESID criteria met"),
)
PATIENT_STEPS = tuple(key for key, _ in STEPS[1:])
"""The steps a patient reaches (the first step counts results, not patients)."""
SOURCE = "Janssen LMA et al. Clin Exp Immunol 2018;191:203-211 <https://pmc.ncbi.nlm.nih.gov/articles/PMC5758373>"


def reached(low_igm: bool, isolated: bool, outcome: Mapping[CriterionId, Outcome]) -> str | None:
    """The last step of PATIENT_STEPS a patient reached under the ESID profile, or None (no low IgM result).

    `isolated`: the pattern is isolated low IgM; `outcome`: every ESID criterion's outcome."""
    if not low_igm:
        return None
    if not isolated:
        return "patients_with_low_igm"
    last = "isolated_low_igm"
    steps = (
        ("persistent", outcome.get(CriterionId.IGM_PERSISTENTLY_LOW) is Outcome.MET),
        ("secondary_excluded", outcome.get(CriterionId.SECONDARY_CAUSES_EXCLUDED) is Outcome.MET),
        ("workup_complete", all(o is not Outcome.UNKNOWN for o in outcome.values())),
        ("esid_met", all(o is Outcome.MET for o in outcome.values())),
    )
    for key, passed in steps:
        if not passed:
            break
        last = key
    return last


def step_reached(esid: Judged) -> str | None:
    """`reached` for one assessment under the ESID profile."""
    return reached(
        any(i.result.analyte is Analyte.IGM and i.status in LOW for i in esid.interpretations),
        esid.pattern.pattern is Pattern.ISOLATED_LOW_IGM,
        {c.id: c.outcome for c in esid.criteria},
    )


@dataclass
class Funnel:
    counts: dict[str, int] = field(default_factory=lambda: {key: 0 for key, _ in STEPS})

    def add(self, esid: Judged) -> None:
        """Count one patient assessed under the ESID profile."""
        low = [i for i in esid.interpretations if i.result.analyte is Analyte.IGM and i.status in LOW]
        self.count(len(low), step_reached(esid))

    def count(self, low_igm_results: int, step: str | None, patients: int = 1) -> None:
        """Count `patients` patients with `low_igm_results` low IgM results between them, each of whom reached
        `step` (and every step before it)."""
        self.counts["low_igm_results"] += low_igm_results
        if step is not None:
            for key in PATIENT_STEPS[: PATIENT_STEPS.index(step) + 1]:
                self.counts[key] += patients

    def igm_points(self, assessment: Judged) -> list[tuple[float, float, float | None, bool]]:
        """(age in years, IgM mg/dL, age-matched limit, low) for the IgM results of one assessment."""
        return [
            (
                i.age_years,
                i.result.quantity.value,
                None if i.low_limit is None else i.low_limit.value_mg_dl,
                i.status in LOW,
            )
            for i in assessment.interpretations
            if i.result.analyte is Analyte.IGM
        ]

    def table(self) -> list[dict[str, Any]]:
        return [{"step": key, "description": text, "count": self.counts[key], "source": SOURCE} for key, text in STEPS]
