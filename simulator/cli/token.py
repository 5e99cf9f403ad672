"""``authsim token`` (real signed tokens) and ``authsim calibrate`` (their cost here).

``token issue``, ``decode``, ``verify`` and ``attacks`` work on real RFC 7519 tokens
(:mod:`simulator.tokens`); ``calibrate`` measures what signing, verifying, password
hashing and Redis cost on this machine (:mod:`simulator.costs.measure`) and can save
it as a calibration profile for scenarios.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simulator.cli.options import (
    did_you_mean,
    fail,
    fail_to_write,
    safe,
    stderr_console,
    stdout_console,
    user_errors,
)
from simulator.cli.progress import steps
from simulator.errors import AuthsimError, one_line

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from simulator import tokens

# simulator.tokens (PyJWT, cryptography), rich and the calibration profile (pydantic) are
# imported by the commands that use them, so that ``authsim --help`` does not pay for them.

TOKEN_ISSUER = "https://login.authsim.example"
"""``simulator.tokens.DEFAULT_ISSUER``, the default of ``--issuer`` (repeated here for
``--help``; tests/test_startup.py checks that the two agree)."""
TOKEN_AUDIENCE = "authsim-api"
"""``simulator.tokens.DEFAULT_AUDIENCE``, the default of ``--audience`` (as above)."""
TOKEN_LEEWAY_S = 30.0
"""``simulator.tokens.DEFAULT_LEEWAY_S``, the default of ``--leeway`` (as above)."""

token_app = typer.Typer(
    help="Real signed tokens (RFC 7519): issue, decode, verify, and a catalogue of attacks.",
    no_args_is_help=True,
)

TokenArgument = Annotated[
    str, typer.Argument(help="A compact token, or - to read it from stdin.", show_default=False)
]
TokenAlgorithmOption = Annotated[
    str | None,
    typer.Option(
        "--algorithm",
        "-a",
        help="HS256, RS256, PS256, ES256 or EdDSA.",
        show_default=False,
    ),
]
KeyDirOption = Annotated[
    Path | None,
    typer.Option("--key-dir", help="Folder of saved keys (created by 'token issue --key-dir')."),
]
IssuerOption = Annotated[str, typer.Option("--issuer", help="The iss claim.")]
AudienceOption = Annotated[str, typer.Option("--audience", help="The aud claim.")]


def _token_algorithm(name: str | None, *, default: str | None = None) -> tokens.Algorithm:
    """The algorithm of ``--algorithm`` (case-insensitive), or one line and exit 2."""
    from simulator import tokens  # noqa: PLC0415 (see the top of this module)

    chosen = name if name is not None else default
    valid = [item.value for item in tokens.Algorithm]
    if chosen is None:
        fail(
            "--algorithm is required: the verifier's algorithm comes from its configuration, "
            f"never from the token; choose from {', '.join(valid)}"
        )
    by_lower = {value.lower(): value for value in valid}
    if chosen.lower() in by_lower:
        return tokens.Algorithm(by_lower[chosen.lower()])
    fail(
        f"--algorithm: unknown algorithm {chosen!r}{did_you_mean(chosen, valid)}; "
        f"choose from {', '.join(valid)}"
    )


def _token_text(token: str) -> str:
    """The token argument, read from stdin for ``-``, without surrounding whitespace."""
    from simulator import tokens  # noqa: PLC0415 (see the top of this module)

    if token == "-":
        return sys.stdin.read(tokens.DEFAULT_MAX_TOKEN_BYTES * 4 + 1).strip()
    return token.strip()


def _token_consoles() -> tuple[Console, Console]:
    """The consoles for stdout and stderr (:mod:`simulator.cli.options`)."""
    return stdout_console(), stderr_console()


def _json(data: object) -> Text:
    """A token's header or claims as indented, highlighted JSON (as ``rich.json.JSON``
    shows it), every character that is not printable (bidirectional overrides, C1 controls,
    DEL, zero-width characters) escaped as ``\\uXXXX`` like JSON's own escapes of C0
    controls: what an attacker wrote is shown, it never acts on the terminal."""
    import json  # noqa: PLC0415 (see the top of this module)

    from rich.highlighter import JSONHighlighter  # noqa: PLC0415

    dumped = json.dumps(data, indent=2, ensure_ascii=False)
    visible = "".join(
        char if char.isprintable() or char == "\n" else json.dumps(char)[1:-1] for char in dumped
    )
    text = JSONHighlighter()(visible)
    text.no_wrap = True
    text.overflow = None
    return text


def _print_token_parts(console: Console, decoded: tokens.UnverifiedToken) -> None:
    """Header (red), claims (magenta) and signature (cyan), as jwt.io colours them."""
    from rich.panel import Panel  # noqa: PLC0415 (see the top of this module)
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    from simulator import tokens  # noqa: PLC0415

    if decoded.header is not None:
        console.print(Panel(_json(decoded.header), title="header", border_style="red"))
    if decoded.claims is not None:
        body: Text | Table = _json(decoded.claims)
        notes = tokens.time_claim_notes(decoded.claims)
        if notes:
            grid = Table.grid(padding=(0, 2))
            grid.add_row(_json(decoded.claims))
            for name, note in notes.items():
                grid.add_row(f"[dim]{safe(name)}: {safe(note)}[/]")
            body = grid
        console.print(Panel(body, title="claims", border_style="magenta"))
    if decoded.signature is not None:
        size = len(decoded.signature)
        text = decoded.signature.hex() if size else "(empty)"
        console.print(
            Panel(Text(text, style="cyan"), title=f"signature · {size} bytes", border_style="cyan")
        )
    for problem in decoded.problems:
        console.print(f"[yellow]problem:[/] {safe(problem)}")


def _print_token(console: Console, token: str) -> None:
    """The token on one line: coloured in a terminal, plain (for pipes) otherwise."""
    if not console.is_terminal:
        typer.echo(token)
        return
    from rich.text import Text  # noqa: PLC0415 (see the top of this module)

    header, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    text = Text.assemble((header, "red"), ".", (payload, "magenta"), ".", (signature, "cyan"))
    console.print(text, soft_wrap=True)


def _print_verdict(console: Console, result: tokens.VerificationResult) -> None:
    from simulator import tokens  # noqa: PLC0415 (see the top of this module)

    if result.valid and result.claims is not None:
        expiry = tokens.time_claim_notes(result.claims).get("exp", "")
        console.print(
            f"[bold green]valid[/]: signature, header and claims check out · "
            f"sub={safe(repr(result.claims.get('sub')))} · expires {safe(expiry)}"
        )
        return
    console.print(f"[bold red]invalid[/]: {safe(result.reason)} · {safe(result.message)}")
    if result.detail:
        console.print(f"  [dim]{safe(result.detail)}[/]", highlight=False)


@token_app.command("issue")
def token_issue(
    algorithm: TokenAlgorithmOption = None,
    subject: Annotated[str, typer.Option(help="The sub claim: whom the token speaks for.")] = (
        "alice"
    ),
    ttl: Annotated[float, typer.Option(help="Lifetime, seconds.")] = 900.0,
    issuer: IssuerOption = TOKEN_ISSUER,
    audience: AudienceOption = TOKEN_AUDIENCE,
    key_dir: KeyDirOption = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Verify the new token at once, with the same key.")
    ] = False,
) -> None:
    """Sign a token and show its three parts (default algorithm: HS256).

    Without --key-dir the key is generated fresh and forgotten (use --verify to check the
    token in the same process); with it, the key is loaded from (or created in) that
    folder, so 'token verify' can check the token later.
    """
    from simulator import tokens  # noqa: PLC0415 (see the top of this module)

    chosen = _token_algorithm(algorithm, default=tokens.Algorithm.HS256.value)
    if not ttl >= 1 or ttl == float("inf"):
        fail(f"--ttl: must be at least 1 second, got {ttl:g}")
    stdout, stderr = _token_consoles()
    try:
        if key_dir is None:
            key, created = tokens.generate_key(chosen), True
        else:
            key, created = tokens.load_or_create_key(chosen, key_dir)
        token = tokens.issue_token(key, subject, ttl, issuer=issuer, audience=audience)
    except (AuthsimError, ValueError) as exc:
        fail(str(exc))
    except OSError as exc:  # the key folder cannot be read or written
        fail(f"--key-dir: {key_dir}: {exc.strerror or exc}")
    _print_token(stdout, token)
    _print_token_parts(stdout, tokens.decode_unverified(token))
    if key_dir is None:
        stderr.print(
            f"[dim]key: a fresh {chosen.value} key (kid {safe(key.kid)}), not saved: "
            "use --key-dir to verify this token later[/]",
            highlight=False,
        )
    else:
        state = "created and saved in" if created else "loaded from"
        stderr.print(
            f"[dim]key: {chosen.value} (kid {safe(key.kid)}) {state} {safe(key_dir)}[/]",
            highlight=False,
        )
    if verify:
        result = tokens.Verifier(key.public_only(), issuer=issuer, audience=audience).verify(token)
        _print_verdict(stdout, result)
        if not result.valid:
            raise typer.Exit(code=1)


@token_app.command("decode")
def token_decode(token: TokenArgument) -> None:
    """Show a token's header and claims WITHOUT verifying anything."""
    from simulator import tokens  # noqa: PLC0415 (see the top of this module)

    decoded = tokens.decode_unverified(_token_text(token))
    if not decoded.readable:
        fail(f"TOKEN: not a JWT: {'; '.join(decoded.problems)}")
    stdout, _ = _token_consoles()
    stdout.print(
        "[bold yellow]NOT VERIFIED[/]: decoding only shows what the token claims; anyone can "
        "write any header and claims. Check it with 'authsim token verify'."
    )
    _print_token_parts(stdout, decoded)


@token_app.command("verify")
def token_verify(
    token: TokenArgument,
    algorithm: TokenAlgorithmOption = None,
    key_dir: KeyDirOption = None,
    issuer: IssuerOption = TOKEN_ISSUER,
    audience: AudienceOption = TOKEN_AUDIENCE,
    leeway: Annotated[
        float, typer.Option(help="Clock skew allowed on exp, nbf and iat, seconds.")
    ] = TOKEN_LEEWAY_S,
    require_typ: Annotated[
        bool,
        typer.Option(
            "--require-typ",
            help="Refuse a token without a typ header (a typ other than JWT is always refused).",
        ),
    ] = False,
    max_lifetime: Annotated[
        float | None,
        typer.Option(
            "--max-lifetime",
            help="Refuse a token whose lifetime (exp - iat) is longer, seconds.",
            show_default=False,
        ),
    ] = None,
    reject_high_s: Annotated[
        bool,
        typer.Option(
            "--reject-high-s",
            help="ES256: refuse a signature with a high s (the malleable form; PyJWT "
            "signs one about half the time, so only for tokens from a low-s issuer).",
        ),
    ] = False,
) -> None:
    """Verify a token with a saved key: exit 0 if valid, 1 if not, 2 for bad input."""
    from simulator import tokens  # noqa: PLC0415 (see the top of this module)

    chosen = _token_algorithm(algorithm)
    if key_dir is None:
        fail("--key-dir is required: the folder holding the key the token was signed with")
    if not 0 <= leeway <= tokens.MAX_LEEWAY_S:
        fail(f"--leeway: must be between 0 and {tokens.MAX_LEEWAY_S:g} s, got {leeway:g}")
    if max_lifetime is not None and not 0 < max_lifetime < float("inf"):
        fail(f"--max-lifetime: must be a positive number of seconds, got {max_lifetime:g}")
    if reject_high_s and chosen is not tokens.Algorithm.ES256:
        fail(f"--reject-high-s: applies to ES256 only, not {chosen.value}")
    try:
        key = tokens.load_key(chosen, key_dir, signing=False)
        verifier = tokens.Verifier(
            key,
            issuer=issuer,
            audience=audience,
            leeway_s=leeway,
            require_typ=require_typ,
            max_lifetime_s=max_lifetime,
            reject_high_s=reject_high_s,
        )
    except (AuthsimError, ValueError) as exc:
        fail(str(exc))
    result = verifier.verify(_token_text(token))
    stdout, _ = _token_consoles()
    _print_verdict(stdout, result)
    if not result.valid:
        raise typer.Exit(code=1)


@token_app.command("attacks")
def token_attacks() -> None:
    """Run the attack catalogue: exit 0 only if every attack is rejected as expected."""
    from rich.table import Table  # noqa: PLC0415 (see the top of this module)

    from simulator import tokens  # noqa: PLC0415

    outcomes = tokens.run_attacks()
    table = Table(title="Attacks on the token verifier", show_header=True, header_style="bold")
    table.add_column("attack", style="bold", no_wrap=True)
    table.add_column("what it tries")
    table.add_column("rejected?", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    for outcome in outcomes:
        reason = outcome.reason
        if not outcome.as_expected:
            reason = f"[red]{reason} (expected {outcome.expected_reason})[/]"
        table.add_row(
            outcome.name,
            outcome.description,
            "[green]yes[/]" if outcome.rejected else "[bold red]NO[/]",
            reason,
        )
    stdout, _ = _token_consoles()
    stdout.print(table)
    passed = sum(outcome.as_expected for outcome in outcomes)
    style = "green" if passed == len(outcomes) else "bold red"
    stdout.print(f"[{style}]{passed}/{len(outcomes)} attacks rejected with the expected reason[/]")
    if passed != len(outcomes):
        raise typer.Exit(code=1)


# ----------------------------------------------------------------------- calibrate


def calibrate(
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            metavar="URL",
            help="Also time GET and SET round trips against this Redis server "
            "(needs redis-py: pip install 'authsim\\[redis]', "
            "or pip install -e '.\\[redis]' in a checkout).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the profile (YAML) to this file.", dir_okay=False),
    ] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="A second or two: fewer repeats, PBKDF2 timed at 20,000 iterations and "
            "scaled to 600,000 (also AUTHSIM_FAST=1).",
        ),
    ] = False,
) -> None:
    """Measure JWT, password-hashing and Redis costs on this machine: a calibration profile.

    Signing, verifying and hashing are timed in thread CPU time, Redis round trips in
    wall time; a busy machine is reported in one warning line on stderr.
    """
    from rich.table import Table  # noqa: PLC0415 (see the top of this module)

    from simulator.costs import measure  # noqa: PLC0415 (only this command measures)
    from simulator.scenario.calibration import save_profile  # noqa: PLC0415

    with user_errors(), steps("calibrate", "Calibrating", "measuring {}") as progress:
        profile = measure.measure(redis_url=redis_url, fast=fast, progress=progress)
    if out is not None:
        try:
            save_profile(profile, out)
        except OSError as exc:
            fail_to_write(out, "the profile", exc)
    stdout = stdout_console()
    table = Table(title="Measured on this machine", show_header=True, header_style="bold")
    table.add_column("operation")
    for column in ("measured", "reference", "ratio"):
        table.add_column(column, justify="right")
    for row in measure.compare(profile):
        table.add_row(row.operation, row.measured_text(), row.reference_text(), row.ratio_text())
    stdout.print(table)
    stdout.print(
        f"{profile.machine.get('notes', '')} · sign, verify and login: thread CPU time; Redis: "
        "wall-time round trips and the server's own time (INFO commandstats) · reference: "
        "simulator/costs/reference.py (Redis: the default scenario's shared_store.rtt_ms + "
        "op_time_ms, server time: op_time_ms) · ratio: measured / reference",
        style="dim",
        markup=False,
    )
    note = measure.contention_note(profile)
    if note:
        typer.echo(f"warning: {note}", err=True)
    if out is None:
        stdout.print(
            "Save it with --out profile.yaml, then use it in a scenario: calibration: profile.yaml",
            markup=False,
        )
    else:
        stdout.print(
            f"Wrote {one_line(str(out))}. Use it in a scenario (the path is relative to the "
            f"scenario file):\n  calibration: {one_line(out.name)}",
            markup=False,
            highlight=False,
        )
