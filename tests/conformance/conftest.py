"""Where the third-party example files are, if anywhere.

The suite reads published examples (FHIR R4 spec, NIST HL7 v2 test cases, the CDS Hooks spec, Bulk Data
samples) that sigmd does not redistribute. It runs when a folder of them is found: the path in the
environment variable SIGMD_CONFORMANCE_FIXTURES, or a `shared/fixtures` folder beside the checkout. Without
one the suite is not collected, and the test summary says so (see tests/conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path


def third_party_fixtures() -> Path | None:
    """The folder of third-party example files, or None when there is none."""
    configured = os.environ.get("SIGMD_CONFORMANCE_FIXTURES")
    candidate = Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "fixtures"
    return candidate if (candidate / "fhir").is_dir() else None


FIXTURES = third_party_fixtures()

collect_ignore_glob = ["test_*.py"] if FIXTURES is None else []
