"""HL7 v2 ORU^R01 input, parsed with the `hl7` package (`pip install 'sigmd[hl7]'`).

Read: PID-3 (patient identifier, to group a batch), PID-7 birth date, PID-8 sex; for each OBX: OBX-3 code
(LOINC, or a local code through a mapping the caller gives), OBX-2 value type, OBX-5 value with `<`/`>`,
OBX-6 unit, OBX-7 reference range (the laboratory's own), OBX-8 abnormal flag, OBX-11 result status and
OBX-14 date (else OBR-7). Every OBX that is not used is listed, with the reason, in the case's warnings.

The `hl7` parser only splits segments on carriage returns, so line endings are normalised (`\\r\\n`, `\\n`,
`\\r`) and MLLP framing bytes (0x0b, 0x1c 0x0d) are stripped first. A batch (several MSH, with or without
FHS/BHS/BTS/FTS envelopes) gives one case per patient.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from sigmd.adapters.grouping import LoadedCase, PatientIndex, PatientRecords
from sigmd.adapters.results import build_result, resolve_analyte
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Analyte, Sex
from sigmd.core.values import ValueFormatError, parse_reported_value
from sigmd.errors import InputError

_SEX = {"F": Sex.FEMALE, "M": Sex.MALE, "O": Sex.OTHER, "A": Sex.OTHER, "U": Sex.UNKNOWN, "N": Sex.UNKNOWN}
_NUMERIC_TYPES = ("NM", "SN")
_NOT_USED_STATUS = {"D": "deleted", "W": "wrong, replaced", "X": "results cannot be obtained", "I": "pending"}
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")
_RANGE = re.compile(r"^\s*(?P<low>[0-9]*\.?[0-9]+)\s*(?:-|–|to)\s*(?P<high>[0-9]*\.?[0-9]+)\s*$")
_ONE_SIDED = re.compile(r"^\s*(?P<op><=|>=|<|>)\s*(?P<value>[0-9]*\.?[0-9]+)\s*$")


def _hl7() -> Any:
    try:
        import hl7
    except ImportError as error:
        raise ImportError("HL7 v2 support needs the hl7 extra: pip install 'sigmd[hl7]'") from error
    return hl7


def normalise(text: str) -> str:
    """Strip MLLP framing and make every segment end with a carriage return."""
    stripped = text.replace("\x0b", "").replace("\x1c", "").lstrip("\ufeff")
    lines = [line for line in re.split(r"\r\n|\n|\r", stripped) if line.strip()]
    return "\r".join(lines)


def split_messages(text: str) -> list[str]:
    """The messages of a file or stream: each starts at an MSH segment; batch envelope segments are dropped."""
    messages: list[list[str]] = []
    for segment in normalise(text).split("\r"):
        if segment.startswith(_ENVELOPE):
            continue
        if segment.startswith("MSH"):
            messages.append([segment])
        elif messages:
            messages[-1].append(segment)
        else:
            raise InputError("message 1", segment[:40], "comes before the first MSH segment")
    return ["\r".join(segments) for segments in messages]


def read_code_map(text: str, knowledge: Knowledge) -> dict[str, Analyte]:
    """A local-code mapping from CSV with the header `code,analyte` (analyte: a name or a LOINC code)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"code", "analyte"} <= set(reader.fieldnames):
        raise InputError("code map", ",".join(reader.fieldnames or []), "needs the header columns code,analyte")
    mapping: dict[str, Analyte] = {}
    for number, row in enumerate(reader, start=2):
        mapping[row["code"].strip()] = resolve_analyte(row["analyte"], f"code map line {number}.analyte", knowledge)
    return mapping


def load_hl7v2(text: str, knowledge: Knowledge, local_codes: Mapping[str, Analyte] | None = None) -> list[LoadedCase]:
    """One case per patient (PID-3) from one ORU^R01 message or a batch of them."""
    hl7 = _hl7()
    messages = split_messages(text)
    if not messages:
        raise InputError("(file)", text[:40], "holds no HL7 v2 message (no MSH segment)")
    index = PatientIndex()
    for number, raw in enumerate(messages, start=1):
        where = f"message {number}"
        try:
            message = hl7.parse(raw)
        except Exception as error:  # the parser raises plain exceptions on malformed text
            raise InputError(where, raw[:40], f"is not a parsable HL7 v2 message: {error}") from None
        _read_message(message, where, index, knowledge, local_codes or {})
    return index.loaded_cases()


def _field(segment: Any, number: int, component: int = 1) -> str:
    """One component of the first repetition of a field, unescaped ('' when absent)."""
    return str(segment.extract_field(1, number, 1, component))


def _segments(message: Any, name: str) -> list[Any]:
    return [segment for segment in message if str(segment[0]) == name]


def _read_message(
    message: Any, where: str, index: PatientIndex, knowledge: Knowledge, local: Mapping[str, Analyte]
) -> None:
    msh = _segments(message, "MSH")[0]
    message_type = f"{_field(msh, 9, 1)}^{_field(msh, 9, 2)}"
    pids = _segments(message, "PID")
    if not pids:
        raise InputError(f"{where} PID", None, "is missing; sigmd needs the patient's birth date and sex")
    pid = pids[0]
    key = _field(pid, 3, 1) or where
    records = index.get(key)
    records.guard(_read_demographics, pid, where, records)
    if message_type not in ("ORU^R01", "^"):
        records.warnings.append(f"{where} is {message_type}, not ORU^R01; its OBX segments were read as results")
    obr_date = ""
    for segment in message:
        name = str(segment[0])
        if name == "OBR":
            obr_date = _field(segment, 7)
        elif name == "OBX":
            records.guard(_read_obx, segment, obr_date, where, records, knowledge, local)
    if not _segments(message, "OBX"):
        records.warnings.append(f"{where} has no OBX segment (no results)")


def _read_demographics(pid: Any, where: str, records: PatientRecords) -> None:
    birth_text = _field(pid, 7)
    birth = _hl7_date(birth_text)
    if birth is None:
        raise InputError(f"{where} PID-7", birth_text, "is not a birth date (YYYYMMDD)")
    sex_text = _field(pid, 8)
    sex = _SEX.get(sex_text.upper() or "U")
    if sex is None:
        raise InputError(f"{where} PID-8", sex_text, "is not an HL7 sex code (F, M, O, U, A, N)")
    records.set_demographics(sex, birth, f"{where} PID")


def _analyte(obx: Any, knowledge: Knowledge, local: Mapping[str, Analyte]) -> tuple[Analyte | None, str]:
    """The analyte from OBX-3 (identifier, or alternate identifier) and the code as written."""
    pairs = ((_field(obx, 3, 1), _field(obx, 3, 3)), (_field(obx, 3, 4), _field(obx, 3, 6)))
    for code, system in pairs:
        if code and system.upper() in ("LN", "LOINC") and code in knowledge.loinc:
            return knowledge.loinc[code], f"{code}^{system}"
    for code, system in pairs:
        if code and code in local:
            return local[code], f"{code}^{system} (local code)"
    written = "; ".join(f"{c}^{s}" for c, s in pairs if c) or "(no code)"
    return None, written


def _read_obx(
    obx: Any, obr_date: str, where: str, records: PatientRecords, knowledge: Knowledge, local: Mapping[str, Analyte]
) -> None:
    place = f"{where} OBX {_field(obx, 1) or '?'}"
    analyte, code = _analyte(obx, knowledge, local)
    if analyte is None:
        records.warnings.append(f"{place} was not used: its code {code} is not an immunoglobulin code that sigmd reads")
        return
    status = _field(obx, 11)
    if status in _NOT_USED_STATUS:
        records.warnings.append(
            f"{place} ({analyte}) was not used: its result status is {status} ({_NOT_USED_STATUS[status]})"
        )
        return
    value_type = _field(obx, 2)
    value = _value(obx, value_type)
    if value is None:
        shown = str(obx(5)) if len(obx) > 5 else ""
        records.warnings.append(
            f"{place} ({analyte}) was not used: its value {shown!r} ({value_type or 'no type'}) is not numeric"
        )
        return
    date_text = _field(obx, 14) or obr_date
    collected = _hl7_date(date_text)
    if collected is None:
        if date_text:
            raise InputError(f"{place} OBX-14", date_text, "is not a date (YYYYMMDD[HHMM])")
        records.warnings.append(f"{place} ({analyte}) was not used: it has no date in OBX-14 or OBR-7")
        return
    if value_type not in _NUMERIC_TYPES:
        records.warnings.append(
            f"{place} ({analyte}) has value type {value_type or '(none)'} but a numeric value; it was used"
        )
    if status == "P":
        records.warnings.append(f"{place} ({analyte}) is a preliminary result (OBX-11 P); it was used")
    unit = _field(obx, 6)
    low, high, range_text = _range(_field(obx, 7), place, records)
    flag = _field(obx, 8)
    result, warnings = build_result(
        analyte=analyte,
        value=value,
        unit=unit,
        collected=collected,
        knowledge=knowledge,
        field=place,
        range_low=low,
        range_high=high,
        range_unit=unit,
        range_text=range_text,
        origin=f"{place}{f' (lab flag {flag})' if flag else ''}",
    )
    records.results.append(result)
    records.warnings.extend(warnings)


def _value(obx: Any, value_type: str) -> str | None:
    """OBX-5 as a reported value (`30`, `<5`); SN `<^5` is joined; None when it is not a number."""
    whole = str(obx(5)) if len(obx) > 5 else ""
    text = _field(obx, 5, 1) + _field(obx, 5, 2) if value_type == "SN" else whole
    try:
        parse_reported_value(text)
    except ValueFormatError:
        return None
    return text.strip()


def _range(text: str, place: str, records: PatientRecords) -> tuple[str | None, str | None, str | None]:
    """OBX-7 `low-high`, `>low` or `<high`; other text is reported and the reference set is used instead."""
    if not text.strip():
        return None, None, None
    both = _RANGE.match(text)
    if both:
        return both.group("low"), both.group("high"), text.strip()
    one = _ONE_SIDED.match(text)
    if one:
        if one.group("op").startswith(">"):
            return one.group("value"), None, text.strip()
        return None, one.group("value"), text.strip()
    records.warnings.append(f"{place}: reference range {text!r} (OBX-7) is not a low-high range; it was not used")
    return None, None, None


def _hl7_date(text: str) -> date | None:
    digits = text.strip()[:8]
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
