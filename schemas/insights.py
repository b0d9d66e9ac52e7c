"""The formulas of insights.md as pure functions, from counts the readers have summed.

Readers (api/readers/insights.py) and tests call these; nothing here reads Redis. Numbers are
unrounded and a 0 denominator is null, as in metrics.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.metrics import ratio, time_to_accept, trend

FUNNEL_STEPS = ("issued", "accepted", "shared", "viewed")
BENCHMARK_METRICS = ("acceptance_rate", "share_rate", "public_visibility_rate",
                     "learner_engagement_score", "external_impact_score")
PEER_MIN = 50  # cohort awards in P (shares in P for external_impact_score) to be a peer
PEERS_FOR_PERCENTILE = 5  # fewer qualifying orgs: no percentile (no peer can be inferred)


def channel_insight(shares: Mapping[str, int], views: Mapping[str, int],
                    prev_shares: Mapping[str, int],
                    prev_views: Mapping[str, int]) -> tuple[list[dict[str, Any]], int]:
    """(one entry per channel with a share in P, views in P attributed to none).

    A view is a channel's when its source token equals the channel token. Order:
    views_per_share descending (null last), then channel ascending."""
    entries = []
    for channel, n in shares.items():
        if n <= 0:
            continue
        vps = ratio(views.get(channel, 0), n)
        p_vps = ratio(prev_views.get(channel, 0), prev_shares.get(channel, 0))
        entries.append({
            "channel": channel, "shares": n, "views": views.get(channel, 0),
            "views_per_share": vps,
            "previous": {"shares": prev_shares.get(channel, 0),
                         "views": prev_views.get(channel, 0), "views_per_share": p_vps},
            "change_pct": trend(vps, p_vps)["change_pct"],
        })
    entries.sort(key=lambda e: (e["views_per_share"] is None, -(e["views_per_share"] or 0),
                                e["channel"]))
    listed = {e["channel"] for e in entries}
    unattributed = sum(n for source, n in views.items() if source not in listed)
    return entries, unattributed


def method_insight(awarded: Mapping[str, int], accepted: Mapping[str, int],
                   shared: Mapping[str, int], tta: Mapping[str, Sequence[int]],
                   prev_awarded: Mapping[str, int], prev_accepted: Mapping[str, int],
                   prev_shared: Mapping[str, int]) -> list[dict[str, Any]]:
    """One entry per awarding method with a cohort award in P; order: badges_awarded
    descending, then method."""
    out: list[dict[str, Any]] = []
    for method, n in awarded.items():
        if n <= 0:
            continue
        acc, shr = accepted.get(method, 0), shared.get(method, 0)
        pn = prev_awarded.get(method, 0)
        out.append({
            "method": method, "badges_awarded": n, "accepted_awards": acc,
            "acceptance_rate": ratio(acc, n), "shared_awards": shr, "share_rate": ratio(shr, n),
            "time_to_accept": time_to_accept(tta.get(method) or [0] * 8),
            "previous": {"badges_awarded": pn,
                         "acceptance_rate": ratio(prev_accepted.get(method, 0), pn),
                         "share_rate": ratio(prev_shared.get(method, 0), pn)},
        })
    out.sort(key=lambda m: (-int(m["badges_awarded"]), str(m["method"])))
    return out


def funnel(counts: Mapping[str, int], previous: Mapping[str, int]) -> dict[str, Any]:
    """issued -> accepted -> shared -> viewed for a cohort: the counts, `steps` with the
    rate from the step before (null for issued) and from issued, and `previous` (P')."""
    steps = []
    for i, step in enumerate(FUNNEL_STEPS):
        steps.append({
            "step": step, "count": counts[step],
            "rate_from_previous": None if i == 0 else ratio(counts[step],
                                                            counts[FUNNEL_STEPS[i - 1]]),
            "rate_from_issued": ratio(counts[step], counts["issued"]),
        })
    return {**{s: counts[s] for s in FUNNEL_STEPS}, "steps": steps,
            "previous": {s: previous[s] for s in FUNNEL_STEPS}}


def percentile(mine: float, others: Sequence[float]) -> float:
    """100 x (peers below + 0.5 x peers equal) / (peers - 1); `others` are the peers'
    values without this org's."""
    below = sum(1 for v in others if v < mine)
    equal = sum(1 for v in others if v == mine)
    return 100 * (below + 0.5 * equal) / len(others)


def benchmark(metric: str, org_id: str, values: Mapping[str, Any],
              qualifies: Mapping[str, bool]) -> dict[str, Any]:
    """One metric's entry: this org's value, its percentile among the qualifying orgs and
    how many they are. `values` and `qualifies` are per org id; the answer names no other
    org and holds no other org's value."""
    peers = [org for org, ok in qualifies.items() if ok]
    value = values.get(org_id)
    pct = None
    if org_id in peers and len(peers) >= PEERS_FOR_PERCENTILE and value is not None:
        others = [values[o] for o in peers if o != org_id and values[o] is not None]
        pct = percentile(value, others)
    return {"metric": metric, "value": value, "percentile": pct, "peers": len(peers)}
