"""The optional engine: Apache Spark (PySpark), in local mode unless given a session.

The shared SQL (DuckDB's dialect) reaches Spark through `sigmd.screening.engine.transpile` (sqlglot).
Row numbers are the rows' positions in the file, as the DuckDB engine numbers them, so that rejects
name the same rows on either engine: the Parquet file's own row index (`_metadata.row_index`). Engines
read Parquet only; CSV is converted first by `sigmd.screening.delimited`, the same way for both.
Needs PySpark 4 (`createDataFrame` from Arrow, `toArrow`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigmd.screening.engine import transpile
from sigmd.screening.extras import require

if TYPE_CHECKING:
    from sigmd.screening.core_pass import Task
    from sigmd.screening.handover import Assessed

ANSI_OFF = ("spark.sql.ansi.enabled", "false")
"""Set on every session the engine uses, so that a failed cast gives NULL as in DuckDB (the shared SQL
also spells its casts `try_cast`)."""

ESCAPED_LITERALS_OFF = ("spark.sql.parser.escapedStringLiterals", "false")
"""String literals read backslash escapes, as the SQL that sqlglot writes for Spark expects."""

NO_CONSTRAINT_PROPAGATION = ("spark.sql.constraintPropagation.enabled", "false")
"""Inferring constraints through the shared SQL's many derived columns makes the optimiser's plans grow
until the driver runs out of memory; the SQL states its filters itself, so nothing is lost."""


SMALL_DATA = {
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
}
"""For small inputs (tests, demos) on few cores: compiling generated code and re-planning cost more
than they save, so they are switched off. Java options only apply to a session that starts the JVM."""


def default_driver_memory() -> str:
    """A quarter of this machine's memory, from 1 to 8 GB: the driver JVM's heap, which on a local master also
    holds the executors' work. Spark's own default (1 GB) ran out of heap on 1 M patients (5.5 M rows, local[2],
    2026-11-27) in a sort of the outputs stage; 3 GB finished. sigmd's default, not a tuned figure."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return "1g"
    return f"{max(1, min(8, total // 4 // 1024**3))}g"


def local_session(
    cores: int = 2,
    memory: str | None = None,
    shuffle_partitions: int = 4,
    small_data: bool = False,
    master: str | None = None,
) -> Any:
    """A SparkSession: no UI, a temporary warehouse, ANSI casts off, log level WARN; `memory` is the driver's heap
    (default `default_driver_memory()`).

    `master` defaults to `local[cores]` (one JVM); `local-cluster[2,1,1024]` runs two executor JVMs of one
    core and 1024 MB each beside the driver, as a cluster would (it works from a pip-installed PySpark).
    On a cluster of several machines, `export` needs the output folder on a file system all of them share.
    """
    sql = require("pyspark.sql", "spark")
    warehouse = tempfile.mkdtemp(prefix="sigmd-spark-")
    atexit.register(shutil.rmtree, warehouse, True)
    builder = (
        sql.SparkSession.builder.master(master or f"local[{int(cores)}]")
        .appName("sigmd-screening")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", memory or default_driver_memory())
        .config("spark.sql.shuffle.partitions", str(int(shuffle_partitions)))
        .config("spark.sql.warehouse.dir", warehouse)
        .config(*ANSI_OFF)
    )
    for key, value in (SMALL_DATA if small_data else {}).items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # PySpark raises its own runtime errors (a bad master URL, no Java 17)
        shown = master or f"local[{int(cores)}]"
        raise ValueError(
            f"engine-url: Spark could not start on master {shown!r} ({type(error).__name__}); check the master URL "
            "and that Java 17 is installed (scripts/system-packages.sh installs it)"
        ) from None
    session.sparkContext.setLogLevel("WARN")
    if session.sparkContext.master.startswith("local"):
        # The executors of a local master run on this machine: their Python workers (the core's pass) use this
        # interpreter, with sigmd and pyarrow, rather than the first `python3` on PATH (PySpark's default).
        session.sparkContext.pythonExec = sys.executable
    return session


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class SparkEngine:
    """Spark SQL over temporary views; materialised tables are local checkpoints.

    With no `session`, the engine uses the active SparkSession if there is one (and leaves it running),
    or starts one on `master` (default local[2], see `local_session`) that `close()` stops.
    """

    dialect = "spark"

    def __init__(self, session: Any = None, master: str | None = None) -> None:
        sql = require("pyspark.sql", "spark")
        active = session or sql.SparkSession.getActiveSession()
        if active is not None and master is not None and active.sparkContext.master != master:
            raise ValueError(
                f"engine-url: Spark is already running on {active.sparkContext.master}, not {master}; "
                "one process runs one SparkContext"
            )
        self._own = active is None
        self.spark: Any = active if active is not None else local_session(master=master)
        for key, value in (ANSI_OFF, ESCAPED_LITERALS_OFF, NO_CONSTRAINT_PROPAGATION):
            self.spark.conf.set(key, value)
        self._views: list[str] = []

    def load(self, name: str, path: Path, file_format: str, columns: dict[str, str]) -> None:
        functions = require("pyspark.sql.functions", "spark")
        if file_format != "parquet":
            raise ValueError(f"engine: reads Parquet only, not {file_format!r} (CSV is converted by `delimited` first)")
        frame = self.spark.read.parquet(str(path))
        selected = [
            functions.col(_quote(src)).cast("string").alias(canonical)
            if src in frame.columns
            else functions.lit(None).cast("string").alias(canonical)
            for canonical, src in columns.items()
        ]
        # Not cached: the file's own row index is stable, and re-reading Parquet costs less than holding the
        # whole input in the cache (which, in a small driver, pushes the cached `rows` out).
        row_no = (functions.col("_metadata.row_index") + 1).cast("bigint").alias("row_no")
        self._view(name, frame.select(row_no, *selected))

    def sql(self, query: str) -> str:
        return transpile(query, self.dialect)

    def register(self, name: str, table: Any) -> None:
        self._view(name, self.spark.createDataFrame(table))

    def view(self, name: str, sql: str) -> None:
        self._view(name, self.spark.sql(self.sql(sql)))

    def register_frame(self, name: str, frame: Any) -> None:
        """Expose a Spark DataFrame as a view."""
        self._view(name, frame)

    def run_core(self, task: Task, records: Any | None) -> Assessed:
        """The core's pass over `core_patients`, on the executors (`sigmd.screening.spark_pass`)."""
        from sigmd.screening.spark_pass import assess_on_executors

        return assess_on_executors(self, task, records)

    def materialise(self, name: str, sql: str) -> None:
        """Compute the table now and cut its lineage, so that later queries read it rather than re-plan (and,
        when the cache matcher misses, recompute) the whole chain of SQL behind it."""
        storage = require("pyspark", "spark").StorageLevel.MEMORY_AND_DISK
        self._view(name, self.spark.sql(self.sql(sql)).localCheckpoint(eager=True, storageLevel=storage))

    def _view(self, name: str, frame: Any) -> None:
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def fetch(self, sql: str) -> Any:
        pa = require("pyarrow", "screen")
        table: Any = self.spark.sql(self.sql(sql)).toArrow()
        schema = pa.schema(
            [
                field.with_type(pa.string() if pa.types.is_large_string(field.type) else field.type).with_nullable(True)
                for field in table.schema
            ]
        )
        return table.cast(schema)

    def export(self, sql: str, path: Path, file_format: str) -> None:
        """One Parquet or CSV file: Spark writes a single part (in query order) that is renamed to `path`."""
        frame = self.spark.sql(self.sql(sql)).coalesce(1)
        with tempfile.TemporaryDirectory(prefix=".sigmd-export-", dir=path.parent) as tmp:
            target = Path(tmp) / "out"
            writer = frame.write.mode("overwrite")
            if file_format == "parquet":
                writer.parquet(str(target))
            else:
                # Spark's CSV writer trims leading and trailing characters up to U+0020 unless told not to.
                writer.options(
                    header="true",
                    escape='"',
                    nullValue="",
                    emptyValue='""',
                    ignoreLeadingWhiteSpace="false",
                    ignoreTrailingWhiteSpace="false",
                ).csv(str(target))
            parts = sorted(p for p in target.iterdir() if p.name.startswith("part-"))
            if len(parts) != 1:
                raise AssertionError(f"Spark wrote {len(parts)} part files for {path.name}, expected 1")
            shutil.move(str(parts[0]), str(path))

    def close(self) -> None:
        for name in dict.fromkeys(self._views):
            self.spark.catalog.dropTempView(name)
        self._views = []
        if self._own:
            self.spark.stop()
