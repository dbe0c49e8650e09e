"""Sources: where every figure, threshold and rule comes from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    url: str = ""
    note: str = ""

    @property
    def has_published_basis(self) -> bool:
        """False for sigmd's own defaults, which rest on no published figure."""
        return self.id != "sigmd_heuristic"

    def cite(self) -> str:
        return f"{self.title} <{self.url}>" if self.url else self.title


LABORATORY_RANGE = Source(
    id="laboratory_report",
    title="Reference range printed by the reporting laboratory with this result",
)
