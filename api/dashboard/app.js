// Badgepulse dashboard: plain JS, no external assets. Reads the same API as every client.
"use strict";
const $ = (s, el = document) => el.querySelector(s);
const $$ = (s, el = document) => [...el.querySelectorAll(s)];
const EXPORTS = {
  "summary": ["csv", "xlsx"], "badges": ["csv", "xlsx"], "issuer-activity": ["csv", "xlsx"],
  "awarding-methods": ["csv", "xlsx", "png", "jpeg", "svg"], "sharing-methods": ["csv", "xlsx", "png", "jpeg", "svg"],
  "viewing-sources": ["csv", "xlsx", "png", "jpeg", "svg"], "timeseries": ["csv", "xlsx", "png", "jpeg", "svg"],
  "top-badges": ["csv", "xlsx", "png", "jpeg", "svg"],
  "insights-funnel": ["csv", "xlsx", "png", "jpeg", "svg"], "insights-channels": ["csv", "xlsx", "png", "jpeg", "svg"],
  "insights-methods": ["csv", "xlsx", "png", "jpeg", "svg"], "insights-benchmarks": ["csv", "xlsx", "png", "jpeg", "svg"],
};
// Exports that take the period only (insights.md: benchmarks refuse the other filters).
const PERIOD_ONLY = new Set(["insights-benchmarks"]);
// [key, label, kind, the line under the value, "what is this" (scores only)]
const TILES = [
  ["learner_engagement_score", "Learner Engagement Score", "score", "out of 100",
    "How learners take up their badges, from 0 to 100: 60 % of the acceptance rate plus 40 % of the share rate. 100 means every award was accepted and shared."],
  ["external_impact_score", "External Impact Score", "ratio", "views per share",
    "How far shared badges travel: the average number of views each share brought (views ÷ shares). 4.5 means each share was seen 4.5 times on average."],
  ["badges_created", "Badges created", "count", "badge designs"],
  ["badges_awarded", "Badges awarded", "count", "awards issued"],
  ["acceptance_rate", "Acceptance rate", "rate", "of awards accepted"],
  ["share_rate", "Share rate", "rate", "of awards shared"],
  ["public_visibility_rate", "Public visibility rate", "rate", "of awards public"],
];
// The badge table: counts, then rates (% of the badge's awards), then scores; each group has its own header.
const GROUPS = [["", 3], ["Counts", 3], ["Rates (% of awards)", 3], ["Scores", 3]];
const COLUMNS = [
  ["rank", "#", "count"], ["name", "Badge", "text"], ["issuer_id", "Issuer", "issuer"],
  ["badges_awarded", "Awards", "count", "Awards issued in the period"],
  ["shares", "Shares", "count", "Shares in the period (every share, repeats included)"],
  ["views", "Views", "count", "Views in the period"],
  ["acceptance_rate", "Accepted %", "rate", "Share of the period's awards that were accepted"],
  ["share_rate", "Shared %", "rate", "Share of the period's awards shared at least once"],
  ["public_visibility_rate", "Public %", "rate", "Share of the period's awards that are public"],
  ["learner_engagement_score", "Engagement", "score", "Learner Engagement Score, 0–100"],
  ["external_impact_score", "Impact", "ratio", "External Impact Score: views per share"],
  ["overall_score", "Overall", "score", "Overall score, the ranking's order"],
];
// events.md's well-known method, channel and source tokens; any other token is shown as it is.
const TOKEN_LABELS = {
  manual: "Manual", bulk: "Bulk", lms: "LMS", api: "API", integration: "Integration", automation: "Automation",
  other: "Other", linkedin: "LinkedIn", linkedin_profile: "LinkedIn profile", facebook: "Facebook", x: "X",
  email: "Email", url: "URL", embed: "Embed", download: "Download", wallet: "Wallet", direct: "Direct",
  search: "Search", social: "Social", verification: "Verification",
};
const tokenLabel = (t) => (t === null || t === undefined ? "—" : Object.hasOwn(TOKEN_LABELS, t) ? TOKEN_LABELS[t] : String(t));
const state = { key: localStorage.getItem("bp-key"), me: null, sort: "overall_score", order: "desc",
  offset: 0, limit: 20, tab: "analytics", live: null, names: new Map(), notes: {}, coverage: "", series: null };
const issuerName = (id) => state.names.get(id) ?? id;
// The tabs beside Analytics: id -> { load(params) } (the panel is the element with that id; the tab
// button has data-tab="<id>"). Other scripts loaded after this one (insights.js, alerts.js) add theirs
// with registerTab; `filters: false` hides the period and filter bar for a tab that has none.
const TABS = { analytics: { load: null }, issuers: { load: async (p) => renderIssuers(await api(`${base()}/issuer-activity`, p)) } };
function registerTab(id, tab) { TABS[id] = tab; }

const nf = new Intl.NumberFormat();
function fmt(v, kind) {
  if (v === null || v === undefined) return "—";
  if (kind === "rate") return (v * 100).toFixed(1) + "%";
  if (kind === "score") return v.toFixed(1);
  if (kind === "ratio") return v.toFixed(2);
  if (kind === "count") return nf.format(v);
  return String(v);
}
// A trend as [arrow and change, relative change]: "▲ +2.9 pp", "+5.3%"; the caller says what it is compared with.
function trendParts(t, kind) {
  if (!t || t.change === null) return ["no comparison", ""];
  const arrow = t.direction === "up" ? "▲" : t.direction === "down" ? "▼" : "■";
  let c = kind === "rate" ? (t.change * 100).toFixed(1) + " pp" : kind === "count" ? nf.format(t.change)
    : t.change.toFixed(kind === "ratio" ? 2 : 1);
  if (t.change > 0) c = "+" + c;
  const pct = t.change_pct === null ? "" : `${t.change_pct > 0 ? "+" : ""}${t.change_pct.toFixed(1)}%`;
  return [`${arrow} ${c}`, pct];
}
function fmtChange(t, kind) { const [c, pct] = trendParts(t, kind); return pct ? `${c} (${pct})` : c; }
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const today = () => new Date().toISOString().slice(0, 10);
const addDays = (d, n) => { const x = new Date(d + "T00:00:00Z"); x.setUTCDate(x.getUTCDate() + n); return x.toISOString().slice(0, 10); };

function params(extra = {}) {
  const p = new URLSearchParams();
  const preset = $("#preset").value;
  let to = today(), from = addDays(to, -29);
  if (preset === "custom") { from = $("#from").value || from; to = $("#to").value || to; }
  else { from = addDays(to, -(Number(preset) - 1)); }
  p.set("from", from); p.set("to", to);
  if ($("#f-issuer").value) p.append("issuer_id", $("#f-issuer").value);
  if ($("#f-badge").value) p.append("badge_id", $("#f-badge").value);
  $$("input[name=status]:checked").forEach((c) => p.append("status", c.value));
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}
async function api(path, p) {
  const r = await fetch(path + (p ? "?" + p : ""), { headers: { Authorization: "Bearer " + state.key } });
  if (r.status === 401) { signOut("That key was not accepted (unknown or revoked)."); throw new Error("401"); }
  if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
  return r.json();
}
const base = () => `/v1/orgs/${encodeURIComponent(state.me.org_id)}`;

function renderTiles(s) {
  const open = $(".tile .info[aria-expanded=true]")?.closest(".tile")?.dataset.kpi;
  $("#tiles").innerHTML = TILES.map(([k, label, kind, unit, help]) => {
    const t = s.kpis[k], [change, pct] = trendParts(t, kind), per = k === "external_impact_score" ? "shares" : "awards";
    const sub = t.change !== null ? (pct ? `${pct} vs previous` : "vs previous")
      : t.current === null ? `this period: no ${per}` : t.previous === null ? `previous: no ${per}` : "";
    return `<div class="tile" data-kpi="${k}">
      <div class="label"><span>${label}</span>${help ? `<button type="button" class="info" aria-expanded="false" aria-controls="help-${k}" aria-label="What is the ${label}?">?</button>` : ""}</div>
      <div class="value" data-value="${t.value ?? ""}">${fmt(t.value, kind)}</div><div class="unit">${unit}</div>
      <div class="trend ${t.direction}" data-current="${t.current ?? ""}" title="This period: ${fmt(t.current, kind)} · previous: ${fmt(t.previous, kind)}">${change}</div>
      <div class="trend-sub">${sub || "&nbsp;"}</div>
      ${help ? `<p class="help" id="help-${k}" role="note" hidden>${esc(help)}</p>` : ""}</div>`;
  }).join("");
  $$("#tiles .info").forEach((b) => {
    b.onclick = (e) => { e.stopPropagation(); showHelp(b, b.getAttribute("aria-expanded") !== "true"); };
    if (b.closest(".tile").dataset.kpi === open) showHelp(b, true);
  });
  const h = s.highlights;
  $("#highlights").innerHTML = [["Most used awarding method", h.most_used_awarding_method],
    ["Most used sharing method", h.most_used_sharing_method], ["Most common viewing source", h.most_common_viewing_source]]
    .map(([k, v]) => `<div><div class="k">${k}</div><div class="v" data-token="${esc(v ?? "")}">${esc(tokenLabel(v))}</div></div>`).join("");
  const tta = s.time_to_accept, max = Math.max(1, ...tta.buckets.map((b) => b.count));
  const label = (b) => b.le === null ? "> 90 d" : b.le < 24 ? `≤ ${b.le} h` : `≤ ${b.le / 24} d`;
  $("#tta .hist").innerHTML = (tta.buckets.some((b) => b.count) ? tta.buckets.map((b) => `<div class="row"><span>${label(b)}</span>
    <div class="bar" style="width:${(100 * b.count) / max}%"></div><span class="num">${nf.format(b.count)}</span></div>`).join("")
    + `<p class="muted">Median: ${tta.median_hours === null ? "—" : tta.median_hours.toFixed(1) + " hours"}</p>`
    : `<p class="empty">No accepted awards in this period.</p>`);
  const inc = s.coverage.incomplete;
  state.coverage = inc.length ? `Incomplete history: acceptance, share or view tracking started after this period (or its comparison period) began, so ${inc.map((m) => m.replaceAll("_", " ")).join(", ")} may read low.` : "";
  state.notes.analytics = `Tiles show all-time values; trends compare ${s.period.from} – ${s.period.to} with ${s.previous_period.from} – ${s.previous_period.to}.` + (s.scope.issuer_ids ? ` Scoped to issuers: ${s.scope.issuer_ids.map(issuerName).join(", ")}.` : "");
  showNotes();
}
// The notes above the panels belong to a tab: the tiles' note and the coverage notice to Analytics.
function showNotes() {
  const analytics = state.tab === "analytics";
  $("#coverage").hidden = !analytics || !state.coverage;
  $("#coverage").textContent = analytics ? state.coverage : "";
  $("#period-note").textContent = state.notes[state.tab] ?? "";
}
function showHelp(button, on) {
  $$("#tiles .info").forEach((b) => { if (b !== button || !on) { b.setAttribute("aria-expanded", "false"); $("#" + b.getAttribute("aria-controls")).hidden = true; } });
  if (on) { button.setAttribute("aria-expanded", "true"); $("#" + button.getAttribute("aria-controls")).hidden = false; }
}

function renderChart(el, entries) {
  const max = Math.max(1, ...entries.map((e) => e.count));
  $(".bars", el).innerHTML = entries.length ? entries.map((e) => `<div class="row" data-key="${esc(e.key)}" data-count="${e.count}"
      data-tip="${esc(tokenLabel(e.key))}: ${nf.format(e.count)} (${e.pct.toFixed(1)}%) · previous period ${nf.format(e.previous_count)}${e.change_pct === null ? "" : ` · ${e.change_pct > 0 ? "+" : ""}${e.change_pct.toFixed(1)}%`}">
      <span class="key" title="${esc(e.key)}">${esc(tokenLabel(e.key))}</span><div class="bar" style="width:${(100 * e.count) / max}%"></div>
      <span class="pct">${e.pct.toFixed(0)}%</span></div>`).join("") : `<p class="empty">Nothing in this period.</p>`;
}

const isText = (kind) => kind === "text" || kind === "issuer";
function cell(r, k, kind) {
  if (kind === "issuer") return `<td data-issuer="${esc(r[k])}" title="${esc(r[k])}">${esc(issuerName(r[k]))}</td>`;
  return `<td class="${isText(kind) ? "" : "num"}">${isText(kind) ? esc(r[k] ?? r.badge_id) : fmt(r[k], kind)}</td>`;
}
function renderBadges(b) {
  $("#badge-table thead").innerHTML = "<tr class=\"groups\">" + GROUPS.map(([g, n]) => `<th colspan="${n}" class="group">${g}</th>`).join("") + "</tr><tr>"
    + COLUMNS.map(([k, label, kind, title], i) => `<th data-col="${k}" data-kind="${kind}"${title ? ` title="${esc(title)}"` : ""} class="${isText(kind) ? "" : "num"}${[3, 6, 9].includes(i) ? " first" : ""}${state.sort === k ? " sorted" + (state.order === "asc" ? " asc" : "") : ""}">${label}</th>`).join("") + "</tr>";
  $("#badge-table tbody").innerHTML = b.items.length ? b.items.map((r) => `<tr data-badge="${esc(r.badge_id)}">` + COLUMNS.map(([k, , kind]) => cell(r, k, kind)).join("") + "</tr>").join("")
    : `<tr><td colspan="${COLUMNS.length}" class="empty">No badge was awarded, shared or viewed in this period.</td></tr>`;
  const pages = Math.max(1, Math.ceil(b.total / state.limit)), page = Math.floor(state.offset / state.limit) + 1;
  $("#page").textContent = `Page ${page} of ${pages} · ${nf.format(b.total)} badges`;
  $("#prev").disabled = state.offset === 0; $("#next").disabled = state.offset + state.limit >= b.total;
  $$("#badge-table th[data-col]").forEach((th) => th.onclick = () => {
    const col = th.dataset.col; if (isText(th.dataset.kind)) return;
    state.order = state.sort === col && state.order === "desc" ? "asc" : "desc"; state.sort = col; state.offset = 0; loadBadges();
  });
}
function renderTop(t) {
  $("#top .top-list").innerHTML = t.items.length ? t.items.map((r) => `<li><span class="score">${fmt(r.overall_score, "score")}</span>${esc(r.name ?? r.badge_id)} <span class="muted">· ${esc(issuerName(r.issuer_id))}</span>
    <div class="muted">${fmt(r.badges_awarded, "count")} awards · engagement ${fmt(r.learner_engagement_score, "score")} · ${fmt(r.external_impact_score, "ratio")} views per share</div></li>`).join("")
    : `<p class="empty">No badges to rank in this period.</p>`;
}
const whenFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
function renderIssuers(a) {
  for (const i of a.items) if (i.name) state.names.set(i.issuer_id, i.name);
  // data-label: the column's name, shown beside each value where a phone stacks a row as a card
  $("#issuer-table tbody").innerHTML = a.items.length ? a.items.map((i) => `<tr data-issuer="${esc(i.issuer_id)}"><td title="${esc(i.issuer_id)}">${esc(i.name ?? i.issuer_id)}</td>
    <td class="num" data-label="Badges created">${fmt(i.badges_created, "count")}</td><td class="num" data-label="Awards">${fmt(i.badges_awarded.current, "count")}</td>
    <td class="num trend ${i.badges_awarded.direction}" data-label="vs previous" title="Previous period: ${fmt(i.badges_awarded.previous, "count")}">${fmtChange(i.badges_awarded, "count")}</td>
    <td class="methods" data-label="Awarding methods">${Object.entries(i.methods).sort((x, y) => y[1] - x[1]).map(([m, n]) => `<span class="chip" data-token="${esc(m)}">${esc(tokenLabel(m))} <b>${nf.format(n)}</b></span>`).join(" ") || "—"}</td>
    <td class="when" data-label="Last awarded"${i.last_awarded_at ? ` title="${esc(i.last_awarded_at)}"` : ""}>${i.last_awarded_at ? whenFmt.format(new Date(i.last_awarded_at)) : "—"}</td></tr>`).join("")
    : `<tr><td colspan="6" class="empty">No issuers yet.</td></tr>`;
  state.notes.issuers = `Awards issued ${a.period.from} – ${a.period.to}; “vs previous” compares them with ${a.previous_period.from} – ${a.previous_period.to}.`;
  showNotes();
}

const DAY = 86400000;
const utc = (d) => Date.parse(d + "T00:00:00Z");
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
// The whole interval (weeks start Monday) a point belongs to, and how many of its days the period covers:
// the API clips the first and last interval to the period, so those bars can hold only a few days.
function bucket(start, interval, period) {
  let s = utc(start), e = s;
  if (interval === "week") { s -= ((new Date(s).getUTCDay() + 6) % 7) * DAY; e = s + 6 * DAY; }
  else if (interval === "month") { const d = new Date(s); s = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1); e = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0); }
  const from = Math.max(s, utc(period.from)), to = Math.min(e, utc(period.to));
  return { from: isoDay(from), to: isoDay(to), days: Math.round((e - s) / DAY) + 1, covered: Math.round((to - from) / DAY) + 1 };
}
function niceStep(max, n = 4) {
  const raw = Math.max(1, max / n), mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw);
}
const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
const monthFmt = new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric", timeZone: "UTC" });
const spanFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", year: "numeric", timeZone: "UTC" });
// Drawn at the plot's own pixel size (redrawn when it changes), so the text is never stretched or squashed.
function renderSeries(ts) {
  state.series = ts;
  const plot = $("#series .plot"), W = Math.max(240, Math.floor(plot.clientWidth || 600)), H = W < 560 ? 200 : 240;
  const pts = ts.points, interval = ts.interval, top = 12, bottom = 26, right = 10;
  const max = Math.max(0, ...pts.map((p) => p.value)), step = niceStep(max);
  const ymax = Math.max(step, Math.ceil(max / step) * step), ticks = [];
  for (let v = 0; v <= ymax; v += step) ticks.push(v);
  const left = 12 + 7 * Math.max(...ticks.map((v) => nf.format(v).length));
  const ih = H - top - bottom, iw = W - left - right, y = (v) => top + ih - (ih * v) / ymax;
  const bw = iw / Math.max(1, pts.length), gap = Math.min(8, bw * 0.2);
  const lab = (d) => (interval === "month" ? monthFmt : dayFmt).format(new Date(utc(d)));
  const grid = ticks.map((v) => `<line class="grid${v === 0 ? " zero" : ""}" x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}"></line>`
    + `<text class="axis y" x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${nf.format(v)}</text>`).join("");
  const partial = [];
  const bars = pts.map((p, i) => {
    const b = bucket(p.start, interval, ts.period), part = b.covered < b.days, h = (ih * p.value) / ymax;
    const fmtr = interval === "month" ? spanFmt : dayFmt, range = fmtr.formatRange(new Date(utc(b.from)), new Date(utc(b.to)));
    if (part) partial.push(`${range} (${b.covered} of ${b.days} days)`);
    return `<rect class="pt${part ? " partial" : ""}" x="${left + i * bw + gap / 2}" y="${y(p.value)}" width="${Math.max(1, bw - gap)}" height="${h}"
      data-start="${p.start}" data-value="${p.value}" data-tip="${range}: ${nf.format(p.value)}${part ? ` · partial ${interval}, ${b.covered} of ${b.days} days` : ""}"></rect>`;
  }).join("");
  const labelW = 7 * Math.max(...pts.map((p) => lab(p.start).length), 1) + 12, every = Math.max(1, Math.ceil(labelW / bw));
  const labels = pts.map((p, i) => {
    if (i % every) return "";
    const x = Math.min(Math.max(left + (i + 0.5) * bw, left + labelW / 2 - 6), W - labelW / 2);
    return `<text class="axis x" x="${x}" y="${H - 8}" text-anchor="middle">${lab(p.start)}</text>`;
  }).join("");
  const what = `${$("#s-metric").selectedOptions[0]?.text ?? ts.metric} by ${interval}`;
  plot.innerHTML = `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(what)}">
    <defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
      <rect width="6" height="6" fill="#c7d2fe"></rect><line x1="0" y1="0" x2="0" y2="6" stroke="#4f46e5" stroke-width="2.5"></line></pattern></defs>
    ${grid}${bars}${labels}</svg>`;
  $("#series-legend").innerHTML = partial.length ? `<span class="swatch" aria-hidden="true"></span> Hatched: a partial ${interval} that the period cuts short, so it reads low: ${esc(partial.join(", "))}.` : "";
}
function seriesParams() { return { metric: $("#s-metric").value, interval: $("#s-interval").value }; }

async function loadSummary() { renderTiles(await api(`${base()}/summary`, params())); }
async function loadBadges() {
  const p = params({ sort: state.sort, order: state.order, limit: state.limit, offset: state.offset });
  const b = await api(`${base()}/badges`, p);
  await ensureNames(b.items.map((r) => r.issuer_id));
  renderBadges(b);
}
// An issuer created after the page loaded: ask issuer-activity for names once more (once per unknown id).
const namesAsked = new Set();
async function ensureNames(ids) {
  const missing = ids.filter((id) => id && !state.names.has(id) && !namesAsked.has(id));
  if (!missing.length) return;
  missing.forEach((id) => namesAsked.add(id));
  const acts = await api(`${base()}/issuer-activity`, new URLSearchParams({ from: addDays(today(), -3650), to: today() }));
  for (const i of acts.items) if (i.name) state.names.set(i.issuer_id, i.name);
}
async function loadAll() {
  const p = params();
  const [s, c, t, ts] = await Promise.all([api(`${base()}/summary`, p), api(`${base()}/channels`, p),
    api(`${base()}/top-badges`, p), api(`${base()}/timeseries`, params(seriesParams()))]);
  await ensureNames(t.items.map((r) => r.issuer_id));
  renderTiles(s); renderSeries(ts); renderChart($("#c-awarding"), c.awarding); renderChart($("#c-sharing"), c.sharing); renderChart($("#c-viewing"), c.viewing);
  renderTop(t); await loadBadges();
  if (TABS[state.tab]?.load) await TABS[state.tab].load(p);
  document.body.dataset.loaded = String(Date.now());
}
let reloadTimer = null;
function reloadSoon() { clearTimeout(reloadTimer); reloadTimer = setTimeout(() => loadAll().catch(console.error), 150); }

async function startLive() {
  if (state.live) state.live.abort();
  const ctl = new AbortController(); state.live = ctl;
  try {
    const r = await fetch(`${base()}/live?${params()}`, { headers: { Authorization: "Bearer " + state.key }, signal: ctl.signal });
    if (!r.ok || !r.body) return;
    $("#live").classList.add("on");
    const reader = r.body.getReader(), dec = new TextDecoder(); let buf = "", first = true;
    for (;;) {
      const { value, done } = await reader.read(); if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
        const data = chunk.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
        if (!data) continue;
        if (first) { first = false; continue; }  // the page already shows the current numbers
        renderTiles(JSON.parse(data)); reloadSoon();
      }
    }
  } catch (e) { if (e.name !== "AbortError") console.error(e); }
  $("#live").classList.remove("on");
  if (state.live === ctl) setTimeout(startLive, 3000);
}

function addExportMenus() {
  $$("[data-component]").forEach((card) => {
    const comp = card.dataset.component;
    const wrap = document.createElement("div"); wrap.className = "export";
    wrap.innerHTML = `<button class="export-btn" aria-haspopup="menu" data-export="${comp}">Export ▾</button>`;
    const menu = document.createElement("div"); menu.className = "export-menu"; menu.hidden = true; menu.setAttribute("role", "menu");
    menu.innerHTML = EXPORTS[comp].map((f) => `<button role="menuitem" data-format="${f}">${f.toUpperCase()}</button>`).join("");
    wrap.appendChild(menu); card.appendChild(wrap);
    $(".export-btn", wrap).onclick = (e) => { e.stopPropagation(); $$(".export-menu").forEach((m) => m !== menu && (m.hidden = true)); menu.hidden = !menu.hidden; };
    menu.onclick = async (e) => {
      const f = e.target.dataset.format; if (!f) return; menu.hidden = true;
      const extra = comp === "badges" ? { sort: state.sort, order: state.order, limit: 1000 } : comp === "timeseries" ? seriesParams() : {};
      let p = params(extra);
      if (PERIOD_ONLY.has(comp)) p = new URLSearchParams({ from: p.get("from"), to: p.get("to") });
      const r = await fetch(`${base()}/export/${comp}.${f}?${p}`, { headers: { Authorization: "Bearer " + state.key } });
      if (!r.ok) { alert(`Export failed: ${r.status}`); return; }
      const name = (r.headers.get("content-disposition") || "").match(/filename="?([^"]+)"?/)?.[1] || `${comp}.${f}`;
      const a = document.createElement("a"); a.href = URL.createObjectURL(await r.blob()); a.download = name; a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    };
  });
  document.addEventListener("click", () => { $$(".export-menu").forEach((m) => (m.hidden = true)); if ($("#tiles .info")) showHelp(null, false); });
}

async function loadOptions() {
  const wide = new URLSearchParams({ from: addDays(today(), -3650), to: today() });
  const [acts, badges] = await Promise.all([api(`${base()}/issuer-activity`, wide), api(`${base()}/badges`, new URLSearchParams({ ...Object.fromEntries(wide), limit: 1000 }))]);
  // The badge table and the key's header carry issuer ids: show the names issuer-activity gives.
  for (const i of acts.items) if (i.name) state.names.set(i.issuer_id, i.name);
  showWho();
  $("#f-issuer").innerHTML = `<option value="">All issuers</option>` + acts.items.map((i) => `<option value="${esc(i.issuer_id)}">${esc(i.name ?? i.issuer_id)}</option>`).join("");
  $("#f-badge").innerHTML = `<option value="">All badges</option>` + badges.items.map((b) => `<option value="${esc(b.badge_id)}">${esc(b.name ?? b.badge_id)}</option>`).join("");
}

function showWho() {
  const me = state.me;
  $("#who").textContent = me ? `${me.org_id} · ${me.role === "issuer" ? (me.issuer_ids.length > 1 ? "issuers: " : "issuer: ") + me.issuer_ids.map(issuerName).join(", ") : "organization admin"}` : "";
}
function signOut(msg) {
  localStorage.removeItem("bp-key"); state.key = null; state.me = null; state.names.clear(); namesAsked.clear(); if (state.live) state.live.abort();
  $("#app").hidden = true; $("#login").hidden = false; $("#signout").hidden = true; $("#tabs").hidden = true; $("#who").textContent = "";
  $("#login-error").textContent = msg || "";
}
async function start() {
  if (!state.key) return signOut();
  try { state.me = await api("/v1/me"); } catch (e) { return; }
  if (state.me.role === "publisher") return signOut("A publisher key cannot read analytics.");
  $("#login").hidden = true; $("#app").hidden = false; $("#signout").hidden = false; $("#tabs").hidden = false;
  showWho();
  await loadOptions(); await loadAll(); startLive();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").onsubmit = (e) => { e.preventDefault(); state.key = $("#key").value.trim(); localStorage.setItem("bp-key", state.key); start(); };
  $("#signout").onclick = () => signOut();
  $("#preset").onchange = () => { $$(".custom").forEach((l) => (l.hidden = $("#preset").value !== "custom")); if ($("#preset").value === "custom") { $("#from").value ||= addDays(today(), -29); $("#to").value ||= today(); } state.offset = 0; reloadSoon(); startLive(); };
  ["#from", "#to", "#f-issuer", "#f-badge"].forEach((s) => $(s).onchange = () => { state.offset = 0; reloadSoon(); startLive(); });
  $$("input[name=status]").forEach((c) => c.onchange = () => { state.offset = 0; reloadSoon(); startLive(); });
  ["#s-metric", "#s-interval"].forEach((s) => $(s).onchange = () => api(`${base()}/timeseries`, params(seriesParams())).then(renderSeries));
  $("#prev").onclick = () => { state.offset = Math.max(0, state.offset - state.limit); loadBadges(); };
  $("#next").onclick = () => { state.offset += state.limit; loadBadges(); };
  $$(".tab").forEach((b) => b.onclick = () => {
    state.tab = b.dataset.tab; $$(".tab").forEach((x) => x.classList.toggle("active", x === b));
    for (const id of Object.keys(TABS)) $("#" + id).hidden = state.tab !== id;
    $(".filters").hidden = TABS[state.tab].filters === false; showNotes(); reloadSoon();
  });
  const tip = $("#tooltip");
  document.addEventListener("mousemove", (e) => {
    const row = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (!row) { tip.hidden = true; return; }
    tip.textContent = row.dataset.tip; tip.hidden = false; tip.style.left = e.clientX + 12 + "px"; tip.style.top = e.clientY + 12 + "px";
  });
  // the chart is drawn for its plot's width: redraw it when that changes (a resized window, a
  // rotated phone, the tab shown again after a reload drew it hidden)
  new ResizeObserver(([e]) => {
    const w = Math.floor(e.contentRect.width), svg = $("#series svg");
    if (w && state.series && (!svg || Number(svg.getAttribute("width")) !== Math.max(240, w))) renderSeries(state.series);
  }).observe($("#series .plot"));
  addExportMenus(); start();
});
