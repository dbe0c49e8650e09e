"""Immunoglobulin values in the site's display unit (mg/dL or g/L), as the readable reports write them.

The machine output and the core's own texts stay in mg/dL; the terminal report and the web pages convert the
values and limits they show in columns of their own, and name the unit beside them.
"""

from __future__ import annotations

MG_DL_PER_UNIT = {"mg/dL": 1.0, "g/L": 100.0}
"""1 g/L = 100 mg/dL; the keys are the display units a site can choose (`sigmd.settings.DISPLAY_UNITS`)."""


def in_unit(value_mg_dl: float | None, unit: str) -> str:
    """A value in mg/dL written in `unit`: `n/a` when there is none, else to at most four decimals (`0.25`)."""
    if unit not in MG_DL_PER_UNIT:
        raise ValueError(f"display unit: {unit!r} is not one of {', '.join(MG_DL_PER_UNIT)}")
    if value_mg_dl is None:
        return "n/a"
    return f"{round(value_mg_dl / MG_DL_PER_UNIT[unit], 4):g}"


def measured(comparator: str, value_mg_dl: float, unit: str) -> str:
    """A measured value with its comparator (`<0.05` for a censored value), in `unit`."""
    return f"{'' if comparator == '=' else comparator}{in_unit(value_mg_dl, unit)}"
