"""Conditions and medications in the set-wise pass: the same verdict and criteria as the core, patient by patient.

Every patient has a low IgM on two dates six months apart (persistent, isolated) and one record, so that the
record alone decides between partial SIgMD and secondary low IgM, and whether IgG is set aside.
Synthetic patients only.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from sigmd.screening.run import screen
from tests.screening.conftest import AS_OF
from tests.screening.test_setwise_parity import HEADER, KNOWLEDGE, Cohort, _core, _same, _screened

RECORDS = {
    "cll-code": ("condition", "C91.1", "ICD-10", ""),
    "cll-text": ("condition", "", "", "chronic lymphocytic leukaemia"),
    "cll-negated": ("condition", "", "", "no history of chronic lymphocytic leukaemia"),
    "lymphoma-family": ("condition", "", "", "mother has lymphoma"),
    "lymphoma-suspected": ("condition", "", "", "?lymphoma"),
    "clozapine": ("medication", "N05AH02", "ATC", "clozapine"),
    "ivig": ("medication", "", "", "intravenous immunoglobulin"),
    "ivig-atc": ("medication", "J06BA02", "ATC", ""),
    "rituximab": ("medication", "", "", "rituximab"),
    "rituximab-planned": ("medication", "", "", "consider rituximab"),
    "asthma": ("condition", "J45", "ICD-10", "asthma"),
}


def _rows() -> list[dict[str, str]]:
    rows = []
    for pid in (*RECORDS, "no-record"):
        for day in (date(2025, 1, 10), date(2025, 7, 20)):
            for analyte, value, low, high in (("IgM", "12", "", ""), ("IgG", "1000", "", ""), ("IgA", "200", "", "")):
                # The IgG of the later panel carries a laboratory range the core refuses (low above high): set aside
                # under treatment, it must still be refused as the core refuses it.
                if analyte == "IgG" and day.month == 7 and pid.startswith("ivig"):
                    low, high = "1600", "700"
                cells = (pid, "male", "1980-04-02", day.isoformat(), analyte, value, "mg/dL", "", low, high)
                rows.append(dict(zip(HEADER, cells, strict=True)))
    return rows


def test_records_decide_the_verdict_as_in_the_core(tmp_path: Path) -> None:
    rows = _rows()
    records = [(pid, *record) for pid, record in RECORDS.items()]
    cohort = Cohort(rows, records, KNOWLEDGE.default_profile, KNOWLEDGE.default_reference_set, True)
    expected, refused = _core(cohort)
    source, side = tmp_path / "labs.csv", tmp_path / "records.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, HEADER)
        writer.writeheader()
        writer.writerows(rows)
    with side.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows((("patient_id", "kind", "code", "system", "text"), *records))
    result = screen(source, tmp_path / "out", records=side, as_of=AS_OF, progress=False, csv=True)
    screened = _screened(tmp_path / "out")
    with (tmp_path / "out" / "rejects.csv").open(encoding="utf-8") as handle:
        rejects = {int(r["row_no"]): r["reason"].split(":")[0] for r in csv.DictReader(handle)}
    assert result.rows_in == len(rows) == result.rows_used + result.rows_rejected
    assert sorted(rejects) == sorted(refused)
    assert set(screened) == set(expected)
    for pid, want in expected.items():
        assert not _same(screened[pid], want), (pid, _same(screened[pid], want))
    # The records decide among several verdicts here (secondary, partial, IgG set aside), and most patients are
    # judged set-wise.
    assert len({(v["label"], v["certainty"], v["c_igg_normal"]) for v in expected.values()}) >= 4
    assert sum(r["path"] == "setwise" for r in screened.values()) >= len(RECORDS) - 2
