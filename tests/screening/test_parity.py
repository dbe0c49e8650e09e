"""Batch verdicts are the core's verdicts, patient by patient."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from sigmd import content
from sigmd.core.assessment import assess
from sigmd.screening.funnel import Funnel
from sigmd.screening.run import screen
from sigmd.screening.synth import SynthFiles
from tests.screening.conftest import AS_OF, core_cases, core_verdicts, screened_verdicts, used_rows

EDGE_ROWS = """patient_id,sex,birth_date,collected_date,loinc,value,unit,comparator,ref_low,ref_high
E1,female,2000-01-31,2020-02-29,IgM,36.2,mg/dL,,,
E1,female,2000-01-31,2020-02-29,IgG,900,mg/dL,,,
E1,female,2000-01-31,2020-02-29,IgA,150,mg/dL,,,
E2,M,2019-08-31,2020-02-29,2472-9,<0.3,g/L,,,
E2,M,2019-08-31,2020-02-29,2465-3,5.1,g/L,,,
E3,male,1980-05-01,2025-01-10,immunoglobulin m,<50,mg/dL,,,
E3,male,1980-05-01,2025-01-10,IgG,1000,mg/dL,,,
E3,male,1980-05-01,2025-01-10,IgA,200,mg/dL,,,
E4,female,1990-03-15,2025-03-01,IgM,30,mg/dL,,25,200
E4,female,1990-03-15,2025-03-01,IgG,800,mg/dL,,,
E4,female,1990-03-15,2025-03-01,IgA,90,mg/dL,,,
E5,female,2015-06-15,2025-06-01,IgM,45,mg/dL,>,,
E5,female,2015-06-15,2025-06-01,IgG,900,mg/dL,,,
E5,female,2015-06-15,2025-06-01,IgA,100,mg/dL,,,
E6,other,2012-02-29,2025-02-28,IgM,60,mg/dL,,,
E6,other,2012-02-29,2025-02-28,IgG,9.0,g/L,,,
E6,other,2012-02-29,2025-02-28,IgA,1.0,g/L,,,
E7,male,1950-01-01,2025-01-01,IgM,300,[IU]/mL,,,
E8,female,1970-01-01,2025-01-01,IgM,≤4,mg/dL,,,
E8,female,1970-01-01,2025-01-01,IgG,800,mg/dL,,,
E8,female,1970-01-01,2025-01-01,IgA,60,mg/dL,,,
E9,female,1970-01-01,2027-01-01,IgM,20,mg/dL,,,
E9,female,1970-01-01,2025-01-01,IgM,200,mg/dL,,,
E10,male,1960-06-01,2025-01-01,IgM,60,mg/dL,,,
E10,male,1960-06-01,2025-01-01,IgG,1e400,mg/dL,,,
"""


def _check(source: Path, out: Path, records: Path | None, **options: str) -> int:
    result = screen(source, out, records=records, as_of=AS_OF, progress=False, **options)  # type: ignore[arg-type]
    expected = core_verdicts(
        used_rows(source, out / "rejects.csv"), records, options.get("profile"), options.get("reference")
    )
    assert screened_verdicts(out) == expected
    assert result.rows_in == result.rows_used + result.rows_rejected
    return result.summary["patients_assessed_by_core"]


def test_every_patient_of_a_synthetic_cohort_gets_the_core_verdict(cohort: SynthFiles, tmp_path: Path) -> None:
    """DuckDB screening under the default profile and set gives each patient exactly the core's label and certainty."""
    assessed = _check(cohort.results, tmp_path / "out", cohort.records)
    assert 0 < assessed < 1500


@pytest.mark.parametrize(
    ("profile", "reference"),
    [("esid", "bozeman_sex"), ("medscape_40", "exeter_nhs"), ("spanish_2024", "auckland_labplus")],
)
def test_parity_holds_under_other_profiles_and_reference_sets(
    cohort: SynthFiles, tmp_path: Path, profile: str, reference: str
) -> None:
    """Sex-specific bands, absolute cut-offs and lower-limit profiles keep batch == core."""
    _check(cohort.results, tmp_path / "out", cohort.records, profile=profile, reference=reference)


@pytest.mark.parametrize("profile", ["idf", "medscape_20"])
def test_edge_rows_month_ends_censoring_lab_ranges_and_names(tmp_path: Path, profile: str) -> None:
    """Month-end birthdays, censored values, laboratory ranges, analyte names, IU/mL and overflow match the core."""
    source = tmp_path / "edge.csv"
    source.write_text(EDGE_ROWS, encoding="utf-8")
    _check(source, tmp_path / "out", None, profile=profile)
    with (tmp_path / "out" / "rejects.csv").open(encoding="utf-8") as handle:
        reasons = {row["patient_id"]: row["reason"] for row in csv.DictReader(handle)}
    assert reasons["E9"].startswith("collected_date: '2027-01-01' is after the as-of date")
    assert reasons["E10"] == "value: '1e400' is not a finite number"


def test_prefilter_patients_are_normal_for_the_core(cohort: SynthFiles, tmp_path: Path) -> None:
    """Every patient the engine declared normal without the core is normal, with the same certainty, for the core."""
    out = tmp_path / "out"
    screen(cohort.results, out, records=cohort.records, as_of=AS_OF, progress=False, sensitivity=False)
    with (out / "patients.csv").open(encoding="utf-8") as handle:
        prefiltered = {
            r["patient_id"]: (r["label"], r["certainty"]) for r in csv.DictReader(handle) if r["path"] == "prefilter"
        }
    expected = core_verdicts(used_rows(cohort.results, out / "rejects.csv"), cohort.records)
    assert len(prefiltered) > 1000
    assert {pid: expected[pid] for pid in prefiltered} == prefiltered


def test_reference_set_sensitivity_counts_equal_the_core_on_every_patient(cohort: SynthFiles, tmp_path: Path) -> None:
    """Partial and complete SIgMD counted under each bundled reference set equal the core's verdicts for everyone."""
    out = tmp_path / "out"
    result = screen(cohort.results, out, records=cohort.records, as_of=AS_OF, progress=False)
    rows = used_rows(cohort.results, out / "rejects.csv")
    screened = {s["reference_set"]: s for s in result.summary["reference_set_sensitivity"]}
    for set_id, counts in screened.items():
        labels = [label for label, _ in core_verdicts(rows, cohort.records, reference=set_id).values()]
        assert (counts["partial_sigmd"], counts["complete_sigmd"]) == (
            labels.count("partial_sigmd"),
            labels.count("complete_sigmd"),
        ), set_id
    assert sum(s["deficient"] for s in screened.values()) > 0


@pytest.mark.parametrize("profile", ["idf", "medscape_40"])
def test_the_esid_funnel_equals_the_core_on_every_patient(cohort: SynthFiles, tmp_path: Path, profile: str) -> None:
    """The Janssen funnel counted by screening equals the funnel of the core's ESID assessment of every patient."""
    out = tmp_path / "out"
    result = screen(
        cohort.results, out, records=cohort.records, as_of=AS_OF, progress=False, sensitivity=False, profile=profile
    )
    knowledge = content.load()
    expected = Funnel()
    for case in core_cases(used_rows(cohort.results, out / "rejects.csv"), cohort.records).values():
        expected.add(assess(case, knowledge, as_of=AS_OF, profile_id="esid"))
    assert result.summary["funnel"] == expected.table()
    assert expected.counts["isolated_low_igm"] > 0
