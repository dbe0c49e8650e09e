"""A markedly raised IgM is not 'in the expected range': the plan suggests the sourced next step."""

from __future__ import annotations

from sigmd.core.knowledge import Knowledge
from tests.cases import build_case, run

NORMAL_IGG_IGA = (("IgG", 1000, "mg/dL", "2026-06-01"), ("IgA", 200, "mg/dL", "2026-06-01"))


def _recommended(knowledge: Knowledge, igm: float) -> set[str]:
    case = build_case(knowledge, ("IgM", igm, "mg/dL", "2026-06-01"), *NORMAL_IGG_IGA)
    return {r.advice.id for r in run(knowledge, case).recommendations}


def test_an_igm_above_the_upper_limit_brings_serum_protein_electrophoresis(knowledge: Knowledge) -> None:
    """An adult's IgM of 600 mg/dL (upper limit 286) gets a recommendation of electrophoresis with immunofixation."""
    assert "serum_protein_electrophoresis" in _recommended(knowledge, 600)


def test_an_igm_in_the_usual_range_brings_no_electrophoresis(knowledge: Knowledge) -> None:
    """An adult's IgM of 120 mg/dL is in range: no electrophoresis is recommended."""
    assert "serum_protein_electrophoresis" not in _recommended(knowledge, 120)


def test_the_advice_names_its_source(knowledge: Knowledge) -> None:
    """The recommendation cites the laboratory source that explains why quantitation cannot tell a monoclonal IgM."""
    advice = knowledge.advice["serum_protein_electrophoresis"]
    assert advice.source.id == "chl_igm" and "immunofixation" in advice.text
