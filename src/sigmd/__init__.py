"""sigmd: explainable decision support for selective IgM deficiency (SIgMD).

`sigmd.assess`, `sigmd.read` and `sigmd.screen` are the Python API (see `sigmd.api`). They are imported on
first use, so `import sigmd` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Report", "Screening", "__version__", "assess", "read", "screen"]


def __getattr__(name: str) -> Any:
    if name in ("assess", "read", "screen", "Report", "Screening"):
        from sigmd import api

        return getattr(api, name)
    raise AttributeError(f"module 'sigmd' has no attribute {name!r}")
