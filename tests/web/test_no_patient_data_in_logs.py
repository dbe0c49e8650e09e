"""No patient data in logs: the error paths are driven and every captured log line is scanned for the patients.

Two ways: in the test process (caplog at DEBUG, with access-log records made exactly as uvicorn makes them and
formatted with uvicorn's own formatter), and through a real `sigmd serve` process whose stdout and stderr (its
access and error logs) are read back.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from uvicorn.logging import AccessFormatter

from sigmd.core.knowledge import Knowledge
from sigmd.registry import Registry, Role
from sigmd.web.app import create_web_app
from tests.network import free_port
from tests.web.conftest import PASSWORD, settings_for

# Synthetic patients: every one of these strings must stay out of the logs.
MRN = "MRN-LOG-90210"
OTHER_MRN = "MRN-LOG-31337"
NAME = "Lorelei Logfree"
BORN = "1966-06-16"
VALUE = "37.25"
SECRETS = (MRN, OTHER_MRN, NAME, BORN, VALUE, "Lorelei", "Logfree", PASSWORD, "wrong-" + NAME)
CSV_BAD_VALUE = (
    "patient_id,sex,birth_date,collected_date,loinc,value,unit\n"
    f"{MRN},F,{BORN},2025-06-01,2472-9,{VALUE}x,mg/dL\n"
    f"{OTHER_MRN},F,{BORN},2025-06-01,2472-9,{VALUE},furlongs\n"
)
CSV_BAD_HEADER = f"patient,born,igm\n{MRN},{BORN},{VALUE}\n"
BAD_CASE = {"patient": {"id": MRN, "name": NAME, "sex": "female", "birth_date": BORN}, "results": [{"value": VALUE}]}
ACCESS_FORMAT = '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'


def _token(text: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found is not None
    return found.group(1)


def drive_error_paths(get: object, post: object) -> list[int]:
    """Every error path a clinician or a stranger can reach with patient data; the status codes seen."""
    from collections.abc import Callable

    assert callable(get) and callable(post)
    do_get: Callable[..., httpx.Response] = get
    do_post: Callable[..., httpx.Response] = post
    statuses = []

    def login(username: str, password: str) -> None:
        token = _token(do_get("/login").text)
        statuses.append(
            do_post("/login", data={"csrf_token": token, "username": username, "password": password}).status_code
        )

    login(MRN, "wrong-" + NAME)  # an identifier typed as the name, a patient's name typed as the password
    login("clin", "wrong-" + NAME)
    login("clin", PASSWORD)
    token = _token(do_get("/import").text)
    uploads = [
        ("labs.csv", CSV_BAD_VALUE.encode()),
        ("labs.csv", CSV_BAD_HEADER.encode()),
        ("case.json", json.dumps(BAD_CASE).encode()),
        ("case.json", (json.dumps(BAD_CASE)[:-5]).encode()),
        ("result.hl7", f"MSH|^~\\&|LAB\rPID|||{MRN}||{NAME}||{BORN.replace('-', '')}|F\r".encode()),
        ("latin1.txt", f"{NAME},{BORN},{VALUE}\xe9".encode("latin-1")),
    ]
    for name, content in uploads:
        statuses.append(do_post("/import", data={"csrf_token": token}, files={"file": (name, content)}).status_code)
    statuses.append(do_post("/import", data={"csrf_token": token, "pasted": f"{NAME} {BORN} IgM {VALUE}"}).status_code)
    statuses.append(
        do_post("/import/save", data={"csrf_token": token, "text": CSV_BAD_VALUE, "as_of": BORN}).status_code
    )
    statuses.append(do_post("/import/save", data={"csrf_token": token, "text": "", "as_of": NAME}).status_code)
    for document in (json.dumps(BAD_CASE), json.dumps(BAD_CASE)[:-5], f'"{NAME}"'):
        form = {"csrf_token": token, "case_json": document, "as_of": BORN, "save_patient_id": MRN}
        statuses.append(do_post("/cases/save", data=form).status_code)
    entry = {
        "csrf_token": token,
        "patient_id": MRN,
        "display_name": NAME,
        "sex": "female",
        "birth_date": BORN,
        "r0_analyte": "IgM",
        "r0_value": VALUE + "x",
        "r0_unit": "mg/dL",
        "r0_date": BORN,
        "action": "assess",
    }
    statuses.append(do_post("/cases/new", data=entry).status_code)
    statuses.append(do_post("/cases/new", data=entry | {"r0_value": VALUE, "birth_date": "2099-01-01"}).status_code)
    # Unknown patients: the pages address patients by opaque reference; identifiers come only in a query here.
    statuses.append(do_get(f"/patients/{'0' * 32}?id={MRN}&name={NAME}").status_code)
    statuses.append(do_get(f"/cases/new?patient={MRN}").status_code)
    statuses.append(do_get(f"/follow-up?as_of={BORN}&within={VALUE}").status_code)
    statuses.append(do_get(f"/screenings/{'f' * 16}?patient={MRN}").status_code)
    statuses.append(do_get(f"/nowhere?patient={MRN}").status_code)
    screen = do_post(
        "/screenings",
        data={"csrf_token": token, "as_of": "2026-11-01"},
        files={"file": (f"{NAME}.csv", CSV_BAD_HEADER.encode())},
    )
    statuses.append(screen.status_code)
    job = screen.url.path if "/screenings/" in str(screen.url) else ""
    for _ in range(100):  # the background job fails and logs the failure
        if not job or "failed" in do_get(job).text or "done" in do_get(job).text:
            break
        time.sleep(0.1)
    return statuses


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture
def fresh(knowledge: Knowledge, tmp_path: Path) -> Iterator[tuple[TestClient, Registry]]:
    registry = Registry.open(None, data_dir=tmp_path / "registry")
    registry.create_user("clin", PASSWORD, Role.CLINICIAN, actor="test")
    app = create_web_app(settings_for(tmp_path / "data"), knowledge, registry)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, registry
    registry.close()


def test_the_error_paths_log_no_patient_data_in_process(
    fresh: tuple[TestClient, Registry], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failed sign-ins, bad uploads, bad CSV, bad case JSON and unknown patients leave no patient datum in any log
    line, access lines included (which keep their path but lose the query)."""
    client, registry = fresh
    access = logging.getLogger("uvicorn.access")
    # A uvicorn server started earlier in the same process (the browser tests, at log level warning) configures
    # this logger's level and propagation; the test reads every record at the root, as a deployment's handler would.
    monkeypatch.setattr(access, "propagate", True)
    monkeypatch.setattr(access, "disabled", False)
    caplog.set_level(logging.DEBUG, logger="uvicorn.access")

    def log_access(response: httpx.Response) -> None:
        request = response.request
        # The call uvicorn's protocol makes for every response (client, method, target with query, version, status).
        access.info(
            '%s - "%s %s HTTP/%s" %d',
            "127.0.0.1:50000",
            request.method,
            request.url.raw_path.decode(),
            "1.1",
            response.status_code,
        )

    client.event_hooks["response"] = [log_access]
    caplog.set_level(logging.DEBUG)
    statuses = drive_error_paths(client.get, client.post)
    assert 400 in statuses and 401 in statuses and 404 in statuses
    formatter = AccessFormatter(ACCESS_FORMAT, use_colors=False)
    lines = [
        formatter.format(r) if r.name == "uvicorn.access" else logging.Formatter().format(r) for r in caplog.records
    ]
    text = "\n".join(lines)
    assert leaks(text) == [], text
    assert f'GET /patients/{"0" * 32}?[query withheld] HTTP/1.1" 404' in text
    assert 'GET /nowhere?[query withheld] HTTP/1.1" 404' in text
    assert "sign-in attempt from testclient: failure" in text
    assert "screening job" in text and "[message withheld]" in text  # the failed job was logged, redacted
    assert registry.list_patients() == []


def test_a_real_server_logs_no_patient_data(tmp_path: Path) -> None:
    """`sigmd serve` driven through the same error paths writes access and error logs without any patient datum,
    while its access log still shows each request's method, path and status."""
    data = tmp_path / "data"
    with Registry.open(None, data_dir=data) as registry:
        registry.create_user("clin", PASSWORD, Role.CLINICIAN, actor="test")
    port = free_port()
    out, err = (tmp_path / "stdout.log").open("wb"), (tmp_path / "stderr.log").open("wb")
    env = {**os.environ, "SIGMD_SECRET_KEY": "k" * 48, "PYTHONWARNINGS": "default"}
    command = [sys.executable, "-m", "sigmd", "serve", "--data-dir", str(data), "--port", str(port)]
    server = subprocess.Popen(command, stdout=out, stderr=err, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as client:
            statuses = drive_error_paths(client.get, client.post)
    finally:
        server.terminate()
        server.wait(timeout=30)
        out.close()
        err.close()
    text = (tmp_path / "stdout.log").read_text() + (tmp_path / "stderr.log").read_text()
    assert 400 in statuses and 404 in statuses
    assert leaks(text) == [], text
    assert 'POST /login HTTP/1.1" 401' in text and 'GET /nowhere?[query withheld] HTTP/1.1" 404' in text
    assert "Application startup complete" in text and "sign-in attempt from 127.0.0.1: failure" in text
    assert "screening job" in text and "[message withheld]" in text
    assert html.escape(MRN) not in text
