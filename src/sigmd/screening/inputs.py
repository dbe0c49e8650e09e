"""Input formats: long-format CSV/Parquet, OMOP CDM tables and FHIR Bulk Data NDJSON.

Every format becomes the canonical long format (`classify.CANONICAL_COLUMNS`); rows that cannot be
converted are kept as rejects with their reason, so input rows = used + rejected holds across formats.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sigmd.screening.classify import CANONICAL_COLUMNS

FORMATS = ("auto", "csv", "parquet", "omop", "bulk")


@dataclass(frozen=True)
class Prepared:
    path: Path
    file_format: str
    """`csv` or `parquet`: what the engine reads."""
    columns: dict[str, str]
    """canonical column -> column in the file."""
    records: Path | None
    """Conditions and medications (patient_id, kind, code, system, text), or None when unknown."""
    rejects: Any = None
    """Rows rejected while converting (Arrow table with row_no, the canonical columns and reason)."""


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
    source: Path, file_format: str, columns: dict[str, str] | None, records: Path | None, work_dir: Path
) -> Prepared:
    """Resolve the input format and column names; convert OMOP and Bulk Data to the long format."""
    if file_format not in FORMATS:
        raise ValueError(f"format: {file_format!r} is not one of {', '.join(FORMATS)}")
    if not source.exists():
        raise ValueError(f"input: {str(source)!r} does not exist")
    kind = detect(source) if file_format == "auto" else file_format
    if kind == "bulk":
        from sigmd.screening.bulk import convert_bulk

        return convert_bulk(source, work_dir / "converted-input")
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
    return Prepared(source, kind, mapping, records)
