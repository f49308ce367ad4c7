"""Opens a run's pages in headless Chromium and lists what is broken in them.

The run page (`<root>/report.html`) and every component page it links to are
loaded from file:// in Debian's Chromium, driven by Selenium through Debian's
chromedriver (never a driver that Selenium Manager would download: it could not
match the distribution's browser, and CI has no network). A page is broken when

- the browser logs a console message of level SEVERE (a `console.error`, an
  uncaught script error, a resource that failed to load);
- a link's local target does not exist, or a link leads off the machine (the
  pages must be self-contained: they are opened from file://, offline);
- an `<img>` did not decode (naturalWidth 0), or an `<img>` or `<svg>` is drawn
  with zero width or height;
- a node of the run's DAG (`frontier.pipelines.dag`: `svg.dag g.node`, inside an
  `<a href>` when the node has a page) has no page, or links to a missing one
  (the run page gives every node one: a component's own, or a node page);
- the page requests, or names, a resource on the network (`<script src>`,
  `<link href>`, CSS `@import` or `url(http...)`).

It saves full-page screenshots of the run page and of one page per technique
(KIP, CIW, SPL, DP-FTRL). Usage, from the repository root:

    .venv/bin/python tests/browser_check.py ROOT [--screenshots DIR]

which prints each problem and exits 1 if there is any (2 if the browser is
missing). `tests/pipelines/test_browser.py` runs it on the demo.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from urllib.parse import unquote, urlsplit
from urllib.request import pathname2url, url2pathname

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MISSING = (
    f"the browser test needs headless Chromium: {CHROMIUM} and {CHROMEDRIVER} (Debian's "
    "`chromium` and `chromium-driver`) and Selenium (requirements.lock); `make test` "
    "installs them (apt-get, as root or with sudo)"
)
# Flags that let Chromium run on a closed network, in a container, without a display:
# nothing at start-up may try to reach a server (updates, sync, QUIC probes), and the
# sandbox needs privileges a CI container does not grant.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WIDTH, HEIGHT = 1400, 900
# A page taller than this is cut off (the demo's run page is about 19,000 px; a window of
# tens of thousands of pixels makes a screenshot of hundreds of megabytes in memory).
MAX_SCREENSHOT_HEIGHT = 30000
REPORT_FILE = "report.html"
RUN_PAGE_SHOT = "run_page.png"
# The page shown for each technique: the first DAG node whose id starts with one of
# these (the demo's ids: `pipelines/kip.py`, `ciw.py`, `spl.py`, `dp_ftrl.py`).
TECHNIQUES = {
    "kip": ("KipSubset_",),
    "ciw": ("CiwTrainer_ciw", "CiwTrainer_"),
    "spl": ("SplLabeler_spl", "SplLabeler_"),
    "dp_ftrl": ("DpFtrlTrainer",),
}
# Schemes a link may have without being a problem or a file to look for.
_IGNORED_SCHEMES = ("mailto", "javascript", "data", "blob", "about")
# CSS that fetches: any `@import` (a page is one file) and `url()` of another host;
# markup is checked through the DOM instead.
_CSS_FETCH = re.compile(r"@import[^;]*|url\(\s*['\"]?\s*(?:[a-z][a-z0-9+.-]*:)?//", re.I)

# One round trip per page: everything the checks need from the rendered DOM.
_FACTS_JS = """
const href = el => el.getAttribute('href') ?? el.getAttribute('xlink:href');
const abs = raw => { try { return new URL(raw, document.baseURI).href; } catch (e) { return null; } };
const name = el => (el.id ? '#' + el.id : '') + (el.getAttribute('class') ? '.' + el.getAttribute('class') : '')
  || el.outerHTML.slice(0, 80);
const box = el => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
const out = {links: [], images: [], svgs: [], nodes: [], dag: 0, refs: [], resources: []};
for (const a of document.querySelectorAll('a')) {
  const raw = href(a);
  if (raw !== null) out.links.push([raw, abs(raw)]);
}
for (const img of document.images) {
  out.images.push([(img.getAttribute('src') || '').slice(0, 60), img.naturalWidth, ...box(img)]);
}
for (const svg of document.querySelectorAll('svg')) out.svgs.push([name(svg), ...box(svg)]);
out.dag = document.querySelectorAll('svg.dag').length;
for (const g of document.querySelectorAll('svg.dag g.node')) {
  const text = g.querySelector('text'), title = g.querySelector('title'), a = g.closest('a');
  const raw = a ? href(a) : null;
  // The tooltip's last line is the execution type (`dag.render_svg`).
  const type = title ? title.textContent.trim().split('\\n').pop() : '';
  out.nodes.push([text ? text.textContent : g.outerHTML.slice(0, 80), type, raw, raw && abs(raw)]);
}
const sel = 'script[src],link[href],iframe[src],frame[src],embed[src],object[data],'
  + 'source[src],source[srcset],img[srcset],video[src],video[poster],audio[src],track[src]';
for (const el of document.querySelectorAll(sel)) {
  for (const attr of ['src', 'href', 'data', 'srcset', 'poster']) {
    const raw = el.getAttribute(attr);
    if (raw !== null) out.refs.push([el.tagName.toLowerCase() + '[' + attr + ']', raw, abs(raw)]);
  }
}
for (const e of performance.getEntriesByType('resource')) out.resources.push(e.name);
return out;
"""


@dataclasses.dataclass(frozen=True)
class Problem:
    """One thing wrong with one page.

    Attributes:
      page: the page, relative to the run root.
      kind: "console", "link", "external", "image", "svg", "dag" or "network".
      detail: what is wrong, naming the element, link or message.
    """

    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


@dataclasses.dataclass
class Result:
    """What `check_run` found.

    Attributes:
      problems: every problem on every page, in the order the pages were opened.
      pages: the pages opened, relative to the root (the run page first).
      nodes: the DAG's node ids -> their page, relative to the root (None: no page).
      node_types: the DAG's node ids -> their execution types.
      screenshots: name ("run_page" or a `TECHNIQUES` key) -> PNG path.
    """

    problems: list[Problem] = dataclasses.field(default_factory=list)
    pages: list[str] = dataclasses.field(default_factory=list)
    nodes: dict[str, str | None] = dataclasses.field(default_factory=dict)
    node_types: dict[str, str] = dataclasses.field(default_factory=dict)
    screenshots: dict[str, str] = dataclasses.field(default_factory=dict)


class BrowserMissing(RuntimeError):
    """Chromium, chromedriver or Selenium is not installed (see `MISSING`)."""


def browser_available() -> bool:
    """Whether `browser()` can start: both binaries and the selenium package exist."""
    import importlib.util

    return (
        all(os.access(p, os.X_OK) for p in (CHROMIUM, CHROMEDRIVER))
        and importlib.util.find_spec("selenium") is not None
    )


@contextlib.contextmanager
def browser() -> Iterator:
    """A headless Chromium WebDriver on a fresh, empty profile, quit (and the profile
    removed) on exit. Raises `BrowserMissing` when it cannot start for lack of it."""
    if not browser_available():
        raise BrowserMissing(MISSING)
    # Selenium Manager, which may download a driver or a browser, is skipped when the
    # Service names the driver; SE_OFFLINE keeps it offline should a later Selenium
    # consult it anyway.
    os.environ.setdefault("SE_OFFLINE", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="frontier-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except BaseException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    try:
        driver.set_window_size(WIDTH, HEIGHT)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _local_path(url: str | None) -> str | None:
    """The file a file:// URL names (query and fragment dropped); None for other URLs."""
    if not url:
        return None
    parts = urlsplit(url)
    return url2pathname(unquote(parts.path)) if parts.scheme == "file" else None


def _scheme(raw: str) -> str:
    match = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", raw.strip())
    return match.group(1).lower() if match else ""


def _rel(path: str, root: str) -> str:
    return os.path.relpath(path, root)


def _screenshot(driver, path: str) -> str:
    """A PNG of the whole page at `WIDTH`: the window is stretched to the document's
    height (and put back), as headless Chromium captures the viewport only."""
    height = driver.execute_script(
        "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"
    )
    # The window's height includes more than the viewport (143 px in Chromium 150's
    # headless mode): measured, not assumed.
    frame = driver.execute_script("return window.outerHeight - window.innerHeight") or 0
    driver.set_window_size(WIDTH, min(int(height), MAX_SCREENSHOT_HEIGHT) + max(0, int(frame)))
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if not driver.save_screenshot(path):
            raise RuntimeError(f"could not save the screenshot {path}")
    finally:
        driver.set_window_size(WIDTH, HEIGHT)
    return path


def check_page(
    driver,
    path: str,
    root: str,
    screenshot: str | None = None,
) -> tuple[list, dict]:
    """Loads one page and checks it.

    Args:
      driver: a WebDriver from `browser()`.
      path: the page's file.
      root: the run root (pages and links are named relative to it).
      screenshot: where to save a full-page PNG of it, as loaded; None for none.

    Returns:
      (its problems, the facts read from its DOM: `_FACTS_JS`'s object).
    """
    page = _rel(path, root)
    problems: list[Problem] = []

    def problem(kind: str, detail: str) -> None:
        problems.append(Problem(page, kind, detail))

    driver.get_log("browser")  # drop what an earlier page left
    driver.get("file://" + pathname2url(os.path.abspath(path)))
    if screenshot:
        _screenshot(driver, screenshot)
    # Closed <details> hide their content (zero-size boxes that are not broken).
    driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    facts = driver.execute_script(_FACTS_JS)
    for raw, url in facts["links"]:
        scheme = _scheme(raw)
        if raw.startswith("#") or scheme in _IGNORED_SCHEMES:
            continue
        target = _local_path(url)
        if target is None:
            problem("external", f"link to {raw} (pages must work offline, from file://)")
        elif not os.path.exists(target):
            problem("link", f"{raw} -> {_rel(target, root)} does not exist")
    for src, natural, width, height in facts["images"]:
        if natural == 0:
            problem("image", f"<img src={src!r}> did not decode (naturalWidth 0)")
        elif width == 0 or height == 0:
            problem("image", f"<img src={src!r}> is drawn {width:g}x{height:g}")
    for name, width, height in facts["svgs"]:
        if width == 0 or height == 0:
            problem("svg", f"<svg> {name} is drawn {width:g}x{height:g}")
    for node, node_type, raw, url in facts["nodes"]:
        target = _local_path(url)
        if raw is None:
            problem("dag", f"node {node} ({node_type or 'type unknown'}) has no page")
        elif target is None or not os.path.isfile(target):
            problem("dag", f"node {node} links to {raw}, which is not a page here")
    for what, raw, url in facts["refs"]:
        if _scheme(raw) != "data" and _local_path(url) is None:
            problem("network", f"{what} = {raw}")
    for name in facts["resources"]:
        if _scheme(name) not in ("file", "data", "blob"):
            problem("network", f"the page requested {name}")
    with open(path, encoding="utf-8", errors="replace") as f:
        source = f.read()
    for match in _CSS_FETCH.finditer(source):
        problem(
            "network", f"CSS fetches from elsewhere: {source[match.start() : match.end() + 40]!r}"
        )
    for entry in driver.get_log("browser"):
        if entry.get("level") == "SEVERE":
            problem("console", entry.get("message", str(entry)))
    return problems, facts


def technique_pages(nodes: dict[str, str | None]) -> dict[str, str]:
    """`TECHNIQUES` key -> the page of its first node that has one (absent: none)."""
    chosen = {}
    for technique, prefixes in TECHNIQUES.items():
        for prefix in prefixes:  # in order of preference
            match = next((p for n, p in nodes.items() if n.startswith(prefix) and p), None)
            if match:
                chosen[technique] = match
                break
    return chosen


def check_run(
    root: str,
    screenshots: str | None = None,
    page: str = REPORT_FILE,
    driver=None,
    take_screenshots: bool = True,
) -> Result:
    """Checks the run page under `root` and every local `.html` page it links to.

    Args:
      root: the run root.
      screenshots: the screenshots' folder; default `<root>/screenshots`.
      page: the run page, relative to `root`.
      driver: a WebDriver from `browser()` to reuse; None starts (and quits) one.
      take_screenshots: False saves none.

    Returns:
      The problems, pages, DAG nodes and screenshots (`Result`).

    Raises:
      BrowserMissing: no `driver` was given and the browser is not installed.
    """
    if driver is None:
        with browser() as own:
            return check_run(root, screenshots, page, own, take_screenshots)
    root = os.path.abspath(root)
    shots = os.path.abspath(screenshots or os.path.join(root, "screenshots"))
    result = Result()
    run_page = os.path.join(root, page)
    if not os.path.isfile(run_page):
        result.problems.append(Problem(page, "link", "the run page does not exist"))
        return result
    first = os.path.join(shots, RUN_PAGE_SHOT) if take_screenshots else None
    problems, facts = check_page(driver, run_page, root, first)
    result.problems += problems
    result.pages.append(page)
    if first:
        result.screenshots["run_page"] = first
    if not facts["dag"]:
        result.problems.append(Problem(page, "dag", "the run page draws no DAG"))
    for node, node_type, _, url in facts["nodes"]:
        target = _local_path(url)
        result.nodes[node] = _rel(target, root) if target and os.path.isfile(target) else None
        result.node_types[node] = node_type
    shot_of = {p: t for t, p in technique_pages(result.nodes).items()} if take_screenshots else {}
    linked = [_local_path(url) for _, url in facts["links"]]
    for target in dict.fromkeys(t for t in linked if t and t.endswith(".html")):
        if not os.path.isfile(target) or os.path.samefile(target, run_page):
            continue  # a missing page is already a problem of the run page's
        rel = _rel(target, root)
        technique = shot_of.get(rel)
        node = next((n for n, p in result.nodes.items() if p == rel), "")
        shot = os.path.join(shots, f"{technique}_{node}.png") if technique else None
        problems, _ = check_page(driver, target, root, shot)
        result.problems += problems
        result.pages.append(rel)
        if shot:
            result.screenshots[technique] = shot
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: checks ROOT, prints each problem; 1 if any, 2 without a browser."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="a run root (holds report.html)")
    parser.add_argument("--screenshots", help="where to save them (default ROOT/screenshots)")
    parser.add_argument("--no-screenshots", action="store_true", help="save none")
    parser.add_argument("--page", default=REPORT_FILE, help="the run page, relative to ROOT")
    args = parser.parse_args(argv)
    try:
        result = check_run(
            args.root,
            args.screenshots,
            args.page,
            take_screenshots=not args.no_screenshots,
        )
    except BrowserMissing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in result.problems:
        print(p)
    for name, path in result.screenshots.items():
        print(f"screenshot {name}: {path}")
    missing = sorted(set(TECHNIQUES) - set(result.screenshots))
    if missing and not args.no_screenshots:
        print(f"no page for: {', '.join(missing)}")
    print(f"{len(result.pages)} pages, {len(result.problems)} problems")
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
