"""The axe-core helper itself: it finds what it should in a static file, and nothing in a clean one."""

from __future__ import annotations

from tests.e2e.axe import check_file, describe

CLEAN = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Clean</title></head>
<body><main><h1>A synthetic page</h1><p>Nothing wrong here.</p></main></body></html>"""
BROKEN = """<!doctype html><html><head><meta charset="utf-8"><title>Broken</title></head>
<body><main><h1>A synthetic page</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
<label>Unlinked</label><input type="text"></main></body></html>"""


def test_a_clean_static_page_has_no_violations(browser, tmp_path):
    page = tmp_path / "clean.html"
    page.write_text(CLEAN, encoding="utf-8")
    assert check_file(browser, page) == []


def test_violations_in_a_static_page_are_found_and_described(browser, tmp_path):
    """A missing lang, an image without alt text and an unlabelled input are each reported with the element."""
    page = tmp_path / "broken.html"
    page.write_text(BROKEN, encoding="utf-8")
    found = check_file(browser, page)
    assert {"html-has-lang", "image-alt", "label"} <= {v["id"] for v in found}
    text = describe(found)
    assert "image-alt (critical)" in text and "<img" in text
