"""The hand-over from the passes to the outputs: the core's pass over the residue, run where the engine runs it.

The residue is `core_patients`: the patients the set-wise SQL could not settle. On DuckDB and PostgreSQL their
rows come to this process and `core_pass.run_pass` assesses them (in worker processes when there are many). On
Spark nothing is assessed in the driver: `spark_pass` runs the same `assess_chunk` on the executors and only
the counts and the IgM points come back. Either way the engine then holds the tables the outputs read:
`core_verdicts` (every verdict, set-wise and core, in the columns of `verdict_schema`) and `late_ids` (rows the
core refused: row_no, late_reason).

Verdicts and records cross into tables by their dataclass fields, so a field added to `Verdict` or `CodedText`
becomes a column without a change here (or a TypeError naming it, when its type has no column type).
"""

from __future__ import annotations

import types
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Union, get_args, get_origin, get_type_hints

from sigmd.core.knowledge import CriterionId
from sigmd.core.model import CodedText
from sigmd.screening.core_pass import PassResult, Point, Task, chunks, local_processes, run_pass
from sigmd.screening.engine import Engine
from sigmd.screening.extras import require
from sigmd.screening.funnel import Funnel
from sigmd.screening.portable import literal
from sigmd.screening.verdicts import CANDIDATE_COLUMNS, PatientRecords, Rejected, Verdict

RAW_TEXT = ("value", "unit", "comparator", "ref_low", "ref_high")
"""Columns the core reads as the input wrote them (it parses them itself)."""
CANDIDATE_ROWS_SQL = (
    "SELECT "
    + ", ".join(f"raw.{c}" if c in RAW_TEXT else f"r.{c}" for c in CANDIDATE_COLUMNS)
    + ", c.is_candidate FROM rows r JOIN core_patients c ON c.patient_id = r.patient_id"
    " JOIN raw ON raw.row_no = r.row_no WHERE r.row_reason IS NULL"
)
"""The rows of every patient the core must see, with `is_candidate` (the patient needs the main verdict). The
parsed fields come from `rows`; the value, unit, comparator and range are the input's own text, read again by
row number, so that the core builds each result from what the input says."""
RECORD_KEYS = ("patient_id", "kind", "position")
"""The columns of the records table besides the fields of `CodedText`."""


@dataclass
class Assessed:
    """What the passes hand to the outputs besides the engine's tables `core_verdicts` and `late_ids`."""

    funnel: Funnel
    sensitivity: dict[str, Counter[str]]
    scatter: list[Point]
    """IgM points of the candidates: the core's pass's in patient order, then the set-wise pass's."""
    ran_on: str
    """Where the core's pass ran: `spark executors`, `local worker processes` or `the screening process`."""
    records: dict[str, Any] | None = None
    """What the records table held (summary.json `records`), set by the run; None without one."""


def _column_type(owner: str, name: str, hint: Any) -> Any:
    pa = require("pyarrow", "screen")
    scalars = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_(), date: pa.date32()}
    options = get_args(hint)
    if get_origin(hint) in (Union, types.UnionType) and len(options) == 2 and type(None) in options:
        hint = next(option for option in options if option is not type(None))
    if hint not in scalars:
        raise TypeError(f"{owner}.{name}: no table column type for {hint!r}")
    return scalars[hint]


def verdict_schema() -> Any:
    """One column per field of `Verdict`, except `criteria`, which is one column `c_<criterion>` per criterion."""
    pa = require("pyarrow", "screen")
    hints = get_type_hints(Verdict)
    columns: list[tuple[str, Any]] = []
    for item in fields(Verdict):
        if item.name == "criteria":
            columns.extend((f"c_{c.value}", pa.string()) for c in CriterionId)
        else:
            columns.append((item.name, _column_type("Verdict", item.name, hints[item.name])))
    return pa.schema(columns)


def verdict_row(found: Verdict) -> dict[str, Any]:
    row = {item.name: getattr(found, item.name) for item in fields(Verdict) if item.name != "criteria"}
    return row | {f"c_{criterion}": outcome for criterion, outcome in found.criteria}


def verdict_table(verdicts: Sequence[Verdict]) -> Any:
    pa = require("pyarrow", "screen")
    return pa.Table.from_pylist([verdict_row(v) for v in verdicts], schema=verdict_schema())


def rejected_schema() -> Any:
    pa = require("pyarrow", "screen")
    return pa.schema([("row_no", pa.int64()), ("late_reason", pa.string())])


def rejected_table(rejected: Sequence[Rejected]) -> Any:
    pa = require("pyarrow", "screen")
    rows = [{"row_no": r.row_no, "late_reason": r.reason} for r in rejected]
    return pa.Table.from_pylist(rows, schema=rejected_schema())


def records_schema() -> Any:
    """patient_id, kind (condition or medication), position (in the patient's list), then the fields of CodedText."""
    pa = require("pyarrow", "screen")
    hints = get_type_hints(CodedText)
    keys = [("patient_id", pa.string()), ("kind", pa.string()), ("position", pa.int64())]
    return pa.schema(keys + [(f.name, _column_type("CodedText", f.name, hints[f.name])) for f in fields(CodedText)])


def records_table(records: Mapping[str, PatientRecords]) -> Any:
    pa = require("pyarrow", "screen")
    rows = [
        {"patient_id": pid, "kind": kind, "position": position} | {f.name: getattr(item, f.name) for f in fields(item)}
        for pid, found in records.items()
        for kind, items in (("condition", found.conditions), ("medication", found.medications))
        for position, item in enumerate(items)
    ]
    return pa.Table.from_pylist(rows, schema=records_schema())


def patient_records(rows: Sequence[Mapping[str, Any]]) -> PatientRecords:
    """One patient's records from rows of `records_table`, in their order."""
    ordered = sorted(rows, key=lambda row: (row["kind"], row["position"]))
    items = {
        kind: tuple(
            CodedText(**{f.name: row[f.name] for f in fields(CodedText)}) for row in ordered if row["kind"] == kind
        )
        for kind in ("condition", "medication")
    }
    return PatientRecords(items["condition"], items["medication"])


def assess_residue(db: Engine, task: Task, records: Mapping[str, PatientRecords] | None) -> Assessed:
    """The core's pass over `core_patients` (with `core_sets`, the other reference sets to label them under).

    Leaves tables `core_pass_verdicts` (columns of `verdict_schema`) and `core_pass_rejected` (row_no, late_reason).
    """
    from sigmd.screening.spark_engine import SparkEngine

    if isinstance(db, SparkEngine):
        return db.run_core(task, None if records is None else records_table(records))
    latest_sets: dict[str, set[str]] = {}
    any_sets: dict[str, set[str]] = {}
    query = f"SELECT set_id, patient_id, latest_may_be_low FROM core_sets WHERE set_id <> {literal(task.set_id)}"
    for batch in db.fetch(query).to_batches():
        for row in batch.to_pylist():
            any_sets.setdefault(row["patient_id"], set()).add(row["set_id"])
            if row["latest_may_be_low"]:
                latest_sets.setdefault(row["patient_id"], set()).add(row["set_id"])
    candidate_rows = int(
        db.fetch("SELECT coalesce(sum(used_rows), 0) AS n FROM core_patients WHERE is_candidate").to_pylist()[0]["n"]
    )
    work = chunks(
        _candidate_rows(db),
        records,
        {pid: frozenset(s) for pid, s in latest_sets.items()},
        {pid: frozenset(s) for pid, s in any_sets.items()},
    )
    run = run_pass(task, work, candidate_rows)
    db.register("core_pass_verdicts", verdict_table(run.verdicts))
    db.register("core_pass_rejected", rejected_table(run.rejected))
    ran_on = "local worker processes" if local_processes(candidate_rows) > 1 else "the screening process"
    return Assessed(run.funnel, run.sensitivity, run.scatter, ran_on)


def _candidate_rows(db: Engine) -> Iterator[dict[str, Any]]:
    """`CANDIDATE_ROWS_SQL`'s rows, sorted by patient."""
    table = db.fetch(f"{CANDIDATE_ROWS_SQL} ORDER BY r.patient_id, r.row_no")
    for batch in table.to_batches(65536):
        yield from batch.to_pylist()


def hand_over(db: Engine, residue: Assessed, setwise: PassResult) -> Assessed:
    """Add what the set-wise pass settled to the core's pass: the engine's `core_verdicts` and `late_ids` hold both
    (the set-wise verdicts are the engine's view `setwise_verdicts`, never fetched)."""
    db.view("core_verdicts", "SELECT * FROM core_pass_verdicts UNION ALL SELECT * FROM setwise_verdicts")
    db.register("setwise_rejected", rejected_table(setwise.rejected))
    db.view("late_ids", "SELECT * FROM core_pass_rejected UNION ALL SELECT * FROM setwise_rejected")
    funnel = Funnel({key: count + setwise.funnel.counts[key] for key, count in residue.funnel.counts.items()})
    sensitivity = {s: Counter(c) for s, c in residue.sensitivity.items()}
    for set_id, counts in setwise.sensitivity.items():
        sensitivity.setdefault(set_id, Counter()).update(counts)
    return Assessed(funnel, sensitivity, [*residue.scatter, *setwise.scatter], residue.ran_on)
