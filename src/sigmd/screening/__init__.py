"""Batch population screening for SIgMD; engines: DuckDB (default, extra `screen`) and Spark (extra `spark`)."""

from __future__ import annotations

from sigmd.screening.run import ScreenResult, screen
from sigmd.screening.synth import SynthFiles, synth

__all__ = ["ScreenResult", "SynthFiles", "screen", "synth"]
