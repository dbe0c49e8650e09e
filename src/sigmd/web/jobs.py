"""Screening jobs: an uploaded lab extract screened in a background thread, one folder per job.

`<data dir>/screenings/<job id>/` holds the input (`input.csv` or `input.parquet`), `status.json` and the
results folder `out/` written by `sigmd.screening.run.screen`. One job runs at a time (the machine's
cores go to DuckDB); the others wait in line.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

log = logging.getLogger("sigmd.web.jobs")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
OUTPUTS = {
    "report.html": "text/html",
    "summary.json": "application/json",
    "patients.csv": "text/csv",
    "rejects.csv": "text/csv",
}
_JOB_ID = re.compile(r"^[0-9a-f]{16}$")


class UploadError(ValueError):
    """An upload that cannot be screened; the message names the field and the value."""


@dataclass(frozen=True)
class Job:
    id: str
    state: str
    """`queued`, `running`, `done` or `failed`."""
    filename: str
    started_by: str
    created_at: str
    as_of: str
    profile: str | None
    reference: str | None
    finished_at: str = ""
    error: str = ""
    rows: dict[str, int] | None = None
    patients: int | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Jobs:
    """The screening jobs under one folder, and the worker that runs them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._active: set[str] = set()
        self._pool: ThreadPoolExecutor | None = None

    def _worker(self) -> ThreadPoolExecutor:
        """The one worker thread, started on first use (and again after a shutdown)."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sigmd-screening")
            return self._pool

    def start(
        self,
        upload: BinaryIO,
        filename: str,
        *,
        actor: str,
        as_of: date,
        profile: str | None,
        reference: str | None,
        max_bytes: int,
    ) -> Job:
        """Save the upload into a new job folder and queue it; bad uploads raise UploadError."""
        suffix = Path(filename).suffix.lower()
        if suffix not in SUFFIXES:
            raise UploadError(f"file: {filename!r} is not a .csv or .parquet lab extract")
        job_id = secrets.token_hex(8)
        folder = self.root / job_id
        folder.mkdir(parents=True)
        source = folder / f"input{'.parquet' if SUFFIXES[suffix] == 'parquet' else '.csv'}"
        with source.open("wb") as handle:
            copied = _copy(upload, handle, max_bytes)
        if copied == 0 or copied > max_bytes:
            shutil.rmtree(folder)
            problem = "is empty" if copied == 0 else f"is larger than {max_bytes // (1024 * 1024)} MB"
            raise UploadError(f"file: {filename!r} {problem}")
        job = Job(job_id, "queued", Path(filename).name, actor, _now(), as_of.isoformat(), profile, reference)
        self._write(job)
        with self._lock:
            self._active.add(job_id)
        future: Future[None] = self._worker().submit(self._run, job, source)
        future.add_done_callback(lambda _: self._forget(job_id))
        return job

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._active.discard(job_id)

    def _run(self, job: Job, source: Path) -> None:
        from sigmd.screening.run import screen

        self._write(replace(job, state="running"))
        try:
            result = screen(
                source,
                self.root / job.id / "out",
                progress=False,
                as_of=date.fromisoformat(job.as_of),
                profile=job.profile,
                reference=job.reference,
                csv=True,
            )
        except Exception as error:  # every failure is shown on the job's page, never lost
            log.exception("screening job %s failed", job.id)
            self._write(replace(job, state="failed", finished_at=_now(), error=f"{type(error).__name__}: {error}"))
            return
        rows = {"in": result.rows_in, "used": result.rows_used, "rejected": result.rows_rejected}
        self._write(replace(job, state="done", finished_at=_now(), rows=rows, patients=result.patients))

    def _write(self, job: Job) -> None:
        path = self.root / job.id / "status.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(job), indent=2), encoding="utf-8")
        temporary.replace(path)

    def get(self, job_id: str) -> Job | None:
        """The job, or None; a job left unfinished by an earlier server process shows as failed."""
        if not _JOB_ID.match(job_id):
            return None
        path = self.root / job_id / "status.json"
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        job = Job(**data)
        with self._lock:
            active = job_id in self._active
        if not job.finished and not active:
            return replace(job, state="failed", error="interrupted: the server stopped before the job finished")
        return job

    def list(self) -> list[Job]:
        """All jobs, newest first."""
        if not self.root.is_dir():
            return []
        jobs = [self.get(folder.name) for folder in self.root.iterdir() if folder.is_dir()]
        return sorted((j for j in jobs if j is not None), key=lambda j: j.created_at, reverse=True)

    def output(self, job_id: str, name: str) -> Path | None:
        """One of the files a finished job offers (report.html, summary.json, patients.csv), or None."""
        job = self.get(job_id)
        if job is None or job.state != "done" or name not in OUTPUTS:
            return None
        path = self.root / job_id / "out" / name
        return path if path.is_file() else None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the queued jobs are finished (for tests and shutdown)."""
        self._worker().submit(lambda: None).result(timeout)

    def shutdown(self) -> None:
        """Stop taking jobs; the one running finishes in its thread, queued ones are dropped (shown as interrupted)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _copy(source: BinaryIO, target: BinaryIO, max_bytes: int) -> int:
    """Copy in chunks; stop one byte past the limit so that an oversized upload is noticed."""
    copied = 0
    while chunk := source.read(1024 * 1024):
        target.write(chunk)
        copied += len(chunk)
        if copied > max_bytes:
            break
    return copied
