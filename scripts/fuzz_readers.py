"""Long-running fuzz of sigmd's input readers: mutated inputs must give cases or InputErrors, nothing else.

    python scripts/fuzz_readers.py --format hl7 --inputs 200000 --seed 1
    python scripts/fuzz_readers.py --format hl7 --seconds 600 --assess --crashes fuzz-crashes/
    python scripts/fuzz_readers.py --format fhir --inputs 200000 --assess   # also: ndjson, case, detect, csv

Each format has its own section (functions named for the format) and one entry in `FORMATS`. An input that
makes a reader raise anything but `InputError` is a crash: it is written to the crash folder (when given)
with its traceback, and the run exits with status 1. `--assess` also runs the core on every case read, to
find what a reader lets through that the core cannot take. Inputs are synthetic: no patient data.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sigmd import content
from sigmd.core.assessment import AssessmentError, assess
from sigmd.core.knowledge import Knowledge
from sigmd.errors import InputError


@dataclass
class Tally:
    """What one fuzz run saw."""

    inputs: int = 0
    cases: int = 0
    refused_inputs: int = 0
    refused_patients: int = 0
    crashes: dict[str, bytes] = field(default_factory=dict)
    """First input for each distinct crash (exception type and place)."""
    slowest: float = 0.0

    def summary(self, name: str, seconds: float) -> str:
        rate = self.inputs / seconds if seconds else 0.0
        return (
            f"{name}: {self.inputs} inputs in {seconds:.1f} s ({rate:.0f}/s); cases {self.cases}, "
            f"patients refused {self.refused_patients}, inputs refused {self.refused_inputs}; "
            f"distinct crashes {len(self.crashes)}; slowest input {self.slowest * 1000:.1f} ms"
        )


# --- HL7 v2 ----------------------------------------------------------------------------------------------

HL7_STATUSES = ["F", "F", "F", "C", "D", "W", "P", "R", "S", "U", "V", "A", "B", "I", "X", "", "Q"]
HL7_VALUES = ["18", "<5", "0.27", "1e308", "9" * 40, "-3", "", "12,5", ">=300", "inf", "nan", "0", "1e-320", ".5"]
HL7_SN_VALUES = ["<^5", "^18", "18", "^10^-^20", "<>^5", "^", ">^1e400", "^1^:^128", "=^7"]
HL7_UNITS = ["mg/dL", "g/L", "mg/dL^milligram per deciliter^UCUM", "IU/mL", "mmol/L", "", "\\S\\", "g/L^^UCUM"]
HL7_DATES = ["20240110083000", "20240110", "202401100830+0100", "00010101", "99991231", "2024", "20241340", "", "1"]
HL7_CODES = [
    "2472-9^IgM^LN",
    "2465-3^IgG^LN",
    "2458-8^IgA^LN",
    "2472-9",
    "2472-9^IgM^L",
    "15074-8^Glucose^LN",
    "IGMLOC^IgM^99LAB^2472-9^IgM^LN",
    "^^LN",
    "2472-9&x^IgM^LN",
]
HL7_DELIMITERS = "|^~\\&\r\n\x0b\x1c"
HL7_SEGMENT_NAMES = ["MSH", "PID", "OBR", "OBX", "NTE", "FHS", "BHS", "BTS", "FTS", "ZZZ", "MS", ""]


def hl7_message(rng: random.Random, number: int) -> str:
    """A valid synthetic ORU^R01 with one or two patients and several OBX segments."""
    segments = [f"MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240110120000||ORU^R01|M{number}|P|2.5.1"]
    for patient in range(rng.choice([1, 1, 1, 2])):
        birth = rng.choice(["19800501", "20150203", "19451231", "20231101"])
        sex = rng.choice(["F", "M", "U", "O"])
        segments.append(f"PID|1||P{rng.randrange(5)}{patient}^^^HOSP^MR||Synthetic^Pat||{birth}|{sex}")
        segments.append(f"OBR|1||ORD{number}|IG^Immunoglobulins^L|||{rng.choice(HL7_DATES[:3])}")
        for set_id in range(1, rng.randint(1, 6)):
            code = rng.choice(HL7_CODES[:3]) if rng.random() < 0.8 else rng.choice(HL7_CODES)
            value_type = rng.choice(["NM", "NM", "SN", "ST", ""])
            value = rng.choice(HL7_SN_VALUES if value_type == "SN" else HL7_VALUES[:3])
            unit = rng.choice(HL7_UNITS[:3])
            status = "F" if rng.random() < 0.6 else rng.choice(HL7_STATUSES)
            when = rng.choice(HL7_DATES[:3]) if rng.random() < 0.8 else ""
            low_high = rng.choice(["40-230", "0.4-2.3", "<9", ">40", "", "see note", "^^10.0"])
            segments.append(
                f"OBX|{set_id}|{value_type}|{code}||{value}|{unit}|{low_high}|{rng.choice(['L', 'N', 'H', ''])}"
                f"|||{status}|||{when}"
            )
    return "\r".join(segments)


def hl7_mutate(rng: random.Random, text: str) -> str:
    """One to four mutations: delimiters, truncation, inserted bytes or segments, repeated or swapped fields."""
    for _ in range(rng.randint(1, 4)):
        choice = rng.randrange(12)
        position = rng.randrange(len(text) + 1)
        if choice == 0 and text:  # change one delimiter into another
            spots = [i for i, c in enumerate(text) if c in HL7_DELIMITERS]
            if spots:
                spot = rng.choice(spots)
                text = text[:spot] + rng.choice(HL7_DELIMITERS) + text[spot + 1 :]
        elif choice == 1:  # truncate
            text = text[:position]
        elif choice == 2:  # insert random characters, delimiters among them
            alphabet = HL7_DELIMITERS + "0123456789.<>-=e\x00\ufeff\u00e9\udcff\x7f \t" + "MSHPIDOBX"
            text = text[:position] + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) + text[position:]
        elif choice == 3:  # delete a span
            text = text[:position] + text[position + rng.randint(1, 20) :]
        elif choice == 4:  # duplicate a segment somewhere
            lines = text.split("\r")
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
            text = "\r".join(lines)
        elif choice == 5:  # insert an odd segment
            name = rng.choice(HL7_SEGMENT_NAMES)
            body = "|".join(rng.choice(["", "1", "^", "~", "&", "\\", "x^y&z~w", "2472-9^IgM^LN"]) for _ in range(15))
            lines = text.split("\r")
            lines.insert(rng.randrange(len(lines) + 1), f"{name}{rng.choice(['|', '^', '', '||'])}{body}")
            text = "\r".join(lines)
        elif choice == 6:  # repeat a field (~)
            fields = text.split("|")
            if len(fields) > 1:
                index = rng.randrange(len(fields))
                fields[index] = "~".join([fields[index]] * rng.randint(2, 4))
                text = "|".join(fields)
        elif choice == 7:  # swap two fields
            fields = text.split("|")
            if len(fields) > 2:
                a, b = rng.randrange(len(fields)), rng.randrange(len(fields))
                fields[a], fields[b] = fields[b], fields[a]
                text = "|".join(fields)
        elif choice == 8:  # a field replaced by an extreme value
            fields = text.split("|")
            index = rng.randrange(len(fields))
            extreme = [*HL7_VALUES, *HL7_SN_VALUES, *HL7_DATES, *HL7_STATUSES, *HL7_CODES, "\\.sp99999\\", "\\X\\"]
            fields[index] = rng.choice(extreme)
            text = "|".join(fields)
        elif choice == 9:  # change the encoding characters
            if text.startswith("MSH") and len(text) > 8:
                chars = list(text[3:8])
                chars[rng.randrange(5)] = rng.choice("|^~\\&#$\r ")
                text = "MSH" + "".join(chars) + text[8:]
        elif choice == 10:  # line endings and framing
            text = rng.choice(["\x0b", "\ufeff", "", "\n"]) + text.replace("\r", rng.choice(["\n", "\r\n", "\r"]))
            text += rng.choice(["\x1c\r", "", "\r\r", "\n"])
        else:  # a long run of one character
            length = rng.choice([100, 100, 1000, 5000]) if rng.random() < 0.95 else 70_000
            text = text[:position] + rng.choice("9|^~&\\x") * length + text[position:]
    return text


def hl7_input(rng: random.Random, number: int) -> str | bytes:
    """A mutated message or batch; sometimes as bytes (UTF-8, Latin-1 or invalid)."""
    count = rng.choice([1, 1, 1, 2, 3])
    text = "\r".join(hl7_message(rng, number * 10 + i) for i in range(count))
    if rng.random() < 0.2:
        text = "FHS|^~\\&\rBHS|^~\\&\r" + text + "\rBTS|1\rFTS|1"
    text = hl7_mutate(rng, text)
    if rng.random() < 0.15:
        raw = text.encode("utf-8", "surrogateescape" if rng.random() < 0.5 else "replace")
        if rng.random() < 0.5:
            spot = rng.randrange(len(raw) + 1)
            raw = raw[:spot] + bytes([rng.randrange(256)]) + raw[spot:]
        return raw
    return text.encode("utf-8", "replace").decode("utf-8") if "\udcff" in text and rng.random() < 0.5 else text


def hl7_read(data: str | bytes, knowledge: Knowledge) -> list[object]:
    from sigmd.adapters.hl7v2 import load_hl7v2

    return list(load_hl7v2(data, knowledge))


# --- FHIR JSON, FHIR NDJSON, case JSON ---------------------------------------------------------------------
# A valid synthetic document is built, then mutated as a tree (a node replaced by an extreme value, deleted,
# duplicated, nested, or given another type) and as text (truncated, bytes inserted, line endings changed).

JSON_EXTREMES: list[object] = [
    None,
    True,
    0,
    -1,
    1e308,
    -1e308,
    5e-324,
    2**63,
    10**39,
    "",
    " ",
    "x" * 300,
    "2472-9",
    "http://loinc.org",
    "0001-01-01",
    "9999-12-31",
    "2024-02-30",
    "2024-01-01T25:00:00Z",
    "2024",
    "2024-01",
    "<5",
    ">=1e400",
    "NaN",
    "entered-in-error",
    "amended",
    "preliminary",
    "Patient/p1",
    "Patient/",
    "#",
    "urn:uuid:x",
    [],
    {},
    [[]],
    {"": {}},
    {"resourceType": "Foo"},
    {"resourceType": "Patient"},
    {"resourceType": 5},
    [{"resourceType": "Foo"}],
    [{"resourceType": 5}],
    [{"resourceType": "Medication", "id": "m", "code": {"text": "x"}}],
    "\u0000",
    "\ud800",
    "\u2028",
]
JSON_TEXT_INSERTS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "9" * 50,
    "[" * 200,
    "{" * 100,
    '"',
    "\\",
    "\r",
    "\n\n",
    "\x00",
    "\ufeff",
    "\udcff",
    ",",
    ":",
    "}",
    "]",
    "\u2028",
    "\x1c",
]
BUNDLE_READ = ["collection", "searchset", "transaction", "batch"]
FHIR_STATUSES = [
    "final",
    "final",
    "amended",
    "corrected",
    "preliminary",
    "registered",
    "unknown",
    "entered-in-error",
    "cancelled",
    "FINAL",
    "",
]
FHIR_CODES = ["2472-9", "2472-9", "2465-3", "2458-8", "2466-1", "15074-8", ""]
FHIR_UNITS = ["mg/dL", "g/L", "mg/L", "g/dL", "[IU]/mL", "mmol/L", ""]


def _fhir_observation(rng: random.Random, number: int, subject: str) -> dict[str, object]:
    code: dict[str, object] = {"code": rng.choice(FHIR_CODES)}
    if rng.random() < 0.9:
        code["system"] = "http://loinc.org" if rng.random() < 0.9 else "http://snomed.info/sct"
    unit = rng.choice(FHIR_UNITS)
    obs: dict[str, object] = {
        "resourceType": "Observation",
        "id": f"o{rng.randrange(1000) if rng.random() < 0.8 else rng.randrange(3)}",
        "status": rng.choice(FHIR_STATUSES),
        "code": {"coding": [code]},
        "subject": {"reference": subject},
    }
    when = rng.choice(["2024-01-10", "2024-01-10T09:30:00Z", "2024-07-01T10:00:00+02:00", "2023-11-02"])
    choice = rng.randrange(10)
    if choice < 7:
        obs["effectiveDateTime"] = when
    elif choice == 7:
        obs["effectivePeriod"] = {"start": when}
    elif choice == 8:
        obs["issued"] = "2024-01-10T10:00:00Z"
    quantity = {
        "value": rng.choice([15, 30, 0.3, 900, 0, 2.5]),
        "unit": unit,
        "system": "http://unitsofmeasure.org",
        "code": unit,
    }
    if rng.random() < 0.2:
        quantity["comparator"] = rng.choice(["<", ">", "<=", ">=", "ad"])
    if rng.random() < 0.85:
        obs["valueQuantity"] = quantity
    elif rng.random() < 0.5:
        obs["component"] = [{"code": obs["code"], "valueQuantity": quantity}]
    else:
        obs["valueString"] = "low"
    if rng.random() < 0.3:
        obs["referenceRange"] = [{"low": {"value": 40, "unit": unit}, "high": {"value": 230, "unit": unit}}]
    return obs


def fhir_resources(rng: random.Random, number: int) -> list[dict[str, object]]:
    """Valid synthetic resources: one to three patients with Observations, a Condition, a medication."""
    resources: list[dict[str, object]] = []
    for index in range(rng.choice([1, 1, 2, 3])):
        patient_id = f"p{index}"
        birth = rng.choice(["1980-05-01", "2015-02-03", "1945-12-31", "2023-11-01", "1900-01-01"])
        resources.append(
            {
                "resourceType": "Patient",
                "id": patient_id,
                "birthDate": birth,
                "gender": rng.choice(["female", "male", "other", "unknown"]),
            }
        )
        subject = rng.choice([f"Patient/{patient_id}", patient_id, f"Patient/{patient_id}/_history/2"])
        for _ in range(rng.randint(0, 5)):
            resources.append(_fhir_observation(rng, number, subject))
        if rng.random() < 0.3:
            resources.append(
                {
                    "resourceType": "Condition",
                    "id": f"c{index}",
                    "subject": {"reference": subject},
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "C91.1"}]},
                }
            )
        if rng.random() < 0.2:
            resources.append(
                {
                    "resourceType": "MedicationStatement",
                    "id": f"m{index}",
                    "status": "active",
                    "subject": {"reference": subject},
                    "medicationCodeableConcept": {"text": "clozapine"},
                }
            )
        if rng.random() < 0.1:
            resources.append(
                {
                    "resourceType": "Encounter",
                    "id": f"e{index}",
                    "status": "finished",
                    "subject": {"reference": subject},
                }
            )
    rng.shuffle(resources)
    return resources


def json_mutate_tree(rng: random.Random, document: object) -> object:
    """One to four tree mutations at random places of a JSON value."""
    for _ in range(rng.randint(1, 4)):
        document = _mutate_at(rng, document, depth=0)
    return document


def _mutate_at(rng: random.Random, value: object, depth: int) -> object:
    children = (
        list(value.items()) if isinstance(value, dict) else list(enumerate(value)) if isinstance(value, list) else []
    )
    if children and rng.random() < 0.75 and depth < 20:
        key, child = rng.choice(children)
        new = _mutate_at(rng, child, depth + 1)
        if isinstance(value, dict):
            return {**value, key: new}
        if isinstance(value, list):
            return [new if index == key else item for index, item in enumerate(value)]
    choice = rng.randrange(8)
    if choice == 0 and isinstance(value, dict) and value:
        copy_d = dict(value)
        del copy_d[rng.choice(list(copy_d))]
        return copy_d
    if choice == 1 and isinstance(value, list) and value:
        return [*value, rng.choice(value)]
    if choice == 2:
        return [value]
    if choice == 3 and isinstance(value, dict):
        return {
            **value,
            rng.choice(["resourceType", "id", "status", "extension", "x", "subject", "value", "contained"]): rng.choice(
                JSON_EXTREMES
            ),
        }
    if choice == 4:
        nested: object = value
        for _ in range(rng.choice([10, 70, 200])):
            nested = [nested]
        return nested
    return rng.choice(JSON_EXTREMES)


def json_mutate_text(rng: random.Random, text: str) -> str:
    """One to three text mutations: truncation, inserted tokens, deleted spans, line-ending changes."""
    for _ in range(rng.randint(1, 3)):
        position = rng.randrange(len(text) + 1)
        choice = rng.randrange(7)
        if choice == 0:
            text = text[:position]
        elif choice == 1:
            text = text[:position] + rng.choice(JSON_TEXT_INSERTS) + text[position:]
        elif choice == 2:
            text = text[:position] + text[position + rng.randint(1, 30) :]
        elif choice == 3:
            text = text.replace("\n", rng.choice(["\r", "\r\n", "\n\n", "\u2028", "\x85"]))
        elif choice == 4:
            digits = [i for i, c in enumerate(text) if c.isdigit()]
            if digits:
                spot = rng.choice(digits)
                text = text[:spot] + rng.choice(["9" * 45, "1e400", "-", ".", "e", "0" * 5000]) + text[spot + 1 :]
        elif choice == 5:
            depth = rng.choice([65, 1000, 100_000])
            text = text[:position] + "[" * depth + "]" * depth + text[position:]
        else:
            text = rng.choice(["\ufeff", " ", "\r", "\x0b"]) + text
    return text


def _as_bytes_sometimes(rng: random.Random, text: str) -> str | bytes:
    if rng.random() < 0.1:
        raw = text.encode("utf-8", "surrogatepass")
        spot = rng.randrange(len(raw) + 1)
        return raw[:spot] + bytes([rng.randrange(128, 256)]) + raw[spot:]
    return text


def fhir_input(rng: random.Random, number: int) -> str | bytes:
    """A mutated FHIR Bundle (collection, searchset, transaction) or single resource, as JSON text."""
    resources = fhir_resources(rng, number)
    bundle_type = rng.choice(
        ["collection", "searchset", "transaction", "batch", "history"] if rng.random() < 0.1 else BUNDLE_READ
    )
    document: object = {
        "resourceType": "Bundle",
        "type": bundle_type,
        "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)],
    }
    if rng.random() < 0.6:
        document = json_mutate_tree(rng, document)
    text = json.dumps(document, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1]))
    if rng.random() < 0.25:
        text = json_mutate_text(rng, text)
    return _as_bytes_sometimes(rng, text)


def fhir_read(data: str | bytes, knowledge: Knowledge) -> list[object]:
    from sigmd.adapters.fhir import load_fhir_json

    return _contained(lambda text: load_fhir_json(text, knowledge), data)


def ndjson_input(rng: random.Random, number: int) -> str | bytes:
    """Mutated FHIR NDJSON: one resource per line, lines mutated as trees and as text."""
    lines = []
    for resource in fhir_resources(rng, number):
        value: object = json_mutate_tree(rng, resource) if rng.random() < 0.2 else resource
        line = json.dumps(value, ensure_ascii=rng.random() < 0.5)
        lines.append(json_mutate_text(rng, line) if rng.random() < 0.1 else line)
    text = rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n", "\n\n"])
    return _as_bytes_sometimes(rng, text)


def ndjson_read(data: str | bytes, knowledge: Knowledge) -> list[object]:
    from sigmd.adapters.fhir import load_fhir_ndjson

    return _contained(lambda text: load_fhir_ndjson(text, knowledge), data)


def case_document(rng: random.Random) -> dict[str, object]:
    """A valid synthetic case document (sigmd case JSON) with most optional sections."""
    patient: dict[str, object] = {"sex": rng.choice(["female", "male", "other", "unknown"]), "id": "c1"}
    if rng.random() < 0.7:
        patient["birth_date"] = rng.choice(["1980-05-01", "2015-02-03", "1900-01-01"])
    else:
        patient["age_years"] = rng.choice([0, 0.5, 46, 129.9, 3])
    results = [
        {
            "analyte": rng.choice(["IgM", "IgG", "IgA", "2472-9", "IgG2"]),
            "value": rng.choice([5, "<5", 30, 0.3, 900]),
            "unit": rng.choice(["mg/dL", "g/L", "IU/mL"]),
            "date": rng.choice(["2024-01-10", "2024-07-10", "2023-02-01"]),
        }
        for _ in range(rng.randint(1, 5))
    ]
    document: dict[str, object] = {"patient": patient, "results": results}
    if rng.random() < 0.5:
        document["conditions"] = [{"text": "CLL", "code": "C91.1", "system": "ICD-10", "start": "2020-01-01"}]
    if rng.random() < 0.3:
        document["medications"] = [
            {"text": "clozapine", "code": "N05AH02", "system": "ATC", "start": "2021-01-01", "end": "2022-01-01"}
        ]
    if rng.random() < 0.3:
        document["pneumococcal_challenge"] = {
            "vaccinated": "2024-01-01",
            "titres": [
                {"serotype": "3", "value": "<0.3", "date": "2023-12-20"},
                {"serotype": "3", "value": 2.1, "date": "2024-02-01"},
            ],
        }
    if rng.random() < 0.3:
        document["clinical_features"] = {
            "infections": [
                {"type": "pneumonia", "count": rng.choice([1, 3, 10**6]), "period_months": rng.choice([12, 1, 10**6])}
            ],
            "allergies": ["penicillin"],
            "autoimmune": [],
        }
    if rng.random() < 0.2:
        document["blood_count"] = {"date": "2024-01-10", "result": "normal"}
    if rng.random() < 0.2:
        document["protein_antigens"] = [{"antigen": "tetanus", "result": "low", "date": "2024-01-10"}]
    if rng.random() < 0.2:
        document["vaccine_responses"] = [{"antigen": "pneumococcal", "result": "impaired"}]
    if rng.random() < 0.2:
        document["t_cell_defect"] = rng.choice([True, False, None])
    return document


def case_input(rng: random.Random, number: int) -> str | bytes:
    """A mutated case JSON document."""
    document: object = case_document(rng)
    if rng.random() < 0.6:
        document = json_mutate_tree(rng, document)
    text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.2:
        text = json_mutate_text(rng, text)
    return _as_bytes_sometimes(rng, text)


def case_read(data: str | bytes, knowledge: Knowledge) -> list[object]:
    from sigmd.adapters.case_json import load_case
    from sigmd.adapters.grouping import LoadedCase

    return _contained(lambda text: [LoadedCase("case", load_case(text, knowledge))], data)


def detect_read(data: str | bytes, knowledge: Knowledge) -> list[object]:
    from sigmd.adapters.detect import load_cases

    return _contained(lambda text: load_cases(text, knowledge), data)


def detect_input(rng: random.Random, number: int) -> str | bytes:
    """Any of the JSON formats, to be recognised and read through `load_cases`."""
    return rng.choice([fhir_input, ndjson_input, case_input])(rng, number)


_FALLBACK = re.compile(r"could not be (?:read|validated as FHIR R4) \((\w+)")


_fallbacks: list[InputError] = []
"""Every InputError made by a refusal boundary's catch-all during the current read (a patient reports only its
first error, so a later one would otherwise go unseen)."""


def _record_fallbacks() -> None:
    if getattr(InputError, "_fuzz_recording", False):
        return
    original = InputError.__init__

    def recording(self: InputError, field: str, value: object, problem: str) -> None:
        original(self, field, value, problem)
        if _FALLBACK.search(problem):
            _fallbacks.append(self)

    InputError.__init__ = recording  # type: ignore[method-assign]
    InputError._fuzz_recording = True  # type: ignore[attr-defined]


def _contained(read: Callable[[str], Sequence[object]], data: str | bytes) -> list[object]:
    """Read through the door (bytes decoded as UTF-8 first); an error that only the refusal boundary's
    catch-all stopped is raised as `Contained<ExceptionType>`, so the fuzz counts it as a crash to fix."""
    from sigmd.adapters.limits import decode_input

    _record_fallbacks()
    _fallbacks.clear()
    try:
        loaded = read(decode_input(data) if isinstance(data, bytes) else data)
    except InputError:
        if _fallbacks:
            _raise_fallback(_fallbacks[0])
        raise
    if _fallbacks:
        _raise_fallback(_fallbacks[0])
    return list(loaded)


def _raise_fallback(error: InputError) -> None:
    found = _FALLBACK.search(error.problem)
    name = found.group(1) if found else "Error"
    raise type(f"Contained{name}", (Exception,), {})(str(error)[:300])


# --- screening CSV ------------------------------------------------------------------------------------------
# A valid long-format lab extract is built, then mutated as bytes (cells, quotes, delimiters, line ends, bytes
# that are not UTF-8). Screening's reader must keep every record, in order, with a reason for each line it cannot
# read (rows in = the non-blank lines after the header), or refuse the whole file (a header it cannot read).

CSV_HEADER = "patient_id,sex,birth_date,collected_date,loinc,value,unit,ref_low,ref_high"


def csv_input(rng: random.Random, number: int) -> bytes:
    """A mutated lab extract of a few rows."""
    lines = [CSV_HEADER]
    for row in range(rng.randint(0, 6)):
        analyte = rng.choice(["2472-9", "2465-3", "2458-8", "IgM"])
        value = rng.choice(["25", "<5", "1e400", "0.4", "", "abc", '"1,5"'])
        lines.append(f"p{number}-{row},female,1980-01-01,2025-01-0{1 + row % 9},{analyte},{value},mg/dL,40,230")
    raw = "\n".join(lines).encode()
    for _ in range(rng.randint(0, 4)):
        spot = rng.randrange(len(raw) + 1)
        insert = rng.choice(
            [b",", b'"', b'""', b"\r", b"\r\n", b"\n", b"\n\n", b"\xff", b"\xef\xbb\xbf", b"\t", b"\x00"]
        )
        cut = rng.randint(1, 5) if rng.random() < 0.3 else 0
        raw = raw[:spot] + raw[spot + cut :] if cut else raw[:spot] + insert + raw[spot:]
    return raw


def csv_read(data: str | bytes, knowledge: Knowledge) -> list[object]:
    """Convert through screening's reader; a refused file is an InputError, a lost record a crash."""
    import tempfile

    from sigmd.screening.delimited import convert_delimited, read_header

    raw = data if isinstance(data, bytes) else data.encode()
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "labs.csv"
        source.write_bytes(raw)
        try:
            header = read_header(source)
            records = convert_delimited(source, {name: name for name in header}, Path(folder) / "labs.parquet")
        except ValueError as error:  # the file as a whole is refused, with the reason
            raise InputError("(file)", "labs.csv", str(error)[:200]) from None
    # A line is blank (not a record) only when nothing is left once its line end (LF or CRLF) is taken off; a line
    # holding a bare CR is a record that the reader keeps with its reason.
    lines = [line for line in raw.split(b"\n") if line.removesuffix(b"\r")]
    first = next((i for i, line in enumerate(lines) if line.removeprefix(b"\xef\xbb\xbf").removesuffix(b"\r")), None)
    expected = 0 if first is None else len(lines) - first - 1
    if records != expected:
        raise RuntimeError(f"rows lost or invented: {records} records from {expected} lines")
    return []


# --- shared driver ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    make: Callable[[random.Random, int], str | bytes]
    read: Callable[[str | bytes, Knowledge], list[object]]


FORMATS: dict[str, Format] = {
    "hl7": Format(hl7_input, hl7_read),
    "fhir": Format(fhir_input, fhir_read),
    "ndjson": Format(ndjson_input, ndjson_read),
    "case": Format(case_input, case_read),
    "detect": Format(detect_input, detect_read),
    "csv": Format(csv_input, csv_read),
}


def check_one(fmt: Format, data: str | bytes, knowledge: Knowledge, tally: Tally, run_core: bool) -> str | None:
    """Read one input; None when it behaved (cases or InputError), else a crash key."""
    try:
        loaded = fmt.read(data, knowledge)
    except InputError:
        tally.refused_inputs += 1
        return None
    except Exception as error:  # a crash is what the fuzz looks for
        return _crash_key(error)
    for item in loaded:
        case, problem = getattr(item, "case", None), getattr(item, "error", None)
        if (case is None) == (problem is None):
            return "LoadedCase with both or neither of case and error"
        if problem is not None and not isinstance(problem, InputError):
            return f"LoadedCase error is {type(problem).__name__}, not InputError"
        if case is None:
            tally.refused_patients += 1
            continue
        tally.cases += 1
        if run_core:
            try:
                assess(case, knowledge, as_of=date(2025, 1, 1))
            except (InputError, AssessmentError):
                pass
            except Exception as error:  # the core's crash, found through a reader
                return "core: " + _crash_key(error)
    return None


def _crash_key(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    return f"{type(error).__name__} at {where}"


def run(name: str, inputs: int, seed: int, seconds: float, run_core: bool, crashes: Path | None) -> Tally:
    fmt = FORMATS[name]
    knowledge = content.load()
    rng = random.Random(seed)
    tally = Tally()
    started = time.perf_counter()
    while tally.inputs < inputs and time.perf_counter() - started < seconds:
        data = fmt.make(rng, tally.inputs)
        one = time.perf_counter()
        key = check_one(fmt, data, knowledge, tally, run_core)
        tally.slowest = max(tally.slowest, time.perf_counter() - one)
        tally.inputs += 1
        if key is not None and key not in tally.crashes:
            raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
            tally.crashes[key] = raw
            print(f"crash {len(tally.crashes)}: {key} (input {tally.inputs}, {len(raw)} bytes)", file=sys.stderr)
            if crashes is not None:
                crashes.mkdir(parents=True, exist_ok=True)
                (crashes / f"{name}-{len(tally.crashes)}.bin").write_bytes(raw)
                (crashes / f"{name}-{len(tally.crashes)}.txt").write_text(key + "\n", encoding="utf-8")
        if tally.inputs % 10_000 == 0:
            print(tally.summary(name, time.perf_counter() - started), file=sys.stderr)
    print(tally.summary(name, time.perf_counter() - started))
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=sorted(FORMATS), required=True)
    parser.add_argument("--inputs", type=int, default=10_000, help="stop after this many inputs")
    parser.add_argument("--seconds", type=float, default=float("inf"), help="stop after this many seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--assess", action="store_true", help="also run the core on every case read")
    parser.add_argument("--crashes", type=Path, default=None, help="folder for the inputs that crashed")
    args = parser.parse_args(argv)
    tally = run(args.format, args.inputs, args.seed, args.seconds, args.assess, args.crashes)
    return 1 if tally.crashes else 0


if __name__ == "__main__":
    sys.exit(main())
