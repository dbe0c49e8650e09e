"""`case_to_dict` is the inverse of `case_from_dict`: bundled examples and generated cases survive the round trip."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigmd.adapters.case_json import case_from_dict, case_to_dict, validate_case
from sigmd.core.knowledge import Knowledge

ROOT = Path(__file__).parents[2]
CASE_EXAMPLES = [
    p for p in sorted((ROOT / "examples").glob("*.json")) if "resourceType" not in json.loads(p.read_text())
]


@pytest.mark.parametrize("example", CASE_EXAMPLES, ids=lambda p: p.stem)
def test_bundled_examples_survive_the_round_trip(example: Path, knowledge: Knowledge) -> None:
    """Each bundled case example reads back identical after case_to_dict, and its document passes the schema."""
    case = case_from_dict(json.loads(example.read_text()), knowledge)
    document = case_to_dict(case)
    validate_case(document)
    assert case_from_dict(document, knowledge) == case


BIRTH = date(1950, 1, 1)
days_after_birth = st.integers(min_value=0, max_value=365 * 70).map(lambda d: BIRTH + timedelta(days=d))
iso_date = days_after_birth.map(date.isoformat)
number = st.integers(min_value=0, max_value=500_000).map(lambda n: n / 100)
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
comparators = st.sampled_from(["<", "<=", ">", ">="])


@st.composite
def reported(draw: st.DrawFn) -> dict[str, Any]:
    """A value as a number, a string, or with a comparator written in the value or given separately."""
    value = draw(number)
    match draw(st.sampled_from(["number", "string", "inline", "separate"])):
        case "number":
            return {"value": value}
        case "string":
            return {"value": f"{value:g}"}
        case "inline":
            return {"value": f"{draw(comparators)}{value}"}
        case _:
            return {"value": value, "comparator": draw(st.sampled_from(["<", "<=", "=", ">=", ">"]))}


@st.composite
def results(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "analyte": draw(st.sampled_from(["IgM", "IgG", "IgA", "IgG1", "IgG4", "2472-9", "immunoglobulin M"])),
        "unit": draw(st.sampled_from(["mg/dL", "g/L", "mg/L", "g/dL", "IU/mL"])),
        "date": draw(iso_date),
        **draw(reported()),
    }
    if draw(st.booleans()):
        raw["id"] = draw(text.filter(bool))
    if raw["unit"] == "IU/mL" and raw["analyte"] in ("IgG1", "IgG4"):
        raw["unit"] = "g/L"
    if draw(st.booleans()):
        low = draw(number)
        rng: dict[str, Any] = {"low": low} if draw(st.booleans()) else {}
        rng["high"] = low + 1 + draw(number)
        if draw(st.booleans()):
            rng["unit"] = draw(st.sampled_from(["mg/dL", "g/L"]))
        if draw(st.booleans()):
            rng["text"] = draw(text.filter(bool))
        raw["reference_range"] = rng
    return raw


@st.composite
def coded(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {"text": draw(text)}
    for key in ("code", "system", "review_note"):
        if draw(st.booleans()):
            raw[key] = draw(text)
    start = draw(st.none() | days_after_birth)
    if start is not None:
        raw[draw(st.sampled_from(["start", "date"]))] = start.isoformat()
        if draw(st.booleans()):
            raw["end"] = (start + timedelta(days=draw(st.integers(0, 900)))).isoformat()
    if draw(st.booleans()):
        raw["reviewed_not_causal"] = draw(st.booleans())
    return raw


def optional(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    return draw(strategy) if draw(st.booleans()) else None


@st.composite
def case_documents(draw: st.DrawFn) -> dict[str, Any]:
    """Valid case documents covering every part of the format."""
    document: dict[str, Any] = {"results": draw(st.lists(results(), min_size=1, max_size=5))}
    sex = draw(st.sampled_from(["female", "male", "other", "unknown"]))
    if draw(st.booleans()):
        document["patient"] = {"sex": sex, "birth_date": BIRTH.isoformat()}
    else:
        dates = [date.fromisoformat(r["date"]) for r in document["results"]]
        youngest = (max(dates) - min(dates)).days // 365 + 1
        age = draw(st.integers(youngest, youngest + 40))
        document["patient"] = {"sex": sex, "age_years": age + draw(st.sampled_from([0, 0.5, 0.25]))}
    parts = {
        "conditions": st.lists(coded(), max_size=3),
        "medications": st.lists(coded(), max_size=3),
        "vaccine_responses": st.lists(
            st.fixed_dictionaries({"antigen": text, "result": st.sampled_from(["normal", "impaired"])}),
            min_size=1,
            max_size=2,
        ),
        "t_cell_defect": st.booleans(),
        "blood_count": st.fixed_dictionaries(
            {"date": iso_date, "result": st.sampled_from(["normal", "abnormal"])}, optional={"note": text.filter(bool)}
        ),
        "pneumococcal_challenge": st.fixed_dictionaries(
            {
                "vaccinated": iso_date,
                "titres": st.lists(
                    st.fixed_dictionaries(
                        {
                            "serotype": st.sampled_from(["1", "3", "6b", "23F"]),
                            "value": number | number.map(lambda n: f"<{n}"),
                            "date": iso_date,
                        }
                    ),
                    max_size=3,
                ),
            }
        ),
        "protein_antigens": st.lists(
            st.fixed_dictionaries(
                {"antigen": text, "result": st.sampled_from(["normal", "low"])},
                optional={"date": iso_date, "detail": text.filter(bool)},
            ),
            min_size=1,
            max_size=2,
        ),
        "clinical_features": st.fixed_dictionaries(
            {},
            optional={
                "infections": st.lists(
                    st.fixed_dictionaries(
                        {"type": st.sampled_from(["sinusitis", "pneumonia", "other"])},
                        optional={
                            "date": iso_date,
                            "count": st.integers(1, 9),
                            "period_months": st.integers(1, 24),
                            "organism": text.filter(bool),
                        },
                    ),
                    max_size=3,
                ),
                "allergies": st.lists(st.sampled_from(["hay_fever", "asthma", "eczema"]), max_size=2),
                "autoimmune": st.lists(
                    st.fixed_dictionaries(
                        {"condition": st.sampled_from(["sle", "itp", "other"])},
                        optional={"text": text.filter(bool), "date": iso_date},
                    ),
                    max_size=2,
                ),
            },
        ),
    }
    for key, strategy in parts.items():
        value = optional(draw, strategy)
        if value is not None:
            document[key] = value
    return document


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=case_documents())
def test_generated_cases_survive_the_round_trip(document: dict[str, Any], knowledge: Knowledge) -> None:
    """Any valid case document read into a Case gives, through case_to_dict, a valid document of the same Case."""
    case = case_from_dict(document, knowledge)
    again = case_to_dict(case)
    validate_case(again)
    assert case_from_dict(again, knowledge) == case
