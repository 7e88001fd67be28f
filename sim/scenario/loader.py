"""Load a scenario file: TOML parsing, ``extends`` merging, ``--set`` overrides, validation.

The result is an immutable :class:`LoadedScenario`. Every failure is a
:class:`~sim.errors.ScenarioError` naming the file (or ``--set``), the dotted key
path and what was expected, so the CLI can print one line and exit 2.

Provenance: every key of the merged scenario remembers the file or flag that wrote
it, and every table the most-derived file that touched it, so an error names the
source actually responsible — a wrong or unknown key its writer, a missing key the
file that defines its table.

Merging (``extends`` and overrides alike): tables merge key by key, other values
replace. A table whose type changes — a node's ``kind``, a leg's ``mode``, a
dispatch ``rule``, a duration's ``dist`` — replaces the base's table wholesale, so
no key of the old type is left over; so does a bare number over a distribution.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import re
import stat
import tomllib
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from sim.errors import ScenarioError
from sim.scenario.references import check_references
from sim.scenario.schema import Scenario

Key = tuple[str, ...]
SET_SOURCE = "--set"
MAX_EXTENDS_DEPTH = 32
"""Longest chain of ``extends`` (a file, its base, the base's base...)."""
MAX_NESTING = 32
"""Deepest nesting of tables and arrays in a file or an override (the schema needs 5)."""
ID_TABLES = {
    "nodes": "node",
    "legs": "leg",
    "flows": "flow",
    "fleets": "fleet",
    "wagon_pools": "wagon pool",
    "weather": "weather region",
    "disruptions": "disruption",
    "markets": "market",
    "routes": "route",
    "operators": "operator",
}
"""Tables keyed by user-chosen ids, and what one entry is called in messages."""


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its provenance."""

    path: Path
    model: Scenario
    resolved: dict[str, Any]
    sha256: str
    origin: Callable[[str], str] | None = field(default=None, compare=False, repr=False)

    def source_of(self, key: str) -> str:
        """The file or flag that set a dotted key (for errors found after loading)."""
        return self.origin(key) if self.origin else str(self.path)


def load_scenario(
    path: str | Path, overrides: Sequence[str | tuple[str, str]] = ()
) -> LoadedScenario:
    """Read ``path`` (TOML, or JSON as written in results), apply ``extends`` and overrides.

    An override is ``"key.path=value"`` (reported as ``--set`` in errors) or a
    ``(source, "key.path=value")`` pair naming the flag it came from. Overrides apply
    in order, except that one switching a type (``...dispatch.rule=timetable``) goes
    before the others, so the new type's keys may be given in any order.
    """
    path = Path(path)
    default = str(path)
    prov = _Provenance()
    try:
        raw = _read_with_extends(path, prov)
        items = [(SET_SOURCE, item) if isinstance(item, str) else item for item in overrides]
        parsed = [(source, *parse_override(text, source)) for source, text in items]
        parsed.sort(key=lambda p: not _is_discriminator(p[1]))  # stable
        created: dict[Key, str] = {}
        for source, parts, value in parsed:
            _apply_override(raw, prov, parts, value, source, created)
        _check_new_entries(raw, prov, created)
        model = _validate(raw, prov, default)
        check_references(model, lambda key: prov.source_for(raw, key, default), prov.rank_of)
    except RecursionError:  # a backstop: the nesting limits should make this unreachable
        raise ScenarioError(default, None, "too deeply nested") from None
    resolved = model.model_dump(mode="json", by_alias=True, exclude={"extends"})
    digest = hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()
    return LoadedScenario(
        path=path,
        model=model,
        resolved=resolved,
        sha256=digest,
        origin=functools.partial(prov.source_for, raw, default=default),
    )


def scenario_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate an in-memory scenario (tests, workers): same checks as a file."""
    prov = _Provenance()
    model = _validate(copy.deepcopy(raw), prov, source)
    check_references(model, lambda key: source)
    return model


# --------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------


@dataclass
class _Provenance:
    """Who is responsible for each key of the merged scenario."""

    written: dict[Key, str] = field(default_factory=dict)
    """key -> the source that last wrote its value (for a table: last touched it)"""
    owner: dict[Key, str] = field(default_factory=dict)
    """table -> the most-derived file that touched it, or the override that wrote it whole"""
    ranks: dict[str, int] = field(default_factory=dict)
    """source -> order of application (bases first, then the extending files, then flags)"""

    def rank_of(self, source: str) -> int:
        return self.ranks.get(source, -1)

    def _seen(self, source: str) -> None:
        self.ranks.setdefault(source, len(self.ranks))

    def touch(self, path: Key, source: str, own: bool) -> None:
        """``source`` merges into the existing table at ``path``."""
        self._seen(source)
        self.written[path] = source
        if own:
            self.owner[path] = source

    def write(self, path: Key, value: Any, source: str, replaced: bool) -> None:
        """``source`` writes ``value`` whole at ``path`` (``replaced``: over a table)."""
        self._seen(source)
        if replaced:
            n = len(path)
            for table in (self.written, self.owner):
                for k in [k for k in table if len(k) > n and k[:n] == path]:
                    del table[k]
        stack = [(path, value)]
        while stack:
            p, v = stack.pop()
            self.written[p] = source
            if isinstance(v, dict):
                self.owner[p] = source
                stack.extend((p + (k,), sub) for k, sub in v.items())

    def source_for(self, raw: dict[str, Any], key: str | Sequence[str], default: str) -> str:
        """The source responsible for ``key``: its writer if it is in ``raw``, else
        (a missing key, a default) the owner of the deepest table holding it."""
        parts = tuple(key.split(".")) if isinstance(key, str) else tuple(key)
        parts = tuple(p for p in parts if p)
        node: Any = raw
        n = 0
        for part in parts:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                break
            n += 1
        table = self.written if n == len(parts) else self.owner
        for k in range(n, 0, -1):
            if parts[:k] in table:
                return table[parts[:k]]
        return default


# --------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------

NOT_FOUND = "scenario file not found"


def _check_file(path: Path) -> None:
    """Raise unless ``path`` names a regular file (without reading it)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        extra = " (dangling symlink)" if path.is_symlink() else ""
        raise ScenarioError(str(path), None, NOT_FOUND + extra) from None
    except (OSError, ValueError) as exc:  # symlink loop, permission on a folder, bad name
        raise ScenarioError(str(path), None, f"cannot read file ({_reason(exc)})") from None
    if stat.S_ISDIR(mode):
        raise ScenarioError(str(path), None, "expected a scenario file, got a directory")
    if not stat.S_ISREG(mode):
        raise ScenarioError(
            str(path), None, "expected a regular scenario file, not a device, pipe or socket"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _read_toml(path: Path) -> dict[str, Any]:
    _check_file(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1].hex()
        raise ScenarioError(
            name, None, f"expected UTF-8 text (byte 0x{bad} at offset {exc.start} is not)"
        ) from None
    except OSError as exc:
        raise ScenarioError(name, None, f"cannot read file ({_reason(exc)})") from None
    too_deep = f"too deeply nested (more than {MAX_NESTING} levels of tables and arrays)"
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(name, None, f"malformed JSON at line {exc.lineno}") from None
        except RecursionError:
            raise ScenarioError(name, None, too_deep) from None
        if not isinstance(data, dict):
            raise ScenarioError(name, None, "expected a JSON object at the top level")
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ScenarioError(name, None, f"malformed TOML: {exc}") from None
        except RecursionError:
            raise ScenarioError(name, None, too_deep) from None
    for key, value in data.items():
        if _depth(value) > MAX_NESTING:
            raise ScenarioError(name, str(key), too_deep)
    return data


def _depth(value: Any) -> int:
    """Levels of tables and arrays in ``value`` (0 for a scalar), without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            d += 1
            deepest = max(deepest, d)
            if deepest > MAX_NESTING:
                return deepest
            stack.extend((sub, d) for sub in (v.values() if isinstance(v, dict) else v))
    return deepest


def _read_with_extends(path: Path, prov: _Provenance) -> dict[str, Any]:
    """The file merged over its chain of bases (the deepest base first)."""
    layers: list[tuple[Path, dict[str, Any]]] = []  # most-derived first
    seen: dict[Path, Path] = {}
    current = path
    raw = _read_toml(current)
    while True:
        try:
            seen[current.resolve()] = current
        except (OSError, RuntimeError) as exc:  # should not happen after a successful read
            raise ScenarioError(str(current), None, f"cannot read file ({_reason(exc)})") from None
        base_name = raw.pop("extends", None)
        layers.append((current, raw))
        if base_name is None:
            break
        if not isinstance(base_name, str):
            raise ScenarioError(str(current), "extends", "expected a file path string")
        if len(layers) >= MAX_EXTENDS_DEPTH:
            raise ScenarioError(
                str(current),
                "extends",
                f"expected at most {MAX_EXTENDS_DEPTH} files in a chain of extends "
                f"(starting at {path})",
            )
        base_path = Path(base_name)
        if not base_path.is_absolute():
            base_path = current.parent / base_path
        try:
            _check_file(base_path)
            resolved = base_path.resolve()
        except ScenarioError as exc:
            why = " not found" if exc.expected == NOT_FOUND else f": {exc.expected}"
            raise ScenarioError(
                str(current), "extends", f"base scenario {base_name!r}{why}"
            ) from None
        except (OSError, RuntimeError) as exc:
            raise ScenarioError(
                str(current), "extends", f"base scenario {base_name!r}: {_reason(exc)}"
            ) from None
        if resolved in seen:
            raise ScenarioError(
                str(current),
                "extends",
                f"expected no cycle of extends ({base_name!r} is already in the chain)",
            )
        current = base_path
        raw = _read_toml(current)
    base_path, merged = layers.pop()
    prov.write((), merged, str(base_path), replaced=False)
    for file_path, over in reversed(layers):
        _deep_merge(merged, over, (), str(file_path), prov, own=True)
    return merged


# --------------------------------------------------------------------------------------
# Merging and overrides
# --------------------------------------------------------------------------------------


def _discriminator(path: Key) -> str | None:
    """The key that selects the type of the table at ``path``, if it has one."""
    if len(path) == 2 and path[0] in ("nodes", "disruptions"):
        return "kind"
    if len(path) == 2 and path[0] == "legs":
        return "mode"
    if len(path) >= 3 and path[0] in ID_TABLES:
        return "rule" if path[-1] == "dispatch" else "dist"
    return None


def _is_discriminator(parts: Sequence[str]) -> bool:
    return len(parts) >= 2 and _discriminator(tuple(parts[:-1])) == parts[-1]


def _deep_merge(
    base: dict[str, Any],
    over: dict[str, Any],
    prefix: Key,
    source: str,
    prov: _Provenance,
    own: bool,
) -> None:
    """Merge ``over`` into ``base`` in place: tables merge key by key, other values
    replace, and a table of another type (its discriminator differs) replaces whole.

    ``own``: ``source`` is a file, so it becomes the owner of the tables it touches.
    """
    for key, value in over.items():
        path = prefix + (key,)
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            disc = _discriminator(path)
            if disc is None or disc not in value or disc not in old or old[disc] == value[disc]:
                prov.touch(path, source, own)
                _deep_merge(old, value, path, source, prov, own)
                continue
        base[key] = copy.deepcopy(value)
        prov.write(path, value, source, replaced=isinstance(old, dict))


def parse_override(text: str, source: str = SET_SOURCE) -> tuple[list[str], Any]:
    """Split ``key.path=value``; the value is read as a TOML value, else as a plain string."""
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(source, text, "expected KEY.PATH=VALUE")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ScenarioError(source, key, "expected a dotted key path like fleets.x.vessels")
    if parts[0] == "extends":
        raise ScenarioError(
            source,
            key,
            "expected a key of the scenario's tables (extends can only be set in a scenario file)",
        )
    too_deep = f"too deeply nested (more than {MAX_NESTING} levels of tables and arrays)"
    if len(parts) > MAX_NESTING:
        raise ScenarioError(source, ".".join(parts[:3]) + "...", too_deep)
    value_text = value_text.strip()
    try:
        value = tomllib.loads(f"v = {value_text}")["v"]
    except tomllib.TOMLDecodeError:
        if not value_text:
            raise ScenarioError(source, key, "expected a value after '='") from None
        value = value_text
    except RecursionError:
        raise ScenarioError(source, key, too_deep) from None
    if len(parts) + _depth(value) > MAX_NESTING:
        raise ScenarioError(source, key, too_deep)
    return parts, value


def _apply_override(
    raw: dict[str, Any],
    prov: _Provenance,
    parts: list[str],
    value: Any,
    source: str,
    created: dict[Key, str],
) -> None:
    """Set one value; a table value merges like a table of an extending file."""
    if _is_discriminator(parts):  # switching the type: like writing {rule = ...}
        parts, value = parts[:-1], {parts[-1]: value}
    if parts[0] in ID_TABLES:
        top = raw.get(parts[0])
        # one entry, or a whole table of them: ``--set 'fleets={x = {...}}'``
        whole = list(value) if isinstance(value, dict) else []
        idents = [parts[1]] if len(parts) >= 2 else whole
        for ident in idents:
            if top is None or (isinstance(top, dict) and ident not in top):
                created.setdefault((parts[0], ident), source)
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        path = tuple(parts[: i + 1])
        if part not in node:
            node[part] = {}
            # an override that makes a table does not own it: a missing required
            # top-level table is the file's fault; new id entries are checked apart
            prov.write(path, {}, source, replaced=False)
            if i == 0 or (i == 1 and parts[0] in ID_TABLES):
                del prov.owner[path]
        else:
            prov.touch(path, source, own=False)
        node = node[part]
        if not isinstance(node, dict):
            raise ScenarioError(source, ".".join(parts), f"{'.'.join(path)} is not a table")
    _deep_merge(node, {parts[-1]: value}, tuple(parts[:-1]), source, prov, own=False)


@functools.cache
def _entry_adapter(table: str) -> TypeAdapter:
    annotation = Scenario.model_fields[table].annotation
    return TypeAdapter(typing.get_args(annotation)[1])


def _check_new_entries(raw: dict[str, Any], prov: _Provenance, created: dict[Key, str]) -> None:
    """An id that overrides created but left incomplete is most likely a typo."""
    for (table, ident), source in created.items():
        entry = raw[table][ident]
        if not isinstance(entry, dict):
            continue
        try:
            _entry_adapter(table).validate_python(entry, strict=True)
            missing: list[str] = []
        except ValidationError as exc:
            missing = []
            for err in exc.errors():
                where = _clean_location(entry, tuple(err["loc"]))
                if err["type"] == "missing" and len(where) == 1:
                    missing.append(where[0])
                elif err["type"] == "union_tag_not_found" and not where:
                    missing.append(str(err.get("ctx", {}).get("discriminator", "")).strip("'"))
        if not missing:
            prov.owner[(table, ident)] = source  # a complete new entry: the override's own
            continue
        what = ID_TABLES[table]
        known = [k for k in raw[table] if (table, k) not in created]
        near = difflib.get_close_matches(ident, known, n=1)
        if near:
            hint = f"did you mean {near[0]!r}?"
        else:
            need = ", ".join(f"{table}.{ident}.{k}" for k in sorted(set(missing)))
            hint = f"to add one, also set {need}"
        raise ScenarioError(source, f"{table}.{ident}", f"unknown {what} {ident!r} ({hint})")


# --------------------------------------------------------------------------------------
# Validation and error messages
# --------------------------------------------------------------------------------------


_TAGS = ("kind", "mode", "rule", "dist")


def _clean_location(raw: Any, loc: tuple[Any, ...]) -> list[str]:
    """Map a pydantic error location onto the key path in the raw file.

    Pydantic inserts union tags (``'port'``, ``'triangular'``) into locations, and
    ``'[key]'`` for an invalid dict key; only the elements that are real keys of
    the file are kept.
    """
    path: list[str] = []
    node = raw
    for i, elem in enumerate(loc):
        last = i == len(loc) - 1
        if elem == "[key]":
            continue
        if isinstance(node, dict):
            if not last and any(node.get(d) == elem for d in _TAGS):
                continue  # a union tag equal to a key (kind = "factor" has a key factor)
            if elem in node:
                path.append(str(elem))
                node = node[elem]
            elif last or isinstance(elem, int):
                path.append(str(elem))
                node = None
        elif isinstance(node, list) and isinstance(elem, int):
            path.append(str(elem))
            node = node[elem] if 0 <= elem < len(node) else None
        else:
            break
    return path


def _schema_keys() -> list[str]:
    """Every key any table of the schema accepts (for "did you mean" hints)."""
    from pydantic import BaseModel

    from sim.scenario import schema

    keys: set[str] = set()
    for obj in vars(schema).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel):
            keys.update(f.alias or n for n, f in obj.model_fields.items())
    return sorted(keys)


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    msg: str = error["msg"]
    if kind == "extra_forbidden":
        bad = str(error["loc"][-1])
        near = difflib.get_close_matches(bad, _schema_keys(), n=1)
        hint = f"did you mean {near[0]!r}?" if near else "see docs/scenarios.md"
        return f"unknown key ({hint})"
    if kind == "missing":
        return "missing required key"
    if kind == "union_tag_invalid":
        tags = error.get("ctx", {}).get("expected_tags", "")
        return f"expected one of {tags}, got {error.get('input')!r}"
    if kind == "union_tag_not_found":
        return f"expected a {error.get('ctx', {}).get('discriminator', 'type')} key"
    msg = msg.removeprefix("Value error, ")
    msg = msg.replace("Input should be", "expected")
    if msg.startswith("String should match pattern"):
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        msg = "expected letters, digits, '_' or '-' only"
        if pattern.startswith("^\\d{4}-"):
            msg = "expected a date YYYY-MM-DD"
        elif pattern.startswith("^\\d{4}$"):
            msg = "expected a year YYYY"
    got = error.get("input")
    if not isinstance(got, dict | list) and kind not in ("value_error",):
        msg += f", got {got!r}"
    return msg


def _missing(raw: dict[str, Any], path: Sequence[str]) -> bool:
    node: Any = raw
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return True
    return False


def _table_at(raw: dict[str, Any], path: Sequence[str]) -> dict[str, Any] | None:
    node: Any = raw
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) else None


def _validate(raw: dict[str, Any], prov: _Provenance, default_source: str) -> Scenario:
    try:
        return Scenario.model_validate(raw, strict=True)
    except ValidationError as exc:
        errors = exc.errors()
    # a misspelt key also shows up as a missing one: report the misspelling
    first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
    path = _clean_location(raw, tuple(first["loc"]))
    expected = _describe(first)
    source = prov.source_for(raw, path, default_source)
    if first["type"] == "union_tag_invalid":
        disc = first.get("ctx", {}).get("discriminator", "").strip("'")
        if disc:
            path.append(disc)
            source = prov.source_for(raw, path, default_source)
    elif first["type"] == "union_tag_not_found":
        disc = str(first.get("ctx", {}).get("discriminator", "")).strip("'")
        source = prov.source_for(raw, [*path, disc], default_source)  # missing: the owner
    elif first["type"] == "extra_forbidden" and len(path) >= 2:
        disc = _discriminator(tuple(path[:-1]))
        parent = _table_at(raw, path[:-1])
        if disc and parent is not None and path[-1] in _schema_keys() and disc in parent:
            expected = f"unknown key for {disc} = {parent[disc]!r}"
    elif first["type"] == "value_error":
        while path and _missing(raw, path):  # a check of a whole union member: its tag
            path.pop()
        path, source = _most_recent_named(raw, prov, path, str(first["msg"]), default_source)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise ScenarioError(source, ".".join(path) or None, expected + more)


def _most_recent_named(
    raw: dict[str, Any], prov: _Provenance, path: list[str], msg: str, default: str
) -> tuple[list[str], str]:
    """For a check across keys (``expected low <= mode <= high``): of the keys the
    message names, the one written last, so the change that broke it is named."""
    table = _table_at(raw, path)
    whole = table is not None  # a check of a whole table, else of one key in it
    if whole:
        where, candidates = path, []
    else:
        where, candidates = path[:-1], [path]
        table = _table_at(raw, where)
    for word in dict.fromkeys(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", msg)):
        key = [*where, word]
        if table and word in table and not isinstance(table[word], dict) and key not in candidates:
            candidates.append(key)
    if whole:
        candidates.append(path)  # the table itself, if it was touched later still
    best = max(candidates, key=lambda c: prov.rank_of(prov.source_for(raw, c, default)))
    return best, prov.source_for(raw, best, default)
