"""Reading an import file into one LoadedCase per patient: case JSON, FHIR, HL7 v2, or the long-format CSV.

A file is best given as its bytes: HL7 v2 is then decoded message by message as its MSH-18 declares.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from sigmd.adapters.detect import InputFormat, detect_format, load_cases
from sigmd.adapters.grouping import LoadedCase, PatientIndex, PatientRecords
from sigmd.adapters.limits import decode_input, parse_json
from sigmd.adapters.results import build_result, parse_date, resolve_analyte
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Sex
from sigmd.errors import InputError
from sigmd.registry.api import RegistryError

CSV_FORMAT = "csv-long"
CSV_REQUIRED = ("patient_id", "sex", "birth_date", "collected_date", "loinc", "value", "unit")
CSV_OPTIONAL = ("comparator", "ref_low", "ref_high")
_EXTRA = "(extra values)"
_SEXES = {"f": Sex.FEMALE, "m": Sex.MALE, **{s.value: s for s in Sex}}
_HL7_START = (b"MSH", b"FHS", b"BHS")
"""How HL7 v2 bytes start (after a byte-order mark, MLLP framing, blank lines), as `sigmd.adapters.detect` sees it."""


def read_import(data: str | bytes, knowledge: Knowledge) -> tuple[str, list[LoadedCase]]:
    """The input's format and its patients; a file that cannot be read at all raises RegistryError.

    Bytes (a file as read or uploaded) are decoded as the `sigmd.adapters` readers decode them: HL7 v2 message
    by message, as each message's MSH-18 declares (UTF-8, or ISO 8859-1 for `8859/1`), so that a byte that is
    not text refuses its own message, by number and byte position, and the other messages are imported; every
    other format as UTF-8 text as a whole (a byte-order mark dropped), else refused naming the byte offset.
    """
    try:
        if isinstance(data, bytes):
            if data.lstrip(b"\xef\xbb\xbf\x0b \t\r\n").startswith(_HL7_START):
                return InputFormat.HL7V2.value, load_cases(data, knowledge)
            data = decode_input(data)
        return _read_text(data, knowledge)
    except InputError as error:
        raise RegistryError(str(error)) from None


def _read_text(text: str, knowledge: Knowledge) -> tuple[str, list[LoadedCase]]:
    body = text.lstrip("\ufeff")
    first_line = body.lstrip().split("\n", 1)[0]
    if "patient_id" in first_line and "," in first_line and not first_line.lstrip().startswith("{"):
        return CSV_FORMAT, read_long_csv(body, knowledge)
    file_format = detect_format(body)
    if file_format is InputFormat.CASE_JSON:
        patient = parse_json(body).get("patient")
        if not isinstance(patient, dict) or not str(patient.get("id") or "").strip():
            raise InputError(
                "patient.id",
                None if not isinstance(patient, dict) else patient.get("id"),
                "is needed to import a case",
            )
    return file_format.value, load_cases(body, knowledge)


def read_long_csv(text: str, knowledge: Knowledge) -> list[LoadedCase]:
    """The screening long format, one row per result; a bad row rejects its patient, with the reason."""
    reader = csv.DictReader(io.StringIO(text), restkey=_EXTRA)
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in CSV_REQUIRED if name not in header]
    if missing:
        raise InputError("CSV header", ",".join(header), f"lacks the column(s) {', '.join(missing)}")
    unknown = [name for name in header if name not in (*CSV_REQUIRED, *CSV_OPTIONAL)]
    if unknown:
        raise InputError(
            "CSV header", unknown[0], f"is not a column of the long format ({', '.join(CSV_REQUIRED + CSV_OPTIONAL)})"
        )
    reader.fieldnames = header
    index = PatientIndex()
    unattributed: list[LoadedCase] = []
    for line, row in enumerate(reader, start=2):
        key = (row.get("patient_id") or "").strip()
        if not key:
            error = InputError(
                f"row {line}.patient_id", row.get("patient_id"), "is empty; the row belongs to no patient"
            )
            unattributed.append(LoadedCase(f"(row {line})", None, error))
            continue
        records = index.get(key)
        records.guard(_read_row, records, row, line, knowledge)
    return [*index.loaded_cases(), *unattributed]


def _read_row(records: PatientRecords, row: dict[str, Any], line: int, knowledge: Knowledge) -> None:
    field = f"row {line}"
    if row.get(_EXTRA):
        raise InputError(field, row[_EXTRA], "has more values than the header has columns")
    cells = {k: (v or "").strip() for k, v in row.items() if k != _EXTRA}
    sex = _SEXES.get(cells["sex"].lower())
    if sex is None:
        raise InputError(f"{field}.sex", cells["sex"], "is not female, male, other or unknown (or f, m)")
    records.set_demographics(sex, parse_date(cells["birth_date"], f"{field}.birth_date"), field)
    result, warnings = build_result(
        analyte=resolve_analyte(cells["loinc"], f"{field}.loinc", knowledge),
        value=cells["value"],
        unit=cells["unit"],
        collected=parse_date(cells["collected_date"], f"{field}.collected_date"),
        knowledge=knowledge,
        field=field,
        comparator=cells.get("comparator") or None,
        range_low=cells.get("ref_low") or None,
        range_high=cells.get("ref_high") or None,
        origin=field,
    )
    records.results.append(result)
    records.warnings.extend(warnings)
