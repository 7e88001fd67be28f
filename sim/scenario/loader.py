"""Load a scenario file: TOML parsing, ``extends`` merging, ``--set`` overrides, validation.

The result is an immutable :class:`LoadedScenario`. Every failure is a
:class:`~sim.errors.ScenarioError` naming the file (or ``--set``), the dotted key
path and what was expected, so the CLI can print one line and exit 2.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.errors import ScenarioError
from sim.scenario.references import check_references
from sim.scenario.schema import Scenario

Origins = dict[tuple[str, ...], str]
SET_SOURCE = "--set"


@dataclass(frozen=True)
class LoadedScenario:
    """A validated scenario with its provenance."""

    path: Path
    model: Scenario
    resolved: dict[str, Any]
    sha256: str


def load_scenario(
    path: str | Path, overrides: Sequence[str | tuple[str, str]] = ()
) -> LoadedScenario:
    """Read ``path`` (TOML, or JSON as written in results), apply ``extends`` and overrides.

    An override is ``"key.path=value"`` (reported as ``--set`` in errors) or a
    ``(source, "key.path=value")`` pair naming the flag it came from.
    """
    path = Path(path)
    origins: Origins = {}
    raw = _read_with_extends(path, origins, chain=())
    for item in overrides:
        source, text = (SET_SOURCE, item) if isinstance(item, str) else item
        _apply_override(raw, origins, text, source)
    model = _validate(raw, origins, str(path))
    check_references(model, lambda key: _source_of(origins, key, str(path)))
    resolved = model.model_dump(mode="json", by_alias=True, exclude={"extends"})
    digest = hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()
    return LoadedScenario(path=path, model=model, resolved=resolved, sha256=digest)


def scenario_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Scenario:
    """Validate an in-memory scenario (tests, workers): same checks as a file."""
    origins: Origins = {}
    model = _validate(copy.deepcopy(raw), origins, source)
    check_references(model, lambda key: source)
    return model


# --------------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ScenarioError(str(path), None, "scenario file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), None, f"cannot read file ({exc})") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(str(path), None, f"malformed JSON at line {exc.lineno}") from None
        if not isinstance(data, dict):
            raise ScenarioError(str(path), None, "expected a JSON object at the top level")
        return data
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), None, f"malformed TOML: {exc}") from None


def _read_with_extends(path: Path, origins: Origins, chain: tuple[Path, ...]) -> dict[str, Any]:
    resolved_path = path.resolve()
    if resolved_path in chain:
        raise ScenarioError(str(path), "extends", "no cycle of extends (file extends itself)")
    raw = _read_toml(path)
    base_name = raw.pop("extends", None)
    if base_name is None:
        _record_origins(raw, (), str(path), origins)
        return raw
    if not isinstance(base_name, str):
        raise ScenarioError(str(path), "extends", "expected a file path string")
    base_path = Path(base_name)
    if not base_path.is_absolute():
        base_path = path.parent / base_path
    if not base_path.is_file():
        raise ScenarioError(str(path), "extends", f"base scenario {base_name!r} not found")
    base = _read_with_extends(base_path, origins, chain + (resolved_path,))
    _deep_merge(base, raw, (), str(path), origins)
    return base


def _record_origins(raw: dict[str, Any], prefix: tuple[str, ...], source: str, origins: Origins):
    for key, value in raw.items():
        origins[prefix + (key,)] = source
        if isinstance(value, dict):
            _record_origins(value, prefix + (key,), source, origins)


def _deep_merge(
    base: dict[str, Any],
    over: dict[str, Any],
    prefix: tuple[str, ...],
    source: str,
    origins: Origins,
) -> None:
    """Merge ``over`` into ``base`` in place: tables merge key by key, other values replace."""
    for key, value in over.items():
        path = prefix + (key,)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            origins.setdefault(path, source)
            _deep_merge(base[key], value, path, source, origins)
        else:
            base[key] = copy.deepcopy(value)
            origins[path] = source
            if isinstance(value, dict):
                _record_origins(value, path, source, origins)


def parse_override(text: str, source: str = SET_SOURCE) -> tuple[list[str], Any]:
    """Split ``key.path=value``; the value is read as a TOML value, else as a plain string."""
    key, sep, value_text = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(source, text, "expected KEY.PATH=VALUE")
    parts = key.split(".")
    if any(not p for p in parts):
        raise ScenarioError(source, key, "expected a dotted key path like fleets.x.vessels")
    value_text = value_text.strip()
    try:
        value = tomllib.loads(f"v = {value_text}")["v"]
    except tomllib.TOMLDecodeError:
        if not value_text:
            raise ScenarioError(source, key, "expected a value after '='") from None
        value = value_text
    return parts, value


def _apply_override(raw: dict[str, Any], origins: Origins, text: str, source: str) -> None:
    parts, value = parse_override(text, source)
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        if part not in node:
            node[part] = {}
            origins[tuple(parts[: i + 1])] = source
        node = node[part]
        if not isinstance(node, dict):
            where = ".".join(parts[: i + 1])
            raise ScenarioError(source, ".".join(parts), f"{where} is not a table")
    node[parts[-1]] = value
    origins[tuple(parts)] = source
    if isinstance(value, dict):
        _record_origins(value, tuple(parts), source, origins)


def _source_of(origins: Origins, key: str, default: str) -> str:
    parts = tuple(key.split(".")) if key else ()
    for n in range(len(parts), 0, -1):
        if parts[:n] in origins:
            return origins[parts[:n]]
    return default


def _clean_location(raw: Any, loc: tuple[Any, ...]) -> list[str]:
    """Map a pydantic error location onto the key path in the raw file.

    Pydantic inserts union tags (``'port'``, ``'triangular'``) into locations;
    only the elements that are real keys of the file are kept.
    """
    path: list[str] = []
    node = raw
    for i, elem in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, dict):
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
        msg = "expected letters, digits, '_' or '-' only"
    got = error.get("input")
    if not isinstance(got, dict | list) and kind not in ("value_error",):
        msg += f", got {got!r}"
    return msg


def _validate(raw: dict[str, Any], origins: Origins, default_source: str) -> Scenario:
    try:
        return Scenario.model_validate(raw, strict=True)
    except ValidationError as exc:
        errors = exc.errors()
        # a misspelt key also shows up as a missing one: report the misspelling
        first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
        loc = tuple(first["loc"])
        path = _clean_location(raw, loc)
        if first["type"] == "union_tag_invalid":
            disc = first.get("ctx", {}).get("discriminator", "").strip("'")
            if disc:
                path.append(disc)
        key = ".".join(path)
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        source = _source_of(origins, key, default_source)
        raise ScenarioError(source, key or None, _describe(first) + more) from None
