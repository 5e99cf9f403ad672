"""``authsim report``: the explanation is computed from the numbers, the page holds every
table and figure, needs nothing from the network, parses as strict HTML, and the command
writes it (or says in one line why it cannot)."""

from __future__ import annotations

import base64
import dataclasses
import io
import itertools
import re
import shlex
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path
from typing import Any

import html5lib
import numpy as np
import pytest
from markupsafe import escape
from PIL import Image
from typer.testing import CliRunner

import simulator.present.plots
from simulator.cli.app import app
from simulator.model.run import run
from simulator.present import report
from simulator.present.explain import Paragraph, explain, explanation_text
from simulator.present.headline import headline
from simulator.present.plots import TIMESERIES_METRICS
from simulator.present.report_figures import DARK_BACKGROUND, dark_png
from simulator.present.report_flat import FLAT_FLOOR_PP, FLAT_METRICS, flat_note
from simulator.present.report_tables import CARD_COLUMNS
from simulator.results.records import RunResult
from simulator.scenario.loading import load_scenario
from simulator.scenario.models import Scenario

runner = CliRunner()
SHORT = ["duration_s=20", "warmup_s=5"]
CRASH_EVENTS = (
    "events=[{at_s: 12, kind: server_crash, server: 2}, "
    "{at_s: 20, kind: server_recover, server: 2}]"
)
CRASH = ["duration_s=30", "warmup_s=5", CRASH_EVENTS]
FIGURES = 2 + len(TIMESERIES_METRICS) + 1  # comparison, server load, time series, heatmap


def summary_run(name: str, overrides: list[str], strategies: list[str] | None = None) -> RunResult:
    return run(load_scenario(name, overrides), strategies, record_requests=False)


def topics(paragraphs: list[Paragraph]) -> dict[str, str]:
    return {paragraph.topic: paragraph.text for paragraph in paragraphs}


def pct(rate: float | None) -> str:
    assert rate is not None
    return f"{100 * rate:.1f}%"


@pytest.fixture(scope="module")
def baseline() -> RunResult:
    return summary_run("baseline", SHORT)


@pytest.fixture(scope="module")
def crash() -> RunResult:
    return summary_run("server-crash", CRASH)


@pytest.fixture(scope="module")
def crash_context(crash: RunResult) -> dict[str, Any]:
    return report.build_context(crash)


@pytest.fixture(scope="module")
def crash_html(crash: RunResult, crash_context: dict[str, Any]) -> str:
    return report._environment().get_template(report.TEMPLATE_NAME).render(crash_context)


@pytest.fixture(scope="module")
def crash_tree(crash_html: str) -> ET.Element:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    tree: ET.Element = parser.parse(crash_html)
    return tree


@pytest.fixture
def no_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip drawing (for tests about the rest of the page)."""
    monkeypatch.setattr(report, "figure_groups", lambda result, progress=None: [])


# ------------------------------------------------------------------ the explanation


def test_local_sentence_follows_the_number_of_servers() -> None:
    texts = {}
    for servers in (5, 10):
        result = summary_run("baseline", [*SHORT, f"cluster.servers={servers}"], ["local"])
        success = topics(explain(result))["Success"]
        texts[servers] = success
        assert f"1/N = {100 / servers:.1f}%" in success
        assert f"with {servers} servers" in success
        assert f"measured {pct(result['local'].success_rate)}" in success
        assert "close to theory" in success  # round robin behaves like 1/N here
        assert f"{result['local'].forced_relogins:,} forced re-logins" in success
    assert texts[5] != texts[10]


def test_sentences_quote_the_results(baseline: RunResult) -> None:
    paragraphs = topics(explain(baseline))
    assert list(paragraphs)[:5] == [
        "What was run",
        "Success",
        "Latency",
        "Load on the servers",
        "Errors",
    ]
    for item in baseline.results:
        assert f"{item.strategy} {pct(item.success_rate)}" in paragraphs["Success"]
    fastest = min(baseline.results, key=lambda item: item.latency_ms["mean"] or 0.0)
    assert f"{fastest.strategy}" in paragraphs["Latency"]
    assert "(the fastest)" in paragraphs["Latency"]
    store = baseline["shared_store"].store
    assert store is not None and store.mean_latency_ms is not None
    assert f"an operation took {store.mean_latency_ms:.2f} ms" in paragraphs["Latency"]
    assert f"{baseline['local'].requests:,} requests" in paragraphs["What was run"]
    assert "seed 1" in paragraphs["What was run"]
    # every sentence is a sentence
    for paragraph in explain(baseline):
        assert paragraph.sentences
        assert all(sentence.rstrip().endswith((".", ")")) for sentence in paragraph.sentences)


def test_store_round_trip_changes_the_latency_sentence() -> None:
    near = topics(explain(summary_run("baseline", SHORT, ["shared_store", "jwt"])))
    far = topics(
        explain(summary_run("baseline", [*SHORT, "shared_store.rtt_ms=5"], ["shared_store", "jwt"]))
    )
    assert "a 0.50 ms round trip" in near["Latency"]
    assert "a 5.00 ms round trip" in far["Latency"]
    assert "above jwt's" in far["Latency"]
    assert "M/M/1 theory gives 5.00 ms" in far["The session store"]


def test_sentences_about_absent_things_are_left_out() -> None:
    no_refresh = [*SHORT, "jwt.refresh=false"]  # no refresh tokens: jwt never asks the store
    result = summary_run("baseline", no_refresh, ["jwt", "sticky"])
    paragraphs = topics(explain(result))
    assert "What each event did" not in paragraphs  # no events
    assert "The session store" not in paragraphs  # nothing used the store
    assert "Revocation" not in paragraphs  # nobody was revoked
    assert "1/N" not in explanation_text(result)  # no local
    assert "timeline" not in paragraphs["What was run"]
    assert paragraphs["Errors"] == "No request ended in an error."


def test_events_say_what_each_event_did(crash: RunResult) -> None:
    paragraphs = topics(explain(crash))
    events = paragraphs["What each event did"]
    assert "crash server 2 at 12 s; recover server 2 at 20 s" in paragraphs["What was run"]
    before = crash["sticky"].windows[0]
    after = crash["sticky"].windows[1]
    assert after.forced_relogins_by_cause["session_lost"] > 0
    assert (
        f"sticky fell from {pct(before.success_rate)} to {pct(after.success_rate)} "
        f"({after.forced_relogins:,} forced re-logins: "
        f"{after.forced_relogins_by_cause['session_lost']:,} session lost)"
    ) in events
    assert "After crash server 2 (12–20 s)" in events
    assert "After recover server 2 (20–30 s)" in events
    assert "session lost means" in paragraphs["Forced re-logins"]
    assert "server_down means" in paragraphs["Errors"]


def test_revocation_exposure_is_explained() -> None:
    result = summary_run(
        "revocation",
        ["duration_s=30", "warmup_s=5", "events=[{at_s: 12, kind: revoke_user, count: 5}]"],
        ["sticky", "jwt"],
    )
    exposure = result["jwt"].exposure
    assert exposure is not None and exposure.accepted_after_revocation > 0
    text = topics(explain(result))["Revocation"]
    assert f"jwt still accepted {exposure.accepted_after_revocation:,} requests" in text
    assert f"for {exposure.mean_window_s:.1f} s on average" in text
    assert "sticky refuses a revoked credential at once" in text


def test_explain_is_pure(baseline: RunResult) -> None:
    assert explain(baseline) == explain(baseline)
    assert explain(RunResult(scenario=baseline.scenario, results=[])) == []


# ------------------------------------------------------------------ the page


def test_context_has_every_figure_as_a_png_data_uri(crash_context: dict[str, Any]) -> None:
    figures = [figure for group in crash_context["figure_groups"] for figure in group.figures]
    assert len(figures) == FIGURES
    assert len({figure.id for figure in figures}) == FIGURES
    for figure in figures:
        assert figure.src.startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(figure.src.split(",", 1)[1])))
        assert image.format == "PNG"
        assert image.size == (figure.width, figure.height)
        assert figure.width > 100 and figure.height > 100
        assert len(figure.alt) > 60


def test_alt_texts_carry_the_numbers(crash: RunResult, crash_context: dict[str, Any]) -> None:
    figures = {
        figure.id: figure for group in crash_context["figure_groups"] for figure in group.figures
    }
    comparison = figures["figure-comparison"].alt
    for item in crash.results:
        assert f"{item.strategy} {pct(item.success_rate)}" in comparison
    assert "1/N = 20.0%" in comparison
    load = figures["figure-server-load"].alt
    counts = crash["sticky"].server_requests
    assert f"sticky {min(counts):,} to {max(counts):,} per server" in load
    success = figures["figure-timeseries-success-rate"].alt
    assert "events marked: crash server 2 at 12 s, recover server 2 at 20 s" in success
    assert "lowest in the bucket starting at" in success
    heatmap = figures["figure-server-heatmap"].alt
    assert "server 2 from 12 s to" in heatmap  # the crashed server, hatched
    assert len({figure.alt for figure in figures.values()}) == FIGURES


def test_html_parses_strictly_and_is_self_contained(
    crash_html: str, crash_tree: ET.Element
) -> None:
    assert crash_html.startswith("<!doctype html>\n")
    assert crash_tree.get("lang") == "en"
    assert crash_tree.find("./head/meta[@charset='utf-8']") is not None
    viewport = crash_tree.find("./head/meta[@name='viewport']")
    assert viewport is not None and "width=device-width" in viewport.get("content", "")
    title = crash_tree.find("./head/title")
    assert title is not None and title.text == "authsim report: server-crash"
    assert not crash_tree.findall(".//script")
    for element in crash_tree.iter():
        for attribute in ("src", "href", "srcset", "poster", "data", "action"):
            value = element.get(attribute)
            if value is not None:
                assert value.startswith(("data:", "#")), (element.tag, value[:80])
    styles = " ".join(style.text or "" for style in crash_tree.iter("style"))
    assert "url(" not in styles and "@import" not in styles
    assert "http://" not in styles and "https://" not in styles


def test_every_img_has_alt_and_every_th_a_scope(crash_tree: ET.Element) -> None:
    images = crash_tree.findall(".//img")
    assert len(images) == FIGURES
    for image in images:
        assert (image.get("alt") or "").strip()
        assert image.get("src", "").startswith("data:image/png;base64,")
        assert int(image.get("width", "0")) > 0 and int(image.get("height", "0")) > 0
    headers = crash_tree.findall(".//th")
    assert headers
    assert all(th.get("scope") in {"col", "row"} for th in headers)
    for wrapper in crash_tree.iter("div"):
        if "table-wrap" in (wrapper.get("class") or ""):
            assert wrapper.get("tabindex") == "0" and wrapper.get("aria-labelledby")


def test_headings_are_in_order(crash_tree: ET.Element) -> None:
    levels = [
        int(element.tag[1])
        for element in crash_tree.iter()
        if element.tag in {f"h{n}" for n in range(1, 7)}
    ]
    assert levels[0] == 1 and levels.count(1) == 1
    for previous, current in itertools.pairwise(levels):
        assert current <= previous + 1


def test_page_holds_the_tables_explanation_and_reproduction(
    crash: RunResult, crash_html: str, crash_context: dict[str, Any]
) -> None:
    for paragraph in crash_context["explanation"]:
        assert str(escape(paragraph.text)) in crash_html
    assert crash_context["windows"] is not None
    assert "Between events: success and forced re-logins (by cause)" in crash_html
    assert "Timeline: the events as configured" in crash_html
    for item in crash.results:
        assert f"{item.requests:,}" in crash_html
    versions = crash_context["versions"]
    assert set(versions) == {"authsim", "Python", "SimPy", "PyJWT", "numpy", "matplotlib"}
    for name, version in versions.items():
        assert f"<dt>{name}</dt>" in crash_html and f"<dd>{version}</dd>" in crash_html
    assert str(escape(crash_context["command"])) in crash_html
    assert "--seed 5" in crash_context["command"]
    assert "<code>sticky</code>" in crash_html  # the description's `code` spans


def test_a_run_without_events_has_no_event_tables(baseline: RunResult, no_figures: None) -> None:
    html = report.render_report(baseline)
    assert "Between events" not in html
    assert "Timeline" not in html
    assert "What each event did" not in html
    html5lib.HTMLParser(strict=True).parse(html)


def test_text_is_escaped(baseline: RunResult, no_figures: None) -> None:
    scenario = baseline.scenario.with_overrides(
        {"name": "<b>bold</b>", "description": 'a <script>alert("x")</script> & `jwt`'}
    )
    html = report.render_report(RunResult(scenario=scenario, results=baseline.results))
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;" in html and "&amp;" in html and "<code>jwt</code>" in html
    html5lib.HTMLParser(strict=True).parse(html)


def parse_command(command: str) -> tuple[Scenario, list[str]]:
    words = shlex.split(command)
    assert words[:2] == ["authsim", "report"]
    ref, overrides, seed, strategies = words[2], [], None, []
    rest = iter(words[3:])
    for word in rest:
        value = next(rest)
        if word == "--set":
            overrides.append(value)
        elif word == "--seed":
            seed = int(value)
        elif word == "-s":
            strategies.append(value)
    scenario = load_scenario(ref, overrides)
    if seed is not None:
        scenario = scenario.with_overrides({"seed": seed})
    return scenario, strategies


@pytest.mark.parametrize(
    ("name", "overrides", "strategies"),
    [
        ("baseline", [], None),
        ("server-crash", CRASH, None),
        ("baseline", ["name=my run: 'quoted' & co", "cluster.servers=7", "seed=9"], ["jwt"]),
        (
            "traffic-spike",
            ["workload.rate_profile={shape: ramp, start_s: 1, end_s: 5, to_multiplier: 2}"],
            ["sticky", "local"],
        ),
        ("revocation", ["jwt.denylist=store", "jwt.algorithm=ES256", "strategies=[jwt]"], None),
    ],
)
def test_the_command_reproduces_the_scenario(
    name: str, overrides: list[str], strategies: list[str] | None
) -> None:
    scenario = load_scenario(name, overrides)
    command = report.reproduce_command(scenario, strategies)
    again, chosen = parse_command(command)
    assert again == scenario
    assert chosen == (strategies or [])
    assert f"--seed {scenario.seed}" in command


def test_command_starts_from_the_given_source(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nseed: 3\ncluster: {servers: 2}\n", encoding="utf-8")
    scenario = load_scenario(path, ["workload.users=50"])
    command = report.reproduce_command(scenario, source=str(path), out="r.html")
    assert command == f"authsim report {path} --set workload.users=50 --seed 3 -o r.html"
    assert parse_command(command)[0] == scenario


def test_the_template_ships_inside_the_package() -> None:
    template = resources.files("simulator.present").joinpath("templates", report.TEMPLATE_NAME)
    assert template.is_file()


def test_write_report_is_atomic(
    baseline: RunResult, tmp_path: Path, no_figures: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.html"
    assert report.write_report(baseline, target) == target
    first = target.read_text(encoding="utf-8")
    assert first.startswith("<!doctype html>")
    assert first == report.render_report(baseline)  # same run, same page

    def broken(*_: object, **__: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(report, "explain", broken)
    with pytest.raises(RuntimeError):
        report.write_report(baseline, target)
    assert target.read_text(encoding="utf-8") == first
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]


# ------------------------------------------------------------------ the answer first


def test_the_page_opens_with_the_headline(baseline: RunResult, no_figures: None) -> None:
    html = report.render_report(baseline)
    tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(html)
    header = tree.find(".//header")
    assert header is not None
    children = [child.tag for child in header]
    assert children[:2] == ["h1", "section"]  # right under the title
    section = header.find("section")
    assert section is not None and section.get("aria-labelledby") == "answer"
    items = ["".join(item.itertext()) for item in section.iter("li")]
    assert items == list(headline(baseline))
    assert len(items) == 3
    first_h2 = next(element for element in tree.iter() if element.tag == "h2")
    assert first_h2.get("id") == "answer"


def test_parameters_are_collapsed(crash_tree: ET.Element) -> None:
    details = crash_tree.findall(".//details")
    assert len(details) == 1
    assert details[0].get("open") is None  # closed by default
    summary = details[0].find("summary")
    assert summary is not None and "Parameters" in "".join(summary.itertext())
    assert details[0].find(".//caption[@id='table-parameters']") is not None
    # the results come before the parameters' values would; the timeline stays in view
    assert crash_tree.find(".//details//caption[@id='table-timeline']") is None


def test_wide_tables_become_cards(crash_context: dict[str, Any], crash_html: str) -> None:
    assert "stack" in crash_context["summary"].css_class.split()
    windows = crash_context["windows"]
    assert windows is not None and len(windows.header) > CARD_COLUMNS
    assert windows.css_class.split() == ["stack", "cards"]
    assert 'data-label="sticky users logged out"' in crash_html
    two = report.windows_table(summary_run("server-crash", CRASH, ["sticky", "jwt"]))
    assert two is not None and two.css_class == "stack"  # 9 columns: a table on a screen


# ------------------------------------------------------------------ flat figures


def test_flat_time_series_without_events_are_one_sentence(baseline: RunResult) -> None:
    assert not baseline.events
    note = flat_note(baseline, "success_rate")
    assert note is not None
    assert re.fullmatch(
        r"Success rate stayed within ±\d+\.\d points of each strategy's mean \(local "
        r"\d+\.\d%, sticky 100\.0%, shared_store 100\.0% and jwt 100\.0%\) in every "
        r"[\d.]+ s bucket, no more than chance variation for buckets of this size: no events, "
        r"nothing changes over time\.",
        note,
    ), note
    assert flat_note(baseline, "latency") is None  # no noise model: always drawn
    assert set(FLAT_METRICS) <= set(TIMESERIES_METRICS)


def test_a_run_with_events_keeps_every_figure(crash: RunResult) -> None:
    assert crash.events
    assert all(flat_note(crash, metric) is None for metric in TIMESERIES_METRICS)


def test_a_change_over_time_is_not_flat(baseline: RunResult) -> None:
    """The same run with one bucket of one strategy half served: no longer flat."""
    item = baseline["jwt"]
    assert item.series is not None
    succeeded = item.series.succeeded.copy()
    succeeded[3] = item.series.requests[3] // 2
    dented = dataclasses.replace(item, series=dataclasses.replace(item.series, succeeded=succeeded))
    results = [dented if other.strategy == "jwt" else other for other in baseline.results]
    assert flat_note(RunResult(scenario=baseline.scenario, results=results), "success_rate") is None
    # a change smaller than the floor (1 point) of a strategy at 100% stays flat
    assert FLAT_FLOOR_PP == 1.0


@pytest.fixture(scope="module")
def baseline_page(baseline: RunResult) -> tuple[dict[str, Any], str, list[str]]:
    """The baseline's report with small figures: its context, its HTML and the titles of
    the figures drawn."""
    drawn: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(simulator.present.plots.style, "DPI", 30)
        context = report.build_context(baseline, progress=drawn.append)
    html = report._environment().get_template(report.TEMPLATE_NAME).render(context)
    return context, html, drawn


@pytest.mark.slow  # draws the figures of a run without events
def test_flat_figures_are_not_drawn(
    baseline_page: tuple[dict[str, Any], str, list[str]],
) -> None:
    context, html, drawn = baseline_page
    over_time = next(group for group in context["figure_groups"] if group.id == "figures-time")
    notes = {figure.id: figure.note for figure in over_time.figures if figure.note}
    assert "figure-timeseries-success-rate" in notes
    assert "a metric that stayed flat is one sentence" in over_time.intro
    for figure in over_time.figures:
        if figure.note:
            assert figure.src == "" and figure.dark_src == ""
            assert figure.title not in drawn
        else:
            assert figure.src.startswith("data:image/png;base64,")
            assert figure.dark_src.startswith("data:image/png;base64,")
    for note in notes.values():
        assert f'<p class="flat">{escape(note)}</p>' in html


# ------------------------------------------------------------------ dark figures


def test_the_dark_rendering_inverts_greys_and_keeps_colours() -> None:
    image = Image.new("RGB", (4, 1))
    image.putdata([(255, 255, 255), (0, 0, 0), (64, 64, 64), (0, 114, 178)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    dark = Image.open(io.BytesIO(dark_png(buffer.getvalue()))).convert("RGB")
    white, black, grey, blue = (tuple(int(v) for v in pixel) for pixel in np.asarray(dark)[0])
    assert white == DARK_BACKGROUND  # the page's dark background
    assert black == (255, 255, 255)
    assert all(191 <= channel <= 200 for channel in grey)  # 255 - 64, lifted a little
    assert blue == (0, 114, 178)  # a strategy keeps its colour
    assert dark_png(b"not a png") == b""


def test_every_figure_has_a_dark_source(crash_tree: ET.Element) -> None:
    pictures = crash_tree.findall(".//picture")
    assert len(pictures) == FIGURES
    for picture in pictures:
        source, image = list(picture)
        assert source.tag == "source" and image.tag == "img"
        assert source.get("media") == "(prefers-color-scheme: dark)"
        assert source.get("srcset", "").startswith("data:image/png;base64,")
        assert source.get("srcset") != image.get("src")
        assert source.get("width") == image.get("width")


# ------------------------------------------------------------------ no NaN on the page

_DATA_URI = re.compile(r"data:[^\"\s]+")


def assert_no_nan(html: str) -> None:
    text = _DATA_URI.sub("data:", html)  # base64 may spell anything
    assert "NaN" not in text
    assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE), re.findall(r".{40}nan.{40}", text)
    assert ">None<" not in text


@pytest.mark.slow  # draws the figures, small
def test_no_nan_on_the_baseline_page(
    baseline_page: tuple[dict[str, Any], str, list[str]],
) -> None:
    assert_no_nan(baseline_page[1])


@pytest.mark.slow  # a run and its figures, small
def test_no_nan_on_the_store_outage_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulator.present.plots.style, "DPI", 30)
    outage = "events=[{kind: store_outage, at_s: 12, duration_s: 8}]"
    result = summary_run("store-outage", [*SHORT, "duration_s=30", outage])
    assert result.events
    assert_no_nan(report.render_report(result))


# ------------------------------------------------------------------ the command


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def sets(overrides: list[str]) -> list[str]:
    return [word for override in overrides for word in ("--set", override)]


@pytest.mark.slow  # a run and a full report with every figure (~2.5 s)
def test_report_command_writes_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        simulator.present.plots.style, "DPI", 40
    )  # small images: this test is about the file
    code, out, err = invoke("report", *sets(SHORT), "-s", "jwt", "-s", "local", "--seed", "4")
    assert code == 0, err
    target = Path("results") / "report-baseline.html"
    assert out.strip() == f"Wrote {target}"
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    html5lib.HTMLParser(strict=True).parse(html)
    flat = html.count('<p class="flat">')
    assert flat >= 1  # a run without events: its flat figures over time are sentences
    assert html.count("<img ") + flat == FIGURES
    assert html.count("<source ") == html.count("<img ")  # each drawn figure has a dark twin
    assert (
        "authsim report baseline --set duration_s=20 --set warmup_s=5 --seed 4 -s jwt -s local"
        in html
    )
    assert "1/N = 20.0%" in html
    assert [path.name for path in (tmp_path / "results").iterdir()] == ["report-baseline.html"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "cluster.server=3"], "did you mean 'servers'?"),
        (["--strategy", "jwtt"], "did you mean 'jwt'?"),
        (["no-such-scenario"], "no such file or built-in scenario"),
        (["--set", "cluster.servers=0"], "--set: cluster.servers: must be >= 1"),
    ],
)
def test_bad_input_is_one_line(args: list[str], expected: str) -> None:
    code, out, err = invoke("report", *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err
    assert "Traceback" not in err + out


def test_out_pointing_at_a_folder_is_one_line(tmp_path: Path) -> None:
    code, _, err = invoke("report", "-o", str(tmp_path))
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: --out: {tmp_path} is a folder; give a file name such as {tmp_path / 'report.html'}"
    ]


def test_unwritable_out_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    code, _, err = invoke("report", *sets(SHORT), "-s", "jwt", "-o", str(blocker / "r.html"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {blocker / 'r.html'}: cannot write the report")


def test_the_store_paragraph_describes_its_layout() -> None:
    single = topics(explain(summary_run("baseline", SHORT, ["shared_store"])))["The session store"]
    assert single.startswith(
        "The store: one single-threaded primary with 1 replica; reads go to the primary, and a "
        "failed primary is replaced after 30 s."
    )
    assert "the store handled" in single and "busiest node" not in single
    sharded = summary_run(
        "baseline",
        [*SHORT, "shared_store.shards=4", "shared_store.replicas=0"],
        ["shared_store"],
    )
    text = topics(explain(sharded))["The session store"]
    assert text.startswith("The store: 4 shards, each a single-threaded primary with 0 replicas;")
    assert "replaced after" not in text  # no replica to promote
    assert "its busiest node was busy" in text
    assert "For a single-threaded node at this load" in text
