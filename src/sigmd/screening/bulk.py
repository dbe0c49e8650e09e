"""FHIR Bulk Data NDJSON (Patient and Observation files, a folder or a manifest) to the long format.

The lines are read by `sigmd.adapters.fhir_bulk`, the FHIR reader of `sigmd assess`; this module finds the files
and writes the rows.
"""

from __future__ import annotations

import json
from pathlib import Path

from sigmd.core.knowledge import Knowledge
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.extras import require
from sigmd.screening.inputs import Prepared, count_other_analytes

BATCH_ROWS = 50_000
"""Used rows are written to Parquet in batches of this many, so that they are not all held twice."""


def ndjson_files(source: Path) -> list[Path]:
    """The NDJSON files of an export: every *.ndjson in a folder, or the `output` files of a manifest.

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
        if entry.get("type") in ("Patient", "Observation"):
            files.append(source.parent / str(entry["url"]).rstrip("/").rsplit("/", 1)[-1])
    return files


def convert_bulk(source: Path, work_dir: Path, knowledge: Knowledge) -> Prepared:
    """Read every line through the FHIR reader of `sigmd assess` (`adapters.fhir_bulk`); used Observations go to
    `work_dir/bulk.parquet` in the long format, Observations of other analytes are counted, and every other line
    but a Patient or a blank one is a reject."""
    pa = require("pyarrow", "screen")
    pq = require("pyarrow.parquet", "screen")
    from sigmd.adapters.fhir_bulk import BulkReader

    reader = BulkReader(knowledge)
    for path in ndjson_files(source):
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
        None,
        pa.Table.from_pylist(rejects, schema=reject_schema),
        other_analytes=other,
    )
