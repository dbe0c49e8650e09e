"""The example notebook runs as written and shows a readable summary of a report."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "api-tour.ipynb"


def _run_cells(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Run each code cell in order, as a kernel would, and keep the value of its last expression."""
    monkeypatch.chdir(NOTEBOOK.parent)
    namespace: dict[str, Any] = {}
    shown = []
    for cell in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        tree = ast.parse("".join(cell["source"]))
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, str(NOTEBOOK), "exec"), namespace)  # the notebook is the project's own file
        if last is not None:
            shown.append(eval(compile(ast.Expression(last.value), str(NOTEBOOK), "eval"), namespace))
    return shown


def test_the_notebook_runs_and_the_report_shows_itself_as_html(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every cell runs; the first shows the report's HTML summary with the verdict and the disclaimer."""
    shown = _run_cells(monkeypatch)
    html = shown[0]._repr_html_()
    assert "Partial selective IgM deficiency" in html
    assert "does not replace" in html
    assert any(outcome in {"met", "not_met", "unknown"} for _, outcome, _ in shown[1])
