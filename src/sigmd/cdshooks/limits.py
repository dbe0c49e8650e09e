"""Bounds on what the service reads: body size and JSON nesting depth, checked before anything is parsed.

Python's JSON parser and the FHIR models recurse once per nesting level, so a body of a few kilobytes of `[[[[`
could exhaust the stack (a 500). The depth is measured on the raw bytes first, outside strings, in C-speed
passes (`bytes.replace`, `split`, `translate`, and a running sum over a memoryview), and the body is refused
with its reason if it is too deep. Text with no more opening brackets than the bound, in strings or not, cannot
nest deeper than it: it is not measured at all (a client token's header and payload, a small call).
"""

from __future__ import annotations

import json
from itertools import accumulate
from typing import Any

from sigmd.adapters.limits import DuplicateNameError, unique_object

_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")
"""Opening brackets to 1 and closing ones to -1, read as signed bytes."""


class LimitError(ValueError):
    """Input beyond one of the service's bounds; the message names the bound and holds no patient data."""


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (0 for a scalar); brackets in strings do not count.

    Strings are found as JSON finds them: escaped backslashes and escaped quotes removed first, every remaining
    quote opens or closes one, so the text outside strings is every other piece between quotes. Up to the first
    character that makes text invalid JSON (where the parser stops), this reads it as the parser does.
    """
    plain = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    steps = b"".join(plain.split(b'"')[::2]).translate(_STEP, _NOT_BRACKETS)
    if not steps:
        return 0
    return max(accumulate(memoryview(steps).cast("b")))


def parse_json(raw: bytes, what: str, max_depth: int) -> Any:
    """Parse JSON text whose nesting is at most `max_depth`; `ValueError` names `what` and the problem."""
    if raw.count(b"[") + raw.count(b"{") > max_depth:  # fewer opening brackets cannot nest deeper
        depth = json_depth(raw)
        if depth > max_depth:
            raise LimitError(f"{what} nests {depth} levels deep; at most {max_depth} are read")
    try:
        return json.loads(raw, object_pairs_hook=unique_object)
    except DuplicateNameError:
        raise ValueError(
            f"{what} gives one name twice in a JSON object; sigmd cannot tell which value is meant"
        ) from None
    except RecursionError:  # pragma: no cover - the depth check above keeps the parser far from the stack limit
        raise LimitError(f"{what} nests too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{what} is not JSON ({type(error).__name__})") from None
