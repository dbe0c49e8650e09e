"""Errors for bad input: each names the field and the value."""

from __future__ import annotations

from typing import Any


class InputError(ValueError):
    """Input that sigmd cannot use. `field` is a path such as `results[1].value`."""

    def __init__(self, field: str, value: Any, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{field}: {value!r} {problem}")
