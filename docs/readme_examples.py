"""Regenerate (or check) the command outputs shown in README.md.

Every generated block in README.md sits between two markers::

    <!-- example: NAME -->
    ```text
    ...
    ```
    <!-- /example -->

and this script knows, per NAME, which commands produce it. The commands run as
``python -m simulator ...`` with a fixed terminal width and ``NO_COLOR=1``, in a temporary
folder (where the example scenario files are written), so the output depends only on the
code.

    python docs/readme_examples.py           # rewrite README.md in place (atomically)
    python docs/readme_examples.py --check   # exit 1 listing the stale examples, 0 if current

Outputs that depend on the machine (timings, ``authsim calibrate``) are not examples: they
stay as written; the elapsed time ``authsim validate`` prints last is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
WIDTH = 132
"""Terminal width the commands see (the width of a table piped into a file)."""
JSON_WIDTH = 92
"""Line width of the folded JSON example."""
JSON_LIST_MAX = 40
"""A list whose compact form is longer than this is shown as ``[...]``..."""
JSON_KEEP = frozenset({"results"})
"""...unless it is the value of one of these keys."""

# Scenario files the bad-input examples load, written into the working folder.
FILES = {
    "my.yaml": "workload:\n  arrival_rate_per_s: -5\n",
    "several.yaml": "cluster:\n  servers: 0\n  workers_per_server: 0\n",
}

MARKER = re.compile(
    r"(?P<open><!-- example: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(?P<close><!-- /example -->)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Command:
    """One command: the arguments after ``authsim``, and how the README shows it."""

    args: tuple[str, ...]
    shown: str = ""
    """The command line printed after ``$``; by default ``authsim`` and the arguments."""
    files: dict[str, str] = field(default_factory=dict)
    """Scenario files to write under another name (``{"my.yaml": FILES key}``)."""

    def prompt(self) -> str:
        return "$ " + (self.shown or " ".join(["authsim", *self.args]))


@dataclass(frozen=True)
class Example:
    """A README block: its commands and how their output becomes the block."""

    commands: tuple[Command, ...]
    lang: str = "text"
    width: int = WIDTH
    render: Callable[[list[str]], str] | None = None
    """From the commands' outputs to the block; default: each prompt, then its output."""
    fenced: bool = True
    """Inside a fenced code block (``False``: Markdown, such as a table)."""


def fold_json(text: str) -> str:
    """The JSON document folded as the README shows it: packed lines, long lists ``[...]``."""
    return render_value(json.loads(text), 0) + "\n"


def _compact(value: object, key: str = "") -> str:
    if isinstance(value, list):
        inner = "[" + ", ".join(_compact(v) for v in value) + "]"
        return "[...]" if len(inner) > JSON_LIST_MAX and key not in JSON_KEEP else inner
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_compact(v, k)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def render_value(value: object, column: int, indent: int = 1, key: str = "") -> str:
    """``value`` starting at ``column``: on one line if it fits, else its items packed.

    Lines after the first start with ``indent`` spaces; an item that does not fit on the
    line starts the next one, and a container that does not fit there either is broken
    the same way, its own lines indented two more.
    """
    compact = _compact(value, key)
    if column + len(compact) <= JSON_WIDTH or not isinstance(value, (dict, list)):
        return compact
    if isinstance(value, dict):
        opening, closing = "{", "}"
        items = [(json.dumps(k) + ": ", k, v) for k, v in value.items()]
    else:
        opening, closing = "[", "]"
        items = [("", "", v) for v in value]
    lines: list[str] = []
    line, at = opening, column + 1
    for i, (prefix, name, item) in enumerate(items):
        suffix = "," if i < len(items) - 1 else closing
        sep = "" if i == 0 else " "
        piece = prefix + _compact(item, name) + suffix
        if i > 0 and at + len(sep) + len(piece) > JSON_WIDTH:
            lines.append(line)
            line, at, sep = " " * indent, indent, ""
        if at + len(sep) + len(piece) > JSON_WIDTH:
            start = at + len(sep) + len(prefix)
            piece = prefix + render_value(item, start, indent + 2, name) + suffix
        line += sep + piece
        if "\n" in piece:
            *done, line = line.split("\n")
            lines.extend(done)
            at = len(line)
        else:
            at += len(sep) + len(piece)
    lines.append(line)
    return "\n".join(lines)


def _run_all(commands: tuple[Command, ...], width: int, folder: Path) -> list[str]:
    env = {**os.environ, "COLUMNS": str(width), "NO_COLOR": "1", "TERM": "dumb"}
    env.pop("FORCE_COLOR", None)
    env.pop("AUTHSIM_ALLOW_LARGE", None)
    outputs = []
    for command in commands:
        for name, source in command.files.items():
            (folder / name).write_text(FILES[source])
        done = subprocess.run(
            [sys.executable, "-m", "simulator", *command.args],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        # stderr only for errors: a successful run's stderr holds progress lines, timed
        outputs.append(done.stdout + (done.stderr if done.returncode else ""))
    return outputs


def _with_prompts(example: Example, outputs: list[str]) -> str:
    parts = []
    for command, output in zip(example.commands, outputs, strict=True):
        parts.append(command.prompt() + "\n" + output)
    return "".join(parts)


ELAPSED = re.compile(r" \(\d+(\.\d+)? s\)$", re.MULTILINE)


def _without_elapsed(example_commands: tuple[Command, ...]) -> Callable[[list[str]], str]:
    """The prompts and outputs, with the elapsed time at the end of a line left out."""

    def render(outputs: list[str]) -> str:
        parts = [
            command.prompt() + "\n" + ELAPSED.sub("", output)
            for command, output in zip(example_commands, outputs, strict=True)
        ]
        return "".join(parts)

    return render


VALIDATE = (Command(("validate", "--fast")),)

DENYLISTS = (
    ("`none`", ("--set", "jwt.denylist=none")),
    ("`store`", ("--set", "jwt.denylist=store")),
    (
        "`local_cache` (`sync_s: 10`)",
        ("--set", "jwt.denylist=local_cache", "--set", "jwt.sync_s=10"),
    ),
)


def revocation_table(outputs: list[str]) -> str:
    """The jwt rows of ``authsim run revocation --json`` under each denylist, as a table."""
    columns = ["`jwt.denylist`", "requests accepted after revocation", "mean window"]
    rows = [
        "| " + " | ".join([*columns, "store ops per request"]) + " |",
        "| --- | --- | --- | --- |",
    ]
    for (label, _), output in zip(DENYLISTS, outputs, strict=True):
        jwt = json.loads(output)["results"][0]
        exposure, store = jwt["exposure"], jwt["store"]
        window = f"{exposure['mean_window_s']:.1f} s" if exposure["mean_window_s"] else "0 s"
        if label == "`none`":
            window += f" (remaining lifetime {exposure['mean_remaining_ttl_s']:.1f} s)"
        ops = f"{store['ops_per_request']:.2f}" if store else "0"
        if label == "`none`":
            ops += " (refreshes)"
        rows.append(f"| {label} | {exposure['accepted_after_revocation']} | {window} | {ops} |")
    return "\n".join(rows) + "\n"


EXAMPLES: dict[str, Example] = {
    "validate": Example(VALIDATE, render=_without_elapsed(VALIDATE)),
    "revocation-table": Example(
        tuple(
            Command(("run", "revocation", "-s", "jwt", "--json", *settings))
            for _, settings in DENYLISTS
        ),
        render=revocation_table,
        fenced=False,
    ),
    "run-baseline": Example((Command(("run",)),)),
    "bad-input": Example(
        (
            Command(("run", "--set", "cluster.srvers=3")),
            Command(("run", "my.yaml"), files={"my.yaml": "my.yaml"}),
            Command(("run", "--seed", "abc")),
            Command(("rnu",)),
        )
    ),
    "scenario-file-errors": Example(
        (Command(("run", "my.yaml"), files={"my.yaml": "several.yaml"}),)
    ),
    "json-document": Example(
        (Command(("run", "--json", "-s", "jwt")),),
        lang="json",
        render=lambda outputs: fold_json(outputs[0]),
    ),
    "scenarios": Example(
        (Command(("scenarios",)), Command(("scenarios", "server-crash"))), width=88
    ),
    "size-limits": Example(
        (
            Command(("run", "--set", "cluster.servers=1000000000")),
            Command(("run", "--set", "duration_s=1e9")),
        )
    ),
    "replications": Example(
        (
            Command(
                (
                    "run",
                    "-r",
                    "10",
                    "--set",
                    "duration_s=40",
                    "--set",
                    "warmup_s=10",
                    "-s",
                    "shared_store",
                    "-s",
                    "jwt",
                )
            ),
        )
    ),
    "warmup": Example(
        (
            Command(
                (
                    "warmup",
                    "--set",
                    "workload.logged_in_at_start=false",
                    "--set",
                    "workload.users=500",
                    "-s",
                    "jwt",
                )
            ),
        )
    ),
}


def generate(name: str) -> str:
    """The block for example ``name``: its fence and its content, ending in a newline."""
    example = EXAMPLES[name]
    with tempfile.TemporaryDirectory(prefix="authsim-readme-") as tmp:
        outputs = _run_all(example.commands, example.width, Path(tmp))
    body = example.render(outputs) if example.render else _with_prompts(example, outputs)
    lines = [line.rstrip() for line in body.rstrip("\n").split("\n")]
    if not example.fenced:
        return "\n".join(lines) + "\n"
    return f"```{example.lang}\n" + "\n".join(lines) + "\n```\n"


def marked_names(text: str) -> list[str]:
    """The example names marked in ``text``, in order."""
    return [m["name"] for m in MARKER.finditer(text)]


def regenerate(text: str, blocks: dict[str, str] | None = None) -> str:
    """``text`` with every marked block replaced by its generated form."""
    names = marked_names(text)
    unknown = sorted(set(names) - set(EXAMPLES))
    if unknown:
        raise SystemExit(f"unknown example(s) in README.md: {', '.join(unknown)}")
    if blocks is None:
        blocks = generate_all(names)
    return MARKER.sub(lambda m: m["open"] + blocks[m["name"]] + m["close"], text)


def generate_all(names: list[str]) -> dict[str, str]:
    """Every named block, generated in parallel (each is a few subprocesses)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(generate, names), strict=True))


def stale(text: str, blocks: dict[str, str] | None = None) -> list[str]:
    """The names of the examples in ``text`` whose block differs from its generated form."""
    names = marked_names(text)
    missing = sorted(set(EXAMPLES) - set(names))
    if blocks is None:
        blocks = generate_all(names)
    current = {m["name"]: m["body"] for m in MARKER.finditer(text)}
    return missing + [n for n in names if current[n] != blocks[n]]


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if an example is stale")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    if args.check:
        names = stale(text)
        if names:
            print(f"stale README examples: {', '.join(names)}", file=sys.stderr)
            print("regenerate them with: python docs/readme_examples.py", file=sys.stderr)
            return 1
        print(f"README examples up to date ({len(marked_names(text))})")
        return 0
    new = regenerate(text)
    if new != text:
        write_atomically(args.readme, new)
        print(f"rewrote {args.readme}")
    else:
        print(f"{args.readme} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
