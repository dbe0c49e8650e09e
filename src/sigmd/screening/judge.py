"""The set-wise pass: verdicts, ESID funnel steps, IgM points and reference-set labels for the patients of
`cohort` whose rows the SQL judges exactly (see `setwise`), with the decisions asked of the core once per
distinct combination of statuses. The others are left to the core's pass."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from sigmd.core.knowledge import Knowledge
from sigmd.core.patterns import Pattern
from sigmd.core.rules import CRITERIA, Outcome
from sigmd.screening.core_pass import PassResult
from sigmd.screening.engine import Engine
from sigmd.screening.extras import require
from sigmd.screening.funnel import reached
from sigmd.screening.portable import literal
from sigmd.screening.setwise import DECISION_KEY, Pass, criterion_outcomes, decisions, igm_points_sql, judge_sql
from sigmd.screening.verdicts import Verdict

RESEARCH_FIELDS = (
    "igm_course",
    "latest_igm_date",
    "latest_igm_mg_dl",
    "latest_igm_limit_mg_dl",
    "latest_igm_z",
    "index_date",
)
"""`Verdict` fields the set-wise SQL gives in columns of the same names."""

ESID = "esid"


def judge_setwise(
    db: Engine, knowledge: Knowledge, profile_id: str, set_id: str, horizon: int, sensitivity: bool
) -> PassResult:
    """Judge `cohort` set-wise under every pass the run needs and return what was settled here.

    Keeps table `setwise_patients` (patient_id, is_candidate): those whose verdict (and ESID funnel steps) the
    SQL settles; and `setwise_sets` (patient_id, set_id): the other reference sets under which such a patient's
    label is settled here too. Under the remaining sets the core's pass still labels them.
    """
    profile = knowledge.profiles[profile_id]
    main = Pass(profile, set_id)
    verdict_passes = [main]
    if profile_id != ESID and ESID in knowledge.profiles:
        verdict_passes.append(Pass(knowledge.profiles[ESID], set_id))
    set_passes = [Pass(profile, s) for s in knowledge.reference_sets if s != set_id] if sensitivity else []
    for judged in (*verdict_passes, *set_passes):
        db.materialise(f"judged_{judged.name}", judge_sql(judged, knowledge, horizon))
    joins = " ".join(f"JOIN judged_{p.name} USING (patient_id)" for p in verdict_passes[1:])
    exact = " AND ".join(f"NOT judged_{p.name}.needs_core" for p in verdict_passes)
    db.materialise(
        "setwise_patients",
        f"SELECT patient_id, is_candidate FROM cohort JOIN judged_{main.name} USING (patient_id) {joins} WHERE {exact}",
    )
    settled = [
        f"SELECT j.patient_id, {literal(p.set_id)} AS set_id FROM judged_{p.name} j"
        f" JOIN setwise_patients s ON s.patient_id = j.patient_id WHERE NOT j.needs_core"
        for p in set_passes
    ]
    db.materialise(
        "setwise_sets",
        " UNION ALL ".join(settled) if settled else "SELECT patient_id, set_id FROM flagged WHERE false",
    )
    out = PassResult()
    for row in _decided(db, knowledge, main):
        if row["is_candidate"]:
            out.verdicts.append(_verdict(row, main, knowledge))
    esid = next((p for p in verdict_passes if p.profile.id == ESID), None)
    if esid is not None:
        steps = {
            row["patient_id"]: _count_funnel(out, row, esid, knowledge)
            for row in _decided(db, knowledge, esid)
            if row["is_candidate"]
        }
        out.verdicts = [replace(v, funnel_step=steps.get(v.patient_id)) for v in out.verdicts]
    points = db.fetch(
        f"SELECT x.age_years, x.value_mg_dl, x.low_limit, x.low FROM ({igm_points_sql(main, knowledge, horizon)}) x"
        " JOIN setwise_patients s ON s.patient_id = x.patient_id WHERE s.is_candidate ORDER BY x.patient_id, x.row_no"
    ).to_pylist()
    out.scatter.extend((p["age_years"], p["value_mg_dl"], p["low_limit"], bool(p["low"])) for p in points)
    for other in set_passes:
        labels = _decided(
            db,
            knowledge,
            other,
            f"JOIN flagged f ON f.patient_id = j.patient_id AND f.set_id = {literal(other.set_id)} AND f.latest_may_be_low",
            "NOT j.needs_core",
        )
        out.sensitivity.setdefault(other.set_id, Counter()).update(row["label"] for row in labels)
    return out


def _decided(
    db: Engine, knowledge: Knowledge, judged: Pass, join: str = "", condition: str = "true"
) -> list[dict[str, Any]]:
    """Set-wise patients' judged rows under one pass (narrowed by `join` and `condition` on `j`), with
    the core's label and certainty for each, asked once per distinct combination of statuses."""
    pa = require("pyarrow", "screen")
    table = f"judged_{judged.name}"
    key = ", ".join(f"j.{c}" for c in DECISION_KEY)
    scope = f"FROM {table} j JOIN setwise_patients s ON s.patient_id = j.patient_id {join}"
    combinations = db.fetch(f"SELECT DISTINCT {key} {scope} WHERE {condition}").to_pylist()
    answers = decisions(judged.profile, knowledge, combinations)
    name = f"decided_{judged.name}"
    db.register(name, pa.Table.from_pylist(answers) if answers else _empty(table, db))
    on = " AND ".join(f"j.{c} IS NOT DISTINCT FROM d.{c}" for c in DECISION_KEY)
    rows: list[dict[str, Any]] = db.fetch(
        f"SELECT j.*, d.label, d.certainty, s.is_candidate {scope} JOIN {name} d ON {on} WHERE {condition}"
        " ORDER BY j.patient_id"
    ).to_pylist()
    return rows


def _empty(table: str, db: Engine) -> Any:
    columns = ", ".join(DECISION_KEY)
    return db.fetch(
        f"SELECT {columns}, CAST(NULL AS VARCHAR) AS label, CAST(NULL AS VARCHAR) AS certainty FROM {table} WHERE false"
    )


def _verdict(row: dict[str, Any], judged: Pass, knowledge: Knowledge) -> Verdict:
    outcomes = criterion_outcomes(judged.profile, knowledge, row)
    words = "; ".join(f"{CRITERIA[c].title}: {o}" for c, o in outcomes.items())
    reasons = f"pattern {Pattern(row['pattern']).value}; {words} (judged set-wise by the engine)"
    criteria = tuple((c.value, o) for c, o in outcomes.items())
    return Verdict(
        row["patient_id"],
        row["label"],
        row["certainty"],
        reasons,
        "setwise",
        criteria,
        **{name: row[name] for name in RESEARCH_FIELDS},
    )


def _count_funnel(out: PassResult, row: dict[str, Any], esid: Pass, knowledge: Knowledge) -> str | None:
    """`Funnel.add` for a patient judged set-wise under the ESID profile; returns the step the patient reached."""
    outcomes = {c: Outcome(o) for c, o in criterion_outcomes(esid.profile, knowledge, row).items()}
    step = reached(bool(row["low_igm_results"]), row["pattern"] == Pattern.ISOLATED_LOW_IGM.value, outcomes)
    out.funnel.count(row["low_igm_results"], step)
    return step
