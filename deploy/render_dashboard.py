"""Draw the operations dashboard of template.yaml as an SVG: its widget definitions, not data.

Usage::

    .venv/bin/python deploy/render_dashboard.py            # writes docs/dashboard.svg
    .venv/bin/python deploy/render_dashboard.py --check    # exit 1 when the SVG is out of date

The DashboardBody is resolved offline by ``validate_template.py`` (the same evaluator that
checks it when validating the template) with every projection enabled, then laid out the way
CloudWatch places widgets without ``x``/``y``: left to right in rows of 24 columns. Each widget
is a box with its title, its dimensions and one line per metric (colour, label, namespace and
statistic); annotations are drawn as dashed lines with their label and value; text widgets show
their text, the alarm widget the alarm names.

Guarantees: the output depends only on the template (no clock, no randomness, no fonts read),
so ``--check`` compares bytes. Pure standard library apart from cfn-lint's YAML decoder (a dev
dependency, like the validator it imports), so nothing is added to the runtime dependencies.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import textwrap
from dataclasses import dataclass
from html import escape
from pathlib import Path
from types import ModuleType
from typing import Any

import cfnlint.decode  # type: ignore[import-untyped]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_OUTPUT = ROOT / "docs" / "dashboard.svg"
DASHBOARD = "OperationsDashboard"

COLUMN = 44  # px per grid column (CloudWatch's grid has 24)
ROW = 30  # px per grid row
GAP = 6
MARGIN = 12
HEADER = 46
FONT = "Helvetica, Arial, sans-serif"
CHAR = 6.1  # estimated average width of an 11 px glyph, for truncation
TITLE_CHAR = 7.4  # the same for the 12 px bold titles
LINE = 15
# CloudWatch's default series colours, in order.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def _load_validator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "validate_template", HERE / "validate_template.py"
    )
    if spec is None or spec.loader is None:  # pragma: no cover - the file ships beside this one
        msg = f"cannot load {HERE / 'validate_template.py'}"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


class TemplateError(ValueError):
    """template.yaml cannot be decoded or has no dashboard to draw (a user mistake)."""


def dashboard_body(template_path: Path) -> tuple[str, dict[str, Any]]:
    """The dashboard's name and its body with every condition it depends on true."""
    validator = _load_validator()
    decoded, matches = cfnlint.decode.decode_str(template_path.read_text(encoding="utf-8"))
    if decoded is None or matches:
        msg = f"{template_path} does not decode: {matches[0].message if matches else ''}"
        raise TemplateError(msg)
    template: dict[str, Any] = json.loads(json.dumps(decoded))
    resource = template.get("Resources", {}).get(DASHBOARD)
    if resource is None:
        msg = f"{template_path} has no {DASHBOARD} resource"
        raise TemplateError(msg)
    props = resource["Properties"]
    everything = dict.fromkeys(validator.conditions_named(props["DashboardBody"]), True)
    try:
        name = validator.resolve(props.get("DashboardName", DASHBOARD), everything, template)
        body = next(
            b for c, b in validator.dashboard_bodies(template, DASHBOARD) if c == everything
        )
    except (validator.UnresolvedError, json.JSONDecodeError) as exc:
        msg = f"{template_path}: {DASHBOARD}: {exc}"
        raise TemplateError(msg) from exc
    return str(name), body


@dataclass(frozen=True, slots=True)
class Placed:
    """A widget and its box in pixels."""

    widget: dict[str, Any]
    x: int
    y: int
    width: int
    height: int


def layout(widgets: list[dict[str, Any]]) -> list[Placed]:
    """CloudWatch's placement of widgets without x/y: rows of 24 columns, in order."""
    placed: list[Placed] = []
    column = row = row_height = 0
    for widget in widgets:
        width, height = int(widget.get("width", 6)), int(widget.get("height", 6))
        if column + width > 24:
            column, row, row_height = 0, row + row_height, 0
        placed.append(
            Placed(
                widget,
                MARGIN + column * COLUMN,
                HEADER + row * ROW,
                width * COLUMN - GAP,
                height * ROW - GAP,
            )
        )
        column += width
        row_height = max(row_height, height)
    return placed


def _fit(text: str, pixels: float, char: float = CHAR) -> str:
    limit = max(1, int(pixels / char))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(
    x: float, y: float, text: str, *, size: int = 11, fill: str = "#16191f", **attrs: str
) -> str:
    extra = "".join(f' {key.replace("_", "-")}="{value}"' for key, value in attrs.items())
    return (
        f'<text x="{x:g}" y="{y:g}" font-size="{size}" fill="{fill}"{extra}>{escape(text)}</text>'
    )


def _metric_lines(box: Placed) -> list[str]:
    props = box.widget["properties"]
    out: list[str] = []
    inner = box.width - 20
    dims: list[str] = []
    for metric in props["metrics"]:
        parts = [p for p in metric if isinstance(p, str)]
        pairs = [f"{k}={v}" for k, v in zip(parts[2::2], parts[3::2], strict=False)]
        dims += [pair for pair in pairs if pair not in dims]
    y = box.y + 38
    out.append(_text(box.x + 10, y, _fit(", ".join(dims), inner), size=10, fill="#5f6b7a"))
    y += LINE + 2
    for index, metric in enumerate(props["metrics"]):
        options = metric[-1] if isinstance(metric[-1], dict) else {}
        namespace, name = metric[0], metric[1]
        stat = options.get("stat", props.get("stat", "Average"))
        label = options.get("label", name)
        axis = " (right axis)" if options.get("yAxis") == "right" else ""
        colour = PALETTE[index % len(PALETTE)]
        out.append(f'<rect x="{box.x + 10}" y="{y - 8}" width="10" height="3" fill="{colour}"/>')
        shown = namespace if label.lower().startswith(name.lower()) else f"{namespace} {name}"
        detail = f"{shown} · {stat}{axis}"
        out.append(_text(box.x + 26, y, _fit(label, inner * 0.45)))
        out.append(
            _text(
                box.x + box.width - 10,
                y,
                _fit(detail, inner * 0.5),
                size=10,
                fill="#5f6b7a",
                text_anchor="end",
            )
        )
        y += LINE
    for annotation in props.get("annotations", {}).get("horizontal", []):
        y += 4
        out.append(
            f'<line x1="{box.x + 10}" y1="{y - 4}" x2="{box.x + 40}" y2="{y - 4}" '
            'stroke="#d13212" stroke-dasharray="4 3"/>'
        )
        text = f"{annotation.get('label', '')} = {annotation['value']}"
        out.append(_text(box.x + 46, y, _fit(text, inner - 40), fill="#d13212"))
        y += LINE
    return out


def _text_lines(box: Placed) -> list[str]:
    markdown = box.widget["properties"].get("markdown", "")
    lines = [line.lstrip("# ") for line in markdown.splitlines()]
    out: list[str] = []
    y = box.y + 18
    width = int((box.width - 20) / CHAR)
    for index, line in enumerate(lines):
        for piece in textwrap.wrap(line, width) or [""]:
            if y > box.y + box.height - 4:
                return out
            size, weight = (13, "bold") if index == 0 else (11, "normal")
            out.append(_text(box.x + 10, y, piece, size=size, font_weight=weight))
            y += LINE
    return out


def _alarm_lines(box: Placed) -> list[str]:
    names = [arn.removesuffix(".Arn") for arn in box.widget["properties"].get("alarms", [])]
    columns = 4
    per_column = -(-len(names) // columns)
    width = (box.width - 20) / columns
    out: list[str] = []
    for index, name in enumerate(names):
        column, row = divmod(index, per_column)
        x = box.x + 10 + column * width
        y = box.y + 38 + row * (LINE - 2)
        out.append(f'<circle cx="{x + 4:g}" cy="{y - 4}" r="4" fill="#879596"/>')
        out.append(_text(x + 12, y, _fit(name, width - 16), size=10))
    return out


def render(name: str, body: dict[str, Any]) -> str:
    """The SVG document of dashboard ``name`` with ``body`` (deterministic)."""
    placed = layout(body["widgets"])
    width = MARGIN * 2 + 24 * COLUMN - GAP
    height = max(p.y + p.height for p in placed) + MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}">',
        f'<rect width="{width}" height="{height}" fill="#f2f3f3"/>',
        _text(MARGIN, 22, f"CloudWatch dashboard {name}", size=16, font_weight="bold"),
        _text(
            MARGIN,
            38,
            "Widget definitions from template.yaml, every projection enabled "
            "(deploy/render_dashboard.py); lines list metrics, not data.",
            size=11,
            fill="#5f6b7a",
        ),
    ]
    for box in placed:
        kind = box.widget["type"]
        title = box.widget["properties"].get("title", "")
        out.append(
            f'<rect x="{box.x}" y="{box.y}" width="{box.width}" height="{box.height}" '
            'rx="3" fill="#ffffff" stroke="#d5dbdb"/>'
        )
        if title:
            out.append(
                _text(
                    box.x + 10,
                    box.y + 20,
                    _fit(title, box.width - 20, TITLE_CHAR),
                    size=12,
                    font_weight="bold",
                )
            )
        if kind == "metric":
            out += _metric_lines(box)
        elif kind == "text":
            out += _text_lines(box)
        elif kind == "alarm":
            out += _alarm_lines(box)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: write (or ``--check``) the SVG; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if --output differs from a fresh rendering"
    )
    args = parser.parse_args(argv)
    try:
        name, body = dashboard_body(args.template)
    except (OSError, TemplateError) as exc:
        print(f"render_dashboard: {exc}", file=sys.stderr)
        return 2
    svg = render(name, body)
    if args.check:
        try:
            current = args.output.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != svg:
            print(
                f"{args.output} is out of date with {args.template}: "
                "run .venv/bin/python deploy/render_dashboard.py",
                file=sys.stderr,
            )
            return 1
        return 0
    args.output.write_text(svg, encoding="utf-8")
    print(f"wrote {args.output} ({len(body['widgets'])} widgets)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
