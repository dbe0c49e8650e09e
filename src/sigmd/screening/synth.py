"""Synthetic lab extracts for tests, demos and benchmarks. Synthetic patients only.

Values are drawn from the log-normal distributions that the core derives from the default
reference set, with a person-level effect so that repeat results of one person agree. Planted
groups: partial and complete SIgMD (persistent), transient low IgM, secondary low IgM (clozapine,
chronic lymphocytic leukaemia) and selective IgA deficiency, plus input noise (other units, analyte
names instead of LOINC, censored values, laboratory ranges and a few unusable rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmd import content
from sigmd.core.model import Analyte
from sigmd.core.stats import LogNormalFit
from sigmd.screening.extras import require

GROUPS = ("normal", "partial", "complete", "transient", "secondary", "iga_deficiency")
GROUP_SHARES = (0.9585, 0.012, 0.0025, 0.015, 0.01, 0.002)
LAST_DATE = "2025-12-31"
RANGED_SHARE = 0.2
"""Rows that carry the laboratory's own reference range."""
SLIP_SHARE = 0.002
"""IgG results in g/L of planted normal patients that are labelled mg/dL (possible unit slips)."""
NORMAL_Z = 1.959963984540054
"""The normal quantile of a central 95% interval."""
ANALYTE_CODES = {Analyte.IGM: "2472-9", Analyte.IGG: "2465-3", Analyte.IGA: "2458-8"}
SECONDARY_RECORDS = (
    ("medication", "N05AH02", "ATC", "clozapine"),
    ("condition", "C91.1", "ICD-10", "chronic lymphocytic leukaemia"),
)


@dataclass(frozen=True)
class SynthFiles:
    results: Path
    records: Path
    """Conditions and medications (patient_id, kind, code, system, text) for the planted secondary cases."""
    truth: Path
    """The planted group of every patient, for tests; never an input to screening."""


def _bands(analyte: Analyte) -> tuple[Any, Any, Any]:
    np = require("numpy", "screen")
    knowledge = content.load()
    reference = knowledge.reference_sets[knowledge.default_reference_set]
    rows = sorted(
        (i for i in reference.intervals if i.analyte is analyte and i.sex.value == "any"),
        key=lambda i: i.age_from.approx_years,
    )
    fits = [LogNormalFit.from_interval(i.lower_mg_dl or 1.0, i.upper_mg_dl or 2.0) for i in rows]
    edges = np.array([i.age_to.approx_years for i in rows])
    return edges, np.array([f.mu for f in fits]), np.array([f.sigma for f in fits])


def synth(n_patients: int, seed: int, out_path: Path, file_format: str = "parquet") -> SynthFiles:
    """Write a long-format synthetic extract (CSV or Parquet) with its side tables next to it."""
    np = require("numpy", "screen")
    pa = require("pyarrow", "screen")
    rng = np.random.default_rng(seed)
    group = rng.choice(len(GROUPS), size=n_patients, p=GROUP_SHARES)
    last = np.datetime64(LAST_DATE)
    age_days_first = rng.integers(30, 90 * 365, size=n_patients)
    visits = 1 + rng.poisson(1.0, size=n_patients)
    visits = np.where(np.isin(group, (1, 2, 3)), np.maximum(visits, 3), visits)
    first = last - np.timedelta64(4 * 365, "D") + rng.integers(0, 365, size=n_patients).astype("timedelta64[D]")
    birth = first - age_days_first.astype("timedelta64[D]")
    sex = rng.choice(np.array(["female", "male"]), size=n_patients)
    person_z = rng.normal(0.0, 0.9, size=(3, n_patients))

    patient = np.repeat(np.arange(n_patients), visits)
    visit_index = np.arange(len(patient)) - np.repeat(np.cumsum(visits) - visits, visits)
    collected = first[patient] + (visit_index * 200 + rng.integers(0, 60, size=len(patient))).astype("timedelta64[D]")
    age_years = (collected - birth[patient]).astype(int) / 365.2425
    g = group[patient]
    late = visit_index >= 2

    columns: dict[str, list[Any]] = {name: [] for name in ("row", "analyte", "value", "low", "high")}
    for k, analyte in enumerate((Analyte.IGM, Analyte.IGG, Analyte.IGA)):
        edges, mu, sigma = _bands(analyte)
        band = np.minimum(np.searchsorted(edges, age_years, side="right"), len(edges) - 1)
        z = person_z[k][patient] * 0.95 + rng.normal(0.0, 0.3, size=len(patient))
        if analyte is Analyte.IGM:
            z = np.where(g == 1, rng.uniform(-3.6, -2.6, size=len(z)), z)
            z = np.where(g == 3, np.where(late, np.abs(z), rng.uniform(-3.6, -2.6, size=len(z))), z)
            z = np.where(g == 4, rng.uniform(-3.8, -2.6, size=len(z)), z)
        else:
            z = np.clip(z, -1.5, 3.0)
        value = np.exp(mu[band] + z * sigma[band])
        if analyte is Analyte.IGM:
            value = np.where(g == 2, rng.uniform(0.5, 4.5, size=len(z)), value)
        if analyte is Analyte.IGA:
            value = np.where((g == 5) & (age_years > 5), rng.uniform(0.5, 5.0, size=len(z)), value)
        measured = np.ones(len(patient), dtype=bool) if analyte is Analyte.IGM else rng.random(len(patient)) < 0.85
        columns["row"].append(np.nonzero(measured)[0])
        columns["analyte"].append(np.full(int(measured.sum()), k))
        columns["value"].append(value[measured])
        # The band's central 95% interval, from which a laboratory's own range is drawn below.
        columns["low"].append(np.exp(mu[band] - NORMAL_Z * sigma[band])[measured])
        columns["high"].append(np.exp(mu[band] + NORMAL_Z * sigma[band])[measured])
    row = np.concatenate(columns["row"])
    analyte_index = np.concatenate(columns["analyte"])
    mg_dl = np.concatenate(columns["value"])
    order = np.lexsort((analyte_index, row))
    row, analyte_index, mg_dl = row[order], analyte_index[order], mg_dl[order]
    band_low, band_high = np.concatenate(columns["low"])[order], np.concatenate(columns["high"])[order]
    n = len(row)

    unit_pick = rng.random(n)
    unit = np.where(unit_pick < 0.6, "mg/dL", np.where(unit_pick < 0.95, "g/L", "mg/L"))
    factor = np.where(unit == "mg/dL", 1.0, np.where(unit == "g/L", 100.0, 0.1))
    reported = np.round(mg_dl / factor, 2)
    text = reported.astype(str)
    text = np.where(unit == "mg/dL", np.round(mg_dl).astype(int).astype(str), text)
    censored = (analyte_index == 0) & (mg_dl < 5) & (rng.random(n) < 0.7)
    text = np.where(censored, "<" + np.where(unit == "mg/dL", "5", np.where(unit == "g/L", "0.05", "50")), text)
    codes = np.array([ANALYTE_CODES[a] for a in (Analyte.IGM, Analyte.IGG, Analyte.IGA)])
    names = np.array(["IgM", "IgG", "IgA"])
    loinc = np.where(rng.random(n) < 0.9, codes[analyte_index], names[analyte_index])
    comparator = np.where(censored & (rng.random(n) < 0.3), "<", "")
    text = np.where(comparator == "<", np.char.lstrip(text.astype(str), "<"), text)

    noise = rng.random(n)
    text = np.where(noise < 0.001, "n/a", text)
    unit = np.where((noise >= 0.001) & (noise < 0.0015), "mmol/L", unit)
    birth_text = np.datetime_as_string(birth[patient[row]], unit="D")
    birth_text = np.where((noise >= 0.0015) & (noise < 0.002), "31/12/1970", birth_text)
    pid = np.char.add("P", np.char.zfill(patient[row].astype(str), 8))

    # Drawn from a generator of their own, so that the columns above stay as they were for a given seed.
    extra = np.random.default_rng([seed, 1])
    # The laboratory's own range on a fifth of the rows, in the row's unit: the band's interval as a laboratory
    # states it (within 15%); one in a hundred in mg/dL written 100 times too small (a g/L range labelled mg/dL),
    # which the core finds implausible, so the reference set decides.
    ranged = (extra.random(n) < RANGED_SHARE) & np.isin(unit, ("mg/dL", "g/L", "mg/L"))
    shift = extra.uniform(0.85, 1.15, size=n)
    wrong = ranged & (unit == "mg/dL") & (extra.random(n) < 0.01)
    scale = np.where(wrong, 100.0, factor)
    ref_low = np.where(ranged, np.char.mod("%.3g", band_low * shift / scale), "")
    ref_high = np.where(ranged, np.char.mod("%.3g", band_high * shift / scale), "")
    # A few IgG results in g/L labelled mg/dL (IgG 9.5 'mg/dL'): a possible unit slip, which the core does not
    # judge (it asks to confirm the unit), in planted normal patients only; at least one in any extract that has
    # such a result, so that every path of screening comes up even in a small one.
    eligible = (analyte_index == 1) & (unit == "g/L") & (g[row] == 0) & ~ranged
    slip = eligible & (extra.random(n) < SLIP_SHARE)
    if eligible.any() and not slip.any():
        slip[int(np.argmax(eligible))] = True
    unit = np.where(slip, "mg/dL", unit)

    table = pa.table(
        {
            "patient_id": pid,
            "sex": sex[patient[row]],
            "birth_date": birth_text,
            "collected_date": np.datetime_as_string(collected[row], unit="D"),
            "loinc": loinc,
            "value": text,
            "unit": unit,
            "comparator": comparator,
            "ref_low": ref_low,
            "ref_high": ref_high,
        }
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    _write(table, out_path, file_format)
    files = SynthFiles(
        out_path, out_path.with_name(out_path.stem + ".records.csv"), out_path.with_name(out_path.stem + ".truth.csv")
    )
    _write_side_tables(files, group, rng)
    return files


def _write(table: Any, path: Path, file_format: str) -> None:
    if file_format == "parquet":
        require("pyarrow.parquet", "screen").write_table(table, path, row_group_size=1_000_000)
    elif file_format == "csv":
        require("pyarrow.csv", "screen").write_csv(table, path)
    else:
        raise ValueError(f"format: {file_format!r} is not csv or parquet")


def _write_side_tables(files: SynthFiles, group: Any, rng: Any) -> None:
    np = require("numpy", "screen")
    pa = require("pyarrow", "screen")
    ids = np.char.add("P", np.char.zfill(np.arange(len(group)).astype(str), 8))
    secondary = np.nonzero(group == 4)[0]
    which = rng.integers(0, len(SECONDARY_RECORDS), size=len(secondary))
    records = [SECONDARY_RECORDS[i] for i in which]
    _write(
        pa.table(
            {
                "patient_id": ids[secondary],
                "kind": [r[0] for r in records],
                "code": [r[1] for r in records],
                "system": [r[2] for r in records],
                "text": [r[3] for r in records],
            }
        ),
        files.records,
        "csv",
    )
    _write(pa.table({"patient_id": ids, "planted": np.array(GROUPS)[group]}), files.truth, "csv")
