"""The core's pass on Spark's executors: nothing is assessed per patient in the driver.

Each patient of `core_patients` becomes one row (their lab rows, conditions and medications, and the other
reference sets to label them under, gathered by Spark joins on patient_id); the rows are spread evenly over
the partitions and `mapInArrow` runs `assess_chunk` on every patient of a partition in a Python worker
of an executor. The task (dates, profile, set and the `Knowledge` content) travels pickled with the function.
Each partition writes one table of tagged records: verdicts, refused rows, IgM points, its funnel and label
counts, and one record naming the task. The table is checkpointed once; the verdicts and refused rows stay
Spark tables, the counts are summed by Spark, and only the sums and the IgM points (for the report) reach
the driver.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from sigmd.screening.core_pass import CHUNK_ROWS, Chunk, Task, assess_chunk
from sigmd.screening.extras import require
from sigmd.screening.funnel import Funnel
from sigmd.screening.handover import (
    CANDIDATE_ROWS_SQL,
    Assessed,
    patient_records,
    rejected_schema,
    verdict_row,
    verdict_schema,
)
from sigmd.screening.portable import literal
from sigmd.screening.verdicts import CANDIDATE_COLUMNS

if TYPE_CHECKING:
    from sigmd.screening.spark_engine import SparkEngine

RAN_ON = "spark executors"


def output_schema() -> Any:
    """The tagged records one partition writes: `kind` names the one struct column that is set."""
    pa = require("pyarrow", "screen")
    counted = [("name", pa.string()), ("label", pa.string()), ("n", pa.int64())]
    point = [
        ("patient_id", pa.string()),
        ("seq", pa.int64()),
        ("age_years", pa.float64()),
        ("value_mg_dl", pa.float64()),
        ("low_limit", pa.float64()),
        ("low", pa.bool_()),
    ]
    task = [
        ("partition_id", pa.int64()),
        ("process_id", pa.int64()),
        ("parent_process_id", pa.int64()),
        ("patients", pa.int64()),
    ]
    return pa.schema(
        [
            ("kind", pa.string()),
            ("verdict", pa.struct(list(verdict_schema()))),
            ("rejected", pa.struct(list(rejected_schema()))),
            ("counted", pa.struct(counted)),
            ("point", pa.struct(point)),
            ("task", pa.struct(task)),
        ]
    )


def assess_on_executors(engine: SparkEngine, task: Task, records: Any | None) -> Assessed:
    """Run the core's pass over `core_patients` on the executors; `records` is `handover.records_table` or None
    when the input says nothing about conditions and medications.

    Keeps views `core_pass_verdicts`, `core_pass_rejected` and `core_pass_tasks`: where each part of the pass ran
    (partition_id, process_id of the Python worker, parent_process_id: PySpark's daemon in the executor, which
    started the worker) and how many patients it assessed."""
    functions = require("pyspark.sql.functions", "spark")
    types = require("pyspark.sql.pandas.types", "spark")
    storage = require("pyspark", "spark").StorageLevel.MEMORY_AND_DISK
    spark = engine.spark
    rows = spark.sql(engine.sql(CANDIDATE_ROWS_SQL))
    fields = [functions.col(c) for c in CANDIDATE_COLUMNS if c != "patient_id"]
    patients = rows.groupBy("patient_id").agg(
        functions.collect_list(functions.struct(*fields)).alias("rows"),
        functions.max("is_candidate").alias("is_candidate"),
    )
    sets = spark.sql(
        engine.sql(
            f"SELECT patient_id, set_id, latest_may_be_low FROM core_sets WHERE set_id <> {literal(task.set_id)}"
        )
    )
    latest = functions.when(functions.col("latest_may_be_low"), functions.col("set_id"))
    patients = patients.join(
        sets.groupBy("patient_id").agg(
            functions.collect_set(latest).alias("latest_sets"), functions.collect_set("set_id").alias("any_sets")
        ),
        "patient_id",
        "left",
    )
    if records is not None:
        frame = spark.createDataFrame(records)
        entries = functions.struct(*[functions.col(c) for c in frame.columns if c != "patient_id"])
        patients = patients.join(
            frame.groupBy("patient_id").agg(functions.collect_list(entries).alias("records")), "patient_id", "left"
        )
    count = spark.sql(engine.sql("SELECT coalesce(sum(used_rows), 0) AS n FROM core_patients")).first()
    parts = max(spark.sparkContext.defaultParallelism, math.ceil(int(count["n"]) / CHUNK_ROWS))
    schema = output_schema()
    # Round robin: the patients are spread evenly over the partitions however few they are.
    assessed = patients.repartition(parts).mapInArrow(
        partial(assess_partition, task, records is not None), types.from_arrow_schema(schema)
    )
    out = assessed.localCheckpoint(eager=True, storageLevel=storage)
    kind = functions.col("kind")
    engine.register_frame("core_pass_verdicts", out.where(kind == "verdict").select("verdict.*"))
    engine.register_frame("core_pass_rejected", out.where(kind == "rejected").select("rejected.*"))
    engine.register_frame("core_pass_tasks", out.where(kind == "task").select("task.*"))
    sums = (
        out.where(kind.isin("funnel", "sensitivity"))
        .groupBy("kind", "counted.name", "counted.label")
        .agg(functions.sum("counted.n").alias("n"))
        .toArrow()
        .to_pylist()
    )
    funnel = Funnel()
    sensitivity: dict[str, Counter[str]] = {}
    for row in sums:
        if row["kind"] == "funnel":
            funnel.counts[row["name"]] += int(row["n"])
        else:
            sensitivity.setdefault(row["name"], Counter())[row["label"]] += int(row["n"])
    points = (
        out.where(kind == "point")
        .select("point.*")
        .orderBy("patient_id", "seq")
        .select("age_years", "value_mg_dl", "low_limit", "low")
        .toArrow()
    )
    scatter = list(zip(*(points.column(c).to_pylist() for c in points.column_names), strict=True))
    return Assessed(funnel, sensitivity, scatter, RAN_ON)


def assess_partition(task: Task, with_records: bool, batches: Iterable[Any]) -> Iterator[Any]:
    """Runs on an executor: `assess_chunk` for each patient row of the partition's Arrow batches."""
    pa = require("pyarrow", "screen")
    context = require("pyspark", "spark").TaskContext.get()
    schema = output_schema()
    assessed = 0
    for batch in batches:
        out: list[dict[str, Any]] = []
        funnel: Counter[str] = Counter()
        labels: Counter[tuple[str, str]] = Counter()
        for patient in batch.to_pylist():
            result = assess_chunk(task, _chunk(patient, with_records))
            pid = patient["patient_id"]
            out.extend({"kind": "verdict", "verdict": verdict_row(v)} for v in result.verdicts)
            out.extend(
                {"kind": "rejected", "rejected": {"row_no": r.row_no, "late_reason": r.reason}} for r in result.rejected
            )
            out.extend(
                {
                    "kind": "point",
                    "point": {
                        "patient_id": pid,
                        "seq": seq,
                        "age_years": age,
                        "value_mg_dl": igm,
                        "low_limit": limit,
                        "low": low,
                    },
                }
                for seq, (age, igm, limit, low) in enumerate(result.scatter)
            )
            funnel.update(result.funnel.counts)
            for set_id, counts in result.sensitivity.items():
                labels.update({(set_id, label): n for label, n in counts.items()})
            assessed += 1
        out.extend({"kind": "funnel", "counted": {"name": step, "n": n}} for step, n in funnel.items())
        out.extend(
            {"kind": "sensitivity", "counted": {"name": s, "label": label, "n": n}} for (s, label), n in labels.items()
        )
        yield pa.RecordBatch.from_pylist(out, schema=schema)
    where = {
        "partition_id": context.partitionId() if context else None,
        "process_id": os.getpid(),
        "parent_process_id": os.getppid(),
        "patients": assessed,
    }
    yield pa.RecordBatch.from_pylist([{"kind": "task", "task": where}], schema=schema)


def _chunk(patient: dict[str, Any], with_records: bool) -> Chunk:
    """One patient's row as the chunk `assess_chunk` reads: their rows in input order, as the local pass sends them."""
    pid = patient["patient_id"]
    rows = [
        row | {"patient_id": pid, "is_candidate": patient["is_candidate"]}
        for row in sorted(patient["rows"], key=lambda row: row["row_no"])
    ]
    found = patient.get("records") or []
    records = ({pid: patient_records(found)} if found else {}) if with_records else None
    return Chunk(
        rows,
        frozenset([pid]) if patient["is_candidate"] else frozenset(),
        records,
        {pid: frozenset(patient["latest_sets"] or ())},
        {pid: frozenset(patient["any_sets"] or ())},
    )
