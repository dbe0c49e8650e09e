"""Input formats: long-format CSV/Parquet, OMOP CDM tables and FHIR Bulk Data NDJSON.

Every format becomes the canonical long format (`classify.CANONICAL_COLUMNS`); rows that cannot be
converted are kept as rejects with their reason, so input rows = used + rejected holds across formats.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sigmd.core.knowledge import Knowledge
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.extras import require

OTHER_CODES_SHOWN = 20
IMMUNOGLOBULIN_NAME = re.compile(r"^(?!.*(\bAb\b|antibod)).*(\bIg ?[GAM]\d?\b|immunoglobulin [GAM]\b)", re.IGNORECASE)
"""A code's name that reads like a total IgG, IgA or IgM test, not an antibody test such as "Measles virus IgG Ab"
(sigmd's own heuristic, for a warning only)."""
FORMATS = ("auto", "csv", "parquet", "omop", "bulk")
RECORD_COLUMNS = ("patient_id", "kind", "code", "system", "text")
"""The records table (conditions and medications): `--records`, or converted from OMOP or a FHIR Bulk export. An
optional column `origin` names where each record came from (else its line of the table)."""
REQUIRED_COLUMNS = ("patient_id", "sex", "birth_date", "collected_date", "loinc", "value", "unit")
"""A long-format extract without one of these is refused; `comparator`, `ref_low` and `ref_high` may be absent."""


@dataclass(frozen=True)
class Prepared:
    path: Path | None
    """What the engine reads; None when the engine already holds the input (`in_engine`)."""
    file_format: str
    """`parquet`: what the engine reads (CSV is converted to Parquet first, by `delimited`)."""
    columns: dict[str, str]
    """canonical column -> column in the file."""
    records: Path | None
    """Conditions and medications (patient_id, kind, code, system, text), or None when unknown."""
    rejects: Any = None
    """Rows rejected while converting (Arrow table with row_no, the canonical columns and reason)."""
    in_engine: bool = False
    """The engine already holds table `raw` and view `early_rejects` (rows rejected while converting): an OMOP
    CDM converted in place in the engine's database (`sigmd.screening.omop.convert_in_engine`)."""
    other_analytes: OtherAnalytes | None = None
    """OMOP and FHIR Bulk: the results of other analytes, counted rather than rejected (`count_other_analytes`)."""
    other_resources: dict[str, int] | None = None
    """FHIR Bulk: lines of resource types screening does not read (Encounter...), counted by type, not rows."""
    records_not_used: dict[str, int] | None = None
    """FHIR Bulk: condition and medication lines set aside (withdrawn, refuted, not taken or done, no code or
    text), by resource type."""


@dataclass(frozen=True)
class OtherCode:
    loinc: str
    name: str
    rows: int


@dataclass(frozen=True)
class OtherAnalytes:
    """Results whose LOINC code is one sigmd does not screen: not input, counted by code.

    A CDM's measurement table and a Bulk export's Observations hold every laboratory result, so a result of
    another analyte (glucose, say) is not a reject: listing each one would copy nearly the whole input out.
    """

    rows: int
    most_frequent: tuple[OtherCode, ...]
    """The most frequent codes (at most `OTHER_CODES_SHOWN`), with their names, so that an immunoglobulin result
    coded with a code sigmd does not know can be seen."""


def count_other_analytes(by_code: Iterable[tuple[str, str, int]], source: str) -> OtherAnalytes:
    """The results of other analytes from (LOINC code, name, rows) per code, and a warning when a code's name reads
    like an immunoglobulin test (its results are then not screened). `source` names the input in the warning."""
    codes = sorted((OtherCode(code, name, rows) for code, name, rows in by_code), key=lambda c: (-c.rows, c.loinc))
    like = [c for c in codes if IMMUNOGLOBULIN_NAME.search(c.name)]
    if like:
        shown = "; ".join(f"LOINC {c.loinc} {c.name[:60]!r} ({c.rows} rows)" for c in like[:5])
        warnings.warn(
            f"{source}: {sum(c.rows for c in like)} result(s) have LOINC codes sigmd does not screen whose names "
            f"read like immunoglobulin tests ({shown}); they are not screened. If they are serum IgM, IgG or IgA "
            "results, the code is missing from sigmd's analyte codes",
            UserWarning,
            stacklevel=3,
        )
    return OtherAnalytes(sum(c.rows for c in codes), tuple(codes[:OTHER_CODES_SHOWN]))


def detect(source: Path) -> str:
    if source.is_dir():
        from sigmd.screening.omop import is_omop_folder

        return "omop" if is_omop_folder(source) else "bulk"
    if source.suffix.lower() == ".json":
        return "bulk"
    if source.suffix.lower() in (".parquet", ".pq"):
        return "parquet"
    if source.suffix.lower() in (".csv", ".txt", ".tsv"):
        return "csv"
    raise ValueError(f"input: {str(source)!r} is not a folder, a manifest, a .csv or a .parquet file; give --format")


def prepare(
    source: Path,
    file_format: str,
    columns: dict[str, str] | None,
    records: Path | None,
    work_dir: Path,
    knowledge: Knowledge,
) -> Prepared:
    """Resolve the input format and column names; convert OMOP and Bulk Data to the long format (Bulk Data read
    with `knowledge`'s units and codes, as the run judges)."""
    if file_format not in FORMATS:
        raise ValueError(f"format: {file_format!r} is not one of {', '.join(FORMATS)}")
    if not source.exists():
        raise ValueError(f"input: {str(source)!r} does not exist")
    kind = detect(source) if file_format == "auto" else file_format
    if kind == "bulk":
        from sigmd.adapters.fhir_bulk import RECORD_TYPES
        from sigmd.screening.bulk import convert_bulk

        converted = convert_bulk(source, work_dir / "converted-input", knowledge, read_records=records is None)
        if records is None:
            return converted
        unread = sum(n for resource, n in (converted.other_resources or {}).items() if resource in RECORD_TYPES)
        if unread:
            warnings.warn(
                f"records: {str(records)!r} is the records table; the export's own {unread} Condition and "
                "medication line(s) were not read",
                UserWarning,
                stacklevel=3,
            )
        return replace(converted, records=records)
    if kind == "omop":
        from sigmd.screening.omop import convert_omop

        if not source.is_dir():
            raise ValueError(f"input: {str(source)!r} is not a folder of OMOP tables (person, measurement, ...)")
        converted = convert_omop(source, work_dir / "converted-input")
        return converted if records is None else replace(converted, records=records)
    mapping = {name: name for name in CANONICAL_COLUMNS}
    for canonical, given in (columns or {}).items():
        if canonical not in mapping:
            raise ValueError(f"columns: {canonical!r} is not one of {', '.join(CANONICAL_COLUMNS)}")
        mapping[canonical] = given
    if kind == "parquet":
        pq = require("pyarrow.parquet", "screen")
        header = list(pq.read_schema(source).names)
        match_columns(header, mapping, set(columns or {}))
        return Prepared(source, kind, mapping, records)
    from sigmd.screening.delimited import convert_delimited, read_header

    found = match_columns(read_header(source), mapping, set(columns or {}))
    target = work_dir / "converted-input" / "labs.parquet"
    convert_delimited(source, found, target)
    return Prepared(target, "parquet", {name: name for name in CANONICAL_COLUMNS}, records)


_UNREAD_QUALIFIER = re.compile(r"status|specimen|sampletype|fluid|matrix")
"""Column names (folded) that may qualify a result in a way the long format has no place for: a result status
(preliminary, entered in error) or a specimen (CSF, urine). Ignoring such a column could turn a withdrawn or a CSF
result into a verdict, so the file is refused instead; identifiers and dates of them (`specimen_id`) are not."""
_KEY_OR_DATE = re.compile(r"(?:(?<!flu)id|number|no|date|time)$")


def _folded(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def match_columns(header: list[str], mapping: dict[str, str], explicit: set[str]) -> dict[str, str]:
    """canonical column -> file column, for the columns the file has; ValueError naming every problem.

    A required column that the file lacks, a column named by `--column` that the file lacks, a file column
    that differs from a canonical name only in case, spaces or punctuation (`Ref Low` for `ref_low`, which would
    otherwise be ignored without a word), and a status or specimen column (`_UNREAD_QUALIFIER`) refuse the file.
    Other file columns are not used.
    """
    present = set(header)
    found = {canonical: given for canonical, given in mapping.items() if given in present}
    unknown = [name for name in header if name not in found.values()]
    problems = [
        f"{name!r} may say that some results are not final or not serum (a status or specimen column), and sigmd "
        "does not read it: keep only final serum or plasma results, then drop or rename the column"
        for name in unknown
        if _UNREAD_QUALIFIER.search(_folded(name)) and not _KEY_OR_DATE.search(_folded(name))
    ]
    for canonical, given in mapping.items():
        if canonical in found:
            continue
        if canonical in explicit:
            problems.append(f"{canonical} is mapped to {given!r}, which is not a column of the file")
            continue
        alike = [name for name in unknown if _folded(name) == _folded(canonical)]
        if alike:
            problems.append(
                f"{canonical} is missing, but the file has {alike[0]!r}: rename it or map it with "
                f"--column {canonical}={alike[0]}"
            )
        elif canonical in REQUIRED_COLUMNS:
            problems.append(f"{canonical} is missing")
    if problems:
        listed = ", ".join(map(repr, unknown)) if unknown else "none"
        separator = next((mark for mark in (";", "\t", "|") if len(header) == 1 and mark in header[0]), "")
        if separator:
            problems.insert(0, f"the header looks separated by {separator!r}, but sigmd reads comma-separated CSV")
        raise ValueError(
            f"columns: {'; '.join(problems)} (columns of the file that sigmd does not know: {listed}; "
            f"sigmd reads {', '.join(CANONICAL_COLUMNS)}; map another name with --column canonical=NAME)"
        )
    return found
