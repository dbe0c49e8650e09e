"""Small Arrow tables handed to the engines: content exported from `Knowledge`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sigmd.core.knowledge import Knowledge, RuleProfile
from sigmd.screening.bands import Band, analyte_rows, cutoff_bands, interval_bands, unit_rows
from sigmd.screening.extras import require

BAND_COLUMNS = (
    "set_id",
    "analyte",
    "sex",
    "from_months",
    "from_days",
    "to_months",
    "to_days",
    "lower_mg_dl",
    "upper_mg_dl",
    "limit_mg_dl",
)


def band_table(bands: list[Band]) -> Any:
    pa = require("pyarrow", "screen")
    schema = pa.schema(
        [
            ("set_id", pa.string()),
            ("analyte", pa.string()),
            ("sex", pa.string()),
            ("from_months", pa.int64()),
            ("from_days", pa.int64()),
            ("to_months", pa.int64()),
            ("to_days", pa.int64()),
            ("lower_mg_dl", pa.float64()),
            ("upper_mg_dl", pa.float64()),
            ("limit_mg_dl", pa.float64()),
        ]
    )
    return pa.Table.from_pylist([asdict(b) for b in bands], schema=schema)


def content_tables(knowledge: Knowledge, profile: RuleProfile, reference_set_id: str) -> dict[str, Any]:
    """units, analytes, bands (chosen set), all_bands (every set) and cutoffs, as Arrow tables."""
    pa = require("pyarrow", "screen")
    units = unit_rows(knowledge)
    analytes = analyte_rows(knowledge)
    every = [b for s in knowledge.reference_sets.values() for b in interval_bands(s, profile)]
    return {
        "units": pa.table(
            {
                "spelling": [u[0] for u in units],
                "analyte": [u[1] for u in units],
                "factor": pa.array([u[2] for u in units], pa.float64()),
            }
        ),
        "analytes": pa.table({"code": [a[0] for a in analytes], "analyte": [a[1] for a in analytes]}),
        "bands": band_table([b for b in every if b.set_id == reference_set_id]),
        "all_bands": band_table(every),
        "cutoffs": band_table(cutoff_bands(profile)),
    }
