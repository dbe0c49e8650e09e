"""sigmd: explainable decision support for selective IgM deficiency (SIgMD)."""

from __future__ import annotations

__version__ = "0.1.0"
