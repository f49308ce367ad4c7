"""The run page and every component page in a real browser (headless Chromium).

One TINY demo run (conftest's `tiny_demo`, shared with `test_demo.py`: the whole graph, fast)
is checked by `tests/browser_check.py`: no console error, no broken or external
link, no image or SVG that does not render, no DAG node without a page, nothing
fetched from the network; screenshots of the run page and one page per technique
are saved under the run root. Then the checker is shown to catch each of those
faults, injected into a copy of the run page.

Chromium and chromedriver are Debian's (`make test` installs them). Without them
the tests skip, except under CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import os
import re

import browser_check  # tests/ is on sys.path: it holds the rootdir conftest
import pytest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _need_browser() -> None:
    """Fails under CI, else skips, when the browser is missing: CI must run this test."""
    if browser_check.browser_available():
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(browser_check.MISSING, pytrace=False)
    pytest.skip(browser_check.MISSING)


@pytest.fixture(scope="module")
def driver():
    # Requested before `demo_root`, so a missing browser skips before the demo runs.
    _need_browser()
    with browser_check.browser() as d:
        yield d


@pytest.fixture(scope="module")
def demo_run(tiny_demo) -> tuple[str, set[str]]:
    """(the run root, the run's node ids) of conftest's TINY demo run, which
    `test_demo.py` goes on to re-run (this module runs first: its page is the
    first run's)."""
    root, run, _ = tiny_demo
    return root, {n.node_id for n in run.nodes}


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(browser_check, "browser_available", lambda: False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="`make test` installs them"):
        _need_browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="`make test` installs them"):
        _need_browser()


def test_run_page_and_component_pages_render_offline(driver, demo_run):
    demo_root, node_ids = demo_run
    # Every node has a page: a frontier component's own, or (stock TFX nodes, the
    # resolver) the node page the run page writes.
    result = browser_check.check_run(demo_root, driver=driver)
    assert not result.problems, f"{len(result.problems)} problems:\n" + "\n".join(
        map(str, result.problems)
    )
    # Every node of the run is in the DAG, and each page was opened.
    assert set(result.nodes) == node_ids, result.nodes
    assert {p for p in result.nodes.values() if p} <= set(result.pages)
    assert all(result.nodes.values()), result.nodes
    assert set(result.screenshots) == {"run_page", *browser_check.TECHNIQUES}
    for path in result.screenshots.values():
        assert os.path.dirname(path) == os.path.join(demo_root, "screenshots")
        with open(path, "rb") as f:
            head = f.read(24)
        assert head[:8] == PNG_SIGNATURE, path
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert width == browser_check.WIDTH and height > 300, (path, width, height)


def test_the_checker_catches_each_kind_of_fault(driver, demo_run):
    demo_root, _ = demo_run
    with open(os.path.join(demo_root, browser_check.REPORT_FILE)) as f:
        page = f.read()
    # The DAG's first linked node loses its link, the second links to a missing page.
    linked = r'<a href="[^"]*">(<g class="node[^"]*">.*?</g>)</a>'
    page = re.sub(linked, r"\1", page, count=1, flags=re.S)
    page = re.sub(linked, r'<a href="gone/index.html">\1</a>', page, count=1, flags=re.S)
    injected = (
        '<a href="no/such/page.html">broken</a>'
        '<a href="https://example.com/">elsewhere</a>'
        '<svg id="flat" width="120" height="0"></svg>'
        '<img id="undecodable" src="data:image/png;base64,AAAA">'
        "<script>console.error('injected error')</script>"
        "<script>null.injected</script>"
        # A closed port: refused at once, offline or not, yet a request to the network.
        '<link rel="stylesheet" href="http://127.0.0.1:9/injected.css">'
        "<style>@import url(http://127.0.0.1:9/imported.css);</style>"
    )
    path = os.path.join(demo_root, "broken.html")
    with open(path, "w") as f:
        f.write(page.replace("</body>", injected + "</body>"))
    problems, _ = browser_check.check_page(driver, path, demo_root)
    found = "\n".join(map(str, problems))
    for kind, detail in [
        ("link", "no/such/page.html"),
        ("external", "https://example.com/"),
        ("svg", "#flat"),
        ("image", "did not decode"),
        ("console", "injected error"),
        ("console", "Uncaught TypeError"),
        ("network", "link[href] = http://127.0.0.1:9/injected.css"),
        ("network", "@import"),
        ("dag", "has no page"),
        ("dag", "links to gone/index.html"),
    ]:
        assert any(p.kind == kind and detail in p.detail for p in problems), (kind, detail, found)
