"""The native JSON case format (schema: `sigmd/data/case.schema.json`, copied to docs/).

One refusal boundary: `load_case` and `case_from_dict` let nothing but an `InputError` out. A document is first
checked against the limits of `sigmd.adapters.limits` (nesting depth, finite numbers), then against the schema,
then converted; whatever Python raises during conversion is refused naming the section (or result) it was in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from sigmd.adapters.limits import check_json_value, parse_json
from sigmd.adapters.results import build_result, parse_date, resolve_analyte
from sigmd.core.ages import birth_date_from_age
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import (
    AutoimmuneCondition,
    BloodCount,
    Case,
    ClinicalFeatures,
    CodedText,
    Comparator,
    Infection,
    LabResult,
    Patient,
    PneumococcalChallenge,
    ProteinAntigenResponse,
    ProteinAntigenResult,
    Quantity,
    SerotypeTitre,
    Sex,
    VaccineResponse,
    VaccineResult,
)
from sigmd.core.values import ValueFormatError, parse_reported_value
from sigmd.errors import InputError


def case_schema() -> dict[str, Any]:
    text = resources.files("sigmd.data").joinpath("case.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _path(error: ValidationError) -> str:
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(case)"


def validate_case(document: Any) -> None:
    """Check a parsed document against the case schema; the first error names field and value."""
    validator = Draft202012Validator(case_schema())
    errors: Iterable[ValidationError] = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    for error in errors:
        instance: Any = error.instance
        if error.validator == "additionalProperties" and isinstance(error.schema, dict) and isinstance(instance, dict):
            extra = sorted(set(instance) - set(error.schema.get("properties", {})))
            field = f"{_path(error)}.{extra[0]}" if _path(error) != "(case)" else extra[0]
            raise InputError(field, instance[extra[0]], "is not a field of the sigmd case format")
        if error.validator == "oneOf" and _path(error) == "patient":
            raise InputError("patient", error.instance, "needs exactly one of birth_date or age_years")
        raise InputError(
            _path(error), error.instance, error.message.replace(repr(error.instance), "").strip() or "is invalid"
        )


def case_from_dict(document: Any, knowledge: Knowledge) -> Case:
    """Validate and convert a case document into the core's `Case`; anything unreadable is an InputError."""
    check_json_value(document, "(case)")
    at = _Cursor()
    try:
        validate_case(document)
        return _case_from_valid(document, knowledge, at)
    except InputError:
        raise
    except RecursionError:
        raise InputError(at.field, "(nested value)", "nests too deeply to be read") from None
    except Exception as error:  # the refusal boundary: whatever conversion raises is refused, never passed on
        raise InputError(at.field, at.value, f"could not be read ({type(error).__name__}: {error})"[:300]) from None


class _Cursor:
    """The section being converted, so that an unexpected error names it."""

    def __init__(self) -> None:
        self.field, self.value = "(case)", None

    def at(self, field: str, value: Any) -> None:
        self.field, self.value = field, value


def _case_from_valid(document: dict[str, Any], knowledge: Knowledge, at: _Cursor) -> Case:
    warnings: list[str] = []
    results: list[LabResult] = []
    for index, raw in enumerate(document["results"]):
        field = f"results[{index}]"
        at.at(field, raw)
        analyte = resolve_analyte(raw["analyte"], f"{field}.analyte", knowledge)
        rng = raw.get("reference_range", {})
        result, result_warnings = build_result(
            analyte=analyte,
            value=raw["value"],
            unit=raw["unit"],
            collected=parse_date(raw["date"], f"{field}.date"),
            knowledge=knowledge,
            field=field,
            comparator=raw.get("comparator"),
            range_low=rng.get("low"),
            range_high=rng.get("high"),
            range_unit=rng.get("unit"),
            range_text=rng.get("text"),
            origin=raw.get("id", field),
        )
        results.append(result)
        warnings.extend(result_warnings)

    raw_patient = document["patient"]
    at.at("patient", raw_patient)
    if "birth_date" in raw_patient:
        birth_date = parse_date(raw_patient["birth_date"], "patient.birth_date")
        estimated = False
    else:
        latest = max(r.collected for r in results)
        birth_date = birth_date_from_age(float(raw_patient["age_years"]), latest)
        estimated = True
        warnings.append(
            f"birth date estimated as {birth_date} from age {raw_patient['age_years']} years on {latest}; "
            "age bands near a boundary may be misassigned"
        )
    for result in results:
        if result.collected < birth_date:
            raise InputError(
                f"{result.origin}.date", result.collected.isoformat(), f"is before the birth date {birth_date}"
            )
    patient = Patient(sex=Sex(raw_patient["sex"]), birth_date=birth_date, birth_date_is_estimated=estimated)
    sections: dict[str, Any] = {}
    for key, read in _SECTIONS.items():
        at.at(key, document.get(key))
        sections[key] = read(document)
    return Case(
        patient=patient,
        results=tuple(results),
        conditions=sections["conditions"],
        medications=sections["medications"],
        vaccine_responses=sections["vaccine_responses"],
        t_cell_defect=document.get("t_cell_defect"),
        blood_count=sections["blood_count"],
        pneumococcal=sections["pneumococcal_challenge"],
        protein_antigens=sections["protein_antigens"],
        features=sections["clinical_features"],
        warnings=tuple(warnings),
    )


def _vaccine_responses(document: dict[str, Any]) -> tuple[VaccineResponse, ...]:
    return tuple(
        VaccineResponse(
            r["antigen"],
            VaccineResult(r["result"]),
            f"vaccine_responses[{i}]",
            collected=_optional_date(r, f"vaccine_responses[{i}].date"),
        )
        for i, r in enumerate(document.get("vaccine_responses", []))
    )


def _protein_antigens(document: dict[str, Any]) -> tuple[ProteinAntigenResponse, ...]:
    return tuple(
        ProteinAntigenResponse(
            antigen=r["antigen"],
            result=ProteinAntigenResult(r["result"]),
            collected=_optional_date(r, f"protein_antigens[{i}].date"),
            detail=r.get("detail", ""),
            origin=f"protein_antigens[{i}]",
        )
        for i, r in enumerate(document.get("protein_antigens", []))
    )


def _optional_date(raw: dict[str, Any], field: str, key: str = "date") -> date | None:
    return parse_date(raw[key], field) if raw.get(key) else None


def _coded(document: dict[str, Any], key: str) -> tuple[CodedText, ...] | None:
    if key not in document:
        return None
    records = []
    for i, r in enumerate(document[key]):
        field = f"{key}[{i}]"
        start = _optional_date(r, f"{field}.start", "start") or _optional_date(r, f"{field}.date")
        end = _optional_date(r, f"{field}.end", "end")
        if start and end and end < start:
            raise InputError(f"{field}.end", r["end"], f"is before the start {start}")
        records.append(
            CodedText(
                text=r.get("text", ""),
                code=r.get("code", ""),
                system=r.get("system", ""),
                origin=field,
                start=start,
                end=end,
                reviewed_not_causal=bool(r.get("reviewed_not_causal", False)),
                review_note=r.get("review_note", ""),
            )
        )
    return tuple(records)


def _blood_count(raw: dict[str, Any] | None) -> BloodCount | None:
    if raw is None:
        return None
    return BloodCount(parse_date(raw["date"], "blood_count.date"), raw["result"] == "abnormal", raw.get("note", ""))


def _pneumococcal(raw: dict[str, Any] | None) -> PneumococcalChallenge | None:
    if raw is None:
        return None
    titres = []
    for i, t in enumerate(raw["titres"]):
        field = f"pneumococcal_challenge.titres[{i}]"
        try:
            comparator, number = parse_reported_value(t["value"])
        except ValueFormatError as error:
            raise InputError(f"{field}.value", t["value"], str(error)) from None
        titres.append(
            SerotypeTitre(
                serotype=str(t["serotype"]).strip().upper(),
                collected=parse_date(t["date"], f"{field}.date"),
                titre=Quantity(number, comparator),
                origin=field,
            )
        )
    return PneumococcalChallenge(parse_date(raw["vaccinated"], "pneumococcal_challenge.vaccinated"), tuple(titres))


def _features(raw: dict[str, Any] | None) -> ClinicalFeatures | None:
    if raw is None:
        return None
    return ClinicalFeatures(
        infections=tuple(
            Infection(
                kind=r["type"],
                when=_optional_date(r, f"clinical_features.infections[{i}].date"),
                count=int(r.get("count", 1)),
                period_months=r.get("period_months"),
                organism=r.get("organism", ""),
                origin=f"clinical_features.infections[{i}]",
            )
            for i, r in enumerate(raw.get("infections", []))
        ),
        allergies=tuple(raw.get("allergies", [])),
        autoimmune=tuple(
            AutoimmuneCondition(
                kind=r["condition"],
                text=r.get("text", ""),
                diagnosed=_optional_date(r, f"clinical_features.autoimmune[{i}].date"),
                origin=f"clinical_features.autoimmune[{i}]",
            )
            for i, r in enumerate(raw.get("autoimmune", []))
        ),
    )


_SECTIONS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "conditions": lambda document: _coded(document, "conditions"),
    "medications": lambda document: _coded(document, "medications"),
    "vaccine_responses": _vaccine_responses,
    "blood_count": lambda document: _blood_count(document.get("blood_count")),
    "pneumococcal_challenge": lambda document: _pneumococcal(document.get("pneumococcal_challenge")),
    "protein_antigens": _protein_antigens,
    "clinical_features": lambda document: _features(document.get("clinical_features")),
}
"""The optional sections of a case document, converted in this order."""


def load_case(text: str, knowledge: Knowledge) -> Case:
    """A case from case JSON text, within the limits of `sigmd.adapters.limits`."""
    return case_from_dict(parse_json(text.lstrip("\ufeff")), knowledge)


def case_to_dict(case: Case) -> dict[str, Any]:
    """The case as a case document: the inverse of `case_from_dict` (valid against the case schema).

    Results keep their reported value and unit, with the laboratory range in mg/dL and the origin as `id`.
    An estimated birth date is written as the shortest `age_years` that gives the same estimate again.
    None (not stated) is left out; an empty tuple is written as an empty list where the format has one.
    """
    document: dict[str, Any] = {
        "patient": _patient_to_dict(case),
        "results": [_result_to_dict(r) for r in case.results],
    }
    for key, records in (("conditions", case.conditions), ("medications", case.medications)):
        if records is not None:
            document[key] = [_coded_to_dict(r) for r in records]
    if case.vaccine_responses:
        document["vaccine_responses"] = [
            {
                "antigen": r.antigen,
                "result": r.result.value,
                **({"date": r.collected.isoformat()} if r.collected else {}),
            }
            for r in case.vaccine_responses
        ]
    if case.t_cell_defect is not None:
        document["t_cell_defect"] = case.t_cell_defect
    if case.blood_count is not None:
        count = case.blood_count
        document["blood_count"] = {
            "date": count.collected.isoformat(),
            "result": "abnormal" if count.abnormal else "normal",
            **({"note": count.note} if count.note else {}),
        }
    if case.pneumococcal is not None:
        document["pneumococcal_challenge"] = {
            "vaccinated": case.pneumococcal.vaccinated.isoformat(),
            "titres": [
                {"serotype": t.serotype, "value": _quantity_value(t.titre), "date": t.collected.isoformat()}
                for t in case.pneumococcal.titres
            ],
        }
    if case.protein_antigens:
        document["protein_antigens"] = [
            {
                "antigen": r.antigen,
                "result": r.result.value,
                **({"date": r.collected.isoformat()} if r.collected else {}),
                **({"detail": r.detail} if r.detail else {}),
            }
            for r in case.protein_antigens
        ]
    if case.features is not None:
        document["clinical_features"] = _features_to_dict(case.features)
    return document


def _patient_to_dict(case: Case) -> dict[str, Any]:
    patient = case.patient
    if not patient.birth_date_is_estimated or not case.results:
        return {"sex": patient.sex.value, "birth_date": patient.birth_date.isoformat()}
    latest = max(r.collected for r in case.results)
    exact = (latest - patient.birth_date).days / 365.2425
    age: float | int = exact
    for digits in range(13):
        candidate = round(exact, digits) if digits else round(exact)
        if birth_date_from_age(float(candidate), latest) == patient.birth_date:
            age = candidate
            break
    return {"sex": patient.sex.value, "age_years": age}


def _quantity_value(quantity: Quantity) -> float | str:
    if quantity.comparator is Comparator.EQ:
        return quantity.value
    return f"{quantity.comparator.value}{quantity.value!r}"


def _result_to_dict(result: LabResult) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": result.origin,
        "analyte": result.analyte.value,
        "value": result.reported_value,
        "unit": result.reported_unit,
        "date": result.collected.isoformat(),
    }
    if result.quantity.comparator is not Comparator.EQ:
        raw["comparator"] = result.quantity.comparator.value
    if result.lab_range is not None:
        rng = result.lab_range
        raw["reference_range"] = {
            **({"low": rng.low_mg_dl} if rng.low_mg_dl is not None else {}),
            **({"high": rng.high_mg_dl} if rng.high_mg_dl is not None else {}),
            "unit": "mg/dL",
            "text": rng.text,
        }
    return raw


def _coded_to_dict(record: CodedText) -> dict[str, Any]:
    raw: dict[str, Any] = {"text": record.text}
    for key, value in (("code", record.code), ("system", record.system), ("review_note", record.review_note)):
        if value:
            raw[key] = value
    if record.start is not None:
        raw["start"] = record.start.isoformat()
    if record.end is not None:
        raw["end"] = record.end.isoformat()
    if record.reviewed_not_causal:
        raw["reviewed_not_causal"] = True
    return raw


def _features_to_dict(features: ClinicalFeatures) -> dict[str, Any]:
    return {
        "infections": [
            {
                "type": i.kind,
                **({"date": i.when.isoformat()} if i.when else {}),
                **({"count": i.count} if i.count != 1 else {}),
                **({"period_months": i.period_months} if i.period_months is not None else {}),
                **({"organism": i.organism} if i.organism else {}),
            }
            for i in features.infections
        ],
        "allergies": list(features.allergies),
        "autoimmune": [
            {
                "condition": a.kind,
                **({"text": a.text} if a.text else {}),
                **({"date": a.diagnosed.isoformat()} if a.diagnosed else {}),
            }
            for a in features.autoimmune
        ],
    }
