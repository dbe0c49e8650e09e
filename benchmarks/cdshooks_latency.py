"""Patient-view latency and throughput next to the same server's /health, on loopback, in one run.

Starts the CDS Hooks app with uvicorn on 127.0.0.1 (a free port, development mode without JWT), sends a
bounded number of requests with bounded concurrency to each endpoint, prints throughput, p50 and p99, and
the patient-view / health ratios, then stops. Synthetic patient only. Not a test. For the load run with JWT
verification on and per-minute figures, see `cds_load.py`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import threading
import time
from datetime import date

import httpx
import uvicorn

from sigmd.cdshooks import create_cds_app
from sigmd.cdshooks.settings import SERVICE_ID, CDSSettings

REQUESTS = 400
CONCURRENCY = 8


def _observation(obs_id: str, loinc: str, value: float, when: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": "Patient/bench"},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
    }


BODY = {
    "hook": "patient-view",
    "hookInstance": "5f0c9c1e-0000-4000-8000-000000000001",
    "context": {"userId": "Practitioner/bench", "patientId": "bench"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "bench", "birthDate": "1980-05-01", "gender": "female"},
        "immunoglobulins": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {"resource": _observation("m1", "2472-9", 15, "2024-01-10")},
                {"resource": _observation("m2", "2472-9", 12, "2024-09-01")},
                {"resource": _observation("g", "2465-3", 1000, "2024-01-10")},
                {"resource": _observation("a", "2458-8", 200, "2024-01-10")},
            ],
        },
        "conditions": None,
        "medications": None,
        "medicationRequests": None,
        "medicationAdministrations": None,
    },
}


async def _run(client: httpx.AsyncClient, method: str, path: str) -> tuple[float, list[float]]:
    latencies: list[float] = []
    remaining = iter(range(REQUESTS))

    async def worker() -> None:
        for _ in remaining:
            start = time.perf_counter()
            response = await (client.post(path, json=BODY) if method == "POST" else client.get(path))
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - began, sorted(latencies)


def _report(name: str, elapsed: float, latencies: list[float]) -> tuple[float, float, float]:
    rate = len(latencies) / elapsed
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    print(f"{name:<14} {rate:9.1f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return rate, p50, p99


def main() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = CDSSettings(
        base_url=f"http://127.0.0.1:{port}", allow_unauthenticated=True, today=lambda: date(2025, 1, 1)
    )
    server = uvicorn.Server(uvicorn.Config(create_cds_app(settings), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    async def measure() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            first = await client.post(f"/cds-services/{SERVICE_ID}", json=BODY)
            assert first.status_code == 200 and first.json()["cards"], first.text
            await _run(client, "GET", "/health")  # warm-up
            print(f"{REQUESTS} requests per endpoint, concurrency {CONCURRENCY}, loopback, dev mode (no JWT)")
            health = _report("/health", *await _run(client, "GET", "/health"))
            view = _report("patient-view", *await _run(client, "POST", f"/cds-services/{SERVICE_ID}"))
            print(
                f"patient-view / health: throughput x{view[0] / health[0]:.3f}, "
                f"p50 x{view[1] / health[1]:.1f}, p99 x{view[2] / health[2]:.1f}"
            )
            print(json.dumps({"card_bytes": len(first.content)}))

    try:
        asyncio.run(measure())
    finally:
        server.should_exit = True
        thread.join(timeout=10)


if __name__ == "__main__":
    main()
