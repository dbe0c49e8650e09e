"""Published prevalence figures of SIgMD, as shipped in the clinical content, to set beside screening estimates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedFigure:
    """One published prevalence figure with its population and its source."""

    id: str
    form: str
    """partial, complete or any."""
    population: str
    age_band: str
    numerator: int
    denominator: int
    text: str
    source_title: str
    source_url: str
    note: str
