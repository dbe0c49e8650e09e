"""What every reader accepts at the door: input size, text encoding, JSON nesting and numbers.

These are sigmd defaults, chosen so that no input can exhaust memory, the Python stack or number conversion
in a reader or later in the core; they are documented in docs/case-format.md ("Limits on input"). An input
beyond a limit is refused with an `InputError` naming where it was and what was too large.

- `MAX_INPUT_CHARS`: 50,000,000 characters (about 50 MB) per input text. A FHIR Bundle of one patient is a
  few hundred kilobytes; a larger export is population screening's job (`sigmd screen`), which reads Bulk
  NDJSON file by file.
- `MAX_JSON_DEPTH`: 64 levels of JSON objects and arrays. FHIR resources sigmd reads nest about 10 deep
  (Bundle > entry > resource > referenceRange > low > extension > ...); Python's own JSON parser and the
  validators fail at about 1000.
- `MAX_NUMBER_CHARS`: 40 characters in one JSON number. A FHIR decimal has at most 18 significant digits;
  integers longer than Python's 4300-digit limit would otherwise fail inside the parser.
- A name that appears twice in one JSON object is refused: JSON leaves its meaning open and Python keeps the
  last value silently, so `"status": "entered-in-error", "status": "final"` would read as final.
- NaN and Infinity are not JSON; Python's parser accepts them, so they are refused here, as are numbers that
  overflow to infinity (`1e999`), and strings holding an unpaired surrogate (`"\\ud800"`), which are valid JSON
  syntax but not text (they cannot be encoded, and make validators fail while reporting the error).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sigmd.errors import InputError

MAX_INPUT_CHARS = 50_000_000
MAX_JSON_DEPTH = 64
MAX_NUMBER_CHARS = 40
_SURROGATE = re.compile("[\ud800-\udfff]")


class TrailingJSONError(InputError):
    """JSON text with more after its first value: one JSON value per line (NDJSON) rather than one document."""


class DuplicateNameError(ValueError):
    """A JSON object that gives one name twice; `name` is that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the name {name[:60]!r} is given twice in one JSON object")
        self.name = name


def unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object from its (name, value) pairs, refusing a name given twice (`json.loads`' object_pairs_hook)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateNameError(name)
            seen.add(name)
    return document


class _NumberError(ValueError):
    def __init__(self, literal: str, problem: str) -> None:
        super().__init__(problem)
        self.literal = literal
        self.problem = problem


def decode_input(data: bytes, field: str = "(file)") -> str:
    """Bytes as UTF-8 text (a byte-order mark is dropped); other encodings are refused naming the byte offset."""
    check_size(len(data), field)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad = data[error.start : error.start + 4]
        raise InputError(
            field, bad.hex(" "), f"at byte {error.start} is not UTF-8 text ({error.reason}); save the file as UTF-8"
        ) from None


def check_size(size: int, field: str = "(file)") -> None:
    """Refuse an input longer than `MAX_INPUT_CHARS`."""
    if size > MAX_INPUT_CHARS:
        raise InputError(field, f"{size} characters", f"is larger than sigmd reads ({MAX_INPUT_CHARS} at most)")


def parse_json(text: str, field: str = "(file)") -> Any:
    """Parse JSON within the limits: size, nesting depth, number length; NaN, Infinity, overflow and a name given
    twice in one object refused."""
    check_size(len(text), field)
    try:
        document = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
            object_pairs_hook=unique_object,
        )
    except DuplicateNameError as error:
        raise InputError(
            field, error.name[:60], "is a name given twice in one JSON object; sigmd cannot tell which value is meant"
        ) from None
    except _NumberError as error:
        raise InputError(field, error.literal[:60], error.problem) from None
    except RecursionError:
        raise InputError(field, text[:40], f"nests JSON deeper than sigmd reads ({MAX_JSON_DEPTH} levels)") from None
    except json.JSONDecodeError as error:
        kind = TrailingJSONError if error.msg == "Extra data" else InputError
        raise kind(field, text[:40], f"is not valid JSON: {error}") from None
    except ValueError as error:  # Python's own number conversion limits
        raise InputError(field, text[:40], f"is not valid JSON: {error}") from None
    check_json_value(document, field)
    return document


def check_json_value(document: Any, field: str = "(file)") -> None:
    """Refuse a parsed value nested deeper than `MAX_JSON_DEPTH`, or holding a number that is not finite or a
    string with an unpaired surrogate.

    For documents that did not come through `parse_json` (a web form, a Python caller). The walk is iterative,
    so it cannot itself exhaust the stack.
    """
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InputError(
                    _join(field, path), "(nested value)", f"nests deeper than sigmd reads ({MAX_JSON_DEPTH} levels)"
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                step = f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
                stack.append((item, path + step, depth + 1))
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError(_join(field, path), value, "is not a finite number")
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise InputError(
                _join(field, path), value, "holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), not text"
            )
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise InputError(_join(field, path), key, "has a name holding an unpaired UTF-16 surrogate")


def _join(field: str, path: str) -> str:
    if not path:
        return field
    if field in ("", "(file)", "(case)"):
        return path
    return f"{field}{path}" if path.startswith("[") else f"{field}.{path}"


def _refuse_constant(literal: str) -> Any:
    raise _NumberError(literal, "is not a number in JSON (NaN and Infinity are not allowed)")


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _NumberError(literal, f"is a longer number than sigmd reads ({MAX_NUMBER_CHARS} characters at most)")
    number = float(literal)
    if not math.isfinite(number):
        raise _NumberError(literal, "is too large a number (it overflows to infinity)")
    return number


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise _NumberError(literal, f"is a longer number than sigmd reads ({MAX_NUMBER_CHARS} characters at most)")
    return int(literal)
