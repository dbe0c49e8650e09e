"""Errors for bad input: each names the field and the value."""

from __future__ import annotations

from typing import Any

SHOWN_VALUE_CHARS = 120
"""At most this much of a value is shown in an error message, so that a huge or nested value (a whole
resource, a 50 MB string) never floods a message or a log; `InputError.value` keeps the value itself."""


class InputError(ValueError):
    """Input that sigmd cannot use. `field` is a path such as `results[1].value`."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}: {shown(value)} {problem}")


def shown(value: Any) -> str:
    """A value as an error message shows it: its repr, cut to `SHOWN_VALUE_CHARS` characters."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # a nested or huge value whose repr cannot be built
        text = f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."
