"""The core's pass over candidates gives the same results in worker processes as in one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sigmd.screening import core_pass
from sigmd.screening.run import screen
from sigmd.screening.synth import SynthFiles
from tests.screening.conftest import AS_OF


def _outputs(out: Path) -> tuple[str, dict[str, object]]:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    kept = {key: summary[key] for key in ("rows", "labels", "funnel", "reference_set_sensitivity", "prevalence")}
    return (out / "patients.csv").read_text(encoding="utf-8"), kept


def test_worker_processes_give_the_same_verdicts_funnel_and_sensitivity(
    cohort: SynthFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Screening with the core's pass split into small chunks over two worker processes changes no output."""
    screen(cohort.results, tmp_path / "one", records=cohort.records, as_of=AS_OF, progress=False)
    monkeypatch.setattr(core_pass, "PARALLEL_FROM_ROWS", 0)
    monkeypatch.setattr(core_pass, "CHUNK_ROWS", 300)
    monkeypatch.setattr(core_pass.os, "cpu_count", lambda: 2)
    screen(cohort.results, tmp_path / "two", records=cohort.records, as_of=AS_OF, progress=False)
    assert _outputs(tmp_path / "two") == _outputs(tmp_path / "one")


def test_chunks_never_split_a_patient() -> None:
    """Cutting candidate rows into chunks keeps every patient's rows together."""
    rows = [{"patient_id": f"P{n // 3}", "is_candidate": n % 2 == 0} for n in range(30)]
    original = core_pass.CHUNK_ROWS
    core_pass.CHUNK_ROWS = 4
    try:
        cut = list(core_pass.chunks(rows, None, {}))
    finally:
        core_pass.CHUNK_ROWS = original
    owners = [{row["patient_id"] for row in chunk.rows} for chunk in cut]
    assert len(cut) == 5
    assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1 :])
    assert sum(len(chunk.rows) for chunk in cut) == 30
