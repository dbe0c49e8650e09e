"""Load on the CDS Hooks service: patient-view with JWT verification on, next to /health, over N minutes.

Starts `sigmd`'s CDS Hooks app with uvicorn in a separate process on 127.0.0.1 (a free port), trusting a key
pair made for this run (ES384 by default, or RS384 with `--algorithm`: the two the CDS Hooks spec names; fixed
JWK Set, so no network). This process is the client (httpx, asyncio): it
drives /health for a while, then patient-view for `--minutes` with a fresh signed token per call, then /health
again, each with `--concurrency` requests in flight. It prints per minute the patient-view throughput, p50/p99,
errors, the server's CPU time per request and resident memory, then the totals and the ratio to /health
measured in the same run. On a shared machine the wall-clock figures follow the other load (the load average
is printed); the server's CPU time per request does not, and shows whether the cost per call stays flat.
Targets (issue 15, point 7): p99 under 50 ms, throughput at least half of /health's, no errors, flat from
minute 1 to the last. Memory: the server remembers every token's `jti` until the token could no longer be
accepted (`exp` + leeway: 6 minutes with these 5-minute tokens), in a replay store allocated in full at start
(`replay_store_capacity`, 28 MB by default), so the store adds nothing to RSS as it fills. The server runs as
`sigmd serve` runs it: `uvicorn.run`, which uses httptools and uvloop when they are installed (the `web` extra
installs them; the first line printed says which). Synthetic patient only; loopback only. Not a test.

    .venv/bin/python benchmarks/cds_load.py --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

SERVICE_ID = "sigmd-patient-view"
ISSUER = "https://ehr.bench.example/"
KID = "bench-key"


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


def _searchset(*resources: dict[str, object]) -> dict[str, object]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


BODY = {
    "hook": "patient-view",
    "hookInstance": "5f0c9c1e-0000-4000-8000-000000000001",
    "context": {"userId": "Practitioner/bench", "patientId": "bench"},
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "bench", "birthDate": "1980-05-01", "gender": "female"},
        "immunoglobulins": _searchset(
            _observation("m1", "2472-9", 15, "2024-01-10"),
            _observation("m2", "2472-9", 12, "2024-09-01"),
            _observation("g", "2465-3", 1000, "2024-01-10"),
            _observation("a", "2458-8", 200, "2024-01-10"),
        ),
        "conditions": None,
        "medications": None,
        "medicationRequests": None,
        "medicationAdministrations": None,
    },
}
"""A synthetic adult woman with IgM twice low and normal IgG and IgA: a verdict card with draft orders."""
BODY_BYTES = json.dumps(BODY).encode()
"""The body as sent: encoded once, so that the client spends its time on the calls (and a fresh token each)."""


def serve(port: int, jwks_file: Path) -> None:
    """The server process: the CDS Hooks app, JWT verification on, trusting the run's public key."""
    import uvicorn

    from sigmd.cdshooks import create_cds_app
    from sigmd.cdshooks.settings import CDSSettings, TrustedIssuer

    settings = CDSSettings(
        base_url=f"http://127.0.0.1:{port}",
        trusted_issuers=(TrustedIssuer(ISSUER, jwks=json.loads(jwks_file.read_text())),),
        today=lambda: date(2025, 1, 1),
    )
    app = create_cds_app(settings)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


@dataclass
class Window:
    """Requests completed in one period: latencies in seconds and errors."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    started: float = field(default_factory=time.perf_counter)
    ended: float = 0.0

    def rate(self) -> float:
        return len(self.latencies) / max(1e-9, (self.ended or time.perf_counter()) - self.started)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else float("nan")


def _server_implementation() -> tuple[str, str]:
    """The HTTP parser and event loop uvicorn picks by default in this environment (the server's own)."""
    return (
        "httptools" if importlib.util.find_spec("httptools") else "h11",
        "uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by process `pid` (from /proc, Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _drive(
    client: httpx.AsyncClient,
    path: str,
    seconds: float,
    concurrency: int,
    key: ECKey | RSAKey | None,
    window_seconds: float,
) -> list[Window]:
    windows = [Window()]
    deadline = time.perf_counter() + seconds
    base = str(client.base_url).rstrip("/")

    async def worker() -> None:
        while time.perf_counter() < deadline:
            if key is None:
                request = client.get(path)
            else:
                now = int(time.time())
                claims = {"iss": ISSUER, "aud": base + path, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
                algorithm = "ES384" if isinstance(key, ECKey) else "RS384"
                token = jwt.encode({"alg": algorithm, "typ": "JWT", "kid": KID}, claims, key, algorithms=[algorithm])
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                request = client.post(path, content=BODY_BYTES, headers=headers)
            start = time.perf_counter()
            try:
                response = await request
                ok = response.status_code == 200 and (key is None or len(response.json()["cards"]) == 1)
            except httpx.HTTPError:
                ok = False
            elapsed = time.perf_counter() - start
            window = windows[-1]
            if ok:
                window.latencies.append(elapsed)
            else:
                window.errors += 1

    async def roll() -> None:
        while time.perf_counter() < deadline:
            await asyncio.sleep(min(window_seconds, max(0.0, deadline - time.perf_counter())))
            windows[-1].ended = time.perf_counter()
            if time.perf_counter() < deadline:
                windows.append(Window())

    await asyncio.gather(roll(), *(worker() for _ in range(concurrency)))
    windows[-1].ended = windows[-1].ended or time.perf_counter()
    return windows


def _merge(windows: list[Window]) -> Window:
    total = Window(started=windows[0].started, ended=windows[-1].ended)
    for window in windows:
        total.latencies.extend(window.latencies)
        total.errors += window.errors
    return total


async def _measure(port: int, pid: int, key: ECKey | RSAKey, args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) as client:
        await _drive(client, "/health", 3, args.concurrency, None, 60)  # warm-up
        await _drive(client, f"/cds-services/{SERVICE_ID}", 5, args.concurrency, key, 60)
        print(
            f"loopback, concurrency {args.concurrency}, JWT ({args.algorithm}) verified on every patient-view call, "
            f"uvicorn with {' and '.join(_server_implementation())}"
        )
        cpu, client_cpu = _cpu_seconds(pid), time.process_time()
        health_before = _merge(await _drive(client, "/health", args.health_seconds, args.concurrency, None, 60))
        health_cpu_ms = (_cpu_seconds(pid) - cpu) * 1000 / max(1, len(health_before.latencies))
        health_client_ms = (time.process_time() - client_cpu) * 1000 / max(1, len(health_before.latencies))
        print(
            f"/health before: {health_before.rate():8.1f} req/s  p50 {health_before.percentile(0.5):6.2f} ms  "
            f"server CPU {health_cpu_ms:.2f} ms/request  client CPU {health_client_ms:.2f} ms/request"
        )
        print("minute   req/s   p50 ms   p99 ms  errors  server CPU ms/req  client CPU ms/req  server RSS MB  load avg")
        minutes: list[dict[str, float]] = []

        def report(window: Window, cpu_ms: float, client_ms: float) -> None:
            row = {
                "minute": len(minutes) + 1,
                "rate": window.rate(),
                "p50_ms": window.percentile(0.5),
                "p99_ms": window.percentile(0.99),
                "errors": window.errors,
                "cpu_ms_per_request": cpu_ms,
                "client_cpu_ms_per_request": client_ms,
                "rss_mb": _rss_mb(pid),
                "load_average": os.getloadavg()[0],
            }
            minutes.append(row)
            print(
                f"{row['minute']:6d} {row['rate']:7.1f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} "
                f"{row['errors']:7d} {row['cpu_ms_per_request']:18.2f} {row['client_cpu_ms_per_request']:18.2f} {row['rss_mb']:14.1f} {row['load_average']:9.2f}",
                flush=True,
            )

        windows: list[Window] = []
        for _ in range(args.minutes):
            cpu, client_cpu = _cpu_seconds(pid), time.process_time()
            [window] = await _drive(client, f"/cds-services/{SERVICE_ID}", 60, args.concurrency, key, 60)
            windows.append(window)
            calls = max(1, len(window.latencies) + window.errors)
            report(window, (_cpu_seconds(pid) - cpu) * 1000 / calls, (time.process_time() - client_cpu) * 1000 / calls)
        health_after = _merge(await _drive(client, "/health", args.health_seconds, args.concurrency, None, 60))
        print(f"/health after:  {health_after.rate():8.1f} req/s  p50 {health_after.percentile(0.5):6.2f} ms")
    view = _merge(windows)
    health_rate = (health_before.rate() + health_after.rate()) / 2
    rates = [m["rate"] for m in minutes]
    return {
        "minutes": args.minutes,
        "concurrency": args.concurrency,
        "patient_view_rate": view.rate(),
        "patient_view_p50_ms": view.percentile(0.5),
        "patient_view_p99_ms": view.percentile(0.99),
        "errors": view.errors + health_before.errors + health_after.errors,
        "health_rate": health_rate,
        "ratio_to_health": view.rate() / health_rate,
        "rate_last_over_first_minute": rates[-1] / rates[0],
        "health_cpu_ms_per_request": health_cpu_ms,
        "health_client_cpu_ms_per_request": health_client_ms,
        "patient_view_client_cpu_ms_per_request": [round(m["client_cpu_ms_per_request"], 2) for m in minutes],
        "patient_view_cpu_ms_per_request": [round(m["cpu_ms_per_request"], 2) for m in minutes],
        "cpu_bound_ratio_to_health": health_cpu_ms / statistics.mean(m["cpu_ms_per_request"] for m in minutes),
        "rss_first_minute_mb": minutes[0]["rss_mb"],
        "rss_last_minute_mb": minutes[-1]["rss_mb"],
        "per_minute": {
            "rate": [round(m["rate"], 1) for m in minutes],
            "p50_ms": [round(m["p50_ms"], 2) for m in minutes],
            "p99_ms": [round(m["p99_ms"], 2) for m in minutes],
            "errors": [m["errors"] for m in minutes],
            "rss_mb": [round(m["rss_mb"], 1) for m in minutes],
            "load_average": [round(m["load_average"], 2) for m in minutes],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=int, default=1, help="patient-view minutes (the full run is 10)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--algorithm", choices=("ES384", "RS384"), default="ES384", help="the token signature")
    parser.add_argument("--health-seconds", type=float, default=20, help="/health before and after, each")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--jwks", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.jwks)
        return
    key: ECKey | RSAKey
    if args.algorithm == "ES384":
        key = ECKey.generate_key("P-384", {"kid": KID, "alg": "ES384", "use": "sig"}, private=True)
    else:
        key = RSAKey.generate_key(2048, {"kid": KID, "alg": "RS384", "use": "sig"}, private=True)
    with tempfile.TemporaryDirectory() as folder, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        jwks = Path(folder) / "jwks.json"
        jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--jwks", str(jwks)])
        try:
            for _ in range(300):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            summary = asyncio.run(_measure(port, server.pid, key, args))
        finally:
            server.terminate()
            server.wait(timeout=10)
    targets = {
        "p99 < 50 ms": summary["patient_view_p99_ms"] < 50,
        "ratio >= 0.5": summary["ratio_to_health"] >= 0.5,
        "no errors": summary["errors"] == 0,
    }
    print(json.dumps(summary | {"targets_met": targets}, indent=1))


if __name__ == "__main__":
    main()
