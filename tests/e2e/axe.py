"""Accessibility checks with axe-core in the browser tests, reusable for any page or static HTML file.

axe.min.js is not redistributed: `scripts/test-assets.sh` fetches the pinned npm package (its SHA-256 checked)
into .cache/axe-core/, and `axe_source` runs that script when the file is missing. The script is evaluated
through Playwright (not as a <script> tag), so a page's Content-Security-Policy, which allows no inline
script, neither blocks it nor needs loosening for the test.

    from tests.e2e.axe import assert_accessible, check_file
    assert_accessible(page, "patient page")          # the page as it is now
    check_file(browser, out / "report.html")         # a static file, opened from disk

Every rule axe-core runs by default is checked (WCAG 2.0, 2.1 and 2.2 A and AA, and its best practices);
a violation fails the test with the rule, its help text and the elements it found.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = ROOT / ".cache" / "axe-core" / "axe.min.js"
RUN = """async (options) => {
  const result = await axe.run(document, options);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({target: n.target.join(" "), html: n.html.slice(0, 200), summary: n.failureSummary})),
  }));
}"""


@cache
def axe_source() -> str:
    """The text of axe.min.js, fetched first by scripts/test-assets.sh when it is not in .cache/ yet."""
    if not AXE_JS.is_file():
        subprocess.run([str(ROOT / "scripts" / "test-assets.sh")], check=True)
    return AXE_JS.read_text(encoding="utf-8")


def inject(page: Any) -> None:
    """Load axe-core into the page once (a navigation clears it; call again after one)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    if not page.evaluate("() => typeof window.axe === 'object' && typeof window.axe.run === 'function'"):
        raise RuntimeError("axe-core did not load into the page")


def violations(page: Any, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now: rule id, impact, help and the offending nodes."""
    inject(page)
    found: list[dict[str, Any]] = page.evaluate(RUN, {"resultTypes": ["violations"], **(options or {})})
    return found


def describe(found: list[dict[str, Any]]) -> str:
    """Violations as readable lines: rule, impact, help, then each element and what is wrong with it."""
    lines = []
    for violation in found:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            summary = " ".join(str(node["summary"] or "").split())
            lines.append(f"    {node['target']}: {node['html']}\n      {summary}")
    return "\n".join(lines)


def assert_accessible(page: Any, name: str = "", options: dict[str, Any] | None = None) -> None:
    """Fail with every violation listed unless axe-core finds none on the page."""
    found = violations(page, options)
    where = name or page.url
    assert not found, f"axe-core found {len(found)} violation(s) on {where}:\n{describe(found)}"


def check_file(browser: Any, path: Path, viewport: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations in a static HTML file (for example a screening report.html), opened from disk."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(path.resolve().as_uri())
        return violations(page)
    finally:
        context.close()
