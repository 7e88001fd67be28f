"""Where each input of a scenario comes from: the source IDs and estimate flags of its comments.

A scenario file documents its numbers in comments on the same line::

    vessels = 6                # 4 KMTF + 2 ASCO [S25][G10]
    yard_capacity_teu = 2500   # E: 140k TEU/yr hub [S42] x ~4.5 d mean yard time ...
    annual_teu = 4000          # planner's choice (no source)

:func:`scenario_provenance` reads a file's raw text (and its chain of ``extends``, the
extending file's line winning over its base's) and returns, for every dotted key path that
has a value on a line, a :class:`Provenance`: the source IDs cited in that line's comment
(``[S25]``, ``[G10]``, ``[S42a]``, ``[M03]``; listed in ``docs/sources.md``), whether the
comment marks the value as an estimate made for the scenario (an ``E`` standing alone:
``# E``, ``# E: ...``, ``; E: ...``, ``, E from [S84]``, ``(E ...``), and the data-sheet
sections it names (``§7.2 row 5a``, ``appendix §3``). A comment block on the lines just
above a key (no blank line between) speaks for the keys below it that say nothing of their
own, e.g. ``[weather.caspian]``'s storm rates. Values on several lines (multi-line arrays)
collect the comments of all their lines; the keys of an inline table ``{...}`` inherit the
line's provenance.

:func:`write_provenance` writes ``provenance.json`` into a results folder;
:func:`results_provenance` reads it back (or recomputes it from the run's scenario file
when an older folder has none). Command-line overrides (``--set``, ``--seed``...) are
recorded as such, so a value changed on the command line is never credited to the file's
comment.

The module also holds the checks of ``docs/sources.md``: :func:`cited_ids` (the IDs cited
in a text) and :func:`defined_ids` (the IDs the document lists).
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROVENANCE_NAME = "provenance.json"
SOURCES_DOC = "docs/sources.md"
"""Where the source IDs are listed (relative to the repository root)."""

ID_PATTERN = re.compile(r"\[([SGM]\d{1,3}[a-z]?)\]")
"""A cited source ID, in the bracketed form the project cites it: ``[S29]``, ``[S42a]``."""
DEFINED_PATTERN = re.compile(r"^\s*[-*]\s+\*\*\[([SGM]\d{1,3}[a-z]?)\]\*\*", re.MULTILINE)
"""An entry of docs/sources.md: a list item starting with the bold bracketed ID."""
ESTIMATE_PATTERN = re.compile(r"(?:^|(?<=[\s(,;#]))E(?=$|[\s:,;)]|\.(?!\w))")
"""The estimate flag: a capital E standing alone (``# E``, ``E:``, ``, E from``, ``(E``)."""
SECTION_PATTERN = re.compile(
    r"(appendix\s+)?§\s?(\d+(?:\.\d+)?)(\s+row\s+\d+[a-z]?)?(-appendix|\s+appendix)?"
)
"""A data-sheet section: ``§7.2 row 5a``, ``§7.1``, ``appendix §3``, ``§4-appendix``."""

ESTIMATE = "estimate"
NO_SOURCE = "—"
DEFAULT = "default"


# --------------------------------------------------------------------------------------
# Source IDs (docs/sources.md)
# --------------------------------------------------------------------------------------


def cited_ids(text: str) -> list[str]:
    """The source IDs cited in ``text`` (bracketed, e.g. ``[S19][S25]``), in order, unique."""
    return list(dict.fromkeys(ID_PATTERN.findall(text)))


def defined_ids(sources_md: str) -> set[str]:
    """The IDs that docs/sources.md lists (one ``- **[ID]** ...`` item each)."""
    return set(DEFINED_PATTERN.findall(sources_md))


def unresolved_ids(cited: Iterable[str], defined: Iterable[str]) -> list[str]:
    """The cited IDs without an entry, sorted naturally (S2 before S10)."""
    known = set(defined)
    return sorted(set(cited) - known, key=_id_order)


def _id_order(source_id: str) -> tuple[str, int, str]:
    m = re.fullmatch(r"([A-Z])(\d+)([a-z]?)", source_id)
    return (m.group(1), int(m.group(2)), m.group(3)) if m else (source_id, 0, "")


# --------------------------------------------------------------------------------------
# Provenance of one key
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """Where one input comes from: its line's comment, or the flag that set it."""

    sources: tuple[str, ...] = ()
    """source IDs cited (without brackets), in the order cited"""
    estimate: bool = False
    """the comment marks the value as an estimate made for the scenario"""
    sections: tuple[str, ...] = ()
    """data-sheet sections named (``§7.2 row 5a``)"""
    file: str | None = None
    """the file whose line sets the value, or the flag (``--set``, ``--seed``...)"""
    line: int | None = None
    """1-based line of the value in ``file`` (None for a flag)"""
    comment: str = ""
    """the comment(s) the provenance was read from, as written"""

    @property
    def label(self) -> str:
        """Short text for a table: ``[S25] [G10]``, ``[S74b] estimate``, ``estimate``, ``—``."""
        return label_of([self])

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = list(self.sources)
        d["sections"] = list(self.sections)
        d["label"] = self.label
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Provenance:
        line = d.get("line")
        return cls(
            sources=tuple(str(s) for s in d.get("sources") or ()),
            estimate=bool(d.get("estimate")),
            sections=tuple(str(s) for s in d.get("sections") or ()),
            file=None if d.get("file") is None else str(d.get("file")),
            line=line if isinstance(line, int) else None,
            comment=str(d.get("comment") or ""),
        )

    @property
    def from_flag(self) -> bool:
        return self.line is None and bool(self.file) and str(self.file).startswith("--")


def label_of(provs: Sequence[Provenance | None]) -> str:
    """One label for the inputs behind a value (several keys may make one table cell).

    Flags win (a value set on the command line is labelled by the flag); then the cited
    IDs, with "estimate" if any of the lines is an estimate; "estimate" alone; the data-sheet
    sections when no ID is cited; "—" when the lines give nothing; "default" when no line
    sets any of the keys.
    """
    given = [p for p in provs if p is not None]
    if not given:
        return DEFAULT
    flags = list(dict.fromkeys(str(p.file) for p in given if p.from_flag))
    if flags:
        return " ".join(flags)
    ids = list(dict.fromkeys(s for p in given for s in p.sources))
    estimate = any(p.estimate for p in given)
    words = [f"[{s}]" for s in ids]
    if estimate:
        words.append(ESTIMATE)
    if not words:
        words = list(dict.fromkeys(s for p in given for s in p.sections))
    return " ".join(words) if words else NO_SOURCE


def parse_comment(comment: str) -> tuple[tuple[str, ...], bool, tuple[str, ...]]:
    """(source IDs, estimate?, data-sheet sections) of a comment's text."""
    ids = tuple(cited_ids(comment))
    estimate = bool(ESTIMATE_PATTERN.search(comment.lstrip("#").strip()))
    sections = []
    for m in SECTION_PATTERN.finditer(comment):
        text = "§" + m.group(2) + (" row " + m.group(3).split()[-1] if m.group(3) else "")
        if m.group(1) or m.group(4):
            text = "appendix " + text
        sections.append(text)
    return ids, estimate, tuple(dict.fromkeys(sections))


# --------------------------------------------------------------------------------------
# Reading a scenario file's lines
# --------------------------------------------------------------------------------------


class ProvenanceError(ValueError):
    """The file could not be read line by line (it is not the TOML the loader accepts)."""


@dataclass
class _Line:
    """A key with a value, as written in a file."""

    path: tuple[str, ...]
    line: int
    value_text: str
    comments: list[str]
    block: list[str]


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Scanner:
    """Statement by statement through a TOML text: headers, key = value lines, comments."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.n = len(text)
        self.i = 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, index: int) -> int:
        return bisect_right(self.starts, index)

    def fail(self, what: str) -> ProvenanceError:
        return ProvenanceError(f"{self.name}, line {self.line_of(self.i)}: {what}")

    def skip_blanks(self) -> None:
        while self.i < self.n and self.text[self.i] in " \t\r":
            self.i += 1

    def rest_of_line(self) -> str:
        end = self.text.find("\n", self.i)
        end = self.n if end < 0 else end
        out = self.text[self.i : end]
        self.i = end
        return out.rstrip("\r")

    def key(self) -> tuple[str, ...]:
        """A (dotted) key: bare, "basic" or 'literal' parts separated by dots."""
        parts: list[str] = []
        while True:
            self.skip_blanks()
            c = self.text[self.i] if self.i < self.n else ""
            if c in ('"', "'"):
                start = self.i
                self.string()
                try:
                    parts.append(tomllib.loads("k = " + self.text[start : self.i])["k"])
                except tomllib.TOMLDecodeError:
                    raise self.fail("malformed quoted key") from None
            else:
                m = _BARE_KEY.match(self.text, self.i)
                if not m:
                    raise self.fail("expected a key")
                parts.append(m.group())
                self.i = m.end()
            self.skip_blanks()
            if self.i < self.n and self.text[self.i] == ".":
                self.i += 1
                continue
            return tuple(parts)

    def string(self) -> None:
        """Skip one string (basic, literal, multi-line of either) starting at ``self.i``."""
        t = self.text
        for quote in ('"""', "'''"):
            if t.startswith(quote, self.i):
                j = self.i + 3
                while True:
                    k = t.find(quote, j)
                    if k < 0:
                        raise self.fail("unterminated multi-line string")
                    if quote == '"""' and _escaped(t, k):
                        j = k + 1
                        continue
                    extra = 0  # up to two quotes may end the content: """a"""" is 'a"'
                    while extra < 2 and t.startswith(quote[0], k + 3 + extra):
                        extra += 1
                    self.i = k + 3 + extra
                    return
        quote = t[self.i]
        j = self.i + 1
        while j < self.n:
            c = t[j]
            if c == "\n":
                break
            if c == quote and not (quote == '"' and _escaped(t, j)):
                self.i = j + 1
                return
            j += 1
        raise self.fail("unterminated string")

    def value(self) -> tuple[str, list[tuple[int, str]]]:
        """Skip a value (nested arrays and inline tables too); its text and its comments."""
        start = self.i
        depth = 0
        comments: list[tuple[int, str]] = []
        t = self.text
        while self.i < self.n:
            c = t[self.i]
            if c in ('"', "'"):
                self.string()
                continue
            if c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
            elif c == "#":
                line = self.line_of(self.i)
                at = self.i
                comments.append((line, self.rest_of_line()))
                if depth <= 0:
                    return t[start:at].strip(), comments
                continue
            elif c == "\n" and depth <= 0:
                break
            self.i += 1
        return t[start : self.i].strip(), comments


def _escaped(text: str, index: int) -> bool:
    """Is the character at ``index`` escaped by an odd run of backslashes?"""
    k = index - 1
    while k >= 0 and text[k] == "\\":
        k -= 1
    return (index - 1 - k) % 2 == 1


def _scan(text: str, name: str) -> tuple[list[_Line], str | None]:
    """Every key with a value in ``text``, and the file's ``extends`` (if any)."""
    s = _Scanner(text, name)
    table: tuple[str, ...] = ()
    array_counts: dict[tuple[str, ...], int] = {}
    out: list[_Line] = []
    block: list[str] = []
    last = "blank"  # what the previous line was: blank, comment, key or header
    extends: str | None = None
    while s.i < s.n:
        s.skip_blanks()
        if s.i >= s.n:
            break
        c = s.text[s.i]
        if c == "\n":  # a blank line: the previous line's newline has been consumed
            block, last = [], "blank"
            s.i += 1
            continue
        if c == "#":
            comment = s.rest_of_line()
            block = block + [comment] if last == "comment" else [comment]
            last = "comment"
            s.i += 1  # its newline
            continue
        if c == "[":
            double = s.text.startswith("[[", s.i)
            s.i += 2 if double else 1
            path = s.key()
            close = "]]" if double else "]"
            if not s.text.startswith(close, s.i):
                raise s.fail("expected ']' closing a table header")
            s.i += len(close)
            if double:
                k = array_counts.get(path, -1) + 1
                array_counts[path] = k
                path = (*path, str(k))
            table = path
            s.skip_blanks()
            if s.i < s.n and s.text[s.i] == "#":
                s.rest_of_line()
            block, last = [], "header"
            _end_of_line(s)
            continue
        line = s.line_of(s.i)
        key = s.key()
        if s.i >= s.n or s.text[s.i] != "=":
            raise s.fail("expected '=' after a key")
        s.i += 1
        s.skip_blanks()
        value_text, comments = s.value()
        path = (*table, *key)
        if path == ("extends",):
            try:
                extends = tomllib.loads("v = " + value_text)["v"]
            except tomllib.TOMLDecodeError:
                raise s.fail("malformed extends") from None
        else:
            out.append(_Line(path, line, value_text, [c for _, c in comments], list(block)))
        last = "key"
        _end_of_line(s)
    return out, extends if isinstance(extends, str) else None


def _end_of_line(s: _Scanner) -> None:
    s.skip_blanks()
    if s.i < s.n and s.text[s.i] == "#":
        s.rest_of_line()
    if s.i < s.n and s.text[s.i] == "\n":
        s.i += 1
    elif s.i < s.n:
        raise s.fail("expected the end of the line")


def _leaf_paths(value: Any, prefix: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Paths of the keys inside an inline table (not into arrays)."""
    out = []
    if isinstance(value, dict):
        for k, v in value.items():
            out.append((*prefix, str(k)))
            out.extend(_leaf_paths(v, (*prefix, str(k))))
    return out


DISCRIMINATORS = ("kind", "mode", "rule", "dist")
"""Keys that select a table's type: the loader replaces such a table wholesale when it changes."""


def _file_provenance(
    lines: list[_Line], file_label: str
) -> tuple[dict[str, Provenance], list[tuple[str, set[str] | None]]]:
    """The file's entries, and what each of its lines replaces in the files below it:
    (key, None) drops every key under ``key`` (a plain value replaces a table), (key, kept)
    drops those not in ``kept`` (an inline table with a type key)."""
    out: dict[str, Provenance] = {}
    resets: list[tuple[str, set[str] | None]] = []
    for ln in lines:
        comment = "  ".join(c.strip() for c in ln.comments)
        ids, estimate, sections = parse_comment(comment)
        if not ids and not estimate and not sections and ln.block:
            block = " ".join(c.lstrip("#").strip() for c in ln.block)
            b_ids, b_est, b_sec = parse_comment(block)
            if b_ids or b_est or b_sec:
                ids, estimate, sections = b_ids, b_est, b_sec
                comment = (comment + "  " if comment else "") + "(comment above) " + block
        prov = Provenance(
            sources=ids,
            estimate=estimate,
            sections=sections,
            file=file_label,
            line=ln.line,
            comment=_strip_hash(comment),
        )
        key = ".".join(ln.path)
        out[key] = prov
        if not ln.value_text.startswith("{"):
            resets.append((key, None))
            continue
        try:
            value = tomllib.loads("v = " + ln.value_text)["v"]
        except tomllib.TOMLDecodeError:
            value = None
        subs = [".".join(sub) for sub in _leaf_paths(value, ln.path)]
        for sub in subs:
            out[sub] = prov
        if isinstance(value, dict) and any(d in value for d in DISCRIMINATORS):
            resets.append((key, set(subs)))
    return out, resets


def _strip_hash(comment: str) -> str:
    return re.sub(r"(^|\s{2})#\s?", r"\1", comment).strip()


def _chain(path: Path) -> list[Path]:
    """The file and its bases, most-derived first (as the loader follows ``extends``)."""
    chain: list[Path] = []
    seen: set[Path] = set()
    current: Path | None = path
    while current is not None and len(chain) < 32:
        resolved = current.resolve()
        if resolved in seen:
            break
        seen.add(resolved)
        chain.append(current)
        _, extends = _scan(_read(current), str(current))
        if extends is None:
            break
        base = Path(extends)
        current = Path(os.path.normpath(base if base.is_absolute() else current.parent / base))
    return chain


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvenanceError(f"{path}: cannot read file ({exc})") from None


def scenario_provenance(
    path: str | Path, overrides: Sequence[str | tuple[str, str]] = ()
) -> dict[str, Provenance]:
    """Dotted key path -> :class:`Provenance` for every key with a value on a line.

    Follows ``extends`` (the extending file's line wins); ``overrides`` are the loader's
    (``"key.path=value"`` for ``--set``, or ``(flag, "key.path=value")``) and replace the
    lines of the keys they set (and of the keys inside them). A JSON scenario has no
    comments, so only its overrides get a provenance.
    """
    path = Path(path)
    merged: dict[str, Provenance] = {}
    if path.suffix.lower() != ".json":
        for file in reversed(_chain(path)):
            lines, _ = _scan(_read(file), str(file))
            entries, resets = _file_provenance(lines, str(file))
            for key, kept in resets:
                for k in [k for k in merged if k.startswith(key + ".")]:
                    if kept is None or k not in kept:
                        del merged[k]
            merged.update(entries)
    for item in overrides:
        source, text = ("--set", item) if isinstance(item, str) else item
        key = text.partition("=")[0].strip()
        if not key:
            continue
        for k in [k for k in merged if k.startswith(key + ".")]:
            del merged[k]
        merged[key] = Provenance(file=source, comment=f"{source} {text}")
    return merged


def lookup(provenance: Mapping[str, Provenance], key: str) -> Provenance | None:
    """The provenance of ``key``: its own line, else the line of the nearest table above it
    that was written whole (an inline table); None when no line sets it (a default)."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        hit = provenance.get(".".join(parts[:n]))
        if hit is not None:
            return hit
    return None


# --------------------------------------------------------------------------------------
# Results folders
# --------------------------------------------------------------------------------------


def provenance_document(
    scenario_path: str | Path, overrides: Sequence[str | tuple[str, str]] = ()
) -> dict[str, Any]:
    """The content of ``provenance.json`` for a scenario file (and overrides)."""
    scenario_path = Path(scenario_path)
    doc: dict[str, Any] = {
        "scenario_file": str(scenario_path),
        "sources": SOURCES_DOC,
        "legend": {
            "sources": f"source IDs cited on the value's line, listed in {SOURCES_DOC}",
            "estimate": "the line marks the value as an estimate made for the scenario (E)",
            "sections": "sections of the project's data sheet named on the line",
            "file": "the file whose line sets the value, or the command-line flag",
        },
    }
    try:
        files = [] if scenario_path.suffix.lower() == ".json" else _chain(scenario_path)
        keys = scenario_provenance(scenario_path, overrides)
    except (ProvenanceError, RecursionError) as exc:
        doc["error"] = str(exc)
        doc["keys"] = {}
        return doc
    doc["files"] = [str(f) for f in files]
    doc["keys"] = {k: p.as_dict() for k, p in sorted(keys.items())}
    return doc


def write_provenance(
    folder: str | Path,
    scenario_path: str | Path,
    overrides: Sequence[str | tuple[str, str]] = (),
) -> Path:
    """Write ``provenance.json`` (see :func:`provenance_document`) into ``folder``.

    Never raises for a scenario it cannot read line by line: the file then records the
    error and no keys, and the report says "no provenance".
    """
    out = Path(folder) / PROVENANCE_NAME
    doc = provenance_document(scenario_path, overrides)
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def read_provenance(folder: str | Path) -> dict[str, Provenance] | None:
    """The keys of a folder's ``provenance.json`` (None if absent or unreadable)."""
    path = Path(folder) / PROVENANCE_NAME
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, dict) or (not keys and doc.get("error")):
        return None
    return {str(k): Provenance.from_dict(v) for k, v in keys.items() if isinstance(v, dict)}


def flatten_keys(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A nested table as ``{dotted key: value}`` (lists are values)."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten_keys(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: obj}


def results_provenance(folder: str | Path) -> tuple[dict[str, Provenance] | None, str]:
    """The provenance of a results folder's inputs, and where it was read from.

    ``provenance.json`` when present; else recomputed from the scenario file the run
    names (``summary.json``), if it still exists: then every value of the run's
    ``scenario.resolved.json`` that the file (without overrides) does not give is
    marked "differs from the file" (a flag of the run, or an edit since).
    """
    folder = Path(folder)
    keys = read_provenance(folder)
    if keys is not None:
        return keys, PROVENANCE_NAME
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        resolved = json.loads((folder / "scenario.resolved.json").read_text(encoding="utf-8"))
        file = Path(str((summary.get("scenario") or {}).get("file") or ""))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None, "no provenance.json and no scenario file"
    if not str(file) or str(file) == "." or not file.is_file():
        return None, "no provenance.json, and the run's scenario file is not found"
    try:
        keys = scenario_provenance(file)
        from sim.errors import ScenarioError
        from sim.scenario.loader import load_scenario

        try:
            now = flatten_keys(load_scenario(file).resolved)
        except ScenarioError:
            now = {}
    except (ProvenanceError, RecursionError):
        return None, "no provenance.json, and the run's scenario file cannot be read"
    for key, value in flatten_keys(resolved).items():
        if key in now and now[key] != value:
            keys[key] = Provenance(
                file="--set?",
                comment="the run's value differs from the scenario file as it is now: set by a "
                "flag of the run, or the file was edited since",
            )
    return keys, f"recomputed from {file} (the run has no {PROVENANCE_NAME})"
