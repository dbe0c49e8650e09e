"""One patient's assessment as every front end receives it: the typed `Report`.

The command line, the registry, the web pages, CDS Hooks and the Python API (`sigmd.assess`) all hold a
`Report`; they show its `document` (`sigmd.render.machine.ReportDocument`), and JSON is written only where
machine output leaves sigmd (`Report.to_json`: `--json`, the registry's stored column, the API).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from sigmd.core.assessment import Assessment, assess
from sigmd.core.explain import DISCLAIMER, label_words
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case
from sigmd.render.machine import ReportDocument, document


@dataclass(frozen=True)
class Report:
    """One patient's assessment under the chosen profile, with the verdict under every profile beside it.

    `by_profile` is empty when only the chosen profile was assessed (`sigmd assess` without `--profile all`,
    CDS Hooks); the machine output then has no `by_profile`.
    """

    patient_id: str | None
    case: Case
    assessment: Assessment
    by_profile: tuple[Assessment, ...] = ()

    @property
    def label(self) -> str:
        """The diagnosis label under the chosen profile (for example `partial_sigmd`)."""
        return self.assessment.diagnosis.label.value

    @property
    def certainty(self) -> str:
        """`provisional` or `confirmed`."""
        return self.assessment.diagnosis.certainty.value

    @cached_property
    def document(self) -> ReportDocument:
        """The report as the front ends show it, with the names of the machine output."""
        return document(self.assessment, self.case, patient_id=self.patient_id, by_profile=self.by_profile)

    def to_json(self) -> dict[str, Any]:
        """The machine output of `sigmd assess --json` (with `--profile all` when `by_profile` is given)."""
        return self.document.to_json()

    def __str__(self) -> str:
        return (
            f"{self.patient_id or 'patient'}: {label_words(self.label)} ({self.certainty}) under profile "
            f"{self.assessment.profile.id} and reference set {self.assessment.reference_set.id}"
        )

    def _repr_html_(self) -> str:
        """A short summary for notebooks: the verdict, then the verdict under every profile."""
        rows = "".join(
            f"<tr><td>{html.escape(a.profile.name)}</td><td>{html.escape(label_words(a.diagnosis.label))}"
            f"</td><td>{html.escape(a.diagnosis.certainty.value)}</td></tr>"
            for a in self.by_profile
        )
        return (
            f"<div><p><strong>{html.escape(str(self))}</strong></p>"
            f"<p>{html.escape(self.assessment.diagnosis.summary)}</p>"
            "<table><thead><tr><th>profile</th><th>verdict</th><th>certainty</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p><em>{html.escape(DISCLAIMER)}</em></p></div>"
        )


def assess_every_profile(
    case: Case,
    knowledge: Knowledge,
    *,
    as_of: date,
    patient_id: str | None,
    profile_id: str | None = None,
    reference_set_id: str | None = None,
    vaccine_rule_set: str | None = None,
) -> Report:
    """The report under `profile_id` (the default profile if None) with the verdict under every profile.

    The CLI (`--profile all`), the registry, the web pages and `sigmd.assess` share it. Raises `AssessmentError`
    when the case cannot be assessed.
    """
    chosen = profile_id or knowledge.default_profile
    every = tuple(
        assess(
            case,
            knowledge,
            as_of=as_of,
            profile_id=p,
            reference_set_id=reference_set_id,
            vaccine_rule_set=vaccine_rule_set,
        )
        for p in knowledge.profiles
    )
    primary = next(a for a in every if a.profile.id == chosen)
    return Report(patient_id=patient_id, case=case, assessment=primary, by_profile=every)
