"""Screening trusts a laboratory's own range only as far as the core does (synthetic patients only)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sigmd.screening.run import screen
from tests.screening.conftest import AS_OF, core_verdicts, screened_verdicts, used_rows

HEADER = "patient_id,sex,birth_date,collected_date,loinc,value,unit,ref_low,ref_high"


def _cohort(tmp_path: Path, igm_rows: dict[str, str]) -> Path:
    source = tmp_path / "labs.csv"
    lines = [HEADER]
    for pid, igm in igm_rows.items():
        lines.append(f"{pid},female,1980-01-01,2025-01-01,IgM,{igm}")
        lines.append(f"{pid},female,1980-01-01,2025-01-01,IgG,1000,mg/dL,,")
        lines.append(f"{pid},female,1980-01-01,2025-01-01,IgA,200,mg/dL,,")
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return source


def test_a_g_per_l_range_written_as_mg_dl_does_not_make_a_low_igm_plainly_normal(tmp_path: Path) -> None:
    """IgM 25 mg/dL with a 0.4-2.3 'mg/dL' range (a g/L range) is low for the core, and the set-wise pass judges
    it so (the range is implausible beside the set's interval, which decides); the same IgM with a plausible
    40-230 mg/dL range agrees with the core, and an IgM of 90 stays plainly normal."""
    source = _cohort(
        tmp_path,
        {
            "slip": "25,mg/dL,0.4,2.3",
            "plausible_low": "25,mg/dL,40,230",
            "plausible_normal": "90,mg/dL,40,230",
        },
    )
    out = tmp_path / "out"
    screen(source, out, as_of=AS_OF, progress=False, csv=True)
    expected = core_verdicts(used_rows(source, out / "rejects.csv"), None)
    assert screened_verdicts(out) == expected
    assert expected["slip"][0] == "partial_sigmd"
    with (out / "patients.csv").open(encoding="utf-8") as handle:
        paths = {row["patient_id"]: row["path"] for row in csv.DictReader(handle)}
    assert paths["slip"] == "setwise" and paths["plausible_normal"] == "prefilter"


def test_the_sensitivity_table_counts_a_low_igm_with_an_implausible_range_under_every_set(tmp_path: Path) -> None:
    """Under each reference set the patient with a g/L range written as mg/dL is judged by the set's limit, so the
    sensitivity table counts the low IgM as deficient wherever the core does."""
    source = _cohort(tmp_path, {"slip": "25,mg/dL,0.4,2.3"})
    out = tmp_path / "out"
    screen(source, out, as_of=AS_OF, progress=False, csv=True)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    deficient = {row["reference_set"]: row["deficient"] for row in summary["reference_set_sensitivity"]}
    assert deficient["mayo"] == 1 and sum(deficient.values()) >= 1
