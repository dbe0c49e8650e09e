"""Bulk Data sample folder screened as a whole."""

from __future__ import annotations

import json
from pathlib import Path

from sigmd.screening.run import screen
from tests.screening.conftest import AS_OF

from .conftest import FIXTURES

assert FIXTURES is not None  # the module is collected only when the fixtures exist


def test_bulk_export_folder_rejects_event_logs_and_counts_observations_of_other_analytes(tmp_path: Path) -> None:
    """The shared Bulk Data fixtures hold no immunoglobulin results: the Observations (LOINC 94500-6, a SARS-CoV-2
    test) are counted as results of another analyte, and every line of the export log is a reject with its
    reason."""
    result = screen(FIXTURES / "bulk", tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (4, 0, 4)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["other_analytes"] == {
        "rows": 2,
        "most_frequent": [{"loinc": "94500-6", "name": "", "rows": 2}],
    }
    reasons = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    assert "resourceType: None is not a FHIR R4 resource type (log.ndjson line 1)" in reasons
