// Insights tab (shared/spec/insights.md): the funnel, views per share by channel, acceptance by
// awarding method, and the org among its peers. Uses app.js's helpers (api, params, fmt, esc, …).
"use strict";
const STEP_LABELS = { issued: "Issued", accepted: "Accepted", shared: "Shared", viewed: "Viewed" };
const BENCH_LABELS = {
  acceptance_rate: ["Acceptance rate", "rate"], share_rate: ["Share rate", "rate"],
  public_visibility_rate: ["Public visibility rate", "rate"],
  learner_engagement_score: ["Learner Engagement Score", "score"], external_impact_score: ["External Impact Score", "ratio"],
};
const signed = (v, digits = 1) => (v === null || v === undefined ? "—" : `${v > 0 ? "+" : ""}${v.toFixed(digits)}%`);

function renderFunnel(f) {
  const max = Math.max(1, f.steps[0]?.count ?? 0);
  $("#i-funnel .funnel").innerHTML = f.steps.map((s) => {
    const prev = f.previous[s.step];
    const tip = `${STEP_LABELS[s.step]}: ${nf.format(s.count)} · ${s.rate_from_issued === null ? "no awards" : fmt(s.rate_from_issued, "rate") + " of issued"}`
      + `${s.rate_from_previous === null ? "" : ` · ${fmt(s.rate_from_previous, "rate")} of the step before`} · previous period ${nf.format(prev)}`;
    return `<div class="row" data-step="${s.step}" data-count="${s.count}" data-tip="${esc(tip)}">
      <span class="key">${STEP_LABELS[s.step] ?? esc(s.step)}</span>
      <div class="bar" style="width:${(100 * s.count) / max}%"></div>
      <span class="num">${nf.format(s.count)}</span>
      <span class="rate">${s.step === "issued" ? "&nbsp;" : fmt(s.rate_from_previous, "rate")}</span></div>`;
  }).join("") + (f.issued ? "" : `<p class="empty">No badges were awarded in this period.</p>`);
  state.notes.insights = `Cohort of ${f.period.from} – ${f.period.to} (awards issued in the period, as they stand now); the previous period is ${f.previous_period.from} – ${f.previous_period.to}.`;
  showNotes();
}

function renderChannels(c) {
  const rows = c.channels.map((r) => `<tr data-channel="${esc(r.channel)}" data-tip="${esc(`${tokenLabel(r.channel)}: ${nf.format(r.views)} views from ${nf.format(r.shares)} shares · previous period ${nf.format(r.previous.views)} views from ${nf.format(r.previous.shares)} shares`)}">
      <td title="${esc(r.channel)}">${esc(tokenLabel(r.channel))}</td><td class="num">${nf.format(r.shares)}</td><td class="num">${nf.format(r.views)}</td>
      <td class="num vps">${fmt(r.views_per_share, "ratio")}</td><td class="num">${fmt(r.previous.views_per_share, "ratio")}</td>
      <td class="num trend ${r.change_pct === null ? "flat" : r.change_pct > 0 ? "up" : r.change_pct < 0 ? "down" : "flat"}">${signed(r.change_pct)}</td></tr>`).join("");
  $("#i-channels tbody").innerHTML = rows || `<tr><td colspan="6" class="empty">No badge was shared in this period.</td></tr>`;
  $("#i-channels .unattributed").textContent = `Views whose source matches no channel shared in this period: ${nf.format(c.unattributed_views)}.`;
}

function renderMethods(m) {
  const rows = m.methods.map((r) => `<tr data-method="${esc(r.method)}" data-tip="${esc(`${tokenLabel(r.method)}: ${nf.format(r.accepted_awards)} of ${nf.format(r.badges_awarded)} accepted, ${nf.format(r.shared_awards)} shared · previous period ${nf.format(r.previous.badges_awarded)} awards, ${fmt(r.previous.acceptance_rate, "rate")} accepted, ${fmt(r.previous.share_rate, "rate")} shared`)}">
      <td title="${esc(r.method)}">${esc(tokenLabel(r.method))}</td><td class="num">${nf.format(r.badges_awarded)}</td>
      <td class="num">${fmt(r.acceptance_rate, "rate")}</td><td class="num">${fmt(r.share_rate, "rate")}</td>
      <td class="num">${r.time_to_accept.median_hours === null ? "—" : r.time_to_accept.median_hours.toFixed(1) + " h"}</td></tr>`).join("");
  $("#i-methods tbody").innerHTML = rows || `<tr><td colspan="5" class="empty">No badges were awarded in this period.</td></tr>`;
}

function renderBenchmarks(b) {
  const el = $("#i-bench .bench");
  $("#i-bench .export").hidden = !b;  // an issuer key gets 403 from the benchmarks and their export
  if (!b) { el.innerHTML = `<p class="empty">Peer benchmarks are for organization admin keys.</p>`; return; }
  el.innerHTML = b.metrics.map((r) => {
    const [label, kind] = BENCH_LABELS[r.metric] ?? [r.metric, "ratio"];
    const where = r.percentile === null
      ? (r.peers < 5 ? `Not enough peers to compare (${r.peers} of the 5 needed)` : "Too little activity in this period to compare")
      : `Ahead of ${r.percentile.toFixed(0)}% of ${nf.format(r.peers - 1)} peer organizations`;
    return `<div class="row" data-metric="${r.metric}" data-tip="${esc(`${label}: ${fmt(r.value, kind)} · ${where}`)}">
      <span class="key">${label}</span><span class="val">${fmt(r.value, kind)}</span>
      <div class="track">${r.percentile === null ? "" : `<div class="mark" style="left:${r.percentile}%"></div>`}</div>
      <span class="where">${where}</span></div>`;
  }).join("");
}

registerTab("insights", {
  load: async (p) => {
    const only = new URLSearchParams({ from: p.get("from"), to: p.get("to") });
    const admin = state.me.role === "org_admin";
    const [f, c, m, b] = await Promise.all([api(`${base()}/insights/funnel`, p), api(`${base()}/insights/channels`, p),
      api(`${base()}/insights/methods`, p), admin ? api(`${base()}/insights/benchmarks`, only) : null]);
    renderFunnel(f); renderChannels(c); renderMethods(m); renderBenchmarks(b);
  },
});
