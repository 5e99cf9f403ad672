"""``authsim token``: issue, decode, verify and attacks, through typer's CliRunner."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simulator import tokens
from simulator.cli.app import app

runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def issue(key_dir: Path, algorithm: str = "HS256", *extra: str) -> str:
    code, out, err = invoke(
        "token", "issue", "--algorithm", algorithm, "--key-dir", str(key_dir), *extra
    )
    assert code == 0, err
    return out.splitlines()[0]


def assert_one_line_error(code: int, out: str, err: str, *fragments: str) -> None:
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in out + err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize("algorithm", [algorithm.value for algorithm in tokens.Algorithm])
def test_issue_decode_verify_round_trip(algorithm: str, tmp_path: Path) -> None:
    token = issue(tmp_path, algorithm, "--subject", "bob", "--ttl", "120")
    assert token.count(".") == 2

    code, out, err = invoke("token", "verify", token, "-a", algorithm, "--key-dir", str(tmp_path))
    assert code == 0, err
    assert out.startswith("valid")
    assert "'bob'" in out

    code, out, err = invoke("token", "decode", token)
    assert code == 0, err
    assert "NOT VERIFIED" in out
    assert '"sub": "bob"' in out
    assert f'"alg": "{algorithm}"' in out
    for part in ("header", "claims", "signature"):
        assert part in out


def test_issue_prints_the_three_parts_and_reuses_a_saved_key(tmp_path: Path) -> None:
    code, out, err = invoke("token", "issue", "-a", "ES256", "--key-dir", str(tmp_path))
    assert code == 0
    assert "created and saved" in err
    for part in ("header", "claims", "signature · 64 bytes", '"typ": "JWT"', "iat: ", "exp: "):
        assert part in out
    first_kid = tokens.decode_unverified(out.splitlines()[0]).header
    code, out, err = invoke("token", "issue", "-a", "es256", "--key-dir", str(tmp_path))
    assert code == 0
    assert "loaded from" in err
    assert tokens.decode_unverified(out.splitlines()[0]).header == first_kid


def test_issue_without_a_key_dir_can_verify_in_process() -> None:
    code, out, err = invoke("token", "issue", "--verify")
    assert code == 0, err
    assert "not saved" in err
    assert out.splitlines()[-1].startswith("valid")
    header = tokens.decode_unverified(out.splitlines()[0]).header
    assert header is not None and header["alg"] == "HS256"


def test_a_tampered_token_fails_verification(tmp_path: Path) -> None:
    token = issue(tmp_path, "RS256")
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    code, out, err = invoke(
        "token",
        "verify",
        f"{header}.{forged}.{signature}",
        "-a",
        "RS256",
        "--key-dir",
        str(tmp_path),
    )
    assert code == 1
    assert err == ""
    assert out.startswith("invalid: bad_signature")


def test_verify_reports_the_reason(tmp_path: Path) -> None:
    token = issue(tmp_path, "HS256", "--audience", "billing")
    code, out, _ = invoke("token", "verify", token, "-a", "HS256", "--key-dir", str(tmp_path))
    assert code == 1
    assert "wrong_audience" in out
    code, out, _ = invoke("token", "verify", "garbage", "-a", "HS256", "--key-dir", str(tmp_path))
    assert code == 1
    assert "malformed" in out


def test_verify_reads_stdin(tmp_path: Path) -> None:
    token = issue(tmp_path, "EdDSA")
    code, out, err = invoke(
        "token", "verify", "-", "-a", "EdDSA", "--key-dir", str(tmp_path), stdin=token + "\n"
    )
    assert code == 0, err
    assert out.startswith("valid")


def test_attacks_lists_every_case_and_exits_0() -> None:
    code, out, err = invoke("token", "attacks")
    assert code == 0, err
    for attack in tokens.ATTACKS:
        assert attack.name in out
    assert f"{len(tokens.ATTACKS)}/{len(tokens.ATTACKS)} attacks rejected" in out


def test_attacks_exits_1_when_one_is_not_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake() -> list[tokens.AttackOutcome]:
        return [
            tokens.AttackOutcome("good", "rejected", True, "expired", "expired"),
            tokens.AttackOutcome("bad", "accepted!", False, "ok", "bad_signature"),
        ]

    monkeypatch.setattr(tokens, "run_attacks", fake)
    code, out, _ = invoke("token", "attacks")
    assert code == 1
    assert "1/2 attacks rejected" in out


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    token = issue(tmp_path, "HS256")
    key_dir = str(tmp_path)
    cases = [
        (("token", "verify", token, "-a", "ES256", "--key-dir", key_dir), "no ES256 key"),
        (("token", "verify", token, "-a", "HS255", "--key-dir", key_dir), "did you mean"),
        (("token", "verify", token, "--key-dir", key_dir), "--algorithm is required"),
        (("token", "verify", token, "-a", "HS256"), "--key-dir is required"),
        (
            ("token", "verify", token, "-a", "HS256", "--key-dir", key_dir, "--leeway", "900"),
            "--leeway",
        ),
        (("token", "issue", "--ttl", "0"), "--ttl"),
        (("token", "issue", "-a", "none"), "unknown algorithm"),
        (("token", "decode", "not a token"), "not a JWT"),
    ]
    for args, fragment in cases:
        assert_one_line_error(*invoke(*args), fragment)


def test_a_weak_or_broken_saved_key_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "hs256.secret").write_text(base64.urlsafe_b64encode(b"secret").decode() + "\n")
    code, out, err = invoke("token", "verify", "a.b.c", "-a", "HS256", "--key-dir", str(tmp_path))
    assert_one_line_error(code, out, err, "6 bytes")
    code, out, err = invoke("token", "issue", "-a", "HS256", "--key-dir", str(tmp_path))
    assert_one_line_error(code, out, err, "6 bytes")
    (tmp_path / "rs256.pub.pem").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n")
    code, out, err = invoke("token", "verify", "a.b.c", "-a", "RS256", "--key-dir", str(tmp_path))
    assert_one_line_error(code, out, err, "not a usable PEM public key")
