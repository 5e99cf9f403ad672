"""The HTML report in a real headless browser (Chromium, driven by Playwright).

The report is written once by ``authsim report`` (a short server-crash run, so every
kind of content is there: events, windows, hatched servers) and opened through
``file://``. It must load with no console error and no failed request, every image must
decode, the page must not be blank, fit a 390 px wide phone screen, and keep a WCAG AA
contrast (4.5:1) for text in both colour schemes. Its headline is on the first screen,
every table fits a 1024 px screen and a 390 px phone with no column cut off (as a table
or reflowed into cards), and a dark colour scheme shows the dark rendering of every
figure. A second report, with a testbed section (``--testbed``), must show that section
on a phone with no table scrolling sideways.

Chromium comes from the system (Debian's ``chromium`` package): Playwright cannot
download its own browser without a network. ``AUTHSIM_CHROMIUM`` names another binary.
With no Chromium the tests fail (they are part of CI), saying what to install.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright
from test_report_testbed import TINY, make_result, write_testbed_folder
from typer.testing import CliRunner

from simulator.cli.app import app
from simulator.present import report
from simulator.present.plots import TIMESERIES_METRICS

pytestmark = pytest.mark.slow  # starts a headless Chromium
FIGURES = 2 + len(TIMESERIES_METRICS) + 1
CRASH = [
    "server-crash",
    "--set",
    "duration_s=30",
    "--set",
    "warmup_s=5",
    "--set",
    "events=[{at_s: 12, kind: server_crash, server: 2}, "
    "{at_s: 20, kind: server_recover, server: 2}]",
]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
PHONE = {"width": 390, "height": 844}
SCREEN = {"width": 1024, "height": 768}
AA_CONTRAST = 4.5
TEXT_SELECTORS = (
    "body, p, li, a, h1, h2, h3, h4, caption > span, th, td, figcaption, code, pre, dt, dd"
)


MISSING_CHROMIUM = (
    "no Chromium found for the report's browser test: install Debian's chromium package "
    "(apt-get install chromium) or set AUTHSIM_CHROMIUM to a Chromium binary"
)


def find_chromium() -> str | None:
    """The Chromium binary: ``$AUTHSIM_CHROMIUM``, else the first of
    :data:`CHROMIUM_NAMES` on PATH; ``None`` when there is none."""
    configured = os.environ.get("AUTHSIM_CHROMIUM")
    if configured:
        return shutil.which(configured) or (configured if Path(configured).is_file() else None)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    target = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(app, ["report", *CRASH, "-o", str(target)])
    assert result.exit_code == 0, result.stderr
    assert target.is_file()
    return target.resolve().as_uri()


@pytest.fixture(scope="module")
def testbed_report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A short run's report with a testbed section (its own figures not drawn: the
    section is what is looked at)."""
    folder = tmp_path_factory.mktemp("testbed")
    warning = "the load generator fell behind its schedule by 40 ms (p99)"
    write_testbed_folder(folder / "tb", make_result(warning=warning))
    target = folder / "report.html"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "figure_groups", lambda result, progress=None: [])
        result = CliRunner().invoke(
            app,
            ["report", *TINY, "--testbed", str(folder / "tb"), "-o", str(target)],
        )
    assert result.exit_code == 0, result.stderr
    return target.resolve().as_uri()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser | None]:
    """Chromium, headless; ``None`` when it is missing (each test then fails, in one
    line: :func:`open_page`)."""
    executable = find_chromium()
    if executable is None:
        yield None
        return
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            launched.close()


def open_page(
    browser: Browser | None, url: str, **options: Any
) -> tuple[Page, dict[str, list[str]]]:
    """A new page at ``url``, with the problems seen while it loaded; fails the test when
    there is no browser."""
    if browser is None:
        configured = os.environ.get("AUTHSIM_CHROMIUM")
        detail = f"AUTHSIM_CHROMIUM={configured}: no such browser; " if configured else ""
        pytest.fail(detail + MISSING_CHROMIUM, pytrace=False)
    page = browser.new_page(**options)
    problems: dict[str, list[str]] = {"console": [], "page": [], "failed": [], "remote": []}

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems["console"].append(message.text)

    def on_request(request: Request) -> None:
        if not request.url.startswith(("file:", "data:")):
            problems["remote"].append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems["page"].append(str(error)))
    page.on("requestfailed", lambda request: problems["failed"].append(request.url[:120]))
    page.on("request", on_request)
    page.goto(url, wait_until="load")
    return page, problems


def test_loads_with_no_error_and_no_failed_request(
    browser: Browser | None, report_url: str
) -> None:
    page, problems = open_page(browser, report_url)
    try:
        assert page.title() == "authsim report: server-crash"
        assert problems == {"console": [], "page": [], "failed": [], "remote": []}
    finally:
        page.close()


def test_every_image_decodes(browser: Browser | None, report_url: str) -> None:
    page, _ = open_page(browser, report_url)
    try:
        images = page.evaluate(
            """async () => Promise.all([...document.images].map(async (img) => {
                let decoded = true, error = "";
                try { await img.decode(); } catch (e) { decoded = false; error = String(e); }
                return {alt: img.alt, complete: img.complete, width: img.naturalWidth,
                        height: img.naturalHeight, decoded, error};
            }))"""
        )
    finally:
        page.close()
    assert len(images) == FIGURES
    for image in images:
        assert image["complete"], image
        assert image["decoded"], image
        assert image["width"] > 0 and image["height"] > 0, image
        assert image["alt"].strip(), image


def test_screenshot_is_not_blank(browser: Browser | None, report_url: str, tmp_path: Path) -> None:
    page, _ = open_page(browser, report_url, viewport={"width": 1280, "height": 900})
    try:
        shot = page.screenshot(full_page=True, path=tmp_path / "report.png")
    finally:
        page.close()
    image = Image.open(io.BytesIO(shot)).convert("RGB")
    assert image.width == 1280 and image.height > 5000  # tables, text and nine figures
    colours = image.getcolors(maxcolors=1 << 24)
    assert colours is not None and len(colours) > 1000
    assert max(ImageStat.Stat(image).stddev) > 20
    top = image.crop((0, 0, 1280, 900))
    assert max(ImageStat.Stat(top).stddev) > 10  # the first screen has text on it


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_fits_a_phone_screen(browser: Browser | None, report_url: str, scheme: str) -> None:
    page, problems = open_page(browser, report_url, viewport=PHONE, color_scheme=scheme)
    try:
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        widest = page.evaluate(
            "Math.max(...[...document.images].map((img) => img.getBoundingClientRect().right))"
        )
    finally:
        page.close()
    assert inner == PHONE["width"]
    assert width <= inner
    assert widest <= inner
    assert not problems["console"] and not problems["page"]


# Per table (the collapsed parameters opened first): its wrapper's scroll and client
# widths, whether its header row is shown, the visible cells that reach past the
# wrapper's edges, and the cells of a row shown as a card that do not name their column.
_TABLES_JS = """() => {
  for (const details of document.querySelectorAll("details")) details.open = true;
  return [...document.querySelectorAll(".table-wrap")].map((wrap) => {
    const table = wrap.querySelector("table");
    const box = wrap.getBoundingClientRect();
    const head = table.querySelector("thead");
    const headShown = head.getBoundingClientRect().width > 2;
    const cells = [...table.querySelectorAll(headShown ? "th, td" : "tbody th, tbody td")]
      .filter((cell) => cell.getClientRects().length && cell.textContent.trim());
    const cut = cells.filter((cell) => {
      const rect = cell.getBoundingClientRect();
      return rect.left < box.left - 0.5 || rect.right > box.right + 0.5;
    }).map((cell) => cell.textContent.trim().slice(0, 30));
    const unnamed = headShown ? 0 : [...table.querySelectorAll("tbody td")]
      .filter((cell) => cell.getClientRects().length && !cell.dataset.label).length;
    return {id: table.querySelector("caption").id, scroll: wrap.scrollWidth,
            client: wrap.clientWidth, headShown, cut, unnamed,
            columns: table.querySelectorAll("thead th").length};
  });
}"""


@pytest.mark.parametrize("viewport", [SCREEN, PHONE], ids=["1024px", "390px"])
def test_every_table_fits_with_no_column_cut_off(
    browser: Browser | None, report_url: str, viewport: dict[str, int]
) -> None:
    page, problems = open_page(browser, report_url, viewport=viewport)
    try:
        headline = page.locator("section.answer").bounding_box()
        tables = page.evaluate(_TABLES_JS)
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    finally:
        page.close()
    assert headline is not None
    assert headline["y"] + headline["height"] <= viewport["height"]  # the answer, first screen
    ids = {table["id"] for table in tables}
    assert ids == {
        "table-parameters",
        "table-timeline",
        "table-summary",
        "table-outcomes",
        "table-windows",
    }
    for table in tables:
        assert table["scroll"] <= table["client"], table  # nothing to scroll sideways to
        assert not table["cut"], table  # no cell past the edges
        assert table["unnamed"] == 0, table  # a card names every value's column
    shown = {table["id"]: table["headShown"] for table in tables}
    if viewport is SCREEN:
        assert shown["table-summary"] and shown["table-outcomes"]  # real tables on a screen
    else:
        assert not shown["table-summary"]  # cards on a phone
    assert width <= inner
    assert not problems["console"] and not problems["page"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_figures_follow_the_colour_scheme(
    browser: Browser | None, report_url: str, scheme: str
) -> None:
    page, _ = open_page(browser, report_url, color_scheme=scheme)
    try:
        shown = page.evaluate(
            """async () => Promise.all([...document.querySelectorAll("picture")].map(
                async (picture) => {
                  const img = picture.querySelector("img");
                  await img.decode();
                  return {current: img.currentSrc, light: img.src,
                          dark: picture.querySelector("source").srcset,
                          width: img.naturalWidth,
                          background: getComputedStyle(img).backgroundColor};
                }))"""
        )
    finally:
        page.close()
    assert len(shown) == FIGURES
    for image in shown:
        assert image["dark"] != image["light"]
        assert image["current"] == (image["dark"] if scheme == "dark" else image["light"])
        assert image["width"] > 0


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 channels)."""

    def linear(channel: float) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


# Each visible element with its own text: its colour, and the background it is drawn on
# (the first ancestor with an opaque background; the page's canvas otherwise).
_COLOURS_JS = """(selector) => {
  const parse = (text) => {
    const parts = text.match(/[\\d.]+/g).map(Number);
    return parts.length === 4 ? parts : [...parts, 1];
  };
  const background = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) return colour;
    }
    return parse(getComputedStyle(document.documentElement).backgroundColor || "rgb(255,255,255)");
  };
  const seen = new Map();
  for (const element of document.querySelectorAll(selector)) {
    const own = [...element.childNodes].some(
      (node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
    if (!own || !element.getClientRects().length) continue;
    const style = getComputedStyle(element);
    if (style.visibility === "hidden") continue;
    const tag = element.tagName.toLowerCase();
    const key = tag + ": " + style.color + " on " + background(element).join(",");
    if (!seen.has(key)) {
      seen.set(key, {tag, text: element.textContent.trim().slice(0, 40),
                     colour: parse(style.color), background: background(element)});
    }
  }
  return [...seen.values()];
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(browser: Browser | None, report_url: str, scheme: str) -> None:
    page, _ = open_page(browser, report_url, color_scheme=scheme)
    try:
        pairs = page.evaluate(_COLOURS_JS, TEXT_SELECTORS)
        canvas = page.evaluate("getComputedStyle(document.body).backgroundColor")
    finally:
        page.close()
    tags = {pair["tag"] for pair in pairs}
    assert tags >= {"p", "td", "th", "h1", "h2", "h3", "h4", "span", "figcaption", "code"}
    if scheme == "dark":
        assert canvas != "rgb(255, 255, 255)"  # the dark scheme really is dark
    for pair in pairs:
        colour, background = pair["colour"], pair["background"]
        assert background[3] == 1, pair  # an opaque background was found
        alpha = colour[3]
        blended = tuple(
            c * alpha + b * (1 - alpha) for c, b in zip(colour, background, strict=False)
        )
        ratio = contrast(blended[:3], tuple(background[:3]))
        assert ratio >= AA_CONTRAST, (scheme, pair, round(ratio, 2))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_testbed_section_fits_a_phone_screen(
    browser: Browser | None, testbed_report_url: str, scheme: str
) -> None:
    page, problems = open_page(browser, testbed_report_url, viewport=PHONE, color_scheme=scheme)
    try:
        section = page.locator("section[aria-labelledby=testbed]")
        assert section.is_visible()
        tables = section.locator(".table-wrap").evaluate_all(
            "(wraps) => wraps.map((wrap) => [wrap.scrollWidth, wrap.clientWidth])"
        )
        image = section.locator("img").evaluate(
            "async (img) => { await img.decode(); "
            "return [img.naturalWidth, img.getBoundingClientRect().right]; }"
        )
        width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        pairs = section.evaluate(
            f"(section) => ({_COLOURS_JS})('section[aria-labelledby=testbed] :is(p, th, td, "
            "caption > span, h2, h3, strong, figcaption)')"
        )
    finally:
        page.close()
    assert len(tables) == 2  # local and jwt
    for scroll, client in tables:
        assert scroll <= client, (scheme, scroll, client)  # no sideways scrolling
    assert image[0] > 0 and image[1] <= inner
    assert width <= inner
    assert not problems["console"] and not problems["page"]
    assert {pair["tag"] for pair in pairs} >= {"p", "th", "td", "h2", "h3", "strong"}
    for pair in pairs:
        ratio = contrast(tuple(pair["colour"][:3]), tuple(pair["background"][:3]))
        assert ratio >= AA_CONTRAST, (scheme, pair, round(ratio, 2))
