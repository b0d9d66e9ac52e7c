"""Reader answers as tables (a header row and typed rows), written as CSV or XLSX.

CSV: UTF-8 without a BOM, `,` separated, `\\r\\n` line ends, the header on the first line,
numbers exactly as in the JSON (no rounding), an empty cell for null, dates as `YYYY-MM-DD`
and times as in the JSON (`2026-04-13T09:30:00.000Z`). A text cell starting with `=`, `+`,
`-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's CSV injection remedy), so a
spreadsheet shows it as text instead of running it; numbers are never altered.

XLSX: the first sheet (named after the component) holds the header in row 1 (bold, frozen,
with an auto filter) and one row per record from row 2; numbers are numeric cells holding
the JSON's exact double, dates and times are date cells (times in UTC), text is text (never
a formula). A second sheet, `about`, says what the file is: org, scope, component, period,
previous period, filters.

Well-known tokens (events.md's methods, channels and sources): the CSV holds them raw, as the
JSON does, for the programs that read it. The XLSX, read by people, has the same columns plus
a `label` column after the channel components' `key` ("LinkedIn profile" beside
`linkedin_profile`, schemas/labels.py); an unknown token is its own label. Column names and
the summary's highlight values stay tokens in both, so a sheet lines up with its CSV.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from api.exports import CHANNEL_LISTS, TITLES, ExportContext
from schemas.labels import token_label
from schemas.metrics import ALL_METRICS, BADGE_COUNT_METRICS, RATE_METRICS, SCORE_METRICS

Cell = str | int | float | date | datetime | None

# Summary: one row per metric; the tile columns are empty for metrics without a tile.
SUMMARY_COLUMNS = ("metric", "value", "all_time_value", "previous", "change", "change_pct",
                   "direction")
BADGE_COLUMNS = (
    "badge_id", "name", "issuer_id", "skills", "visibility",
    "rank", *BADGE_COUNT_METRICS, *RATE_METRICS, *SCORE_METRICS, "overall_score",
    "badges_awarded_previous", "badges_awarded_change_pct", "les_previous", "les_change_pct",
)
CHANNEL_COLUMNS = ("key", "count", "pct", "previous_count", "change_pct")
TIMESERIES_COLUMNS = ("start", "value")
TOP_BADGE_COLUMNS = ("rank", "badge_id", "name", "overall_score", "learner_engagement_score",
                     "external_impact_score", "badges_awarded")
METHOD_PREFIX = "method_"  # issuer activity: one `method_<method>` column per awarding method


@dataclass
class Table:
    columns: tuple[str, ...]
    rows: list[list[Cell]] = field(default_factory=list)


def _date(text: Any) -> date | None:
    return date.fromisoformat(text) if isinstance(text, str) else None


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def summary_table(answer: dict[str, Any]) -> Table:
    """metric | value (the period, filters applied) | all_time_value, previous, change,
    change_pct, direction (the KPI tile, for the seven tile metrics); then the time to accept
    (median and one row per bucket) and the three highlights."""
    t = Table(SUMMARY_COLUMNS)
    kpis: dict[str, Any] = answer["kpis"]
    for metric in ALL_METRICS:
        tile = kpis.get(metric)
        if tile is None:
            t.rows.append([metric, answer["metrics"][metric], None, None, None, None, None])
        else:
            t.rows.append([metric, answer["metrics"][metric], tile["value"], tile["previous"],
                           tile["change"], tile["change_pct"], tile["direction"]])
    tta = answer["time_to_accept"]
    t.rows.append(["time_to_accept_median_hours", tta["median_hours"], *[None] * 5])
    last = None  # bucket rows: time_to_accept_le_1h ... time_to_accept_le_2160h, _gt_2160h
    for bucket in tta["buckets"]:
        le = bucket["le"]
        name = f"le_{le:g}h" if le is not None else f"gt_{last:g}h" if last else "all"
        last = le
        t.rows.append([f"time_to_accept_{name}", bucket["count"], *[None] * 5])
    for name, value in answer["highlights"].items():
        t.rows.append([name, value, *[None] * 5])
    return t


def badges_table(answer: dict[str, Any]) -> Table:
    t = Table(BADGE_COLUMNS)
    for row in answer["items"]:
        aw, les = row["trend"]["badges_awarded"], row["trend"]["learner_engagement_score"]
        t.rows.append([
            row["badge_id"], row["name"], row["issuer_id"], ", ".join(row["skills"]),
            row["visibility"],
            *[row[c] for c in ("rank", *BADGE_COUNT_METRICS, *RATE_METRICS, *SCORE_METRICS,
                               "overall_score")],
            aw["previous"], aw["change_pct"], les["previous"], les["change_pct"],
        ])
    return t


def issuer_activity_table(answer: dict[str, Any]) -> Table:
    """One `method_<m>` column per awarding method seen in any row (most awards first); a
    method an issuer did not use is 0."""
    items: list[dict[str, Any]] = answer["items"]
    totals: dict[str, int] = {}
    for it in items:
        for m, n in it["methods"].items():
            totals[m] = totals.get(m, 0) + n
    methods = sorted(totals, key=lambda m: (-totals[m], m))
    t = Table(("issuer_id", "name", "badges_created", "badges_awarded",
               "badges_awarded_previous", "badges_awarded_change_pct",
               *[METHOD_PREFIX + m for m in methods], "last_awarded_at"))
    for it in items:
        aw = it["badges_awarded"]
        t.rows.append([it["issuer_id"], it["name"], it["badges_created"], aw["current"],
                       aw["previous"], aw["change_pct"],
                       *[it["methods"].get(m, 0) for m in methods],
                       _time(it["last_awarded_at"])])
    return t


def channel_table(answer: dict[str, Any], which: str, labels: bool = False) -> Table:
    """key | count | pct | previous_count | change_pct; with `labels`, each key's label
    (schemas/labels.py) in a `label` column after it."""
    if not labels:
        return Table(CHANNEL_COLUMNS, [[e[c] for c in CHANNEL_COLUMNS] for e in answer[which]])
    key, *rest = CHANNEL_COLUMNS
    return Table((key, "label", *rest),
                 [[e[key], token_label(e[key]), *[e[c] for c in rest]] for e in answer[which]])


def timeseries_table(answer: dict[str, Any]) -> Table:
    t = Table(TIMESERIES_COLUMNS)
    for p in answer["points"]:
        t.rows.append([_date(p["start"]), p["value"]])
    return t


def top_badges_table(answer: dict[str, Any]) -> Table:
    t = Table(TOP_BADGE_COLUMNS)
    for row in answer["items"]:
        t.rows.append([row[c] for c in TOP_BADGE_COLUMNS])
    return t


UNATTRIBUTED = "(unattributed)"  # not a token ([a-z0-9_]): never a channel's name


def _labelled(columns: tuple[str, ...], rows: list[list[Cell]], labels: bool) -> Table:
    """With `labels`, the first column's token label (schemas/labels.py) after it."""
    if not labels:
        return Table(columns, rows)
    return Table((columns[0], "label", *columns[1:]),
                 [[r[0], token_label(r[0]) if isinstance(r[0], str) and r[0] != UNATTRIBUTED
                   else r[0], *r[1:]] for r in rows])


def insight_channels_table(answer: dict[str, Any], labels: bool = False) -> Table:
    """One row per channel, then `(unattributed)` with the views no channel brought."""
    cols = ("channel", "shares", "views", "views_per_share", "previous_shares",
            "previous_views", "previous_views_per_share", "change_pct")
    rows: list[list[Cell]] = [
        [e["channel"], e["shares"], e["views"], e["views_per_share"], e["previous"]["shares"],
         e["previous"]["views"], e["previous"]["views_per_share"], e["change_pct"]]
        for e in answer["channels"]]
    rows.append([UNATTRIBUTED, None, answer["unattributed_views"], None, None, None, None,
                 None])
    return _labelled(cols, rows, labels)


def _tta_names(buckets: list[dict[str, Any]]) -> list[str]:
    names, last = [], None
    for b in buckets:
        le = b["le"]
        names.append(f"tta_le_{le:g}h" if le is not None else f"tta_gt_{last:g}h")
        last = le
    return names


def insight_methods_table(answer: dict[str, Any], labels: bool = False) -> Table:
    methods: list[dict[str, Any]] = answer["methods"]
    buckets = methods[0]["time_to_accept"]["buckets"] if methods else [
        {"le": b} for b in (1, 6, 24, 72, 168, 720, 2160, None)]
    cols = ("method", "badges_awarded", "accepted_awards", "acceptance_rate", "shared_awards",
            "share_rate", "median_hours_to_accept", *_tta_names(buckets),
            "previous_badges_awarded", "previous_acceptance_rate", "previous_share_rate")
    rows: list[list[Cell]] = [
        [m["method"], m["badges_awarded"], m["accepted_awards"], m["acceptance_rate"],
         m["shared_awards"], m["share_rate"], m["time_to_accept"]["median_hours"],
         *[b["count"] for b in m["time_to_accept"]["buckets"]],
         m["previous"]["badges_awarded"], m["previous"]["acceptance_rate"],
         m["previous"]["share_rate"]] for m in methods]
    return _labelled(cols, rows, labels)


def insight_funnel_table(answer: dict[str, Any]) -> Table:
    return Table(("step", "count", "rate_from_previous", "rate_from_issued", "previous_count"),
                 [[s["step"], s["count"], s["rate_from_previous"], s["rate_from_issued"],
                   answer["previous"][s["step"]]] for s in answer["steps"]])


def insight_benchmarks_table(answer: dict[str, Any]) -> Table:
    cols = ("metric", "value", "percentile", "peers")
    return Table(cols, [[m[c] for c in cols] for m in answer["metrics"]])


def build_table(component: str, answer: dict[str, Any], labels: bool = False) -> Table:
    """The table of a component's answer; `labels` adds the token labels people read (XLSX)."""
    if component in CHANNEL_LISTS:
        return channel_table(answer, CHANNEL_LISTS[component], labels)
    if component == "insights-channels":
        return insight_channels_table(answer, labels)
    if component == "insights-methods":
        return insight_methods_table(answer, labels)
    builders = {"summary": summary_table, "badges": badges_table,
                "issuer-activity": issuer_activity_table, "timeseries": timeseries_table,
                "top-badges": top_badges_table, "insights-funnel": insight_funnel_table,
                "insights-benchmarks": insight_benchmarks_table}
    if component not in builders:
        raise ValueError(f"no table for {component}")
    return builders[component](answer)


# --- CSV ---------------------------------------------------------------------------------


def iso_time(dt: datetime) -> str:
    """The JSON's form of a time: `2026-04-13T09:30:00.000Z`."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A spreadsheet opening the CSV would run a text cell starting with one of these as a
# formula (`=HYPERLINK(...)` in a badge name): OWASP's remedy is a leading single quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_text(v: Cell) -> str | int | float:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return iso_time(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, str):
        return csv_safe(v)  # text only: -3 and -0.25 stay numbers
    return v  # the csv module writes floats with repr(): exact, never rounded


def to_csv(table: Table) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow([csv_safe(c) for c in table.columns])
    for row in table.rows:
        w.writerow([csv_text(v) for v in row])
    return buf.getvalue().encode("utf-8")


# --- XLSX --------------------------------------------------------------------------------

XLSX_HEADER_ROW = 1
DATE_FORMAT = "yyyy-mm-dd"
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
MIN_WIDTH, MAX_WIDTH = 8, 60


def sheet_name(text: str) -> str:
    """An Excel sheet name: at most 31 characters, none of []:*?/\\."""
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in text)
    return cleaned[:31] or "data"


def _put(ws: Worksheet, row: int, col: int, v: Cell) -> int:
    """Write one typed cell; return its display width."""
    cell = ws.cell(row=row, column=col)
    if isinstance(v, datetime):
        cell.value = v.astimezone(UTC).replace(tzinfo=None)  # Excel has no time zones
        cell.number_format = TIME_FORMAT
        return len(TIME_FORMAT) + 2
    if isinstance(v, date):
        cell.value = v
        cell.number_format = DATE_FORMAT
        return len(DATE_FORMAT) + 2
    if isinstance(v, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", v)
        cell.data_type = "s"  # text, even when it starts with "=" (never a formula)
        return len(v)
    if isinstance(v, float) and math.isfinite(v):
        # openpyxl writes a number as "%.16g", which can change a float's last digit
        # (0.1666...6 becomes 0.1666...7). This cell holds repr() instead, the shortest text
        # that reads back as the same double, typed as a number: openpyxl writes a numeric
        # cell's text as it is. Only this workbook's cells; openpyxl itself is untouched.
        cell.value = repr(v)
        cell.data_type = "n"
        return len(repr(v))
    cell.value = v
    return len(repr(v)) if isinstance(v, float) else len(str(v)) if v is not None else 0


def _fill(ws: Worksheet, columns: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    widths = [len(c) for c in columns]
    for j, name in enumerate(columns, 1):
        ws.cell(row=XLSX_HEADER_ROW, column=j, value=name).font = Font(bold=True)
    for i, row in enumerate(rows, XLSX_HEADER_ROW + 1):
        for j, v in enumerate(row, 1):
            widths[j - 1] = max(widths[j - 1], _put(ws, i, j, v))
    for j, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, MIN_WIDTH), MAX_WIDTH)
    ws.freeze_panes = "A2"


def about_rows(ctx: ExportContext, answer: dict[str, Any]) -> list[list[Cell]]:
    rows: list[list[Cell]] = [
        ["title", f"{TITLES[ctx.component]}, {ctx.period_label}"],
        ["org_id", ctx.org_id],
        ["scope", ctx.scope_kind if ctx.scope_id is None
         else f"{ctx.scope_kind} {ctx.scope_id}"],
        ["component", ctx.component],
        ["period_from", _date(ctx.period_from)],
        ["period_to", _date(ctx.period_to)],
    ]
    prev = answer.get("previous_period")
    if isinstance(prev, dict):
        rows += [["previous_period_from", _date(prev["from"])],
                 ["previous_period_to", _date(prev["to"])]]
    if "total" in answer:
        rows.append(["total", answer["total"]])
    for name, value in ctx.params.items():
        rows.append([f"param_{name}", value])
    rows.append(["header_row", f"row {XLSX_HEADER_ROW} of sheet '{sheet_name(ctx.component)}'"])
    return rows


def to_xlsx(table: Table, ctx: ExportContext, answer: dict[str, Any]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet_name(ctx.component)
    _fill(ws, table.columns, table.rows)
    if table.rows:
        ws.auto_filter.ref = ws.dimensions
    about = wb.create_sheet("about")
    _fill(about, ("field", "value"), about_rows(ctx, answer))
    wb.properties.title = f"{TITLES[ctx.component]}, {ctx.scope_label}, {ctx.period_label}"
    wb.properties.creator = "Badgepulse"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
