"""Generate ``docs/scenarios.md`` from the schema: every key with type, unit and default.

Run ``python -m sim.scenario.docs`` to rewrite the file; a test fails when the
committed file differs from what this produces.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from sim.scenario import markets as M
from sim.scenario import schema as S

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"

SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    (
        "Top level",
        S.Scenario,
        "The file itself. Tables keyed by id give every value a dotted "
        "path for `--set` (e.g. `fleets.caspian_feeders.vessels`).",
    ),
    ("[scenario]", S.RunSettings, "Run settings."),
    ('[nodes.<id>] kind = "terminal"', S.TerminalNode, S.TerminalNode.__doc__ or ""),
    ('[nodes.<id>] kind = "border"', S.BorderNode, S.BorderNode.__doc__ or ""),
    ('[nodes.<id>] kind = "port"', S.PortNode, S.PortNode.__doc__ or ""),
    ('[nodes.<id>] kind = "gateway"', S.GatewayNode, S.GatewayNode.__doc__ or ""),
    ('[legs.<id>] mode = "rail"', S.RailLeg, S.RailLeg.__doc__ or ""),
    ('[legs.<id>] mode = "sea"', S.SeaLeg, S.SeaLeg.__doc__ or ""),
    ('[legs.<id>] mode = "delay"', S.DelayLeg, S.DelayLeg.__doc__ or ""),
    ("[fleets.<id>]", S.Fleet, S.Fleet.__doc__ or ""),
    ("[wagon_pools.<id>]", S.WagonPool, S.WagonPool.__doc__ or ""),
    ("[flows.<id>]", S.Flow, S.Flow.__doc__ or ""),
    ("[markets.<id>]", S.Market, S.Market.__doc__ or ""),
    ("[routes.<id>]", S.RouteAlternative, S.RouteAlternative.__doc__ or ""),
    ("[operators.<id>]", S.Operator, S.Operator.__doc__ or ""),
    ("[choice]", S.Choice, S.Choice.__doc__ or ""),
    ("[choice.classes.<id>]", M.CargoClass, M.CargoClass.__doc__ or ""),
    ("[choice.nests.<id>]", M.Nest, M.Nest.__doc__ or ""),
    ("[weather.<id>]", S.WeatherRegion, S.WeatherRegion.__doc__ or ""),
    ('[disruptions.<id>] kind = "outage"', S.OutageDisruption, S.OutageDisruption.__doc__ or ""),
    ('[disruptions.<id>] kind = "window"', S.WindowDisruption, S.WindowDisruption.__doc__ or ""),
    ('[disruptions.<id>] kind = "factor"', S.FactorDisruption, S.FactorDisruption.__doc__ or ""),
    ("[changes.<id>]", S.Change, S.Change.__doc__ or ""),
    ("[economics]", S.Economics, S.Economics.__doc__ or ""),
    ('dispatch = {rule = "full"}', S.DispatchFull, S.DispatchFull.__doc__ or ""),
    (
        'dispatch = {rule = "timetable", ...}',
        S.DispatchTimetable,
        S.DispatchTimetable.__doc__ or "",
    ),
    (
        'dispatch = {rule = "full_or_timeout", ...}',
        S.DispatchFullOrTimeout,
        S.DispatchFullOrTimeout.__doc__ or "",
    ),
    ('Duration: a number, or {dist = "fixed", ...}', S.FixedDist, S.FixedDist.__doc__ or ""),
    ('{dist = "exponential", ...}', S.ExponentialDist, S.ExponentialDist.__doc__ or ""),
    ('{dist = "triangular", ...}', S.TriangularDist, S.TriangularDist.__doc__ or ""),
    ('{dist = "uniform", ...}', S.UniformDist, S.UniformDist.__doc__ or ""),
    ('{dist = "lognormal", ...}', S.LognormalDist, S.LognormalDist.__doc__ or ""),
    ('{dist = "gamma", ...}', S.GammaDist, S.GammaDist.__doc__ or ""),
]

TAGS = {"kind", "mode", "rule", "dist"}


def _type_name(annotation: object) -> str:
    text = str(annotation)
    if annotation in (int, float, str, bool):
        return annotation.__name__  # type: ignore[union-attr]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner = typing.get_args(annotation)[0]
        if "Dist" in str(inner):
            return "duration"
        return _type_name(inner)
    if origin is typing.Literal:
        return " \\| ".join(repr(a).replace("'", '"') for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        names = [getattr(a, "__name__", "") for a in args]
        if all(n.endswith("Dist") for n in names):
            return "duration"
        if all(n.startswith("Dispatch") for n in names):
            return "dispatch table"
        return " \\| ".join(_type_name(a) for a in args)
    if origin is list:
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin is dict:
        return f"tables by id ({_type_name(typing.get_args(annotation)[1])})"
    if "Dist" in text:
        return "duration"
    if isinstance(annotation, type):
        return annotation.__name__
    return text.replace("typing.", "")


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is PydanticUndefined:
        return "**required**"
    if value is None:
        return "none"
    if isinstance(value, S.FixedDist):
        return f"`{value.value:g}`"
    if isinstance(value, BaseModel):
        inner = ", ".join(f'{k} = "{v}"' for k, v in value.model_dump(by_alias=True).items())
        return f"`{{{inner}}}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _number(v: float) -> str:
    """A bound as written in a scenario file (``36500``, ``0.25``, ``1e+09``)."""
    if isinstance(v, int) or (float(v).is_integer() and abs(v) < 1e7):
        return str(int(v))
    return f"{v:.6g}"


def _bounds(field) -> str:
    parts = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                parts.append(f"{sym} {_number(v)}")
        for attr, sym in (("min_length", ">="), ("max_length", "<=")):
            v = getattr(m, attr, None)
            if v is not None and typing.get_origin(field.annotation) is dict:
                parts.append(f"{sym} {v} entries")
            elif attr == "max_length" and v is not None and v != S.MONTHS:
                parts.append(f"{sym} {v} items")
    # bounds of the items of a list (``list[Annotated[float, Field(ge=0, le=30)]]``)
    if typing.get_origin(field.annotation) is list:
        (item,) = typing.get_args(field.annotation)
        if typing.get_origin(item) is typing.Annotated:
            for m in typing.get_args(item)[1:]:
                for inner in getattr(m, "metadata", [m]):
                    for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                        v = getattr(inner, attr, None)
                        if v is not None:
                            parts.append(f"each {sym} {_number(v)}")
    return "; ".join(parts)


def _limit_reason(field) -> str | None:
    extra = field.json_schema_extra
    return extra.get("limit") if isinstance(extra, dict) else None


def limits_section() -> list[str]:
    """The *Limits* section: every bounded key, grouped by the reason for its bound."""
    from sim.scenario.limits import BYTES_PER_BOX_BASE, BYTES_PER_BOX_STAGE, HEADROOM

    groups: dict[str, list[str]] = {}
    for title, model, _ in SECTIONS:
        if title.startswith("["):
            table = title.split(" ")[0]
        elif title.startswith(("Duration", "{")):
            table = "duration " + title.split('"')[1]
        elif title.startswith("dispatch"):
            table = "dispatch " + title.split('"')[1]
        else:
            table = title.lower()
        for name, field in model.model_fields.items():
            why = _limit_reason(field)
            entry = f"{table} `{field.alias or name}` ({_bounds(field)})"
            if why is not None and entry not in groups.get(why, []):
                groups.setdefault(why, []).append(entry)
    out = [
        "## Limits",
        "",
        "Every number must be finite: `inf`, `-inf` and `nan` are refused wherever they "
        "appear (a file, `--set`, or a flag such as `--horizon-days`), because no run can "
        "simulate them. Beyond its physical range (no negative times, shares within 0..1), "
        "every size and time has an upper bound, and periods that would each cost work "
        "over the whole horizon have a lower one. A real study never needs to cross "
        "them; past them a value is a typo or a unit mistake that would exhaust memory "
        "or run for ever, so `corridor validate` and `corridor run` refuse it up front "
        "(exit 2, one line naming the file and key). A few checks involve two keys: a "
        "lognormal's `p95` is at most 1,000 x its `median`; a flow's `headway_cv` is 0 or "
        "at least 0.001; its 12 `seasonality` factors sum to at least 1e-6.",
        "",
        "The bounds keep each number sane; the product of several (demand x horizon x "
        "replications) can still be too big for the machine. `sim/scenario/limits.py` "
        "estimates the memory of a run from the scenario: one replication holds every "
        f"box of demand over the horizon, about {BYTES_PER_BOX_BASE} + "
        f"{BYTES_PER_BOX_STAGE} x (nodes on the longest route) bytes per box at its peak "
        "(measured: the baseline's 140,720 boxes in 43 MB, the 1.56 M boxes of "
        "`baseline_2m` in 433 MB), plus a process per replication running at once and "
        "the records kept of every replication; its `check_run_size` refuses a run "
        f"needing more than {HEADROOM:.0%} of the memory available, naming the key "
        "most responsible.",
        "",
        "| bounded keys | why |",
        "|---|---|",
    ]
    for why, keys in groups.items():
        out.append(f"| {'<br>'.join(keys)} | {why} |")
    out.append("")
    return out


def render() -> str:
    """The whole markdown document."""
    out = [
        "# Scenario file reference",
        "",
        "<!-- generated by `python -m sim.scenario.docs` from sim/scenario/schema.py;"
        " do not edit by hand -->",
        "",
        "Scenario files are TOML. Units are in the key names: `_h` hours, `_days` days, "
        "`_teu` twenty-foot equivalent units (an FEU is 2 TEU), `_km`, `_nm` nautical miles, "
        "`_per_day`, `_per_month`. Model time is in hours from `[scenario] start_date` 00:00 "
        "(calendar months and years); without a start date, from a nominal 1 January with "
        "730-h months. Unknown keys are errors. A *duration* is a bare number (constant) or a "
        'distribution table, e.g. `run_time_h = {dist = "triangular", low = 60, mode = 84, '
        "high = 120}`.",
        "",
        '`extends = "baseline.toml"` takes a base file (path relative to this file) and '
        "overrides values key by key; `corridor run FILE --set fleets.x.vessels=8` overrides "
        "one value from the command line (validated the same way).",
        "",
    ]
    for title, model, doc in SECTIONS:
        out += [f"## {title}", "", " ".join(doc.split()), ""]
        out += ["| key | type | default | constraint | meaning |", "|---|---|---|---|---|"]
        fields = sorted(
            model.model_fields.items(), key=lambda kv: (kv[1].alias or kv[0]) not in TAGS
        )
        for name, field in fields:
            key = field.alias or name
            if key in TAGS and title.startswith(("[", "dispatch", "{", "Duration")):
                literal = typing.get_args(field.annotation)
                if literal:
                    out.append(
                        f'| `{key}` | `"{literal[0]}"` | required | | selects this table type |'
                    )
                    continue
            desc = (field.description or "").replace("|", "\\|")
            out.append(
                f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | "
                f"{_bounds(field)} | {desc} |"
            )
        out.append("")
    out += meaning_sections()
    out += limits_section()
    return "\n".join(out)


def meaning_sections() -> list[str]:
    """What a capacity factor scales per target, and what a dated change means per key."""
    from sim.model import schedule

    out = [
        "## What a capacity factor scales",
        "",
        "A disruption's `factor` (0 = closed, 1 = full) on its target scales:",
        "",
    ]
    out += [f"- **{target}**: {text}." for target, text in S.FACTOR_MEANING.items()]
    doc = schedule.__doc__ or ""
    part = doc.split("What a dated value means, by key:", 1)[-1].strip()
    out += ["", "## What a dated change means", "", "Keys a `[changes.<id>]` table can set, "
            "and what their new value does to the running model:", "", part, ""]
    return out


def main() -> int:
    DOC_PATH.parent.mkdir(parents=True, exist_ok=True)
    DOC_PATH.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOC_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
