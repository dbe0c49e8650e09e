"""The core's pass over candidates gives the same results in worker processes as in one process."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from sigmd import content
from sigmd.core.assessment import AssessmentError, CaseFacts, case_facts, findings, labels_under_sets
from sigmd.screening import core_pass
from sigmd.screening.run import screen
from sigmd.screening.synth import SynthFiles
from tests.screening.conftest import AS_OF, core_cases, used_rows


def _outputs(out: Path) -> tuple[str, dict[str, object]]:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    kept = {key: summary[key] for key in ("rows", "labels", "funnel", "reference_set_sensitivity", "prevalence")}
    return (out / "patients.csv").read_text(encoding="utf-8"), kept


def test_worker_processes_give_the_same_verdicts_funnel_and_sensitivity(
    cohort: SynthFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Screening with the core's pass split into small chunks over two worker processes changes no output."""
    screen(cohort.results, tmp_path / "one", records=cohort.records, as_of=AS_OF, progress=False, csv=True)
    monkeypatch.setattr(core_pass, "PARALLEL_FROM_ROWS", 0)
    monkeypatch.setattr(core_pass, "CHUNK_ROWS", 300)
    monkeypatch.setattr(core_pass.os, "cpu_count", lambda: 2)
    screen(cohort.results, tmp_path / "two", records=cohort.records, as_of=AS_OF, progress=False, csv=True)
    assert _outputs(tmp_path / "two") == _outputs(tmp_path / "one")


def test_chunks_never_split_a_patient() -> None:
    """Cutting candidate rows into chunks keeps every patient's rows together."""
    rows = [{"patient_id": f"P{n // 3}", "is_candidate": n % 2 == 0} for n in range(30)]
    original = core_pass.CHUNK_ROWS
    core_pass.CHUNK_ROWS = 4
    try:
        cut = list(core_pass.chunks(rows, None, {}, {}))
    finally:
        core_pass.CHUNK_ROWS = original
    owners = [{row["patient_id"] for row in chunk.rows} for chunk in cut]
    assert len(cut) == 5
    assert all(not (a & b) for i, a in enumerate(owners) for b in owners[i + 1 :])
    assert sum(len(chunk.rows) for chunk in cut) == 30


def _row(row_no: int, pid: str, analyte: str, value: str, collected: date) -> dict[str, object]:
    return {
        "row_no": row_no,
        "patient_id": pid,
        "sex": "female",
        "birth": date(1980, 1, 1),
        "collected": collected,
        "analyte": analyte,
        "value": value,
        "unit": "mg/dL",
        "comparator": None,
        "ref_low": None,
        "ref_high": None,
        "is_candidate": False,
    }


def test_a_row_the_core_refuses_brings_back_every_set_where_any_igm_may_be_low() -> None:
    """When the core refuses a row the SQL accepted, the sensitivity table uses every set flagging any IgM."""
    first, later = date(2025, 1, 1), date(2025, 6, 1)
    rows = [
        _row(1, "A", "IgM", "10", first),
        _row(2, "A", "IgG", "1000", first),
        _row(3, "A", "IgA", "200", first),
        _row(4, "A", "IgM", "not a number", later),
        _row(5, "B", "IgM", "10", first),
        _row(6, "B", "IgG", "1000", first),
        _row(7, "B", "IgA", "200", first),
    ]
    flagged_any = {"A": frozenset({"exeter_nhs"}), "B": frozenset({"exeter_nhs"})}
    (chunk,) = core_pass.chunks(rows, None, {}, flagged_any)  # type: ignore[arg-type]
    result = core_pass.assess_chunk(core_pass.Task(date(2026, 1, 1), "idf", "mayo", content.load()), chunk)
    assert [r.row_no for r in result.rejected] == [4]
    assert result.sensitivity["exeter_nhs"]["partial_sigmd"] == 1


@pytest.fixture(scope="module")
def cohort_facts(cohort: SynthFiles, tmp_path_factory: pytest.TempPathFactory) -> list[CaseFacts]:
    """The core's facts for the first 300 patients of the cohort whose rows screening used."""
    out = tmp_path_factory.mktemp("facts") / "out"
    screen(cohort.results, out, records=cohort.records, as_of=AS_OF, progress=False, csv=True, sensitivity=False)
    knowledge = content.load()
    found = []
    for case in list(core_cases(used_rows(cohort.results, out / "rejects.csv"), cohort.records).values())[:300]:
        try:
            found.append(case_facts(case, knowledge, as_of=AS_OF))
        except AssessmentError:
            continue
    return found


def test_findings_beside_another_profile_equal_findings_made_afresh(cohort_facts: list[CaseFacts]) -> None:
    """Reusing one profile's interpretations for another (as the funnel does for ESID) changes no finding."""
    knowledge = content.load()
    reused = 0
    for facts in cohort_facts[:150]:
        for first in knowledge.profiles:
            main = findings(facts, knowledge, profile_id=first)
            for second in knowledge.profiles:
                beside = findings(facts, knowledge, profile_id=second, beside=main)
                afresh = findings(facts, knowledge, profile_id=second)
                assert (beside.interpretations, beside.pattern) == (afresh.interpretations, afresh.pattern)
                assert (beside.criteria, beside.diagnosis) == (afresh.criteria, afresh.diagnosis)
                reused += first != second and beside.interpretations is main.interpretations
    assert reused > 0


def test_labels_under_sets_equal_the_findings_under_each_set(cohort_facts: list[CaseFacts]) -> None:
    """Sets with equal statuses share one judged label; every label still equals the set's own findings."""
    knowledge = content.load()
    shared = 0
    for facts in cohort_facts:
        for profile_id in ("idf", "medscape_40"):
            main = findings(facts, knowledge, profile_id=profile_id)
            fresh = {
                s: findings(facts, knowledge, profile_id=profile_id, reference_set_id=s)
                for s in knowledge.reference_sets
            }
            labels = labels_under_sets(
                facts, knowledge, profile_id=profile_id, reference_set_ids=list(fresh), known=main
            )
            assert labels == {s: f.diagnosis.label for s, f in fresh.items()}
            statuses = {tuple(i.status for i in f.interpretations) for f in fresh.values()}
            shared += len(fresh) - len(statuses)
    assert shared > 0


def test_the_content_given_to_screen_reaches_the_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clinical content passed to screen() (here with IgM 'absent' raised to 30 mg/dL) is the content the core's
    worker processes judge with, so a 25 mg/dL IgM is complete SIgMD there, and partial with the bundled content."""
    from dataclasses import replace

    from sigmd.core.model import Analyte

    source = tmp_path / "labs.csv"
    lines = ["patient_id,sex,birth_date,collected_date,loinc,value,unit"]
    for day in ("2025-01-10", "2025-08-10"):
        lines += [f"p1,female,1980-01-01,{day},IgM,25,mg/dL", f"p1,female,1980-01-01,{day},IgG,1000,mg/dL"]
        lines.append(f"p1,female,1980-01-01,{day},IgA,200,mg/dL")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bundled = content.load()
    absent = bundled.thresholds.absent
    custom = replace(
        bundled,
        thresholds=replace(
            bundled.thresholds, absent={**absent, Analyte.IGM: replace(absent[Analyte.IGM], value=30.0)}
        ),
    )
    monkeypatch.setattr(core_pass, "PARALLEL_FROM_ROWS", 0)
    monkeypatch.setattr(core_pass.os, "cpu_count", lambda: 2)
    screen(source, tmp_path / "custom", as_of=AS_OF, progress=False, csv=True, knowledge=custom, sensitivity=False)
    screen(source, tmp_path / "bundled", as_of=AS_OF, progress=False, csv=True, sensitivity=False)
    custom_row, bundled_row = (
        (tmp_path / name / "patients.csv").read_text(encoding="utf-8").splitlines()[1] for name in ("custom", "bundled")
    )
    assert "complete_sigmd" in custom_row and "partial_sigmd" in bundled_row
