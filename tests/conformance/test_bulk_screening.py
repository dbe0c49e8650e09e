"""Bulk Data sample folder screened as a whole."""

from __future__ import annotations

from pathlib import Path

from sigmd.screening.run import screen
from tests.screening.conftest import AS_OF

from .conftest import FIXTURES

assert FIXTURES is not None  # the module is collected only when the fixtures exist


def test_bulk_export_folder_rejects_event_logs_and_coded_observations(tmp_path: Path) -> None:
    """The shared Bulk Data fixtures hold no immunoglobulin results: every line becomes a reject with its reason, in
    the words of the FHIR reader of `sigmd assess` for the Observations."""
    result = screen(FIXTURES / "bulk", tmp_path / "out", as_of=AS_OF, progress=False, csv=True)
    assert (result.rows_in, result.rows_used, result.rows_rejected) == (6, 0, 6)
    reasons = (tmp_path / "out" / "rejects.csv").read_text(encoding="utf-8")
    assert "its code http://loinc.org|94500-6 is not an immunoglobulin LOINC code that sigmd reads" in reasons
    assert "resourceType: None is not Patient or Observation (log.ndjson line 1)" in reasons
