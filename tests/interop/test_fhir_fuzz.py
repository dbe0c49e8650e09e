"""Property tests: whatever FHIR JSON, NDJSON or other text is given, the readers answer with cases or InputError.

Inputs are valid synthetic Bundles with one node replaced by an arbitrary JSON value, or with their text cut,
spliced or padded. A longer run of the same idea is `scripts/fuzz_readers.py`.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigmd.adapters.detect import load_cases
from sigmd.adapters.fhir import load_fhir_json, load_fhir_ndjson
from sigmd.adapters.grouping import LoadedCase
from sigmd.core.assessment import AssessmentError, assess
from sigmd.core.knowledge import Knowledge
from sigmd.errors import InputError

from .conftest import bundle, observation, patient

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(
        ["2472-9", "http://loinc.org", "0001-01-01", "9999-12-31", "amended", "Patient/p1", "Foo", "\ud800"]
    ),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
TOKENS = st.sampled_from(
    ["NaN", "Infinity", "1e999", "9" * 60, "[" * 300, "{", "}", '"', "\\", "\r", "\n", "\x00", "\ufeff", "\u2028", ","]
)


def _valid_bundle() -> dict[str, Any]:
    amended = observation("b", "2472-9", 30, "g/L", "2024-01-10", status="amended")
    return bundle(
        patient("p1"),
        patient("p2", "2015-02-03", "male"),
        observation("a", "2472-9", 20, "mg/dL", "2024-01-10"),
        amended,
        observation("c", "2465-3", 900, "mg/dL", "2024-01-10", subject="Patient/p2"),
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}, "code": {"text": "CLL"}},
    )


ELEMENTS = st.sampled_from(["contained", "extension", "_status", "effectivePeriod", "component", "issued", "entry"])
ODD_RESOURCES = st.sampled_from([[{"resourceType": "Foo"}], [{"resourceType": 5}], [{"resourceType": "Quantity"}]])


def _replace_somewhere(data: st.DataObject, value: Any) -> Any:
    """The value with one node, chosen by Hypothesis, replaced by an arbitrary JSON value or given a new element."""
    if isinstance(value, dict) and data.draw(st.integers(min_value=0, max_value=5)) == 0:
        return {**value, data.draw(ELEMENTS): data.draw(JSON_VALUES | ODD_RESOURCES)}
    if isinstance(value, dict | list) and value and data.draw(st.booleans()):
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        key = data.draw(st.sampled_from(keys))
        copy: Any = dict(value) if isinstance(value, dict) else list(value)
        copy[key] = _replace_somewhere(data, value[key])
        return copy
    return data.draw(JSON_VALUES)


def _splice(data: st.DataObject, text: str) -> str:
    """The text cut, or with a token or arbitrary text inserted, at a place Hypothesis chooses."""
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    match data.draw(st.sampled_from(["cut", "token", "text"])):
        case "cut":
            return text[:position]
        case "token":
            return text[:position] + data.draw(TOKENS) + text[position:]
        case _:
            return text[:position] + data.draw(st.text(max_size=10)) + text[position:]


def _named(error: InputError) -> None:
    """The refusal names a specific problem: it was not only caught by the reader's last-resort boundary."""
    assert "could not be read (" not in error.problem and "could not be validated as FHIR R4 (" not in error.problem


def _check(loaded: list[LoadedCase], knowledge: Knowledge) -> None:
    """Each patient is a case or a specific InputError, and every case read can be given to the core."""
    for item in loaded:
        assert (item.case is None) != (item.error is None)
        assert item.error is None or isinstance(item.error, InputError)
        if item.error is not None:
            _named(item.error)
        if item.case is not None:
            with contextlib.suppress(AssessmentError):
                assess(item.case, knowledge, as_of=date(2025, 1, 1))


@BOUNDED
@given(data=st.data())
def test_a_bundle_with_any_node_replaced_gives_cases_or_input_errors(knowledge: Knowledge, data: st.DataObject) -> None:
    """A Bundle with any one node replaced by any JSON value is read or refused, never crashes the reader."""
    text = json.dumps(_replace_somewhere(data, _valid_bundle()))
    try:
        loaded = load_fhir_json(text, knowledge)
    except InputError as error:
        _named(error)
        return
    _check(loaded, knowledge)


@BOUNDED
@given(data=st.data())
def test_bundle_text_cut_or_spliced_gives_cases_or_input_errors(knowledge: Knowledge, data: st.DataObject) -> None:
    """Bundle text that is truncated or has tokens spliced in is read or refused through load_cases."""
    text = _splice(data, json.dumps(_valid_bundle(), indent=data.draw(st.sampled_from([None, 1]))))
    try:
        loaded = load_cases(text, knowledge)
    except InputError as error:
        _named(error)
        return
    _check(loaded, knowledge)


@BOUNDED
@given(data=st.data())
def test_ndjson_with_any_line_changed_gives_cases_or_input_errors(knowledge: Knowledge, data: st.DataObject) -> None:
    """NDJSON with a resource replaced, a line spliced and any line ending is read or refused."""
    resources = [entry["resource"] for entry in _valid_bundle()["entry"]]
    index = data.draw(st.integers(min_value=0, max_value=len(resources) - 1))
    lines = [json.dumps(r) for r in resources]
    lines[index] = json.dumps(_replace_somewhere(data, resources[index]))
    other = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    lines[other] = _splice(data, lines[other])
    text = data.draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)
    try:
        loaded = load_fhir_ndjson(text, knowledge)
    except InputError as error:
        _named(error)
        return
    _check(loaded, knowledge)


@BOUNDED
@given(text=st.text(max_size=200))
def test_any_text_gives_cases_or_an_input_error(knowledge: Knowledge, text: str) -> None:
    """Arbitrary text given to load_cases is recognised and read, or refused as InputError."""
    try:
        loaded = load_cases(text, knowledge)
    except InputError as error:
        _named(error)
        return
    _check(loaded, knowledge)


def test_an_unchanged_bundle_is_read_for_both_patients(knowledge: Knowledge) -> None:
    """The unmutated Bundle the properties start from is read: both patients have cases."""
    loaded = load_fhir_json(json.dumps(_valid_bundle()), knowledge)
    assert [item.patient_key for item in loaded if item.case is not None] == ["p1", "p2"]
