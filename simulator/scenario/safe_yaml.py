"""Untrusted YAML read within bounds: scenario files, calibration profiles, ``--set`` values.

A scenario comes from anyone (a handout, a student's edit, a file from the web), so
reading one must end quickly, in bounded memory, in a value or in one line saying what
is wrong, never in a traceback, a hang or a silently different scenario:

- **files**: regular files only (not ``/dev/zero``, a FIFO, or a link to one), at most
  :data:`MAX_FILE_BYTES`, UTF-8 (a UTF-8 byte-order mark is allowed);
- **structure**: at most :data:`MAX_DEPTH` levels of nesting and :data:`MAX_NODES` nodes,
  an alias counting as everything it repeats (a "billion laughs" bomb of a few hundred
  bytes is refused before anything is built from it);
- **keys**: a key written twice in one mapping is an error (YAML 1.2 forbids it; PyYAML
  would keep the last, silently replacing a whole section);
- **values**: a tag whose value does not parse (``!!float x``, ``!!timestamp
  2020-13-45``) or an integer too long to convert is an error, with its line.

Nothing of the input's text is echoed in an error beyond the position and YAML's own
description of the problem, so that pointing a key at a secret file does not print it.
"""

from __future__ import annotations

import codecs
import os
import stat
from pathlib import Path
from typing import Any, Final

import yaml

MAX_FILE_BYTES: Final = 1 << 20
"""Largest scenario or profile file read, bytes (1 MiB; the built-in scenarios are a few kB)."""

MAX_TEXT_CHARS: Final = 1 << 16
"""Largest ``--set`` or grid value read as YAML, characters."""

MAX_DEPTH: Final = 32
"""Deepest nesting of mappings and sequences (a scenario needs four or five)."""

MAX_NODES: Final = 100_000
"""Most nodes in one document, every alias counted as all it repeats."""


class UnsafeYamlError(ValueError):
    """Why a YAML input was refused: one line, without the input's content."""


class YamlSyntaxError(UnsafeYamlError):
    """The input is not YAML at all (as opposed to YAML over a bound)."""


def read_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> str:
    """The text of a regular file of at most ``max_bytes``, decoded as UTF-8.

    Raises:
        UnsafeYamlError: not a regular file, too large, or not UTF-8.
        OSError: the file cannot be opened (missing, no permission).
    """
    info = os.stat(path)  # follows links: a link to /dev/zero is /dev/zero
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeYamlError("not a regular file (a device, a pipe or a folder)")
    if info.st_size > max_bytes:
        raise UnsafeYamlError(f"{info.st_size:,} bytes, more than the {max_bytes:,} allowed")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)  # a file growing while read stops here too
    if len(data) > max_bytes:
        raise UnsafeYamlError(f"more than the {max_bytes:,} bytes allowed")
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeYamlError(
            f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden on purpose
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the constructor's own error says so
                break
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {_short(key)} is written twice",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_size(root: yaml.Node) -> None:
    """Refuse a document nested deeper than :data:`MAX_DEPTH` or with more than
    :data:`MAX_NODES` nodes, aliases expanded (iteratively: stops at the first excess)."""
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    count = 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise UnsafeYamlError(
                f"more than {MAX_NODES:,} values (aliases count as what they repeat)"
            )
        if depth > MAX_DEPTH:
            line = node.start_mark.line + 1
            raise UnsafeYamlError(f"nested more than {MAX_DEPTH} levels deep (line {line})")
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)


def parse(text: str) -> Any:
    """Parse one YAML document within the bounds of this module (``None``: empty).

    Raises:
        UnsafeYamlError: invalid YAML, a duplicate key, too deep, too many nodes, or a value
            that does not parse; one line, with the position where there is one.
    """
    try:
        loader = _StrictLoader(text)  # reads the first characters already
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(describe(exc)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except UnsafeYamlError:
        raise
    except yaml.constructor.ConstructorError as exc:
        raise UnsafeYamlError(describe(exc)) from None  # a duplicate key, an unknown tag
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(describe(exc)) from None
    except RecursionError:
        raise UnsafeYamlError(f"nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError) as exc:
        # a tag whose value does not convert (!!float x, !!timestamp 2020-13-45), or an
        # integer longer than Python converts (4,300 digits)
        if "digits" in str(exc):
            raise UnsafeYamlError("an integer longer than Python converts (4,300 digits)") from None
        raise UnsafeYamlError(
            "a tagged value that does not parse (!!float, !!int, !!bool, !!timestamp...)"
        ) from None
    finally:
        loader.dispose()


def parse_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> Any:
    """:func:`parse` a short text (a ``--set`` value), refusing one over ``max_chars``."""
    if len(text) > max_chars:
        raise UnsafeYamlError(f"{len(text):,} characters, more than the {max_chars:,} allowed")
    return parse(text)


def describe(exc: yaml.YAMLError) -> str:
    """YAML's problem and its position, on one line (no snippet of the input)."""
    if isinstance(exc, yaml.reader.ReaderError):
        return (
            f"invalid YAML: a character YAML does not allow (code {exc.character!r}) "
            f"at character {exc.position + 1}"
        )
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "invalid YAML"
    problem = " ".join(str(problem).split())
    what = "YAML" if isinstance(exc, yaml.constructor.ConstructorError) else "invalid YAML"
    if mark is not None:
        return f"{what} at line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return f"{what}: {problem}"
