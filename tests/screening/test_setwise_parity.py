"""Differential suite: `sigmd screen` against the core, patient by patient, on Hypothesis-generated cohorts, on
every engine (DuckDB, Spark, PostgreSQL).

The expected verdict is computed by the core from ALL input rows (each row built as `sigmd assess` builds it,
refused rows left out), so a row the engine wrongly rejects or wrongly uses shows up as a difference. Label,
certainty, the outcome of every criterion and the research columns (IgM course, ESID funnel step, index date,
latest IgM with its limit and z-score) must match for every patient, whichever path judged it;
rejected rows must be the rows the core refuses, each naming the same field. Every label screening input can
reach, every path through the engine (pre-filter, set-wise, core) and every rejected field must come up over an
engine's run, so that a generator that drifted away from a path fails the suite rather than proving less.
Synthetic patients only.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigmd import content
from sigmd.adapters.results import build_result, parse_date, resolve_analyte
from sigmd.core.assessment import Assessment, AssessmentError, assess
from sigmd.core.interpret import interpret, stated_z_score
from sigmd.core.knowledge import Knowledge, Label, RuleProfile
from sigmd.core.model import Analyte, Case, CodedText, LabResult, Patient, Sex
from sigmd.core.timeline import by_analyte, first_low
from sigmd.errors import InputError
from sigmd.screening import run
from sigmd.screening.classify import CANONICAL_COLUMNS
from sigmd.screening.funnel import step_reached
from sigmd.screening.run import screen
from sigmd.screening.tables import ContentTables, content_tables
from tests.screening.conftest import AS_OF

HEADER = CANONICAL_COLUMNS
KNOWLEDGE = content.load()
TYPICAL = {"IgM": 100.0, "IgG": 1000.0, "IgA": 200.0, "IgG1": 600.0, "IgG2": 300.0, "IgG3": 60.0, "IgG4": 40.0}
"""A typical adult value (mg/dL) per analyte, around which a synthetic person's values are drawn."""
ALIASES = {"2472-9": "IgM", "2465-3": "IgG", "2458-8": "IgA", "immunoglobulin m": "IgM", "IGG": "IgG"}
ANALYTES = ("IgM", "IgM", "2472-9", "immunoglobulin m", "IgG", "2465-3", "IGG", "IgA", "2458-8")
SUBCLASSES = ("IgG1", "IgG2", "IgG3", "IgG4")
NORMAL_LEVEL = (-0.3, 0.5)
AIMS: dict[str, dict[str, tuple[float, float]]] = {
    "any": {},
    "normal": {},
    "sigmd": {"IgM": (-3.0, -1.3)},
    "secondary": {"IgM": (-3.0, -1.3)},
    "treated": {},
    "refused": {},
    "complete": {"IgM": (-6.0, -3.7)},
    "cvid": {"IgG": (-2.5, -1.5), "IgA": (-2.5, -1.5)},
    "iga": {"IgA": (-6.0, -3.7)},
    "hyper_igm": {"IgM": (1.7, 2.6), "IgG": (-2.5, -1.5), "IgA": (-2.5, -1.5)},
    "low_igg": {"IgG": (-2.5, -1.5)},
    "censored": {},
    "unit_slip": {},
    "implausible": {},
    "disagree": {},
    "disagree_form": {},
    "disagree_high": {"IgG": (-2.5, -1.5), "IgA": (-2.5, -1.5)},
    "borderline": {},
    "subclass": {"IgM": (-3.0, -1.3), "IgG2": (-3.0, -1.8), "IgG3": (-3.0, -1.8)},
    "raised_igg": {"IgM": (-3.0, -1.3), "IgG": (0.7, 1.5)},
    "raised_other": {"IgM": (-3.0, -1.3), "IgG": (0.7, 1.5), "IgA": (-2.5, -1.5)},
    "raised_iga_other": {"IgM": (-3.0, -1.3), "IgA": (0.9, 1.8), "IgG": (-2.5, -1.5)},
    "slip_iga": {},
    "slip_igm": {"IgG": (-2.5, -1.5), "IgA": (-2.5, -1.5)},
    "outdated": {"IgM": (-3.0, -1.3), "IgG": (-2.5, -1.5), "IgA": (-2.5, -1.5)},
}
"""Log-offsets from the typical value per analyte of a patient aimed at a label (others normal); `any` draws every
analyte anywhere from absent to high. The `raised` aims put a raised IgG or IgA beside a low IgM, which makes any
verdict at most provisional (a persistent pattern `other` is otherwise confirmed); the `slip` aims write every IgA,
or every IgM, in g/L as mg/dL, which is judged as reported (absent) but caps the certainty (a persistent selective
IgA deficiency or CVID pattern is otherwise confirmed); `outdated` adds two IgM results a year or more after the last
IgG and IgA, whose persistent CVID pattern is then no longer confirmed. A cohort's first patients take each aim in turn (from a drawn one on), so
that every label path comes up in a few examples."""
CAUSES = (
    ("condition", "C91.1", "ICD-10", "chronic lymphocytic leukaemia"),
    ("condition", "C91.1", "ICD-10", ""),
    ("condition", "", "", "chronic lymphocytic leukaemia"),
    ("medication", "N05AH02", "ATC", "clozapine"),
    ("medication", "", "", "clozapine"),
)
TREATMENTS = (
    ("medication", "", "", "intravenous immunoglobulin"),
    ("medication", "J06BA02", "ATC", ""),
    ("medication", "", "", "rituximab 1 g"),
    ("medication", "L01FA01", "ATC", ""),
)
"""Immunoglobulin replacement and anti-CD20 therapy, which set IgG results aside (records carry no dates, so every
result counts as taken during treatment)."""
NOT_CAUSES = (
    ("condition", "", "", "no history of chronic lymphocytic leukaemia"),
    ("condition", "", "", "mother has lymphoma"),
    ("condition", "J45", "ICD-10", "asthma"),
    ("medication", "", "", "no rituximab"),
    ("medication", "H02AB06", "ATC", "prednisolone eye drops"),
)
"""Records that name no secondary cause for the core: negated, about a relative, unrelated, or a local route."""
RECORDS = (
    *CAUSES,
    *TREATMENTS,
    *NOT_CAUSES,
    ("condition", "", "", "?lymphoma"),
    ("medication", "", "", "consider rituximab"),
)
"""Conditions and medications by code, by text and both: secondary causes, treatments, records that name none, and
suspected or planned ones (which leave the exclusion of secondary causes unknown)."""
AIM_RECORDS = {"secondary": CAUSES, "treated": TREATMENTS, "sigmd": NOT_CAUSES}
"""The record a patient aimed at secondary low IgM, at normal results under treatment, or at SIgMD has."""
PROFILES = tuple(KNOWLEDGE.profiles)
SUBCLASS_SETS = ("mayo", "auckland_labplus")
"""The bundled reference sets with IgG subclass intervals."""
CORRUPTIONS = (
    ("patient_id", ""),
    ("loinc", "IgE"),
    ("loinc", "IgM serum"),
    ("sex", "x"),
    ("birth_date", "1970-02-30"),
    ("birth_date", "1899-12-31"),
    ("collected_date", "2029-13-01"),
    ("collected_date", "2025/01/01"),
    ("collected_date", "1900-01-01"),
    ("collected_date", "2027-06-01"),
    ("value", ""),
    ("value", "n/a"),
    ("value", "-3"),
    ("value", "1e400"),
    ("value", "12 mg"),
    ("comparator", "<>"),
    ("comparator", ">"),
    ("unit", "furlongs"),
    ("unit", "[IU]/mL"),
    ("ref_low", "abc"),
    ("ref_high", "<"),
    ("ref_low", "1e400"),
    ("range", "inverted"),
)
"""A field of a row set to something the core refuses (a comparator may contradict the value's own; `range`
sets a laboratory range whose low limit is not below its high one; a date before 1900 is outside the dates
sigmd reads; `1900-01-01` stands for a day before the birth date; 2027 is after the as-of date)."""
REJECTED_FIELDS = frozenset(
    ("patient_id", "loinc", "sex", "birth_date", "collected_date", "value", "comparator", "unit", "ref_low", "ref_high")
)
UNREACHABLE_LABELS = frozenset((Label.ISOLATED_LOW_IGM.value,))
"""Labels screening input cannot lead to: `isolated_low_igm` comes only from criterion `infections_recorded` not
met (ESID), and a lab extract carries no clinical features, so that criterion is never better than unknown."""
PATHS = frozenset(("prefilter", "setwise", "core"))
CERTAINTIES = frozenset(
    (
        ("normal", "confirmed"),
        ("normal", "provisional"),
        ("partial_sigmd", "provisional"),
        ("complete_sigmd", "provisional"),
        ("other_abnormal", "confirmed"),
        ("other_abnormal", "provisional"),
    )
)
"""Sure and unsure verdicts that must come up. Partial or complete SIgMD is never confirmed from screening input:
every profile needs `secondary_causes_excluded` met, and that needs a blood count, which a lab extract lacks."""


@dataclass(frozen=True)
class Cohort:
    rows: list[dict[str, str]]
    records: list[tuple[str, ...]] | None
    """Conditions and medications (patient_id, kind, code, system, text) or None: the run is given no records."""
    profile: str
    reference: str
    sensitivity: bool
    """Whether the run also counts labels under every other reference set (more patients go through the core)."""


@dataclass
class Seen:
    """What an engine's run went through: labels, (label, certainty), paths, criteria outcomes and rejected fields."""

    labels: Counter[str] = field(default_factory=Counter)
    certain: Counter[tuple[str, str]] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)


def _log_level(draw: st.DrawFn, aim: str, analyte: str) -> float:
    low, high = AIMS[aim].get(analyte, (-3.5, 1.0) if aim == "any" else NORMAL_LEVEL)
    return draw(st.floats(low, high))


@st.composite
def rows_of_patient(draw: st.DrawFn, pid: str, aim: str, profile: str, reference: str) -> list[dict[str, str]]:
    sex = draw(st.sampled_from(("female", "male", "F", "m", " Male ", "other", "unknown", "u", "")))
    # Newborns to the old; a patient aimed at a label is over 4 years old (CVID and IgA deficiency need that) and
    # has 1 to 4 samples, the last before the as-of date, at gaps either side of the persistence spans.
    latest_birth = 36_500 if aim == "any" else 33_600
    birth = date(1925, 1, 1) + timedelta(days=draw(st.integers(0, latest_birth)))
    # A level per analyte for the person, so that repeat results agree (persistent or normalised courses).
    level = {code: _log_level(draw, aim, code) for code in TYPICAL}
    ages = (0, 1, 60, 200, 400, 4000, 6500, 20_000) if aim == "any" else (1500, 4000, 6500, 20_000, 30_000)
    start = draw(st.sampled_from(ages)) + draw(st.integers(-5, 40))
    gaps = (0, 0, 30, 89, 90, 92, 181, 183, 365, 2000) if aim == "any" else (0, 89, 92, 181, 183, 365)
    if aim != "any":
        start = max(1500, min(start, (AS_OF - birth).days - 4 * 365 - 10))
    rows = []
    for _ in range(draw(st.integers(1, 8 if aim == "any" else 4))):
        start += draw(st.sampled_from(gaps)) + draw(st.integers(-2, 2))
        collected = birth + timedelta(days=start)
        # Often a panel (IgM, IgG and IgA on one day, as laboratories order them), else one analyte.
        panel = aim != "any" or draw(st.integers(0, 3)) == 0
        analytes: tuple[str, ...] = ("IgM", "IgG", "IgA") if panel else (draw(st.sampled_from(ANALYTES)),)
        if aim == "subclass" or draw(st.integers(0, 9)) == 0:
            analytes += SUBCLASSES
        for analyte in analytes:
            rows.append(_row(draw, pid, sex, birth, collected, analyte, level, aim == "any"))
    if aim == "borderline":
        for row in rows:
            _at_a_limit(draw, row, profile, reference)
    if aim == "censored":
        # IgM and IgA reported as below a value above their limits: neither can be judged low or not.
        for row in rows:
            if row["loinc"] in ("IgM", "IgA"):
                row["value"] = f"<{row['value']}"
    if aim == "unit_slip":
        # The latest IgG in g/L written as mg/dL: a possible unit slip, which only the core judges (the core path).
        latest = [row for row in rows if row["loinc"] == "IgG"][-1]
        mg_dl = float(latest["value"]) / {"g/L": 0.01, "g/l": 0.01, "mg/L": 10.0}.get(latest["unit"], 1.0)
        latest.update(value=f"{mg_dl / 100:.3g}", unit="mg/dL")
    if aim.startswith("slip_"):
        slipped = "IgA" if aim == "slip_iga" else "IgM"
        for row in rows:
            if row["loinc"] in {code for code, name in ALIASES.items() if name == slipped} | {slipped}:
                mg_dl = float(row["value"]) / {"g/L": 0.01, "g/l": 0.01, "mg/L": 10.0}.get(row["unit"], 1.0)
                row.update(value=f"{mg_dl / 100:.3g}", unit="mg/dL", comparator="", ref_low="", ref_high="")
    if aim == "outdated":
        # The first panel twice, 200 days apart (a persistent CVID pattern), then two IgM results alone, the first
        # about a year after the second panel (either side of the 12-month horizon) and one 200 days later.
        first = min(date.fromisoformat(row["collected_date"][:10]) for row in rows)
        panel = [row for row in rows if row["collected_date"][:10] == first.isoformat()]
        second = first + timedelta(days=200)
        rows = panel + [dict(row, collected_date=second.isoformat()) for row in panel]
        igm = next(row for row in panel if row["loinc"] == "IgM")
        later = second + timedelta(days=draw(st.sampled_from((364, 365, 366, 400))))
        for when in (later, later + timedelta(days=200)):
            rows.append(dict(igm, collected_date=min(when, AS_OF).isoformat()))
    if aim == "implausible":
        # The latest IgM, IgG or IgA a thousand times too high ('5 g/dL' meant as 5 mg/dL): more than the implausible
        # factor times its upper limit, so the verdict is at most provisional (the set-wise path).
        analyte = draw(st.sampled_from(("IgM", "IgG", "IgA")))
        latest = [row for row in rows if row["loinc"] == analyte][-1]
        if draw(st.booleans()):
            latest["value"] = f"{float(latest['value']) * 1000:.3g}"
        else:
            # Or about ten times the upper limit of the laboratory's own range, which is narrower than the set's
            # interval but plausible beside it, so that whether the value is implausible depends on which decides.
            scale = {"g/L": 0.01, "g/l": 0.01, "mg/L": 10.0}.get(latest["unit"], 1.0)
            high = TYPICAL[analyte] * 1.2
            times = draw(st.sampled_from((9.5, 10.5, 20.0)))
            latest.update(
                value=f"{high * times * scale:.3g}",
                comparator="",
                ref_low=f"{TYPICAL[analyte] * 0.4 * scale:.3g}",
                ref_high=f"{high * scale:.3g}",
            )
    if aim.startswith("disagree"):
        # Two results of one analyte on the latest day that disagree, in either order: the verdict must not depend
        # on the order. Low against normal or high (none decides), absent against low (IgM or IgA, read as low),
        # normal against high (IgM beside low IgG and IgA, where high IgM makes a hyper-IgM pattern: read as normal).
        pairs = {"disagree": ((0.1, 1.0), (0.02, 8.0)), "disagree_form": ((0.02, 0.1),), "disagree_high": ((1.0, 8.0),)}
        forms = {"disagree_form": ("IgM", "IgA"), "disagree_high": ("IgM",)}.get(aim, ("IgM", "IgG", "IgA"))
        analyte = draw(st.sampled_from(forms))
        latest = [row for row in rows if row["loinc"] == analyte][-1]
        pair = draw(st.sampled_from(pairs[aim]))
        day = [dict(latest, value=f"{TYPICAL[analyte] * f:.3g}", unit="mg/dL", comparator="") for f in pair]
        for row in day:
            row.update(ref_low="", ref_high="")
        at = rows.index(latest)
        rows[at : at + 1] = day if draw(st.booleans()) else day[::-1]
    if aim == "refused":
        # Beside its usable results, one row for each way a row can be refused.
        rows += [_corrupt(rows[0], corruption, birth) for corruption in CORRUPTIONS]
    # Now and then a second sex or birth date in one row: the engine rejects the whole patient, as the core
    # cannot tell which is right.
    conflict = draw(st.integers(0, 9)) if aim == "any" else -1
    if conflict == 0:
        rows[-1]["sex"] = "male" if rows[0]["sex"].strip().lower() in ("female", "f") else "female"
    elif conflict == 1:
        rows[-1]["birth_date"] = (birth + timedelta(days=1)).isoformat()
    return rows


def _row(
    draw: st.DrawFn,
    pid: str,
    sex: str,
    birth: date,
    collected: date,
    analyte: str,
    level: dict[str, float],
    messy: bool,
) -> dict[str, str]:
    """One result row; a messy one (of a patient not aimed at a label) may be censored, carry a laboratory range
    that disagrees with the reference set, or be refused."""
    unit = draw(st.sampled_from(("mg/dL", "mg/dL", "mg/dl", "g/L", "g/l", "mg/L")))
    # Log-normal around a typical adult value, as immunoglobulins are: low, absent and high values all come up.
    code = ALIASES.get(analyte, analyte)
    noise = 0.4 if messy else 0.15
    mg_dl = TYPICAL[code] * math.exp(level[code] + draw(st.floats(-noise, noise)))
    scale = {"g/L": 0.01, "g/l": 0.01, "mg/L": 10.0}.get(unit, 1.0)
    value = f"{mg_dl * scale:.3g}"
    comparator = ""
    form = draw(st.integers(0, 9)) if messy else 9
    if form == 0:
        value = draw(st.sampled_from(("<", "< ", "≤", "<="))) + value
    elif form == 1:
        value = draw(st.sampled_from((">", "≥", " > "))) + value
    elif form == 2:
        comparator = draw(st.sampled_from(("<=", ">=", "<", "=", " < ")))
    ref_low = ref_high = ""
    if draw(st.integers(0, 5)) == 0 and messy:
        # The laboratory's own range in the row's unit: plausible, narrow, wide or open above.
        low, high = draw(st.sampled_from(((0.4, 2.3), (0.8, 1.2), (0.1, 5.0), (0.6, None), (1.5, 3.0))))
        ref_low = f"{TYPICAL[code] * low * scale:.3g}"
        ref_high = "" if high is None else f"{TYPICAL[code] * high * scale:.3g}"
    if messy and code in ("IgG", "IgM", "IgA") and draw(st.integers(0, 7)) == 0:
        # In g/L written as mg/dL: a possible unit slip, which the core does not judge for IgG (its patient's path)
        # and judges as reported for IgM and IgA (the verdict is then at most provisional).
        value, unit, comparator, ref_low, ref_high = f"{mg_dl / 100:.3g}", "mg/dL", "", "", ""
    day = collected.isoformat() if collected < date(2100, 1, 1) else "2199-12-31"
    if draw(st.integers(0, 14)) == 0:
        day += "T10:30:00Z"
    row = {
        "patient_id": pid,
        "sex": sex,
        "birth_date": birth.isoformat(),
        "collected_date": day,
        "loinc": analyte,
        "value": value,
        "unit": unit,
        "comparator": comparator,
        "ref_low": ref_low,
        "ref_high": ref_high,
    }
    if messy and draw(st.integers(0, 5)) == 0:
        return _corrupt(row, draw(st.sampled_from(CORRUPTIONS)), birth)
    return row


def _at_a_limit(draw: st.DrawFn, row: dict[str, str], profile: str, reference: str) -> None:
    """Set the row's value (in mg/dL) at, just inside or just outside one of the limits the core judges it by: the
    age-matched low limit under the profile and reference set, the upper limit, the implausible factor times it, or
    IgM's absent threshold."""
    analyte = resolve_analyte(row["loinc"], "loinc", KNOWLEDGE)
    code = row["sex"].strip().lower()
    patient = Patient(Sex(SEX_CODES.get(code, code)), date.fromisoformat(row["birth_date"]))
    collected = date.fromisoformat(row["collected_date"][:10])
    probe, _ = build_result(
        analyte=analyte, value="1", unit="mg/dL", collected=collected, knowledge=KNOWLEDGE, field="probe"
    )
    found = interpret(
        probe, patient, KNOWLEDGE.reference_sets[reference], KNOWLEDGE.profiles[profile], KNOWLEDGE.thresholds
    )
    limits = [found.low_limit.value_mg_dl] if found.low_limit is not None else []
    if found.interval is not None and found.interval.upper_mg_dl:
        upper = found.interval.upper_mg_dl
        limits += [upper, KNOWLEDGE.thresholds.implausible_factor.value * upper]
    limits += [KNOWLEDGE.thresholds.absent[analyte].value] if analyte in KNOWLEDGE.thresholds.absent else []
    if limits:
        factor = draw(st.sampled_from((1.0, 1.0, 0.999, 1.001, 0.99, 1.01, 0.95, 1.05, 0.9, 1.1)))
        row.update(value=repr(draw(st.sampled_from(limits)) * factor), unit="mg/dL", comparator="")


def _corrupt(row: dict[str, str], corruption: tuple[str, str], birth: date) -> dict[str, str]:
    """The row with one field set to something the core refuses."""
    column, text = corruption
    row = dict(row)
    if column == "range":
        row["ref_low"], row["ref_high"] = "200", "40"
    elif column == "collected_date" and text == "1900-01-01":
        row[column] = (birth - timedelta(days=30)).isoformat()
    elif column == "comparator" and text == ">":
        row["value"], row[column] = f"<{row['value']}", text
    else:
        row[column] = text
    return row


@st.composite
def cohorts(draw: st.DrawFn, fewest: int, most: int) -> Cohort:
    rows: list[dict[str, str]] = []
    records: list[tuple[str, ...]] = []
    # Half the cohorts are judged under ESID with a reference set that has IgG subclass intervals, the only way to
    # unclassified antibody deficiency (ESID's `igg_subclasses_normal` not met); every other label comes up there too.
    if draw(st.booleans()):
        profile, reference = "esid", draw(st.sampled_from(SUBCLASS_SETS))
    else:
        profile = draw(st.sampled_from(PROFILES))
        reference = draw(st.sampled_from(tuple(KNOWLEDGE.reference_sets)))
    aims = tuple(AIMS)
    first = draw(st.integers(0, len(aims) - 1))
    for index in range(draw(st.integers(fewest, most))):
        pid = f"P{index}"
        aim = aims[(first + index) % len(aims)] if index < len(aims) else draw(st.sampled_from(("any", *aims)))
        rows += draw(rows_of_patient(pid, aim, profile, reference))
        if aim in AIM_RECORDS:
            records.append((pid, *draw(st.sampled_from(AIM_RECORDS[aim]))))
        if aim == "any" and draw(st.integers(0, 2)) == 0:
            records += [(pid, *record) for record in draw(st.lists(st.sampled_from(RECORDS), min_size=1, max_size=2))]
    with_records = draw(st.integers(0, 4)) > 0
    return Cohort(rows, records if with_records else None, profile, reference, draw(st.booleans()))


SEX_CODES = {"f": "female", "m": "male", "o": "other", "u": "unknown", "": "unknown"}
RESULT_FIELDS = {
    "date": "collected_date",
    "reference_range.low": "ref_low",
    "reference_range.high": "ref_high",
    "reference_range": "ref_low",
    "reference_range.unit": "unit",
}
"""The column a refusal of `build_result` names (`row.value` is the row's value; its range is ref_low-ref_high)."""


def _column(field: str) -> str:
    """The input column a refusal names: `row.reference_range.low` (the core's) and `row 12.reference_range.low`
    (screening's, when its core pass refuses a row) both name ref_low."""
    name = re.sub(r"^row( \d+)?\.", "", field)
    return RESULT_FIELDS.get(name, name) if name != field else field


def _refusal(row: dict[str, str]) -> tuple[str, tuple[Sex, date, LabResult] | None]:
    """The field of the row's first refusal (identity fields, then the result as `build_result` checks it, then
    the dates against each other and the as-of date), or '' and the row's sex, birth date and result."""
    try:
        if not row["patient_id"].strip():
            raise InputError("patient_id", row["patient_id"], "is missing")
        analyte = resolve_analyte(row["loinc"], "loinc", KNOWLEDGE)
        code = row["sex"].strip().lower()
        try:
            sex = Sex(SEX_CODES.get(code, code))
        except ValueError:
            raise InputError("sex", row["sex"], "is not a sex") from None
        birth = parse_date(row["birth_date"], "birth_date")
        collected = parse_date(row["collected_date"], "collected_date")
        result, _ = build_result(
            analyte=analyte,
            value=row["value"],
            unit=row["unit"],
            collected=collected,
            knowledge=KNOWLEDGE,
            field="row",
            comparator=row["comparator"] or None,
            range_low=row["ref_low"] or None,
            range_high=row["ref_high"] or None,
        )
        if collected < birth:
            raise InputError("collected_date", row["collected_date"], "is before the birth date")
        if collected > AS_OF:
            raise InputError("collected_date", row["collected_date"], "is after the as-of date")
    except InputError as error:
        return _column(error.field), None
    return "", (sex, birth, result)


def _core(cohort: Cohort) -> tuple[dict[str, dict[str, Any]], dict[int, str]]:
    """The core's verdict per patient (label, certainty, criteria) and the rows it refuses (row number -> field)."""
    refused: dict[int, str] = {}
    by_patient: dict[str, list[tuple[int, Sex, date, LabResult]]] = defaultdict(list)
    for number, row in enumerate(cohort.rows, start=1):
        problem, built = _refusal(row)
        if built is None:
            refused[number] = problem
        else:
            by_patient[row["patient_id"]].append((number, *built))
    verdicts: dict[str, dict[str, Any]] = {}
    for pid, used in by_patient.items():
        numbers = [number for number, *_ in used]
        # A patient with two birth dates or two sexes, or with no IgM result, is refused whole.
        births, sexes = {birth for _, _, birth, _ in used}, {sex for _, sex, _, _ in used}
        results = tuple(result for *_, result in used)
        problem = "birth_date" if len(births) > 1 else "sex" if len(sexes) > 1 else ""
        if not problem and not any(r.analyte.value == "IgM" for r in results):
            problem = "patient_id"
        if not problem:
            listed = [r for r in cohort.records or () if r[0] == pid]
            conditions = tuple(CodedText(r[4], r[2], r[3]) for r in listed if r[1] == "condition")
            medications = tuple(CodedText(r[4], r[2], r[3]) for r in listed if r[1] == "medication")
            case = (
                Case(Patient(sexes.pop(), births.pop()), results)
                if cohort.records is None
                else Case(Patient(sexes.pop(), births.pop()), results, conditions, medications)
            )
            try:
                assessment = assess(
                    case, KNOWLEDGE, as_of=AS_OF, profile_id=cohort.profile, reference_set_id=cohort.reference
                )
            except AssessmentError:
                problem = "patient_id"
            else:
                verdicts[pid] = {
                    "label": assessment.diagnosis.label.value,
                    "certainty": assessment.diagnosis.certainty.value,
                    **{f"c_{c.id.value}": c.outcome.value for c in assessment.criteria},
                    **_research(case, assessment, cohort),
                }
        if problem:
            refused.update(dict.fromkeys(numbers, problem))
    return verdicts, refused


def _research(case: Case, assessment: Assessment, cohort: Cohort) -> dict[str, Any]:
    """The research columns as the core gives them: IgM course, ESID funnel step, latest IgM, its limit and z."""
    series = by_analyte(assessment.interpretations, Analyte.IGM)
    last, first = series[-1], first_low(series)
    esid = assess(case, KNOWLEDGE, as_of=AS_OF, profile_id="esid", reference_set_id=cohort.reference)
    return {
        "igm_course": assessment.igm_course.value,
        "funnel_step": step_reached(esid),
        "index_date": None if first is None else first.result.collected,
        "latest_igm_date": last.result.collected,
        "latest_igm_mg_dl": last.result.quantity.value,
        "latest_igm_limit_mg_dl": None if last.low_limit is None else last.low_limit.value_mg_dl,
        "latest_igm_z": stated_z_score(last, assessment.reference_set),
    }


def _same(got: dict[str, Any], want: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The columns where screening and the core differ (numbers within a relative 1e-12)."""
    return {
        k: (got[k], v)
        for k, v in want.items()
        if not (
            got[k] == v
            or (isinstance(v, float) and isinstance(got[k], float) and math.isclose(got[k], v, rel_tol=1e-12))
        )
    }


def _screened(out: Path) -> dict[str, dict[str, Any]]:
    return {r["patient_id"]: r for r in pq.read_table(out / "patients.parquet").to_pylist()}


@dataclass(frozen=True)
class EngineRun:
    name: str
    url: str | None


def _screen(cohort: Cohort, engine: EngineRun) -> tuple[dict[str, dict[str, Any]], dict[int, str], int, int, int]:
    """Screen the cohort on the engine: per patient its output row, rejected row -> field, rows in, used, rejected."""
    with TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "labs.csv"
        with source.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, HEADER)
            writer.writeheader()
            writer.writerows(cohort.rows)
        side = None
        if cohort.records is not None:
            side = folder / "records.csv"
            with side.open("w", encoding="utf-8", newline="") as handle:
                out = csv.writer(handle)
                out.writerow(("patient_id", "kind", "code", "system", "text"))
                out.writerows(cohort.records)
        result = screen(
            source,
            folder / "out",
            engine=engine.name,
            engine_url=engine.url,
            records=side,
            as_of=AS_OF,
            progress=False,
            profile=cohort.profile,
            reference=cohort.reference,
            sensitivity=cohort.sensitivity,
            knowledge=KNOWLEDGE,
            csv=True,
        )
        screened = _screened(folder / "out")
        with (folder / "out" / "rejects.csv").open(encoding="utf-8") as handle:
            rejects = {int(r["row_no"]): _column(r["reason"].split(":")[0]) for r in csv.DictReader(handle)}
    return screened, rejects, result.rows_in, result.rows_used, result.rows_rejected


def _compare(cohort: Cohort, engine: EngineRun, seen: Seen) -> None:
    """Screen the cohort and compare every patient and every rejected row with the core's."""
    expected, refused = _core(cohort)
    screened, rejects, rows_in, rows_used, rows_rejected = _screen(cohort, engine)
    assert rows_in == len(cohort.rows) == rows_used + rows_rejected
    differ = {n: (rejects.get(n), refused.get(n)) for n in rejects.keys() | refused.keys()}
    assert rejects == refused, {n: (*d, cohort.rows[n - 1]) for n, d in differ.items() if d[0] != d[1]}
    assert set(screened) == set(expected)
    for pid, want in expected.items():
        got = screened[pid]
        context = (engine.name, cohort.profile, cohort.reference, pid, got["path"])
        assert (got["label"], got["certainty"]) == (want["label"], want["certainty"]), (*context, got, want)
        assert not _same(got, want), (*context, _same(got, want))
        seen.outcomes.update((c, o) for c, o in want.items() if c.startswith("c_"))
        seen.labels[want["label"]] += 1
        seen.certain[(want["label"], want["certainty"])] += 1
        seen.paths[got["path"]] += 1
    seen.rejected.update(refused.values())


def _assert_covered(seen: Seen) -> None:
    """Every label screening can reach, sure and unsure verdicts (`CERTAINTIES`), every path of the engine,
    each outcome of the SIgMD entry criteria and every field a row can be rejected for came up."""
    labels = {label.value for label in Label} - UNREACHABLE_LABELS
    assert labels - set(seen.labels) == set(), seen.labels
    assert CERTAINTIES - set(seen.certain) == set(), seen.certain
    assert PATHS - set(seen.paths) == set(), seen.paths
    wanted = {(f"c_{c}", o) for c in ("igm_low", "igg_normal", "iga_normal") for o in ("met", "not_met", "unknown")}
    assert wanted - set(seen.outcomes) == set(), seen.outcomes
    assert REJECTED_FIELDS - set(seen.rejected) == set(), seen.rejected


RUNS = {"duckdb": (30, 8, 24), "spark": (5, 12, 40), "postgres": (6, 12, 40)}
"""Examples, and the fewest and most patients per cohort, per engine: a run on Spark or PostgreSQL costs seconds
whatever the cohort's size, so those engines see fewer, larger cohorts (each with every aimed patient). Their few
examples are derandomised (the same every run), so that whether every label path comes up does not depend on luck;
DuckDB's are drawn afresh each run, in cohorts large enough that the rarer sure verdicts come up in every run (with
six more aims in session 13, cohorts of 6 to 16 once missed a confirmed `other_abnormal`; 8 of 8 runs at 8 to 24 had
every one)."""


@pytest.fixture(scope="module", autouse=True)
def content_tables_once() -> Iterator[None]:
    """Build the content tables once per profile and reference set: they depend on nothing else (every run is given
    the same knowledge), and building them is most of a small run's time."""
    built: dict[tuple[str, str, bool], ContentTables] = {}

    def cached(knowledge: Knowledge, profile: RuleProfile, reference_set_id: str, every_set: bool) -> ContentTables:
        if knowledge is not KNOWLEDGE:
            return content_tables(knowledge, profile, reference_set_id, every_set)
        key = (profile.id, reference_set_id, every_set)
        if key not in built:
            built[key] = content_tables(knowledge, profile, reference_set_id, every_set)
        return built[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run, "content_tables", cached)
        yield


@pytest.fixture(
    params=[pytest.param("duckdb"), pytest.param("spark", marks=pytest.mark.slow), pytest.param("postgres")]
)
def engine(request: pytest.FixtureRequest) -> Iterator[EngineRun]:
    """Each engine in turn: DuckDB embedded, the tests' local Spark session, a new database on the tests'
    PostgreSQL cluster (each skipped, saying why, when Java or the PostgreSQL server is not installed)."""
    if request.param == "spark":
        request.getfixturevalue("spark")
        yield EngineRun("spark", None)
    elif request.param == "postgres":
        yield EngineRun("postgres", request.getfixturevalue("postgres").new_database())
    else:
        yield EngineRun("duckdb", None)


def test_screening_gives_the_core_verdict_and_criteria_for_every_patient(engine: EngineRun) -> None:
    """On generated cohorts (every label path, censored values, laboratory ranges, units, newborns to the old,
    records by code and by text, negated ones, replacement therapy and rows to reject), every patient gets the
    core's label, certainty and criteria, and every rejected row the core's reason, on every engine."""
    examples, fewest, most = RUNS[engine.name]
    seen = Seen()

    @settings(
        max_examples=examples,
        derandomize=engine.name != "duckdb",
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(cohorts(fewest, most))
    def check(cohort: Cohort) -> None:
        _compare(cohort, engine, seen)

    check()
    _assert_covered(seen)


def _boundary_cohort() -> list[dict[str, str]]:
    """Patients at the edges of the set-wise rules: persistence spans either side of 3 and 6 months (adult and
    child), low IgG and IgA with normal or high IgM at ages either side of the CVID age, IgA absent, censored IgM."""
    rows: list[dict[str, str]] = []

    def add(pid: str, birth: date, day: date, analyte: str, value: str) -> None:
        rows.append(
            dict(
                zip(
                    HEADER,
                    (pid, "female", birth.isoformat(), day.isoformat(), analyte, value, "mg/dL", "", "", ""),
                    strict=True,
                )
            )
        )

    adult, child = date(1970, 5, 31), date(2015, 8, 31)
    for birth, tag in ((adult, "A"), (child, "C")):
        for gap in (89, 90, 91, 92, 181, 182, 183, 184):
            pid, first = f"span-{tag}-{gap}", date(2024, 11, 30)
            for day in (first, first + timedelta(days=gap)):
                add(pid, birth, day, "IgM", "9")
                add(pid, birth, day, "IgG", "1000")
                add(pid, birth, day, "IgA", "200")
    for years in (3, 5, 40):
        for igm in ("60", "900", "<30", "<200"):
            pid, birth = f"gag-{years}-{igm}", date(2025 - years, 3, 1)
            for day in (date(2025, 1, 10), date(2025, 6, 10)):
                add(pid, birth, day, "IgM", igm)
                add(pid, birth, day, "IgG", "150")
                add(pid, birth, day, "IgA", "5")
        pid = f"iga-{years}"
        add(pid, date(2025 - years, 3, 1), date(2025, 6, 10), "IgM", "80")
        add(pid, date(2025 - years, 3, 1), date(2025, 6, 10), "IgG", "900")
        add(pid, date(2025 - years, 3, 1), date(2025, 6, 10), "IgA", "<7")
    return rows


def test_screening_gives_the_core_verdict_at_the_edges_of_the_rules(engine: EngineRun) -> None:
    """Fixed cases at each rule's boundary (a generated cohort may not land on them): same verdict and criteria,
    most of them judged set-wise, on every engine."""
    seen = Seen()
    cohort = Cohort(_boundary_cohort(), None, KNOWLEDGE.default_profile, KNOWLEDGE.default_reference_set, False)
    _compare(cohort, engine, seen)
    assert seen.rejected == Counter() and "setwise" in seen.paths, seen.paths
