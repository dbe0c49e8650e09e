"""Screening from the web: upload, background job, status page and its outputs; only clinicians start one."""

from __future__ import annotations

import json

import pytest

from sigmd.screening.synth import synth
from tests.web.conftest import csrf_of


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    return synth(300, 3, tmp_path_factory.mktemp("extract") / "labs.csv", "csv").results


def start(client, name: str, content: bytes):
    token = csrf_of(client, "/screenings")
    data = {"csrf_token": token, "as_of": "2026-01-01", "profile": "esid", "reference_set": "mayo"}
    return client.post("/screenings", data=data, files={"file": (name, content)}, follow_redirects=False)


def test_a_clinician_screens_an_extract_and_reads_its_outputs(client_as, app, extract):
    """The job runs in the background; when done its report, summary.json, patients.csv and the rejects with their
    reasons are served."""
    client = client_as("clin")
    response = start(client, "labs.csv", extract.read_bytes())
    assert response.status_code == 303
    job_page = response.headers["location"]
    app.state.jobs.wait(timeout=120)
    page = client.get(job_page).text
    assert "done" in page and "View the report" in page
    report = client.get(job_page + "/report.html")
    assert report.status_code == 200 and "default-src 'none'" in report.headers["content-security-policy"]
    summary = client.get(job_page + "/summary.json")
    assert summary.headers["content-disposition"].startswith("attachment")
    assert json.loads(summary.content)["profile"] == "esid"
    assert client.get(job_page + "/patients.csv").text.startswith(
        "patient_id,label,certainty,reasons,path,sex,age_band"
    )
    assert "rejects.csv" in page
    rejects = client.get(job_page + "/rejects.csv")
    assert rejects.status_code == 200 and rejects.headers["content-disposition"].startswith("attachment")
    assert "reason" in rejects.text.splitlines()[0]
    viewer = client_as("view")
    assert viewer.get(job_page + "/report.html").status_code == 200
    assert "labs.csv" in viewer.get("/screenings").text


def test_a_failed_screening_shows_its_reason(client_as, app):
    """An extract the screener cannot read ends as failed with the error on the job page."""
    client = client_as("clin")
    response = start(client, "broken.parquet", b"this is not a parquet file")
    app.state.jobs.wait(timeout=60)
    page = client.get(response.headers["location"]).text
    assert "failed" in page and "The screening failed" in page
    assert client.get(response.headers["location"] + "/report.html").status_code == 404


def test_only_csv_or_parquet_is_accepted(client_as):
    """Another file type is refused with the file named."""
    response = start(client_as("clin"), "labs.xlsx", b"PK")
    assert response.status_code == 400 and "&#39;labs.xlsx&#39; is not a .csv or .parquet lab extract" in response.text


def test_a_viewer_cannot_start_a_screening(client_as, extract):
    """Starting a screening needs the clinician role; the upload form is not even shown to a viewer."""
    client = client_as("view")
    assert 'action="/screenings" enctype' not in client.get("/screenings").text
    assert start(client, "labs.csv", extract.read_bytes()).status_code == 403


@pytest.mark.parametrize("path", ["/screenings/not-a-job", "/screenings/0123456789abcdef/report.html"])
def test_unknown_jobs_and_files_are_not_found(client_as, path):
    """A job id that does not exist, or a file of it, is a 404."""
    assert client_as("view").get(path).status_code == 404


def test_only_the_offered_outputs_are_served(client_as, app, extract):
    """Other files of a job folder (the uploaded input, status.json) are not served."""
    client = client_as("clin")
    location = start(client, "labs.csv", extract.read_bytes()).headers["location"]
    app.state.jobs.wait(timeout=120)
    for name in ("input.csv", "status.json", "..%2Fstatus.json"):
        assert client.get(f"{location}/{name}").status_code == 404
