"""Bounds on what the service reads: body size and JSON nesting depth, checked before anything is parsed.

Python's JSON parser and the FHIR models recurse once per nesting level, so a body of a few kilobytes of `[[[[`
could exhaust the stack (a 500). The depth is measured on the raw bytes first, outside strings, in C-speed
passes (a regular expression and `bytes.translate`), and the body is refused with its reason if it is too deep.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[]{}", b"\x01\x02\x01\x02")


class LimitError(ValueError):
    """Input beyond one of the service's bounds; the message names the bound and holds no patient data."""


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (0 for a scalar); brackets in strings do not count."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    steps = brackets.translate(_STEP)
    return max(accumulate(1 if step == 1 else -1 for step in steps))


def parse_json(raw: bytes, what: str, max_depth: int) -> Any:
    """Parse JSON text whose nesting is at most `max_depth`; `ValueError` names `what` and the problem."""
    depth = json_depth(raw)
    if depth > max_depth:
        raise LimitError(f"{what} nests {depth} levels deep; at most {max_depth} are read")
    try:
        return json.loads(raw)
    except RecursionError:  # pragma: no cover - the depth check above keeps the parser far from the stack limit
        raise LimitError(f"{what} nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{what} is not JSON ({type(error).__name__})") from None
