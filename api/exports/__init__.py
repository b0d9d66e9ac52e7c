"""Downloads of the read endpoints: CSV and XLSX tables, PNG, JPEG and SVG charts.

A reader's JSON answer goes in, file bytes come out, so every number in a download is the
number the JSON endpoint gives for the same parameters. `render` is synchronous and
CPU-bound (chart rendering in particular); routes call it in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TABLE_FORMATS = ("csv", "xlsx")
CHART_FORMATS = ("png", "jpeg", "svg")

# component -> formats offered, in the order of api.md ("Exports").
COMPONENTS: dict[str, tuple[str, ...]] = {
    "summary": TABLE_FORMATS,
    "badges": TABLE_FORMATS,
    "issuer-activity": TABLE_FORMATS,
    "awarding-methods": TABLE_FORMATS + CHART_FORMATS,
    "sharing-methods": TABLE_FORMATS + CHART_FORMATS,
    "viewing-sources": TABLE_FORMATS + CHART_FORMATS,
    "timeseries": TABLE_FORMATS + CHART_FORMATS,
    "top-badges": TABLE_FORMATS + CHART_FORMATS,
    # insights.md: each insight exportable like the other components
    "insights-channels": TABLE_FORMATS + CHART_FORMATS,
    "insights-methods": TABLE_FORMATS + CHART_FORMATS,
    "insights-funnel": TABLE_FORMATS + CHART_FORMATS,
    "insights-benchmarks": TABLE_FORMATS + CHART_FORMATS,  # org scope only
}
ORG_ONLY = frozenset({"insights-benchmarks"})

# The channel components, and which list of the `channels` answer each one is.
CHANNEL_LISTS = {
    "awarding-methods": "awarding",
    "sharing-methods": "sharing",
    "viewing-sources": "viewing",
}

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "svg": "image/svg+xml",
}

TITLES = {
    "summary": "Summary",
    "badges": "Badges",
    "issuer-activity": "Issuer activity",
    "awarding-methods": "Awarding methods",
    "sharing-methods": "Sharing methods",
    "viewing-sources": "Viewing sources",
    "timeseries": "Time series",
    "top-badges": "Top badges",
    "insights-channels": "Views per share by channel",
    "insights-methods": "Acceptance by awarding method",
    "insights-funnel": "From issued to seen",
    "insights-benchmarks": "The org among its peers",
}


@dataclass(frozen=True)
class ExportContext:
    """What a download is of: org, scope, component and period (for titles and names)."""

    org_id: str
    component: str
    period_from: str
    period_to: str
    scope_kind: str = "org"  # org | issuer | badge
    scope_id: str | None = None  # the issuer or badge id of an issuer or badge scope
    params: dict[str, str] = field(default_factory=dict)  # filters and component parameters

    @property
    def period_label(self) -> str:
        return f"{self.period_from} \u2013 {self.period_to}"

    @property
    def scope_label(self) -> str:
        """`acme`, `acme, issuer eng` or `acme, badge py`."""
        if self.scope_id is None:
            return self.org_id
        return f"{self.org_id}, {self.scope_kind} {self.scope_id}"


def formats_text(component: str) -> str:
    """`csv or xlsx`, `csv, xlsx, png, jpeg or svg`."""
    fmts = COMPONENTS[component]
    return f"{', '.join(fmts[:-1])} or {fmts[-1]}"


def render(component: str, fmt: str, answer: dict[str, Any], ctx: ExportContext) -> bytes:
    """The download of `component` in `fmt` from its reader's JSON answer."""
    if fmt not in COMPONENTS.get(component, ()):
        raise ValueError(f"no {fmt} export of {component}")
    if fmt in CHART_FORMATS:
        from api.exports.charts import chart_spec, render_chart

        return render_chart(chart_spec(component, answer, ctx), fmt)
    from api.exports.tables import build_table, to_csv, to_xlsx

    if fmt == "csv":
        return to_csv(build_table(component, answer))  # raw tokens: programs read CSV
    return to_xlsx(build_table(component, answer, labels=True), ctx, answer)
