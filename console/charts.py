"""Server-side SVG bar charts: geometry computed here, drawn by a template."""

from dataclasses import dataclass

WIDTH, HEIGHT = 900, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 10, 28


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    series: str
    label: str


def _nice_max(value: int) -> int:
    """A round axis maximum at or above `value`: 1, 2, 5 × 10^n."""
    if value <= 5:
        return 5
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def traffic_chart(days) -> dict:
    """Grouped bars (inbound, outbound) per day with a y axis of 6 ticks.

    Five steps, not four: every axis maximum (5, 10, 20, 50, …) divides by five, so each
    tick's label is the exact value at its line (quarters of 10 were labelled 2 and 7)."""
    top = _nice_max(max([max(d.inbound, d.outbound) for d in days] + [0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar_w = max(slot * 0.38, 1)
    bars, labels = [], []
    for i, day in enumerate(days):
        x0 = LEFT + i * slot + slot * 0.1
        for j, (series, value) in enumerate((("in", day.inbound), ("out", day.outbound))):
            h = plot_h * value / top
            bars.append(
                Bar(x0 + j * bar_w, TOP + plot_h - h, bar_w, h, value, series, day.day.isoformat())
            )
        if i % 5 == 0 or i == len(days) - 1:
            # The first date starts at the plot's edge rather than centred on its day: at
            # 390 px, its labels enlarged (app.css), a centred one ran into the y axis's "0".
            x, anchor = (LEFT, "start") if i == 0 else (LEFT + i * slot + slot / 2, "middle")
            labels.append({"x": x, "anchor": anchor, "text": day.day.strftime("%m-%d")})
    steps = 5
    ticks = [
        {"y": TOP + plot_h - plot_h * k / steps, "value": top * k // steps}
        for k in range(steps + 1)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "baseline": TOP + plot_h,
        "label_y": HEIGHT - 8,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "total_in": sum(d.inbound for d in days),
        "total_out": sum(d.outbound for d in days),
    }
