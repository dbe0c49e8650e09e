"""FHIR Bulk Data NDJSON (a folder or a manifest) to the long format and the records table.

The lines are read by `sigmd.adapters.fhir_bulk`, the FHIR reader of `sigmd assess`; this module finds the files
and writes the rows, and the conditions and medications of the export (Condition, MedicationStatement and
MedicationRequest, MedicationAdministration) as the records table `bulk.records.csv`.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from sigmd.core.knowledge import Knowledge
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.extras import require
from sigmd.screening.inputs import RECORD_COLUMNS, Prepared, count_other_analytes

if TYPE_CHECKING:
    from sigmd.adapters.fhir_bulk import BulkReader

BATCH_ROWS = 50_000
"""Used rows are written to Parquet in batches of this many, so that they are not all held twice."""


def ndjson_files(source: Path, types: tuple[str, ...]) -> list[Path]:
    """The NDJSON files of an export: every *.ndjson in a folder, or the `output` files of a manifest whose type
    is one of `types` (the files of other types are not opened).

    Manifests list error files under `error` (Bulk Data v1/v2) or `outcome` (newer drafts); those hold
    OperationOutcomes, not results, and are not read. File URLs resolve to names next to the manifest.
    """
    if source.is_dir():
        return sorted(source.glob("*.ndjson"))
    manifest = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
        raise ValueError(f"input: {str(source)!r} is not a Bulk Data manifest (no output list)")
    files = []
    for entry in manifest["output"]:
        if entry.get("type") in types:
            files.append(source.parent / str(entry["url"]).rstrip("/").rsplit("/", 1)[-1])
    return files


def convert_bulk(source: Path, work_dir: Path, knowledge: Knowledge, *, read_records: bool = True) -> Prepared:
    """Read every line through the FHIR reader of `sigmd assess` (`adapters.fhir_bulk`); used Observations go to
    `work_dir/bulk.parquet` in the long format, Observations of other analytes and resources of other types are
    counted, and every other line but a Patient, a record or a blank one is a reject. The export's conditions and
    medications become the records table (`work_dir/bulk.records.csv`) when it holds any, unless `read_records`
    is False (screening was given its own records table)."""
    pa = require("pyarrow", "screen")
    pq = require("pyarrow.parquet", "screen")
    from sigmd.adapters.fhir_bulk import RECORD_TYPES, BulkReader

    reader = BulkReader(knowledge, read_records=read_records)
    for path in ndjson_files(source, ("Patient", "Observation", *(RECORD_TYPES if read_records else ()))):
        if not path.exists():
            raise ValueError(f"input: manifest file {str(path)!r} does not exist")
        reader.read_file(path)
    schema = pa.schema([(name, pa.string()) for name in CANONICAL_COLUMNS])
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "bulk.parquet"
    rejects: list[dict[str, object]] = []
    batch: list[dict[str, object]] = []
    with pq.ParquetWriter(path, schema) as writer:
        for row in reader.rows():
            fields = {name: getattr(row, name) for name in CANONICAL_COLUMNS}
            if row.reason:
                rejects.append({**fields, "row_no": -(len(rejects) + 1), "reason": row.reason})
                continue
            batch.append(fields)
            if len(batch) == BATCH_ROWS:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch = []
        writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    reject_schema = pa.schema(
        [("row_no", pa.int64()), *[(n, pa.string()) for n in CANONICAL_COLUMNS], ("reason", pa.string())]
    )
    other = count_other_analytes(
        ((code, reader.other_names[code], n) for code, n in reader.other_codes.items()), "FHIR Bulk Observation"
    )
    return Prepared(
        path,
        "parquet",
        {n: n for n in CANONICAL_COLUMNS},
        _write_records(reader, work_dir / "bulk.records.csv"),
        pa.Table.from_pylist(rejects, schema=reject_schema),
        other_analytes=other,
        other_resources=dict(sorted(reader.other_resources.items())),
        records_not_used=dict(sorted(reader.records_not_used.items())),
    )


def _write_records(reader: BulkReader, path: Path) -> Path | None:
    """The export's records table (`RECORD_COLUMNS` and `origin`), or None when it holds no record resources.

    An export with conditions but no medications (or the reverse) is still read, with a warning: what it holds
    can name a secondary cause, and what it lacks is not there to be seen either way."""
    from sigmd.adapters.fhir_bulk import MEDICATION_TYPES

    if not reader.record_types:
        return None
    lacking = []
    if "Condition" not in reader.record_types:
        lacking.append("conditions (no Condition resources)")
    if not reader.record_types & set(MEDICATION_TYPES):
        lacking.append("medications (no MedicationStatement, MedicationRequest or MedicationAdministration)")
    if lacking:
        warnings.warn(
            f"FHIR Bulk: the export holds no {' and no '.join(lacking)}; secondary causes and treatment among "
            "them cannot be seen",
            UserWarning,
            stacklevel=4,
        )
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*RECORD_COLUMNS, "origin"])
        for patient_id, kind, record in reader.records():
            writer.writerow([patient_id, kind, record.code, record.system, record.text, record.origin])
    return path
