"""The core's pass over the candidates: `assess()` per patient, in chunks, on every core of the machine.

The engine hands over the rows of every patient it could not settle set-wise, sorted by patient. They
are cut into chunks at patient boundaries; each chunk is assessed by the core (in worker processes when
there are enough candidates to pay for starting them) and the chunk results are merged in input order,
so the outcome does not depend on the number of workers.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from typing import Any

from sigmd.core.assessment import findings, labels_under_sets
from sigmd.core.knowledge import Knowledge
from sigmd.screening.funnel import FUNNEL_PROFILE, Funnel, step_reached
from sigmd.screening.verdicts import PatientRecords, Rejected, Verdict, cases, facts_of, verdict

CHUNK_ROWS = 20_000
"""Rows per chunk handed to one worker."""
PARALLEL_FROM_ROWS = 60_000
"""Below this many candidate rows the pass runs in this process: starting workers would cost more."""

Point = tuple[float, float, float | None, bool]


@dataclass(frozen=True)
class Task:
    """What one chunk needs besides its rows; the same for every chunk of a run."""

    as_of: date
    profile_id: str
    set_id: str
    knowledge: Knowledge
    """The clinical content the run judges with, sent to each worker process with its chunks."""


@dataclass(frozen=True)
class Chunk:
    rows: list[dict[str, Any]]
    """The rows of whole patients, sorted by patient."""
    candidates: frozenset[str]
    """Patients who need the main verdict (the others are here for the sensitivity table only)."""
    records: dict[str, PatientRecords] | None
    other_sets: dict[str, frozenset[str]]
    """Reference sets (besides the main one) under which the patient's latest IgM may be low."""
    fallback_sets: dict[str, frozenset[str]]
    """Reference sets under which any IgM of the patient may be low: used instead of `other_sets` when
    the core refused one of the patient's rows, so that the latest IgM the SQL saw may not be the core's."""


@dataclass
class PassResult:
    verdicts: list[Verdict] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    funnel: Funnel = field(default_factory=Funnel)
    sensitivity: dict[str, Counter[str]] = field(default_factory=dict)
    scatter: list[Point] = field(default_factory=list)

    def merge(self, other: PassResult) -> None:
        self.verdicts.extend(other.verdicts)
        self.rejected.extend(other.rejected)
        for key, count in other.funnel.counts.items():
            self.funnel.counts[key] += count
        for set_id, counts in other.sensitivity.items():
            self.sensitivity.setdefault(set_id, Counter()).update(counts)
        self.scatter.extend(other.scatter)


def assess_chunk(task: Task, chunk: Chunk) -> PassResult:
    """The core's verdict for every candidate of the chunk, its ESID funnel steps and its sensitivity counts."""
    knowledge = task.knowledge
    out = PassResult()
    refused = 0
    for pid, case, row_nos in cases(chunk.rows, knowledge, chunk.records, out.rejected):
        row_refused, refused = len(out.rejected) > refused, len(out.rejected)
        facts = facts_of(case, knowledge, task.as_of)
        if isinstance(facts, str):
            if pid in chunk.candidates:
                out.rejected.extend(Rejected(n, f"patient_id: {pid!r}: {facts}") for n in row_nos)
                refused = len(out.rejected)
            continue
        main = None
        if pid in chunk.candidates:
            main = findings(facts, knowledge, profile_id=task.profile_id, reference_set_id=task.set_id)
            esid = (
                main
                if task.profile_id == FUNNEL_PROFILE
                else findings(facts, knowledge, profile_id=FUNNEL_PROFILE, reference_set_id=task.set_id, beside=main)
            )
            out.verdicts.append(verdict(pid, main, knowledge, step_reached(esid)))
            out.funnel.add(esid)
            out.scatter.extend(out.funnel.igm_points(main))
        others = chunk.fallback_sets if row_refused else chunk.other_sets
        labels = labels_under_sets(
            facts, knowledge, profile_id=task.profile_id, reference_set_ids=sorted(others.get(pid, ())), known=main
        )
        for other, label in labels.items():
            out.sensitivity.setdefault(other, Counter())[label.value] += 1
    return out


def chunks(
    rows: Iterable[dict[str, Any]],
    records: Mapping[str, PatientRecords] | None,
    other_sets: Mapping[str, frozenset[str]],
    fallback_sets: Mapping[str, frozenset[str]],
) -> Iterator[Chunk]:
    """Cut rows sorted by patient into chunks of about CHUNK_ROWS rows, never splitting a patient."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        if len(batch) >= CHUNK_ROWS and str(row["patient_id"]) != str(batch[-1]["patient_id"]):
            yield _chunk(batch, records, other_sets, fallback_sets)
            batch = []
        batch.append(row)
    if batch:
        yield _chunk(batch, records, other_sets, fallback_sets)


def _chunk(
    rows: list[dict[str, Any]],
    records: Mapping[str, PatientRecords] | None,
    other_sets: Mapping[str, frozenset[str]],
    fallback_sets: Mapping[str, frozenset[str]],
) -> Chunk:
    ids = {str(row["patient_id"]) for row in rows}
    return Chunk(
        rows,
        frozenset(str(row["patient_id"]) for row in rows if row["is_candidate"]),
        None if records is None else {pid: records[pid] for pid in ids if pid in records},
        {pid: other_sets[pid] for pid in ids if pid in other_sets},
        {pid: fallback_sets[pid] for pid in ids if pid in fallback_sets},
    )


def local_processes(candidate_rows: int, workers: int | None = None) -> int:
    """How many worker processes `run_pass` starts (1: it runs in this process)."""
    processes = workers if workers is not None else (os.cpu_count() or 1)
    return 1 if candidate_rows < PARALLEL_FROM_ROWS else max(processes, 1)


def run_pass(task: Task, work: Iterable[Chunk], candidate_rows: int, workers: int | None = None) -> PassResult:
    """Assess every chunk, in worker processes when there are at least PARALLEL_FROM_ROWS candidate rows."""
    total = PassResult()
    processes = local_processes(candidate_rows, workers)
    if processes == 1:
        for chunk in work:
            total.merge(assess_chunk(task, chunk))
        return total
    # spawn, not fork: the parent holds an embedded database engine with its own threads.
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("spawn")) as pool:
        pending: deque[Future[PassResult]] = deque()
        for chunk in work:
            pending.append(pool.submit(assess_chunk, task, chunk))
            if len(pending) >= 2 * processes:
                total.merge(pending.popleft().result())
        while pending:
            total.merge(pending.popleft().result())
    return total
