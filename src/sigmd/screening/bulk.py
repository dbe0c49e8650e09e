"""FHIR Bulk Data NDJSON (Patient and Observation files, a folder or a manifest) to the long format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sigmd.adapters.fhir_observations import LOINC, UCUM, observation_status_use
from sigmd.adapters.limits import decode_input, parse_json
from sigmd.errors import InputError
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


def _text(value: Any) -> str | None:
    """A JSON value as the text the long format holds (None stays missing; objects are shown as JSON)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _effective(resource: dict[str, Any]) -> Any:
    """The collection time as the core's FHIR reader takes it: effectiveDateTime, effectivePeriod.start or
    effectiveInstant (never `issued`, the report time)."""
    return (
        resource.get("effectiveDateTime")
        or _object(resource.get("effectivePeriod")).get("start")
        or resource.get("effectiveInstant")
    )


def _quantity_row(resource: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    codings = _object(resource.get("code")).get("coding")
    codes = [_object(c).get("code") for c in codings or [] if _object(c).get("system") == LOINC]
    quantity = resource.get("valueQuantity")
    reference = _object(resource.get("subject")).get("reference")
    subject = reference if isinstance(reference, str) else ""
    when = _effective(resource)
    row = {"patient_id": subject.removeprefix("Patient/"), "collected_date": _text(when) or "", "loinc": None}
    row["loinc"] = _text(codes[0]) if codes else None
    status = observation_status_use(resource.get("status"))
    if not status.used:
        return row, f"Observation.status: {_text(resource.get('status'))!r} is not used: {status.reason} {where}"
    if not subject:
        return row, f"Observation.subject: {_text(resource.get('subject'))!r} is not a Reference to a Patient {where}"
    if not codes:
        return row, f"Observation.code: no coding with system {LOINC}; sigmd reads immunoglobulin LOINC codes {where}"
    if when is None:
        return row, f"Observation.effective[x]: missing; sigmd needs the collection time (not issued) {where}"
    if not isinstance(quantity, dict) or "value" not in quantity:
        kinds = [k for k in resource if k.startswith("value")] or ["no value"]
        return row, f"Observation.valueQuantity: {kinds[0]!r} is not a quantity; sigmd needs a numeric result {where}"
    value = quantity["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return row, f"Observation.valueQuantity.value: {_text(value)!r} is not a JSON number (FHIR decimal) {where}"
    comparator = quantity.get("comparator")
    code = quantity.get("code")
    unit = code if quantity.get("system") == UCUM and code else (quantity.get("unit") or code)
    row.update(value=_text(quantity["value"]), unit=_text(unit))
    row["comparator"] = comparator if comparator in COMPARATORS else None
    ranges = resource.get("referenceRange") or [{}]
    first = ranges[0] if isinstance(ranges, list) else None
    if not isinstance(first, dict):
        return row, f"Observation.referenceRange: {_text(ranges)!r} is not a list of ranges {where}"
    for bound in ("low", "high"):
        if bound in first and not isinstance(first[bound], dict):
            return row, f"Observation.referenceRange.{bound}: {_text(first[bound])!r} is not a Quantity {where}"
        row[f"ref_{bound}"] = _text(first[bound].get("value")) if bound in first else None
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
        for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
            where = f"({path.name} line {number})"
            if not raw.strip():
                continue
            try:  # the same limits as every reader: UTF-8, nesting depth, number length, no NaN or overflow
                resource = parse_json(decode_input(raw, "line"), "line")
            except InputError as error:
                rejects.append({"reason": f"{error} {where}"})
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
            rows.append({**row, "sex": _text(patient.get("gender")), "birth_date": _text(patient.get("birthDate"))})
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
