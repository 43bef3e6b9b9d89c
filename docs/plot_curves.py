"""Training curves as an SVG line chart, from the epoch lines of a recorded run.

    python docs/plot_curves.py docs/examples/train.txt docs/examples/train_curves.svg

``fit`` prints one line per epoch, ``epoch 3/10: train_loss 0.1899, ..., val_accuracy
0.9389, seconds 0.54``; each metric (loss, accuracy, ...) gets a panel with its train and
val values per epoch. Plain SVG text, so no plotting library is needed.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

EPOCH = re.compile(r"^epoch (?P<epoch>\d+)/\d+: (?P<values>.*)$", re.M)
SERIES = {"train": ("#1f77b4", ""), "val": ("#ff7f0e", "6 4")}  # colour, dash pattern
PANEL_W, PANEL_H = 320, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 20, 34, 40


def epochs(transcript: str) -> list[dict[str, float]]:
    """The per-epoch records of a transcript, each with its ``epoch``."""
    records = []
    for match in EPOCH.finditer(transcript):
        record = {"epoch": float(match["epoch"])}
        for item in match["values"].split(", "):
            key, value = item.rsplit(" ", 1)
            record[key] = float(value)
        records.append(record)
    return records


def _step(top: float) -> float:
    """A round tick spacing (1, 2, 2.5 or 5 times a power of ten) giving at most 6 ticks
    from 0 to ``top``."""
    power = 10.0 ** math.floor(math.log10(top / 5))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if top / (m * power) <= 5)


def _panel(records: list[dict[str, float]], metric: str, x0: float) -> list[str]:
    first, last = records[0]["epoch"], records[-1]["epoch"]
    values = [r[f"{s}_{metric}"] for r in records for s in SERIES if f"{s}_{metric}" in r]
    step = _step(max(values))
    top = step * math.ceil(max(values) / step - 1e-9)
    w, h = PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM

    def xy(epoch: float, value: float) -> tuple[str, str]:
        x = x0 + LEFT + (w * (epoch - first) / (last - first) if last > first else w / 2)
        return f"{x:.1f}", f"{TOP + h * (1 - value / top):.1f}"

    out = [f'<text x="{x0 + LEFT}" y="{TOP - 12}" font-weight="bold">{metric}</text>']
    for i in range(round(top / step) + 1):  # horizontal grid lines with their values
        y = TOP + h * (1 - i * step / top)
        out.append(
            f'<line x1="{x0 + LEFT}" y1="{y:.1f}" x2="{x0 + LEFT + w}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{x0 + LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{i * step:g}</text>'
        )
    for epoch in range(int(first), int(last) + 1):
        x, _ = xy(epoch, 0)
        out.append(f'<text x="{x}" y="{TOP + h + 16}" text-anchor="middle">{epoch}</text>')
    middle = f"{x0 + LEFT + w / 2:.1f}"
    out.append(f'<text x="{middle}" y="{PANEL_H - 6}" text-anchor="middle">epoch</text>')
    for i, (series, (colour, dash)) in enumerate(SERIES.items()):
        key = f"{series}_{metric}"
        if key not in records[0]:
            continue
        points = [xy(r["epoch"], r[key]) for r in records]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{" ".join(f"{x},{y}" for x, y in points)}" fill="none" '
            f'stroke="{colour}" stroke-width="2"{dashes}/>'
        )
        out += [f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>' for x, y in points]
        lx, ly = x0 + LEFT + w - 120 + 64 * i, TOP - 16  # legend: in the title's row
        out.append(
            f'<line x1="{lx}" y1="{ly}" x2="{lx + 22}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dashes}/><text x="{lx + 28}" y="{ly + 4}">{series}</text>'
        )
    return out


def curves_svg(transcript: str) -> str:
    """One panel per metric (in the order the epoch lines name them), side by side."""
    records = epochs(transcript)
    if not records:
        raise ValueError("plot_curves: no 'epoch N/M: ...' lines in the transcript")
    metrics = list(
        dict.fromkeys(k.split("_", 1)[1] for k in records[0] if k.startswith(tuple(SERIES)))
    )
    width = PANEL_W * len(metrics)
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{PANEL_H}" '
        f'viewBox="0 0 {width} {PANEL_H}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{PANEL_H}" fill="white"/>',
    ]
    for i, metric in enumerate(metrics):
        body += _panel(records, metric, i * PANEL_W)
    return "\n".join([*body, "</svg>"]) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("transcript", type=Path, help="a recorded run (docs/examples/NAME.txt)")
    p.add_argument("svg", type=Path, help="the SVG file to write")
    args = p.parse_args(argv)
    args.svg.write_text(curves_svg(args.transcript.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
