"""sigmd's Python API: read an input, assess a patient, screen a lab database.

The same functions the command line uses, returning typed objects instead of printing::

    >>> import sigmd
    >>> from datetime import date
    >>> report = sigmd.assess("examples/partial-sigmd-persistent.json", as_of=date(2026, 11, 1))
    >>> report.label, report.certainty
    ('partial_sigmd', 'provisional')
    >>> report.assessment.profile.id, report.assessment.reference_set.id
    ('idf', 'mayo')
    >>> sorted({a.profile.id: a.diagnosis.label.value for a in report.by_profile}.items())[:2]
    [('esid', 'partial_sigmd'), ('idf', 'partial_sigmd')]

`report.assessment` is the core's typed `Assessment`; `report.to_json()` is the machine output of
`sigmd assess --json`, and in a notebook the report shows itself as a short table.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigmd import content
from sigmd.adapters.detect import load_cases, read_bytes
from sigmd.adapters.grouping import LoadedCase
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Case
from sigmd.errors import InputError
from sigmd.report import Report, assess_every_profile

if TYPE_CHECKING:
    from sigmd.screening.engine import Engine
    from sigmd.screening.run import ScreenResult

Source = str | os.PathLike[str] | bytes


def read(
    source: Source, *, local_codes: Mapping[str, Analyte] | None = None, knowledge: Knowledge | None = None
) -> list[LoadedCase]:
    """Every patient in an input (a path, or the text or bytes themselves): case JSON, FHIR JSON or NDJSON, HL7 v2.

    Each patient comes back as a `LoadedCase` holding its case or the error that kept it from being read,
    so one bad patient never hides the others. Raises `InputError` when the input as a whole cannot be read.
    """
    return load_cases(_data(source), knowledge or content.load(), local_codes=local_codes)


def assess(
    source: Case | Source,
    *,
    as_of: date | None = None,
    profile: str | None = None,
    reference: str | None = None,
    vaccine_rules: str | None = None,
    knowledge: Knowledge | None = None,
) -> Report:
    """Assess one patient (a `Case`, or an input holding exactly one patient) as of a date (default today).

    Raises `InputError` for unreadable input or an unknown profile or reference set, and
    `sigmd.core.assessment.AssessmentError` when the case cannot be assessed (for example no usable IgM).
    """
    knowledge = knowledge or content.load()
    if profile is not None and profile not in knowledge.profiles:
        raise InputError("profile", profile, f"is not a profile (known: {', '.join(knowledge.profiles)})")
    if reference is not None and reference not in knowledge.reference_sets:
        raise InputError(
            "reference", reference, f"is not a reference set (known: {', '.join(knowledge.reference_sets)})"
        )
    if isinstance(source, Case):
        patient_id, case = "patient", source
    else:
        loaded = read(source, knowledge=knowledge)
        if len(loaded) != 1:
            raise InputError("(input)", f"{len(loaded)} patients", "holds more or fewer than one patient; use read()")
        patient_id, case = loaded[0].patient_key, loaded[0].require()
    return assess_every_profile(
        case,
        knowledge,
        as_of=as_of or date.today(),
        patient_id=patient_id,
        profile_id=profile,
        reference_set_id=reference,
        vaccine_rule_set=vaccine_rules,
    )


@dataclass(frozen=True)
class Screening:
    """The result of a screening run: counts, the summary, and the written tables as Arrow or pandas."""

    result: ScreenResult

    @property
    def rows_in(self) -> int:
        return self.result.rows_in

    @property
    def rows_used(self) -> int:
        return self.result.rows_used

    @property
    def rows_rejected(self) -> int:
        return self.result.rows_rejected

    @property
    def summary(self) -> dict[str, Any]:
        """The content of summary.json: counts, the funnel, prevalence with 95% intervals."""
        return self.result.summary

    def patients(self) -> Any:
        """One row per patient with its verdict, as a `pyarrow.Table`."""
        return _parquet(self.result.out_dir / "patients.parquet")

    def rejects(self) -> Any:
        """Every input row that could not be used, with its reason, as a `pyarrow.Table`."""
        return _parquet(self.result.out_dir / "rejects.parquet")

    def to_pandas(self) -> Any:
        """The patients table as a `pandas.DataFrame` (needs `pip install 'sigmd[pandas]'`)."""
        from sigmd.screening.extras import require

        require("pandas", "pandas")
        return self.patients().to_pandas()

    def _repr_html_(self) -> str:
        return (
            f"<p>rows in {self.rows_in:,}, used {self.rows_used:,}, rejected {self.rows_rejected:,}; "
            f"{self.result.patients:,} patients; outputs in {html.escape(str(self.result.out_dir))}</p>"
        )


def screen(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    engine: str | Engine = "duckdb",
    reference: str | None = None,
    profile: str | None = None,
    records: str | os.PathLike[str] | None = None,
    as_of: date | None = None,
    sensitivity: bool = True,
) -> Screening:
    """Screen every patient of a lab database (CSV/Parquet, OMOP CDM folder, FHIR Bulk) into `out_dir`, quietly."""
    from sigmd.screening.run import screen as run_screen

    result = run_screen(
        Path(source),
        Path(out_dir),
        engine=engine,
        reference=reference,
        profile=profile,
        records=None if records is None else Path(records),
        as_of=as_of,
        sensitivity=sensitivity,
        progress=False,
    )
    return Screening(result)


def _parquet(path: Path) -> Any:
    from sigmd.screening.extras import require

    parquet = require("pyarrow.parquet", "screen")
    return parquet.read_table(path)


def _data(source: Source) -> str | bytes:
    """The input as `load_cases` takes it: text as given, bytes as given, a path's bytes (within the size limit)."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, str) and source.lstrip().startswith(("{", "MSH", "FHS", "BHS", "\ufeff", "\x0b")):
        return source
    path = Path(source)
    try:
        return read_bytes(path)
    except OSError as error:
        raise InputError("(file)", str(path), f"could not be read: {error.strerror}") from None
