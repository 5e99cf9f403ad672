"""Hostile YAML and ``--set`` values: every case ends in a scenario or one line, exit 2.

The audit of issue #20 found loaders that crashed (deep nesting, UTF-16, a 5,000-digit
integer, tags with bad values), hung (an alias bomb, a 50 MB file, ``/dev/zero``) or
silently replaced a section (a key written twice). Here: the bounded reader itself
(:mod:`simulator.scenario.safe_yaml`), a table of hostile files through ``authsim run``
(each within 10 s, and every child within 500 MB), and property tests over generated
hostile documents and ``--set`` values through :func:`simulator.load_scenario`.
"""

from __future__ import annotations

import codecs
import os
import resource
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import load_scenario
from simulator.errors import ScenarioError
from simulator.scenario import safe_yaml


def alias_bomb(levels: int, key: str = "strategies") -> str:
    """A "billion laughs": each level repeats the one before nine times."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    lines.append(f"{key}: [" + ", ".join([f"*l{levels - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the reader


def test_a_scenario_with_a_utf8_byte_order_mark_reads(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(codecs.BOM_UTF8 + b"name: caf\xc3\xa9\n")
    assert safe_yaml.parse(safe_yaml.read_file(path)) == {"name": "café"}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("name: x\n".encode("utf-16"), "not UTF-8"),
        ("name: café\n".encode("latin-1"), "not UTF-8"),
        (b"name: x\n" + b"#" * safe_yaml.MAX_FILE_BYTES, "allowed"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    with pytest.raises(safe_yaml.UnsafeYamlError, match=problem):
        safe_yaml.read_file(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_devices_and_links_to_them_are_not_read(tmp_path: Path) -> None:
    link = tmp_path / "zero.yaml"
    link.symlink_to("/dev/zero")
    for path in (Path("/dev/zero"), link):
        with pytest.raises(safe_yaml.UnsafeYamlError, match="not a regular file"):
            safe_yaml.read_file(path)
    with pytest.raises(safe_yaml.UnsafeYamlError, match="not a regular file"):
        safe_yaml.read_file(tmp_path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: " + "[" * 10_000 + "]" * 10_000, "nested more than"),
        ("a: " + "[" * 40 + "]" * 40, "nested more than 32"),
        (alias_bomb(9), "more than 100,000 values"),
        ("a: &a [*a]\n", "nested more than"),  # an alias inside itself: endless
        ("seed: " + "9" * 5_000, "4,300 digits"),
        ("seed: !!float x", "does not parse"),
        ("seed: !!int x", "does not parse"),
        ("seed: !!bool x", "does not parse"),
        ("seed: !!timestamp 2020-13-45", "does not parse"),
        ("seed: !!python/object:os.system x", "could not determine a constructor"),
        ("cluster:\n  servers: 3\ncluster:\n  workers_per_server: 2\n", "written twice"),
        ("a: 1\nb: {c: 1, c: 2}\n", "written twice"),
        ("a: [1, 2", "invalid YAML at line"),
    ],
)
def test_hostile_documents_are_refused_in_one_line(text: str, problem: str) -> None:
    with pytest.raises(safe_yaml.UnsafeYamlError, match=problem) as raised:
        safe_yaml.parse(text)
    assert "\n" not in str(raised.value)


def test_a_merge_key_may_be_overridden_on_purpose() -> None:
    text = "base: &base {servers: 2, workers: 1}\ncluster:\n  <<: *base\n  servers: 5\n"
    assert safe_yaml.parse(text)["cluster"] == {"servers": 5, "workers": 1}


def test_aliases_under_the_bound_still_read() -> None:
    document = safe_yaml.parse(alias_bomb(3))
    assert len(document["strategies"]) == 9 and len(document["strategies"][0]) == 9


def test_a_long_set_value_is_refused() -> None:
    with pytest.raises(safe_yaml.UnsafeYamlError, match="characters"):
        safe_yaml.parse_text("x" * (safe_yaml.MAX_TEXT_CHARS + 1))


# ------------------------------------------------------- through the command line

HOSTILE_FILES: dict[str, bytes] = {
    "deep": b"name: x\ncluster: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
    "utf16": "name: x\n".encode("utf-16"),
    "latin1": "name: café\n".encode("latin-1"),
    "long-integer": b"seed: " + b"9" * 5_000 + b"\n",
    "bad-float": b"seed: !!float x\n",
    "bad-timestamp": b"seed: !!timestamp 2020-13-45\n",
    "duplicate-section": b"cluster:\n  servers: 3\ncluster:\n  workers_per_server: 2\n",
    "alias-bomb": alias_bomb(9).encode(),
    "fifty-megabytes": b"name: x\n" + b"#" * (50 * 1024 * 1024) + b"\n",
    "calibration-device": b"calibration: /dev/zero\n",
    "a-list": b"- a\n- b\n",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(HOSTILE_FILES))
def test_hostile_files_end_in_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_bytes(HOSTILE_FILES[case])
    done = subprocess.run(
        [sys.executable, "-m", "simulator", "run", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(path) in lines[0] or "/dev/zero" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing written
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert peak_mb < 500, f"a child reached {peak_mb:.0f} MB"


# ----------------------------------------------------------- property tests

_SCALARS = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            *("!!float x", "!!int x", "!!bool x", "!!timestamp 2020-13-45", "~", "null"),
            *("''", "jwt", "[/x]", "*undefined", "&a", "<<", "? x", "!!binary x", "9" * 4_400),
        ]
    ),
    st.text(max_size=20),
)
_KEYS = st.sampled_from(
    [
        *("name", "seed", "duration_s", "warmup_s", "strategies", "cluster", "servers"),
        *("users", "workload", "jwt", "ttl_s", "events", "calibration", "<<", "x", "cluster"),
    ]
)


@st.composite
def hostile_documents(draw: st.DrawFn) -> bytes:
    """A scenario-like YAML document with hostile parts: deep nesting, aliases (some
    defined, some not, some bombs), tags, huge numbers, duplicate keys, odd encodings."""
    lines = [f"{draw(_KEYS)}: {draw(_SCALARS)}" for _ in range(draw(st.integers(0, 6)))]
    depth = draw(st.integers(0, 200))
    if depth:
        lines.append(f"{draw(_KEYS)}: " + "[" * depth + draw(_SCALARS) + "]" * depth)
    if draw(st.booleans()):
        lines.append(alias_bomb(draw(st.integers(1, 9)), draw(_KEYS)))
    text = "\n".join(lines) + "\n"
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace")


@settings(
    max_examples=150,
    deadline=timedelta(seconds=10),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=hostile_documents())
def test_any_hostile_document_gives_a_scenario_or_one_line(tmp_path: Path, document: bytes) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(document)
    try:
        load_scenario(path)
    except ScenarioError as exc:
        assert "\n" not in str(exc)


_SET_KEYS = st.sampled_from(
    [
        *("seed", "duration_s", "strategies", "cluster.servers", "workload.users"),
        *("jwt.ttl_s", "cluster.service_time_ms", "events", "name", "load_balancer.policy"),
        "calibration",
    ]
)


@settings(max_examples=150, deadline=timedelta(seconds=10))
@given(
    key=_SET_KEYS,
    value=st.one_of(
        _SCALARS,
        st.integers(0, 300).map(lambda depth: "[" * depth + "1" + "]" * depth),
        st.integers(1, 9).map(lambda levels: "{" + alias_bomb(levels).replace("\n", ", ") + "}"),
        st.text(max_size=200),
    ),
)
def test_any_hostile_set_value_gives_a_scenario_or_one_line(key: str, value: str) -> None:
    try:
        load_scenario("baseline", [f"{key}={value}"])
    except ScenarioError as exc:
        assert "\n" not in str(exc)


# ------------------------------------------------- secrets and calibration profiles

SHADOW = "root:$6$SECRETSALT$SECRETHASH:19000:0:99999:7:::\nbob:$y$SECRET2:19000:0:99999:7:::\n"


def test_a_file_that_is_not_a_scenario_is_never_echoed(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text(SHADOW, encoding="utf-8")
    for attempt in (
        lambda: load_scenario(secret),
        lambda: load_scenario("baseline", [f"calibration={secret}"]),
    ):
        with pytest.raises(ScenarioError) as raised:
            attempt()
        message = str(raised.value)
        assert "SECRET" not in message and "$6$" not in message, message
        assert "unknown key" in message


@pytest.mark.parametrize(
    "profile",
    [
        "jwt:\n  verify_us: {HS256: -5}\n",
        "jwt:\n  verify_us: {HS256: .nan}\n",
        "jwt:\n  sign_us: {HS256: .inf}\n",
        "jwt:\n  token_bytes: {HS256: 0}\n",
        "login: {pbkdf2_sha256_ms: .nan, iterations: 600000}\n",
        "login: {pbkdf2_sha256_ms: .inf, iterations: 600000}\n",
        "- a list\n",
    ],
)
def test_a_profile_with_impossible_costs_is_refused(tmp_path: Path, profile: str) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(profile, encoding="utf-8")
    with pytest.raises(ScenarioError) as raised:
        load_scenario("baseline", [f"calibration={path}"])
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


# ----------------------------------------------------------------- float traps


@pytest.mark.parametrize(
    "setting",
    [
        "warmup_s=119.99999999999999",  # one ulp below duration_s: buckets of 1e-16 s
        "warmup_s=119.9995",
        "load_balancer.health_check_interval_s=1.0e-300",  # never advances the clock
        "jwt.sync_s=1.0e-300",
        "bucket_s=1.0e-7",
        "bucket_s=5.0e-324",
    ],
)
def test_periods_that_would_never_advance_the_clock_are_refused(setting: str) -> None:
    with pytest.raises(ScenarioError, match=setting.split("=", maxsplit=1)[0]):
        load_scenario("baseline", ["duration_s=120", setting])


def test_a_periodic_process_of_billions_of_steps_needs_allow_large() -> None:
    from simulator.scenario import budget  # noqa: PLC0415

    scenario = load_scenario(
        "baseline",
        [
            "duration_s=100000000",
            "load_balancer.health_check_interval_s=0.001",
            "workload.arrival_rate_per_s=0.001",
        ],
    )
    with pytest.raises(ScenarioError, match=r"health_check_interval_s: every 0\.001 s"):
        budget.check(scenario, allow_large=False)
    budget.check(scenario, allow_large=True)  # allowed on purpose: it ends, slowly


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ("{at_s: 10, kind: traffic_spike, multiplier: 1.0e+300, duration_s: 5}", "1000"),
        ("{at_s: 10, kind: scale_out, count: 1000000000}", "100000"),
        ("{at_s: 10, kind: scale_in, count: 1000000000}", "100000"),
    ],
)
def test_sizes_that_would_never_end_are_refused_even_when_large_runs_are_allowed(
    tmp_path: Path, event: str, problem: str
) -> None:
    path = tmp_path / "event.yaml"
    path.write_text(f"duration_s: 60\nevents:\n  - {event}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=problem):
        load_scenario(path)  # a model bound, not a size limit: --allow-large cannot lift it
