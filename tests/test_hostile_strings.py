"""Hostile text through every command that prints user or token text (issue #20).

A table of hostile strings (Rich markup, terminal escapes and other control characters,
bidirectional overrides, emoji codes, 10 kB) is pushed through every place text from
outside reaches the output: a token's header (``typ``, ``alg``, ``kid``, ``crit``) and
claims (``sub``, ``iss``, ``aud``, ``jti``), the token itself, ``token issue`` options,
key folders, a scenario's ``name`` and ``description``, ``--out`` paths, ``--set`` values,
scenario arguments and sweep grid values. Every time: no traceback, the exit code the
command documents (0 done or valid; 1 an invalid token; 2 bad input), no raw control
character on stdout or stderr, and the text shown as it is (``[bold]eve`` as
``[bold]eve``, never as a bold ``eve``; ``\\x1b`` as those four characters).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from rich.text import Text
from typer.testing import CliRunner

from simulator import tokens
from simulator.cli.app import app
from simulator.cli.options import safe
from simulator.errors import AuthsimError, ScenarioError, one_line
from simulator.experiments.sweep import parse_grid
from simulator.scenario.loading import load_scenario

runner = CliRunner()

LONG = "[/x]" * 2500
"""10 kB of closing tags: longer than a token may be (8 KiB) or a file name (255 bytes)."""

HOSTILE: dict[str, str] = {
    "close-tag": "[/x]",
    "open-tag": "[bold]eve",
    "italic-close": "bob[/i]",
    "link": "[link=http://evil]x[/link]",
    "ansi-colour": "\x1b[31mred\x1b[0m",
    "carriage-return": "a\rb",
    "bell": "\x07",
    "controls": "c0\x01\x08\x0b\x0c\x1f del\x7f c1\x85\x9b",
    "newline-tab": "two\nlines\tand a tab",
    "backslashes": "\\[bold]x\\",
    "rtl-override": "admin\u202etxt.exe",
    "emoji": "😀 :skull: a\u200db",
    "invalid-utf8": "x\udcffy",  # what argv holds for the byte 0xFF (a lone surrogate)
    "10kB": LONG,
}
"""The hostile strings, by name (NUL-free: no argument or file name can hold a NUL)."""

CASES = [pytest.param(text, id=name) for name, text in HOSTILE.items()]

QUICK_RUN = ("-s", "jwt", "--set", "duration_s=1", "--set", "warmup_s=0")
"""A run of a fraction of a second."""


# ----------------------------------------------------------------------- checks


def squash(text: str) -> str:
    """``text`` without whitespace: what survives Rich wrapping a long line."""
    return "".join(text.split())


def invoke(*args: str, code: int) -> Result:
    """Run ``authsim args`` and check what every hostile input must give: exit ``code``,
    no traceback, no exception other than the exit, no raw control character."""
    result = runner.invoke(app, list(args))
    output = result.stdout + result.stderr
    assert result.exit_code == code, (args[:3], output[-2000:])
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    raw = sorted({char for char in output if not char.isprintable() and char != "\n"})
    assert not raw, f"raw control characters on the terminal: {raw!r}"
    if code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    return result


def assert_shown(text: str, output: str) -> None:
    """``text`` appears as it is (control characters escaped), not read as markup; only
    for text short enough to stay on one line (a long one is folded into a table)."""
    if len(text) < 100:
        assert squash(one_line(text)) in squash(output), (text, output[-2000:])


def too_long(path: Path) -> bool:
    """Whether the system refuses ``path``: a name over 255 bytes, or 4 kB in all."""
    return len(os.fsencode(path)) >= 4096 or any(
        len(os.fsencode(part)) > 255 for part in path.parts
    )


@pytest.mark.parametrize("text", CASES)
def test_safe_shows_the_text_as_it_is(text: str) -> None:
    # between tags, as the commands use it (a trailing backslash is doubled by
    # rich.markup.escape so that it cannot escape the tag after it)
    marked_up = f"[bold]{safe(text)}[/] · [dim]{safe(text)}[/]"
    shown = Text.from_markup(marked_up, emoji=False).plain  # as every console: emoji=False
    assert shown == f"{one_line(text)} · {one_line(text)}"
    assert shown.isprintable()


# ----------------------------------------------------------------------- tokens


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a saved HS256 key."""
    folder = tmp_path_factory.mktemp("keys")
    tokens.save_key(tokens.generate_key("HS256"), folder)
    return folder


def sign(key_dir: Path, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An HS256 token signed with the saved key, whatever its header says."""
    key = tokens.load_key("HS256", key_dir)
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    secret = key.signing_key
    assert isinstance(secret, bytes)
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def good_parts(key_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a valid token for the saved key."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": tokens.load_key("HS256", key_dir).kid}
    claims = {
        "sub": "alice",
        "iss": tokens.DEFAULT_ISSUER,
        "aud": tokens.DEFAULT_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "j-1",
    }
    return header, claims


def fits(token: str) -> bool:
    return len(token) <= tokens.DEFAULT_MAX_TOKEN_BYTES


def test_a_valid_token_works(key_dir: Path) -> None:
    token = sign(key_dir, *good_parts(key_dir))
    result = invoke("token", "verify", token, "-a", "HS256", "--key-dir", str(key_dir), code=0)
    assert result.stdout.startswith("valid")


HEADER_FIELDS = ("alg", "typ", "crit", "kid")
"""The header fields the verifier checks, in its order: each is reached only when those
before it are right."""


@pytest.mark.parametrize("text", CASES)
def test_hostile_header_fields(text: str, key_dir: Path) -> None:
    header, claims = good_parts(key_dir)
    for field in HEADER_FIELDS:
        hostile = {**header, field: [text] if field == "crit" else text}
        token = sign(key_dir, hostile, claims)
        # refused (1), before or after the signature, the field shown as it is
        verify = ("token", "verify", token, "-a", "HS256", "--key-dir", str(key_dir))
        verified = invoke(*verify, code=1)
        assert verified.stdout.startswith("invalid")
        if fits(token) and field != "alg":
            assert_shown(repr(text), verified.stdout)
    # decode: every field at once, shown as JSON (2 when larger than the size cap)
    token = sign(key_dir, {**header, "alg": text, "typ": text, "kid": text, "crit": [text]}, claims)
    decoded = invoke("token", "decode", token, code=0 if fits(token) else 2)
    if fits(token) and text.isprintable() and "\\" not in text:
        assert_shown(json.dumps(text, ensure_ascii=False), decoded.stdout)


@pytest.mark.parametrize("text", CASES)
def test_hostile_claims(text: str, key_dir: Path) -> None:
    header, claims = good_parts(key_dir)
    token = sign(key_dir, header, {**claims, "sub": text, "iss": text, "aud": text, "jti": text})
    verify = ("token", "verify", token, "-a", "HS256", "--key-dir", str(key_dir))
    # valid when the verifier trusts that issuer and audience (1 when above the size cap)
    verified = invoke(*verify, "--issuer", text, "--audience", text, code=0 if fits(token) else 1)
    if fits(token):
        assert_shown(f"sub={text!r}", verified.stdout)  # "[bold]eve", never a bold "eve"
    # refused for its issuer when the verifier trusts the default one
    refused = invoke(*verify, code=1)
    assert refused.stdout.startswith("invalid: " + ("wrong_issuer" if fits(token) else "too_large"))
    decoded = invoke("token", "decode", token, code=0 if fits(token) else 2)
    if fits(token) and text.isprintable() and "\\" not in text:
        assert_shown(json.dumps(text, ensure_ascii=False), decoded.stdout)


@pytest.mark.parametrize("text", CASES)
def test_hostile_token_text_and_options(text: str, key_dir: Path) -> None:
    # the token itself: not a JWT
    invoke("token", "verify", text, "-a", "HS256", "--key-dir", str(key_dir), code=1)
    invoke("token", "decode", text, code=2)
    # an unknown algorithm
    invoke("token", "verify", "a.b.c", "-a", text, "--key-dir", str(key_dir), code=2)
    # issue: the sub, iss and aud given as options, verified at once
    issued = ("--subject", text, "--issuer", text, "--audience", text, "--verify")
    result = invoke("token", "issue", *issued, code=1 if text == LONG else 0)
    if text != LONG:
        assert_shown(f"sub={text!r}", result.stdout)


@pytest.mark.parametrize("text", CASES)
def test_hostile_key_folders(text: str, tmp_path: Path) -> None:
    folder = tmp_path / text
    code = 2 if too_long(folder) else 0
    result = invoke("token", "issue", "--key-dir", str(folder), code=code)
    if code == 0:
        assert_shown(str(folder), result.stderr)
        token = result.stdout.splitlines()[0]
        invoke("token", "verify", token, "-a", "HS256", "--key-dir", str(folder), code=0)
    missing = tmp_path / "missing" / text
    invoke("token", "verify", "a.b.c", "-a", "HS256", "--key-dir", str(missing), code=2)


# ----------------------------------------------------------------------- scenarios


def scenario_code(*args: Any) -> int:
    """The documented exit code of loading this scenario: 2 if it is bad input.

    When the scenario layer itself fails on the input with anything but a
    :class:`ScenarioError` (its contract for bad input), the test is an expected failure
    that names the culprit: the fix belongs there, not in the command line."""
    try:
        load_scenario(*args)
    except (ScenarioError, OSError):
        return 2
    except Exception as exc:  # any other exception is the bug reported
        pytest.xfail(f"simulator.scenario raises {type(exc).__name__} on bad input: {exc}")
    return 0


@pytest.mark.parametrize("text", CASES)
def test_hostile_scenario_name_and_description(text: str, tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump({"name": text, "description": f"{text}. More."}))
    code = scenario_code(str(path))
    story = invoke("scenarios", str(path), code=code)
    ran = invoke("run", str(path), *QUICK_RUN, code=code)
    invoke("show", str(path), code=code)  # YAML, every character escaped by PyYAML
    if code == 0:
        assert_shown(text, story.stdout)
        assert_shown(text, ran.stdout.splitlines()[0])


@pytest.mark.parametrize("text", CASES)
def test_hostile_set_values_and_scenario_arguments(text: str) -> None:
    name = invoke("show", "--set", f"name={text}", code=scenario_code(None, [f"name={text}"]))
    if name.exit_code == 0:
        assert yaml.safe_load(name.stdout)["name"] == text  # YAML escapes, then reads back
    servers = f"cluster.servers={text}"
    invoke("run", "--set", servers, code=scenario_code(None, [servers]))
    invoke("run", "--set", f"{text}=1", code=2)
    invoke("show", text, code=2)  # neither a file nor a built-in


@pytest.mark.parametrize("text", CASES)
def test_hostile_out_paths(text: str, tmp_path: Path) -> None:
    out = tmp_path / text
    code = 2 if too_long(out) else 0
    if code == 0:
        out.parent.mkdir(parents=True, exist_ok=True)  # only the last folder is created
    result = invoke("run", *QUICK_RUN, "--no-plots", "--out", str(out), code=code)
    if code == 0:
        assert_shown(f"to {out}:", result.stdout)
    invoke("plot-sweep", str(tmp_path / "missing" / text), "--x", "a", "--y", "b", code=2)


# ----------------------------------------------------------------------- sweep


def grid_code(option: str) -> int:
    """The documented exit code of ``--grid <option>``: 2 if it is bad input (an expected
    failure if the sweep's parser fails otherwise, as :func:`scenario_code`)."""
    try:
        parse_grid([option], load_scenario(None))
    except AuthsimError:
        return 2
    except Exception as exc:  # any other exception is the bug reported
        pytest.xfail(f"parse_grid raises {type(exc).__name__} on bad input: {exc}")
    return 0


@pytest.mark.parametrize("text", CASES)
def test_hostile_grid_values_refused_before_running(text: str, tmp_path: Path) -> None:
    option = f"cluster.servers=2,{text}"
    code = grid_code(option)
    assert code == 2  # not a number of servers
    invoke("sweep", "--grid", option, "--out", str(tmp_path / "s"), code=code)


@pytest.mark.slow  # a process pool
def test_hostile_grid_values_in_a_sweep(tmp_path: Path) -> None:
    accepted = [text for text in HOSTILE.values() if grid_code(f"name={text}") == 0]
    assert len(accepted) >= 5
    # a "[" left open (an ANSI escape) makes the rest of --grid one value: last, then
    accepted.sort(key=lambda text: text.count("[") != text.count("]"))
    out = tmp_path / "sweep [/x] \x1b[31m"
    out.parent.mkdir()  # only the last folder is created
    result = invoke(
        "sweep",
        *("--set", "duration_s=1", "--set", "warmup_s=0", "--set", "strategies=[jwt]"),
        "--grid",
        "name=" + ",".join(accepted),
        "-r",
        "1",
        "--workers",
        "1",
        "--out",
        str(out),
        code=0,
    )
    for text in accepted:  # a table cell wraps at spaces: its first word, as it is
        if len(text) < 100:
            assert one_line(text).split()[0] in result.stdout, text
    assert_shown(str(out), result.stdout)
