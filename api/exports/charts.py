"""Charts of the read answers as Vega-Lite specs, drawn to PNG, JPEG or SVG by vl-convert.

Every chart is 640x360 (PNG and JPEG at scale 2), titled with what it shows and the period
("Sharing methods, 2026-03-15 – 2026-04-13", the org and scope below it), with axis titles
and a text label on every bar carrying the JSON's number. Counts are printed as they are;
scores (top badges) with at most two decimals. Channel bars are named by their token's
label (`linkedin_profile` -> "LinkedIn profile", schemas/labels.py, as the dashboard shows
them), an unknown token as it was sent. An empty chart is still an image: its title and
"No data".
"""

from __future__ import annotations

from typing import Any

import vl_convert as vlc

from api.exports import CHANNEL_LISTS, TITLES, ExportContext
from schemas.labels import token_label

WIDTH, HEIGHT = 640, 360
SCALE = 2  # PNG and JPEG pixels per CSS pixel
BAR_COLOR = "#4C78A8"
MAX_SERIES_LABELS = 62  # a time series with more bars than this has no per-bar labels
SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
NO_DATA = "No data"

CHANNEL_AXES = {  # component -> (category axis title, count axis title)
    "awarding-methods": ("Awarding method", "Awards"),
    "sharing-methods": ("Sharing channel", "Shares"),
    "viewing-sources": ("Viewing source", "Views"),
}
INTERVAL_AXIS = {"day": "Day", "week": "Week starting (Monday)", "month": "Month"}


def number_label(v: float | int | None) -> str:
    """A bar's label: integers as they are, other numbers with at most two decimals."""
    if v is None:
        return "n/a"
    if isinstance(v, int) or float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def humanize(name: str) -> str:
    return name.replace("_", " ").replace("-", " ").capitalize()


def _base(ctx: ExportContext, heading: str) -> dict[str, Any]:
    return {
        "$schema": SCHEMA,
        "width": WIDTH,
        "height": HEIGHT,
        "background": "white",
        "padding": 12,
        "title": {"text": f"{heading}, {ctx.period_label}", "subtitle": ctx.scope_label,
                  "anchor": "start", "fontSize": 16, "subtitleFontSize": 12,
                  "subtitleColor": "#555", "offset": 12},
        "config": {"view": {"stroke": None}, "axis": {"labelFontSize": 11,
                                                      "titleFontSize": 12}},
    }


def no_data_spec(ctx: ExportContext, heading: str) -> dict[str, Any]:
    return {
        **_base(ctx, heading),
        "data": {"values": [{"message": NO_DATA}]},
        "mark": {"type": "text", "fontSize": 20, "color": "#777"},
        "encoding": {"text": {"field": "message", "type": "nominal"},
                     "x": {"value": WIDTH / 2}, "y": {"value": HEIGHT / 2}},
    }


def count_axis(values: list[Any]) -> dict[str, Any]:
    """Whole-number ticks for counts (Vega's tickMinStep is not honoured here)."""
    top = max((v for v in values if isinstance(v, int | float)), default=0)
    if top <= 10:
        return {"values": list(range(int(top) + 1)), "format": "d"}
    return {"format": "d"}


def hbar_spec(ctx: ExportContext, heading: str, rows: list[dict[str, Any]], category: str,
              measure: str, domain: list[float] | None = None) -> dict[str, Any]:
    """Horizontal bars in the given order; `rows` hold `label`, `value` and `text`. Without
    a `domain` the values are counts."""
    if not rows:
        return no_data_spec(ctx, heading)
    x: dict[str, Any] = {"field": "value", "type": "quantitative", "title": measure}
    if domain is not None:
        x["scale"] = {"domain": domain}
    else:
        x["axis"] = count_axis([r["value"] for r in rows])
    y = {"field": "label", "type": "nominal", "title": category, "sort": None,
         "axis": {"labelLimit": 240}}
    return {
        **_base(ctx, heading),
        "data": {"values": rows},
        "layer": [
            {"mark": {"type": "bar", "color": BAR_COLOR}, "encoding": {"x": x, "y": y}},
            {"mark": {"type": "text", "align": "left", "baseline": "middle", "dx": 4,
                      "fontSize": 12},
             "encoding": {"x": x, "y": y, "text": {"field": "text", "type": "nominal"}}},
        ],
    }


def channel_spec(component: str, answer: dict[str, Any], ctx: ExportContext) -> dict[str, Any]:
    category, measure = CHANNEL_AXES[component]
    rows = [{"label": token_label(e["key"]), "value": e["count"], "text": number_label(e["count"])}
            for e in answer[CHANNEL_LISTS[component]]]
    return hbar_spec(ctx, TITLES[component], rows, category, measure)


def top_badges_spec(answer: dict[str, Any], ctx: ExportContext) -> dict[str, Any]:
    rows = [{"label": f"{r['rank']}. {r['name'] or r['badge_id']}",
             "value": r["overall_score"], "text": number_label(r["overall_score"])}
            for r in answer["items"]]
    return hbar_spec(ctx, "Top badges by overall score", rows, "Badge",
                     "Overall score (0\u2013100)", domain=[0, 100])


def timeseries_spec(answer: dict[str, Any], ctx: ExportContext) -> dict[str, Any]:
    metric, interval = answer["metric"], answer["interval"]
    heading = f"{humanize(metric)} per {interval}"
    points = answer["points"]
    if not points:
        return no_data_spec(ctx, heading)
    rows = [{"start": p["start"], "value": p["value"], "text": number_label(p["value"])}
            for p in points]
    x = {"field": "start", "type": "ordinal", "title": INTERVAL_AXIS[interval], "sort": None,
         "axis": {"labelAngle": -45 if len(rows) > 8 else 0, "labelOverlap": True}}
    y = {"field": "value", "type": "quantitative", "title": humanize(metric),
         "axis": count_axis([r["value"] for r in rows])}
    layers: list[dict[str, Any]] = [
        {"mark": {"type": "bar", "color": BAR_COLOR}, "encoding": {"x": x, "y": y}},
    ]
    if len(rows) <= MAX_SERIES_LABELS:
        layers.append({"mark": {"type": "text", "baseline": "bottom", "dy": -3,
                                "fontSize": 10 if len(rows) > 16 else 12},
                       "encoding": {"x": x, "y": y,
                                    "text": {"field": "text", "type": "nominal"}}})
    return {**_base(ctx, heading), "data": {"values": rows}, "layer": layers}


def insight_channels_spec(answer: dict[str, Any], ctx: ExportContext) -> dict[str, Any]:
    entries = answer["channels"]
    rows = [{"label": token_label(e["channel"]), "value": e["views_per_share"] or 0,
             "text": f"{number_label(e['views_per_share'])} ({e['views']} views / "
                     f"{e['shares']} shares)"} for e in entries]
    top = max((float(e["views_per_share"] or 0) for e in entries), default=0.0)
    return hbar_spec(ctx, TITLES["insights-channels"], rows, "Sharing channel",
                     "Views per share", domain=[0, top * 1.3 or 1])


def insight_methods_spec(answer: dict[str, Any], ctx: ExportContext) -> dict[str, Any]:
    rows = [{"label": token_label(m["method"]), "value": 100 * (m["acceptance_rate"] or 0),
             "text": f"{number_label(100 * (m['acceptance_rate'] or 0))}% of "
                     f"{m['badges_awarded']}"} for m in answer["methods"]]
    return hbar_spec(ctx, TITLES["insights-methods"], rows, "Awarding method",
                     "Acceptance rate (%)", domain=[0, 120])


def insight_funnel_spec(answer: dict[str, Any], ctx: ExportContext) -> dict[str, Any]:
    if not answer["issued"]:
        return no_data_spec(ctx, TITLES["insights-funnel"])
    rows = [{"label": s["step"].capitalize(), "value": s["count"],
             "text": s["count"] if s["rate_from_issued"] is None else
             f"{s['count']} ({number_label(100 * s['rate_from_issued'])}%)"}
            for s in answer["steps"]]
    for r in rows:
        r["text"] = str(r["text"])
    return hbar_spec(ctx, TITLES["insights-funnel"], rows, "Step", "Awards of the cohort")


def insight_benchmarks_spec(answer: dict[str, Any], ctx: ExportContext) -> dict[str, Any]:
    rows = [{"label": humanize(m["metric"]), "value": m["percentile"] or 0,
             "text": f"{number_label(m['percentile'])} (peers: {m['peers']})"}
            for m in answer["metrics"]]
    return hbar_spec(ctx, TITLES["insights-benchmarks"], rows, "Metric", "Percentile",
                     domain=[0, 130])


def chart_spec(component: str, answer: dict[str, Any], ctx: ExportContext) -> dict[str, Any]:
    if component in CHANNEL_AXES:
        return channel_spec(component, answer, ctx)
    if component == "top-badges":
        return top_badges_spec(answer, ctx)
    if component == "timeseries":
        return timeseries_spec(answer, ctx)
    insight = {"insights-channels": insight_channels_spec,
               "insights-methods": insight_methods_spec,
               "insights-funnel": insight_funnel_spec,
               "insights-benchmarks": insight_benchmarks_spec}.get(component)
    if insight is not None:
        return insight(answer, ctx)
    raise ValueError(f"no chart for {component}")


def render_chart(spec: dict[str, Any], fmt: str) -> bytes:
    if fmt == "svg":
        return str(vlc.vegalite_to_svg(spec)).encode("utf-8")
    if fmt == "png":
        return bytes(vlc.vegalite_to_png(spec, scale=SCALE))
    if fmt == "jpeg":
        return bytes(vlc.vegalite_to_jpeg(spec, scale=SCALE))
    raise ValueError(f"no chart format {fmt}")
