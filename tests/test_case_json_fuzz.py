"""Property tests: whatever case JSON is given, the reader answers with a Case or an InputError.

Inputs are a valid synthetic case document with one node replaced by an arbitrary JSON value (NaN and
infinities included), or its text cut or spliced. A longer run is `scripts/fuzz_readers.py --format case`.
"""

from __future__ import annotations

import contextlib
import json
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigmd.adapters.case_json import case_from_dict, load_case
from sigmd.core.assessment import AssessmentError, assess
from sigmd.core.knowledge import Knowledge
from sigmd.core.model import Case
from sigmd.errors import InputError

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["IgM", "<5", "mg/dL", "0001-01-01", "9999-12-31", "2024-02-30", "female", "pneumonia"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12,
)
TOKENS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000, "[" * 3000, "{", '"', "\\", ","])


def _valid_case() -> dict[str, Any]:
    return {
        "patient": {"sex": "female", "age_years": 46},
        "results": [
            {"analyte": "IgM", "value": "<20", "unit": "mg/dL", "date": "2024-01-10"},
            {"analyte": "2465-3", "value": 9.1, "unit": "g/L", "date": "2024-01-10", "reference_range": {"low": 7}},
        ],
        "conditions": [{"text": "CLL", "code": "C91.1", "system": "ICD-10", "start": "2020-01-01"}],
        "medications": [],
        "pneumococcal_challenge": {
            "vaccinated": "2024-02-01",
            "titres": [{"serotype": "3", "value": "<0.3", "date": "2024-01-20"}],
        },
        "clinical_features": {"infections": [{"type": "pneumonia", "count": 3, "period_months": 12}]},
        "blood_count": {"date": "2024-01-10", "result": "normal"},
    }


def _replace_somewhere(data: st.DataObject, value: Any) -> Any:
    if isinstance(value, dict | list) and value and data.draw(st.booleans()):
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        key = data.draw(st.sampled_from(keys))
        copy: Any = dict(value) if isinstance(value, dict) else list(value)
        copy[key] = _replace_somewhere(data, value[key])
        return copy
    return data.draw(JSON_VALUES)


def _named(error: InputError) -> None:
    """The refusal names a specific problem: it was not only caught by the reader's last-resort boundary."""
    assert "could not be read (" not in error.problem


def _assessable(case: Case, knowledge: Knowledge) -> None:
    """A case the reader accepted can be given to the core: an assessment, or AssessmentError (no IgM)."""
    with contextlib.suppress(AssessmentError):
        assess(case, knowledge, as_of=date(2025, 1, 1))


@BOUNDED
@given(data=st.data())
def test_a_case_with_any_node_replaced_is_read_or_refused(knowledge: Knowledge, data: st.DataObject) -> None:
    """A case document with any one node replaced by any value (NaN, huge integers...) is a Case or InputError."""
    try:
        case = case_from_dict(_replace_somewhere(data, _valid_case()), knowledge)
    except InputError as error:
        _named(error)
        return
    _assessable(case, knowledge)


@BOUNDED
@given(data=st.data())
def test_case_text_cut_or_spliced_is_read_or_refused(knowledge: Knowledge, data: st.DataObject) -> None:
    """Case JSON text that is truncated or has a token spliced in is a Case or InputError."""
    text = json.dumps(_valid_case())
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    text = text[:position] + data.draw(TOKENS | st.text(max_size=5)) + text[position + data.draw(st.integers(0, 3)) :]
    try:
        case = load_case(text, knowledge)
    except InputError as error:
        _named(error)
        return
    _assessable(case, knowledge)


def test_the_unchanged_case_is_read_and_assessed(knowledge: Knowledge) -> None:
    """The document the properties start from is valid and can be assessed."""
    case = load_case(json.dumps(_valid_case()), knowledge)
    assert case.patient.birth_date_is_estimated and assess(case, knowledge, as_of=date(2025, 1, 1))
