"""``authsim token``: issue, decode, verify and attacks, through typer's CliRunner."""

from __future__ import annotations

import base64
import json
import time
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


def _forged(key_dir: Path, header: dict[str, object], body: bytes) -> str:
    """A token signed with the saved HS256 key, with any header and raw payload bytes."""
    from simulator.tokens.lab import signer  # noqa: PLC0415

    key = tokens.load_key("HS256", key_dir)
    return tokens.forge({"alg": "HS256", "kid": key.kid, **header}, body, signer(key))


def _claims_json(**changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "alice",
        "iss": tokens.DEFAULT_ISSUER,
        "aud": tokens.DEFAULT_AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "cli-jti",
    }
    claims.update(changes)
    return claims


def test_verify_require_typ(tmp_path: Path) -> None:
    issue(tmp_path, "HS256")
    untyped = _forged(tmp_path, {}, json.dumps(_claims_json()).encode())
    base = ("token", "verify", untyped, "-a", "HS256", "--key-dir", str(tmp_path))
    code, out, err = invoke(*base)
    assert code == 0, err
    code, out, _ = invoke(*base, "--require-typ")
    assert code == 1
    assert out.startswith("invalid: bad_type_header")
    assert "no typ header" in out
    typed = issue(tmp_path, "HS256")
    code, out, err = invoke(
        "token", "verify", typed, "-a", "HS256", "--key-dir", str(tmp_path), "--require-typ"
    )
    assert code == 0, err


def test_verify_max_lifetime(tmp_path: Path) -> None:
    token = issue(tmp_path, "HS256", "--ttl", "7200")
    base = ("token", "verify", token, "-a", "HS256", "--key-dir", str(tmp_path))
    assert invoke(*base, "--max-lifetime", "7200")[0] == 0
    code, out, _ = invoke(*base, "--max-lifetime", "3600")
    assert code == 1
    assert out.startswith("invalid: lifetime_too_long")
    for bad in ("0", "-5", "inf", "nan"):
        assert_one_line_error(*invoke(*base, "--max-lifetime", bad), "--max-lifetime")


def test_verify_refuses_duplicate_claims_a_bom_and_bad_utf8(tmp_path: Path) -> None:
    issue(tmp_path, "HS256")
    body = json.dumps(_claims_json()).encode()
    for raw, detail in (
        (body[:-1] + b', "sub": "admin"}', "duplicate member 'sub'"),
        (b"\xef\xbb\xbf" + body, "byte order mark"),
        (body.replace(b"alice", b"al\xffice"), "not UTF-8"),
    ):
        token = _forged(tmp_path, {"typ": "JWT"}, raw)
        code, out, err = invoke("token", "verify", token, "-a", "HS256", "--key-dir", str(tmp_path))
        assert code == 1, err
        assert out.startswith("invalid: malformed")
        assert detail in out


def test_verify_reject_high_s(tmp_path: Path) -> None:
    from simulator.tokens.encoding import b64url_decode_lenient, b64url_encode  # noqa: PLC0415
    from simulator.tokens.verify import P256_ORDER  # noqa: PLC0415

    token = issue(tmp_path, "ES256")
    signing_input, _, signature = token.rpartition(".")
    raw = b64url_decode_lenient(signature)
    s = int.from_bytes(raw[32:], "big")
    low, high = (
        f"{signing_input}.{b64url_encode(raw[:32] + value.to_bytes(32, 'big'))}"
        for value in sorted((s, P256_ORDER - s))
    )
    base = ("-a", "ES256", "--key-dir", str(tmp_path))
    for form in (low, high):
        assert invoke("token", "verify", form, *base)[0] == 0
    assert invoke("token", "verify", low, *base, "--reject-high-s")[0] == 0
    code, out, _ = invoke("token", "verify", high, *base, "--reject-high-s")
    assert code == 1
    assert out.startswith("invalid: high_s_signature")
    hs_dir = tmp_path / "hs"
    issue(hs_dir, "HS256")
    args = ("token", "verify", "a.b.c", "-a", "HS256", "--key-dir", str(hs_dir), "--reject-high-s")
    assert_one_line_error(*invoke(*args), "ES256 only")
