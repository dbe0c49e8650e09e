"""Units: recognise a unit as written and convert to and from canonical mg/dL.

The factors are clinical content (`data/units.toml`); this module only applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sigmd.core.model import Analyte
from sigmd.core.provenance import Source


class UnitError(ValueError):
    """A unit that is unknown, or that cannot be used for the analyte."""


@dataclass(frozen=True)
class UnitDef:
    ucum: str
    """The UCUM code, used as the unit's canonical spelling."""
    aliases: tuple[str, ...]
    factor_to_mg_dl: float | None
    """Mass units: one factor for every immunoglobulin."""
    per_analyte_factor: dict[Analyte, float]
    """Activity units (IU/mL): an analyte-specific factor."""
    source: Source
    verified: bool = True

    def factor(self, analyte: Analyte) -> float:
        if self.factor_to_mg_dl is not None:
            return self.factor_to_mg_dl
        if analyte in self.per_analyte_factor:
            return self.per_analyte_factor[analyte]
        raise UnitError(f"unit {self.ucum} has no conversion factor for {analyte}")


@dataclass(frozen=True)
class UnitTable:
    units: tuple[UnitDef, ...]

    def find(self, text: str) -> UnitDef:
        """Recognise a unit by its UCUM code or a common spelling (case and spaces ignored)."""
        key = fold_unit_spelling(text)
        for unit in self.units:
            if key == fold_unit_spelling(unit.ucum) or key in (fold_unit_spelling(alias) for alias in unit.aliases):
                return unit
        known = ", ".join(unit.ucum for unit in self.units)
        raise UnitError(f"unknown unit {text!r} (known: {known})")

    def to_mg_dl(self, value: float, unit_text: str, analyte: Analyte) -> float:
        return value * self.find(unit_text).factor(analyte)

    def from_mg_dl(self, value_mg_dl: float, unit_text: str, analyte: Analyte) -> float:
        return value_mg_dl / self.find(unit_text).factor(analyte)


def fold_unit_spelling(text: str) -> str:
    return "".join(text.split()).lower().replace("µ", "u").replace("μ", "u")
