"""Published prevalence figures are clinical content: sourced, strictly loaded and part of the content version."""

from __future__ import annotations

import pytest

from sigmd import content
from sigmd.content import ContentError


def test_every_published_figure_names_a_known_source() -> None:
    """Each figure carries the title and address of a source listed in sources.toml."""
    sources = content.load_sources()
    figures = content.load_published_figures()
    assert {"idf_partial_adults", "goldstein_2006_adults", "goldstein_2008_children"} <= {f.id for f in figures}
    assert all((f.source_title, f.source_url) in {(s.title, s.url) for s in sources.values()} for f in figures)


def test_the_published_figures_count_in_the_content_version() -> None:
    """Changing a published figure changes the content version that every verdict names."""
    assert "published_prevalence.toml" in content.DATA_FILES


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"source": "nobody_2030"}, "unknown source id"),
        ({"numerator": 7, "denominator": 5}, "numerator <= denominator"),
        ({"form": "mild"}, "form 'mild'"),
        ({"year": 2020}, "unknown key(s) ['year']"),
    ],
)
def test_a_figure_without_a_proper_source_or_count_is_refused(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, object], named: str
) -> None:
    """A figure with an unknown source, impossible counts, an unknown form or an unknown key does not load."""
    figure = {
        "id": "x",
        "form": "any",
        "population": "adults",
        "age_band": "18+",
        "numerator": 1,
        "denominator": 10,
        "text": "1/10",
        "source": "idf_sigmd",
        **change,
    }
    real = content._toml
    monkeypatch.setattr(
        content,
        "_toml",
        lambda name: {"schema_version": 1, "figures": [figure]} if name == "published_prevalence.toml" else real(name),
    )
    with pytest.raises(ContentError) as caught:
        content.load_published_figures()
    assert named in str(caught.value)
