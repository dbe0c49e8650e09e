"""The set-wise pass: verdicts, ESID funnel steps, IgM points and reference-set labels for the patients of
`cohort` whose rows the SQL judges exactly (see `setwise`), with the decisions asked of the core once per
distinct combination of statuses. The others are left to the core's pass."""

from __future__ import annotations

from collections import Counter

from sigmd.core.knowledge import CriterionId, Knowledge
from sigmd.core.patterns import Pattern
from sigmd.core.rules import CRITERIA, Outcome
from sigmd.screening.core_pass import PassResult
from sigmd.screening.engine import Engine
from sigmd.screening.extras import require
from sigmd.screening.funnel import FUNNEL_PROFILE, reached
from sigmd.screening.portable import literal
from sigmd.screening.setwise import DECISION_KEY, Pass, criterion_outcomes, decisions, igm_points_sql, judge_sql

ESID = FUNNEL_PROFILE


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
    # Every pass reads the cohort's used rows: a small part of `rows`, read once here.
    db.materialise(
        "cohort_rows",
        "SELECT r.* FROM rows r JOIN cohort k ON k.patient_id = r.patient_id WHERE r.row_reason IS NULL",
    )
    for judged in verdict_passes:
        db.materialise(f"judged_{judged.name}", judge_sql(judged, knowledge, horizon))
    # Under another set only a patient whose latest IgM may be low there can be labelled deficient: the others are
    # not judged again (the sensitivity table counts deficient labels only, and `flagged` names these patients).
    for judged in set_passes:
        among = f"(SELECT patient_id FROM flagged WHERE set_id = {literal(judged.set_id)} AND latest_may_be_low)"
        db.materialise(f"judged_{judged.name}", judge_sql(judged, knowledge, horizon, among))
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
    # The funnel is counted under the ESID profile: its own pass, or the main pass when the profile is ESID.
    esid = next((p for p in verdict_passes if p.profile.id == ESID), None)
    main_decided = _decide(db, knowledge, main)
    esid_decided = _decide(db, knowledge, esid) if esid is not None and esid is not main else main_decided
    db.view("setwise_verdicts", _verdicts_sql(main, main_decided, esid, esid_decided))
    if esid is not None:
        for row in db.fetch(
            f"SELECT d.funnel_step, count(*) AS n, sum(j.low_igm_results) AS low {_scope(esid, esid_decided)}"
            " WHERE s.is_candidate GROUP BY d.funnel_step"
        ).to_pylist():
            out.funnel.count(int(row["low"]), row["funnel_step"], int(row["n"]))
    points = db.fetch(
        f"SELECT x.age_years, x.value_mg_dl, x.low_limit, x.low FROM ({igm_points_sql(main, knowledge, horizon)}) x"
        " JOIN setwise_patients s ON s.patient_id = x.patient_id WHERE s.is_candidate ORDER BY x.patient_id, x.row_no"
    ).to_pylist()
    out.scatter.extend((p["age_years"], p["value_mg_dl"], p["low_limit"], bool(p["low"])) for p in points)
    for other in set_passes:
        flagged = (
            f"JOIN flagged f ON f.patient_id = j.patient_id AND f.set_id = {literal(other.set_id)}"
            " AND f.latest_may_be_low"
        )
        decided = _decide(db, knowledge, other, flagged, "NOT j.needs_core")
        labels = db.fetch(
            f"SELECT d.label, count(*) AS n {_scope(other, decided, flagged)} WHERE NOT j.needs_core GROUP BY d.label"
        ).to_pylist()
        out.sensitivity.setdefault(other.set_id, Counter()).update({r["label"]: int(r["n"]) for r in labels})
    return out


DECIDED_KEY = (*DECISION_KEY, "any_low_igm")
"""What the core's answers are keyed by: the statuses `decide` reads, and whether any IgM result was low (the
first step of the ESID funnel)."""


def _scope(judged: Pass, decided: str, join: str = "") -> str:
    """Set-wise patients' judged rows under one pass, each joined to the core's answer for its combination."""
    on = " AND ".join(f"{_key_sql(c)} IS NOT DISTINCT FROM d.{c}" for c in DECIDED_KEY)
    return (
        f"FROM judged_{judged.name} j JOIN setwise_patients s ON s.patient_id = j.patient_id {join}"
        f" JOIN {decided} d ON {on}"
    )


def _key_sql(name: str, alias: str = "j") -> str:
    """A column of `DECIDED_KEY` on a judged table's row `alias`."""
    return f"{alias}.low_igm_results > 0" if name == "any_low_igm" else f"{alias}.{name}"


def _decide(db: Engine, knowledge: Knowledge, judged: Pass, join: str = "", condition: str = "true") -> str:
    """Register, as table `decided_<pass>`, the core's answer for each distinct combination of statuses among the
    set-wise patients of one pass (narrowed by `join` and `condition` on `j`): label, certainty, the reasons
    text, every criterion's outcome (`out_<criterion>`, empty where the profile lacks it) and the ESID funnel
    step. The core is asked once per combination, never per patient."""
    pa = require("pyarrow", "screen")
    key = ", ".join(f"{_key_sql(c)} AS {c}" for c in DECIDED_KEY)
    scope = f"FROM judged_{judged.name} j JOIN setwise_patients s ON s.patient_id = j.patient_id {join}"
    combinations = db.fetch(f"SELECT DISTINCT {key} {scope} WHERE {condition}").to_pylist()
    rows = []
    for answer in decisions(judged.profile, knowledge, combinations):
        outcomes = criterion_outcomes(judged.profile, knowledge, answer)
        words = "; ".join(f"{CRITERIA[c].title}: {o}" for c, o in outcomes.items())
        isolated = answer["pattern"] == Pattern.ISOLATED_LOW_IGM.value
        step = reached(bool(answer["any_low_igm"]), isolated, {c: Outcome(o) for c, o in outcomes.items()})
        rows.append(
            answer
            | {"reasons": f"pattern {Pattern(answer['pattern']).value}; {words} (judged set-wise by the engine)"}
            | {"funnel_step": step}
            | {f"out_{c.value}": outcomes.get(c) for c in CriterionId}
        )
    name = f"decided_{judged.name}"
    text = pa.string()
    flags = ("abnormal_persistent", "latest_unit_doubt", "others_raised", "others_outdated", "any_low_igm")
    types = {c: pa.bool_() if c in flags else text for c in DECIDED_KEY}
    schema = pa.schema(
        [(c, types[c]) for c in DECIDED_KEY]
        + [(c, text) for c in ("label", "certainty", "reasons", "funnel_step")]
        + [(f"out_{c.value}", text) for c in CriterionId]
    )
    db.register(name, pa.Table.from_pylist([{f: r[f] for f in schema.names} for r in rows], schema=schema))
    return name


def _verdicts_sql(main: Pass, decided: str, esid: Pass | None, esid_decided: str) -> str:
    """The set-wise candidates' verdicts in the columns of `handover.verdict_schema`, in the engine."""
    from sigmd.screening.handover import verdict_schema

    esid_join = ""
    step = "CAST(NULL AS VARCHAR)"
    if esid is not None and esid_decided != decided:
        on = " AND ".join(f"{_key_sql(c, 'je')} IS NOT DISTINCT FROM de.{c}" for c in DECIDED_KEY)
        esid_join = f" JOIN judged_{esid.name} je ON je.patient_id = j.patient_id JOIN {esid_decided} de ON {on}"
        step = "de.funnel_step"
    elif esid is not None:
        step = "d.funnel_step"
    casts = {"string": "VARCHAR", "double": "DOUBLE", "date32[day]": "DATE"}
    columns = []
    for item in verdict_schema():
        name, kind = item.name, casts[str(item.type)]
        if name == "path":
            value = "'setwise'"
        elif name == "funnel_step":
            value = step
        elif name.startswith("c_"):
            value = f"d.out_{name.removeprefix('c_')}"
        elif name in ("label", "certainty", "reasons"):
            value = f"d.{name}"
        else:
            value = f"j.{name}"
        columns.append(f"CAST({value} AS {kind}) AS {name}")
    return f"SELECT {', '.join(columns)} {_scope(main, decided)}{esid_join} WHERE s.is_candidate"
