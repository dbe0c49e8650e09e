"""Bulk NDJSON reading for screening: lines per second of `convert_bulk`, against `json.loads` of every line.

Both are timed in the same run on the same synthetic export (CPU time of this process, so that other work on a
shared machine counts less). Observations are final IgM, IgG and IgA results with a UCUM unit and a laboratory
range, six per patient; every line is read by the FHIR reader of `sigmd assess`, so nearly all of the time is
validation with `fhir.resources`. With `--other-share`, that share of the Observations are results of other
analytes (glucose, sodium, haemoglobin...), as in a real export: those are counted by code, not validated.

Run:
  python benchmarks/bulk_reader.py --observations 200000 [--other-share 0.9]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from sigmd import content
from sigmd.screening.bulk import convert_bulk

ANALYTES = (("2472-9", 100.0), ("2465-3", 1000.0), ("2458-8", 200.0))
"""IgM, IgG, IgA with a typical adult value in mg/dL."""
OTHERS = (("2345-7", 95.0), ("2951-2", 140.0), ("718-7", 14.0), ("2160-0", 0.9), ("6690-2", 7.0))
"""Glucose, sodium, haemoglobin, creatinine, leukocytes, with a typical value (the unit does not matter here)."""


def generate(observations: int, folder: Path, other_share: float = 0.0) -> None:
    """Patient.ndjson (one Patient per six Observations) and Observation.ndjson, seeded; `other_share` of the
    Observations are of other analytes."""
    rng = random.Random(1)
    patients = max(1, observations // 6)
    with (folder / "Patient.ndjson").open("w", encoding="utf-8") as handle:
        for number in range(patients):
            born = f"{rng.randint(1940, 2015)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
            patient = {"resourceType": "Patient", "id": f"p{number}", "gender": rng.choice(["female", "male"])}
            handle.write(json.dumps({**patient, "birthDate": born}) + "\n")
    with (folder / "Observation.ndjson").open("w", encoding="utf-8") as handle:
        for number in range(observations):
            code, typical = ANALYTES[number % 3] if rng.random() >= other_share else rng.choice(OTHERS)

            def quantity(value: float) -> dict[str, object]:
                return {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}

            observation = {
                "resourceType": "Observation",
                "id": f"o{number}",
                "status": "final",
                "subject": {"reference": f"Patient/p{(number // 6) % patients}"},
                "effectiveDateTime": f"202{number % 2 + 3}-0{(number // 3) % 2 + 1}-15T08:30:00Z",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "valueQuantity": quantity(round(rng.lognormvariate(0, 0.4) * typical, 1)),
                "referenceRange": [{"low": quantity(typical * 0.4), "high": quantity(typical * 2.5)}],
            }
            handle.write(json.dumps(observation) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=200_000)
    parser.add_argument("--other-share", type=float, default=0.0, help="share of Observations of other analytes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work) / "export"
        folder.mkdir()
        generate(args.observations, folder, args.other_share)
        lines = [line for path in sorted(folder.glob("*.ndjson")) for line in path.read_bytes().splitlines()]
        start = time.process_time()
        for line in lines:
            json.loads(line)
        baseline = time.process_time() - start
        del lines
        start, wall = time.process_time(), time.perf_counter()
        prepared = convert_bulk(folder, Path(work) / "converted", content.load())
        spent, wall = time.process_time() - start, time.perf_counter() - wall
    total = args.observations + max(1, args.observations // 6)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    other = prepared.other_analytes.rows if prepared.other_analytes else 0
    print(
        f"lines: {total} ({args.observations} Observations, {other} of other analytes), rejects: {prepared.rejects.num_rows}"
    )
    print(f"json.loads: {baseline:.1f} s CPU ({total / baseline:,.0f} lines/s)")
    print(f"convert_bulk: {spent:.1f} s CPU, {wall:.1f} s wall ({total / spent:,.0f} lines/s CPU)")
    print(f"ratio: {spent / baseline:.1f}; peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
