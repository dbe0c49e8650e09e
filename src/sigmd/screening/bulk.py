"""FHIR Bulk Data NDJSON (Patient and Observation files, a folder or a manifest) to the long format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.extras import require
from sigmd.screening.inputs import Prepared

COMPARATORS = ("<", "<=", ">=", ">")


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


def _quantity_row(resource: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    codes = [c.get("code", "") for c in resource.get("code", {}).get("coding", []) if "loinc" in c.get("system", "")]
    quantity = resource.get("valueQuantity")
    subject = str(resource.get("subject", {}).get("reference", "")).removeprefix("Patient/")
    when = resource.get("effectiveDateTime") or resource.get("issued") or ""
    row = {"patient_id": subject, "collected_date": when, "loinc": codes[0] if codes else None}
    if not isinstance(quantity, dict) or "value" not in quantity:
        kinds = [k for k in resource if k.startswith("value")] or ["no value"]
        return row, f"Observation.valueQuantity: {kinds[0]!r} is not a quantity; sigmd needs a numeric result {where}"
    comparator = quantity.get("comparator")
    row.update(value=str(quantity["value"]), unit=quantity.get("unit") or quantity.get("code"))
    row["comparator"] = comparator if comparator in COMPARATORS else None
    ranges = resource.get("referenceRange") or [{}]
    row["ref_low"] = None if "low" not in ranges[0] else str(ranges[0]["low"].get("value"))
    row["ref_high"] = None if "high" not in ranges[0] else str(ranges[0]["high"].get("value"))
    return row, ""


def convert_bulk(source: Path, work_dir: Path) -> Prepared:
    """Join Observations to their Patients; lines that are not usable Observations become rejects."""
    pa = require("pyarrow", "screen")
    pq = require("pyarrow.parquet", "screen")
    patients: dict[str, dict[str, Any]] = {}
    observations: list[tuple[dict[str, Any], str]] = []
    rejects: list[dict[str, Any]] = []
    for path in ndjson_files(source):
        if not path.exists():
            raise ValueError(f"input: manifest file {str(path)!r} does not exist")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            where = f"({path.name} line {number})"
            if not line.strip():
                continue
            try:
                resource = json.loads(line)
            except json.JSONDecodeError as error:
                rejects.append({"reason": f"line: not JSON ({error.msg}) {where}"})
                continue
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            if kind == "Patient":
                patients[str(resource.get("id"))] = resource
            elif kind == "Observation":
                observations.append(_quantity_row(resource, where))
            else:
                rejects.append({"reason": f"resourceType: {kind!r} is not Patient or Observation {where}"})
    rows = []
    for row, problem in observations:
        patient = patients.get(row["patient_id"])
        if problem:
            rejects.append({**row, "reason": problem})
        elif patient is None:
            rejects.append({**row, "reason": f"subject: {row['patient_id']!r} has no Patient resource in the export"})
        else:
            rows.append({**row, "sex": patient.get("gender"), "birth_date": patient.get("birthDate")})
    schema = pa.schema([(name, pa.string()) for name in CANONICAL_COLUMNS])
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / "bulk.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    reject_schema = pa.schema(
        [("row_no", pa.int64()), *[(n, pa.string()) for n in CANONICAL_COLUMNS], ("reason", pa.string())]
    )
    numbered = [{**r, "row_no": -index} for index, r in enumerate(rejects, start=1)]
    return Prepared(
        path, "parquet", {n: n for n in CANONICAL_COLUMNS}, None, pa.Table.from_pylist(numbered, schema=reject_schema)
    )
