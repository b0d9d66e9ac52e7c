// Badgepulse dashboard: plain JS, no external assets. Reads the same API as every client.
"use strict";
const $ = (s, el = document) => el.querySelector(s);
const $$ = (s, el = document) => [...el.querySelectorAll(s)];
const EXPORTS = {
  "summary": ["csv", "xlsx"], "badges": ["csv", "xlsx"], "issuer-activity": ["csv", "xlsx"],
  "awarding-methods": ["csv", "xlsx", "png", "jpeg", "svg"], "sharing-methods": ["csv", "xlsx", "png", "jpeg", "svg"],
  "viewing-sources": ["csv", "xlsx", "png", "jpeg", "svg"], "timeseries": ["csv", "xlsx", "png", "jpeg", "svg"],
  "top-badges": ["csv", "xlsx", "png", "jpeg", "svg"],
};
const TILES = [
  ["learner_engagement_score", "Learner Engagement Score", "score"],
  ["external_impact_score", "External Impact Score", "ratio"],
  ["badges_created", "Badges created", "count"],
  ["badges_awarded", "Badges awarded", "count"],
  ["acceptance_rate", "Acceptance rate", "rate"],
  ["share_rate", "Share rate", "rate"],
  ["public_visibility_rate", "Public visibility rate", "rate"],
];
const COLUMNS = [
  ["rank", "#", "count"], ["name", "Badge", "text"], ["issuer_id", "Issuer", "text"],
  ["badges_awarded", "Awards", "count"], ["acceptance_rate", "Accepted", "rate"],
  ["share_rate", "Shared", "rate"], ["shares", "Shares", "count"], ["views", "Views", "count"],
  ["learner_engagement_score", "Engagement", "score"], ["external_impact_score", "Impact", "ratio"],
  ["overall_score", "Overall", "score"],
];
const state = { key: localStorage.getItem("bp-key"), me: null, sort: "overall_score", order: "desc",
  offset: 0, limit: 20, tab: "analytics", live: null };

const nf = new Intl.NumberFormat();
function fmt(v, kind) {
  if (v === null || v === undefined) return "—";
  if (kind === "rate") return (v * 100).toFixed(1) + "%";
  if (kind === "score") return v.toFixed(1);
  if (kind === "ratio") return v.toFixed(2);
  if (kind === "count") return nf.format(v);
  return String(v);
}
function fmtChange(t, kind) {
  if (!t || t.change === null) return "no comparison";
  const arrow = t.direction === "up" ? "▲" : t.direction === "down" ? "▼" : "■";
  let c = kind === "rate" ? (t.change * 100).toFixed(1) + " pp" : kind === "count" ? nf.format(t.change)
    : t.change.toFixed(kind === "ratio" ? 2 : 1);
  if (t.change > 0) c = "+" + c;
  const pct = t.change_pct === null ? "" : ` (${t.change_pct > 0 ? "+" : ""}${t.change_pct.toFixed(1)}%)`;
  return `${arrow} ${c}${pct} vs previous`;
}
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
  $("#tiles").innerHTML = TILES.map(([k, label, kind], i) => {
    const t = s.kpis[k];
    return `<div class="tile${i < 2 ? " primary-kpi" : ""}" data-kpi="${k}">
      <div class="label">${label}</div><div class="value" data-value="${t.value ?? ""}">${fmt(t.value, kind)}</div>
      <div class="trend ${t.direction}" data-current="${t.current ?? ""}" title="This period: ${fmt(t.current, kind)} · previous: ${fmt(t.previous, kind)}">${fmtChange(t, kind)}</div></div>`;
  }).join("");
  const h = s.highlights;
  $("#highlights").innerHTML = [["Most used awarding method", h.most_used_awarding_method],
    ["Most used sharing method", h.most_used_sharing_method], ["Most common viewing source", h.most_common_viewing_source]]
    .map(([k, v]) => `<div><div class="k">${k}</div><div class="v">${esc(v ?? "—")}</div></div>`).join("");
  const tta = s.time_to_accept, max = Math.max(1, ...tta.buckets.map((b) => b.count));
  const label = (b) => b.le === null ? "> 90 d" : b.le < 24 ? `≤ ${b.le} h` : `≤ ${b.le / 24} d`;
  $("#tta .hist").innerHTML = (tta.buckets.some((b) => b.count) ? tta.buckets.map((b) => `<div class="row"><span>${label(b)}</span>
    <div class="bar" style="width:${(100 * b.count) / max}%"></div><span class="num">${nf.format(b.count)}</span></div>`).join("")
    + `<p class="muted">Median: ${tta.median_hours === null ? "—" : tta.median_hours.toFixed(1) + " hours"}</p>`
    : `<p class="empty">No accepted awards in this period.</p>`);
  const inc = s.coverage.incomplete;
  $("#coverage").hidden = !inc.length;
  $("#coverage").textContent = inc.length ? `Incomplete history: acceptance, share or view tracking started after this period (or its comparison period) began, so ${inc.map((m) => m.replaceAll("_", " ")).join(", ")} may read low.` : "";
  $("#period-note").textContent = `Tiles show all-time values; trends compare ${s.period.from} – ${s.period.to} with ${s.previous_period.from} – ${s.previous_period.to}.` + (s.scope.issuer_ids ? ` Scoped to issuers: ${s.scope.issuer_ids.join(", ")}.` : "");
}

function renderChart(el, entries) {
  const max = Math.max(1, ...entries.map((e) => e.count));
  $(".bars", el).innerHTML = entries.length ? entries.map((e) => `<div class="row" data-key="${esc(e.key)}" data-count="${e.count}"
      data-tip="${esc(e.key)}: ${nf.format(e.count)} (${e.pct.toFixed(1)}%) · previous period ${nf.format(e.previous_count)}${e.change_pct === null ? "" : ` · ${e.change_pct > 0 ? "+" : ""}${e.change_pct.toFixed(1)}%`}">
      <span class="key">${esc(e.key.replaceAll("_", " "))}</span><div class="bar" style="width:${(100 * e.count) / max}%"></div>
      <span class="pct">${e.pct.toFixed(0)}%</span></div>`).join("") : `<p class="empty">Nothing in this period.</p>`;
}

function renderBadges(b) {
  $("#badge-table thead").innerHTML = "<tr>" + COLUMNS.map(([k, label, kind]) => `<th data-col="${k}" class="${kind === "text" ? "" : "num"}${state.sort === k ? " sorted" + (state.order === "asc" ? " asc" : "") : ""}">${label}</th>`).join("") + "</tr>";
  $("#badge-table tbody").innerHTML = b.items.length ? b.items.map((r) => "<tr>" + COLUMNS.map(([k, , kind]) =>
    `<td class="${kind === "text" ? "" : "num"}">${kind === "text" ? esc(r[k] ?? r.badge_id) : fmt(r[k], kind)}</td>`).join("") + "</tr>").join("")
    : `<tr><td colspan="${COLUMNS.length}" class="empty">No badge was awarded, shared or viewed in this period.</td></tr>`;
  const pages = Math.max(1, Math.ceil(b.total / state.limit)), page = Math.floor(state.offset / state.limit) + 1;
  $("#page").textContent = `Page ${page} of ${pages} · ${nf.format(b.total)} badges`;
  $("#prev").disabled = state.offset === 0; $("#next").disabled = state.offset + state.limit >= b.total;
  $$("#badge-table th[data-col]").forEach((th) => th.onclick = () => {
    const col = th.dataset.col; if (col === "name" || col === "issuer_id") return;
    state.order = state.sort === col && state.order === "desc" ? "asc" : "desc"; state.sort = col; state.offset = 0; loadBadges();
  });
}
function renderTop(t) {
  $("#top .top-list").innerHTML = t.items.length ? t.items.map((r) => `<li><span class="score">${fmt(r.overall_score, "score")}</span>${esc(r.name ?? r.badge_id)}
    <div class="muted">${fmt(r.badges_awarded, "count")} awards · engagement ${fmt(r.learner_engagement_score, "score")} · ${fmt(r.external_impact_score, "ratio")} views/share</div></li>`).join("")
    : `<p class="empty">No badges to rank in this period.</p>`;
}
function renderIssuers(a) {
  $("#issuer-table tbody").innerHTML = a.items.length ? a.items.map((i) => `<tr data-issuer="${esc(i.issuer_id)}"><td>${esc(i.name ?? i.issuer_id)}</td>
    <td class="num">${fmt(i.badges_created, "count")}</td><td class="num">${fmt(i.badges_awarded.current, "count")}</td>
    <td class="num trend ${i.badges_awarded.direction}">${fmtChange(i.badges_awarded, "count")}</td>
    <td>${Object.entries(i.methods).map(([m, n]) => `${esc(m)} ${nf.format(n)}`).join(" · ") || "—"}</td>
    <td>${i.last_awarded_at ? new Date(i.last_awarded_at).toLocaleString() : "—"}</td></tr>`).join("")
    : `<tr><td colspan="6" class="empty">No issuers yet.</td></tr>`;
}

function renderSeries(ts) {
  const pts = ts.points, W = 800, H = 220, pad = 28, max = Math.max(1, ...pts.map((p) => p.value));
  const bw = (W - pad) / Math.max(1, pts.length);
  const bars = pts.map((p, i) => { const h = ((H - 2 * pad) * p.value) / max;
    return `<rect class="pt" x="${pad + i * bw + 1}" y="${H - pad - h}" width="${Math.max(1, bw - 2)}" height="${h}" data-tip="${p.start}: ${nf.format(p.value)}"></rect>`; }).join("");
  const step = Math.max(1, Math.ceil(pts.length / 8));
  const labels = pts.map((p, i) => i % step ? "" : `<text class="axis" x="${pad + i * bw}" y="${H - 8}">${p.start.slice(5)}</text>`).join("");
  $("#series .plot").innerHTML = `<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${ts.metric} by ${ts.interval}">
    <text class="axis" x="0" y="12">${nf.format(max)}</text><line x1="${pad}" x2="${W}" y1="${H - pad}" y2="${H - pad}" stroke="#e5e7eb"></line>${bars}${labels}</svg>`;
}
function seriesParams() { return { metric: $("#s-metric").value, interval: $("#s-interval").value }; }

async function loadSummary() { renderTiles(await api(`${base()}/summary`, params())); }
async function loadBadges() {
  const p = params({ sort: state.sort, order: state.order, limit: state.limit, offset: state.offset });
  renderBadges(await api(`${base()}/badges`, p));
}
async function loadAll() {
  const p = params();
  const [s, c, t, ts] = await Promise.all([api(`${base()}/summary`, p), api(`${base()}/channels`, p),
    api(`${base()}/top-badges`, p), api(`${base()}/timeseries`, params(seriesParams()))]);
  renderTiles(s); renderSeries(ts); renderChart($("#c-awarding"), c.awarding); renderChart($("#c-sharing"), c.sharing); renderChart($("#c-viewing"), c.viewing);
  renderTop(t); await loadBadges();
  if (state.tab === "issuers") renderIssuers(await api(`${base()}/issuer-activity`, p));
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
      const r = await fetch(`${base()}/export/${comp}.${f}?${params(extra)}`, { headers: { Authorization: "Bearer " + state.key } });
      if (!r.ok) { alert(`Export failed: ${r.status}`); return; }
      const name = (r.headers.get("content-disposition") || "").match(/filename="?([^"]+)"?/)?.[1] || `${comp}.${f}`;
      const a = document.createElement("a"); a.href = URL.createObjectURL(await r.blob()); a.download = name; a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    };
  });
  document.addEventListener("click", () => $$(".export-menu").forEach((m) => (m.hidden = true)));
}

async function loadOptions() {
  const wide = new URLSearchParams({ from: addDays(today(), -3650), to: today() });
  const [acts, badges] = await Promise.all([api(`${base()}/issuer-activity`, wide), api(`${base()}/badges`, new URLSearchParams({ ...Object.fromEntries(wide), limit: 1000 }))]);
  $("#f-issuer").innerHTML = `<option value="">All issuers</option>` + acts.items.map((i) => `<option value="${esc(i.issuer_id)}">${esc(i.name ?? i.issuer_id)}</option>`).join("");
  $("#f-badge").innerHTML = `<option value="">All badges</option>` + badges.items.map((b) => `<option value="${esc(b.badge_id)}">${esc(b.name ?? b.badge_id)}</option>`).join("");
}

function signOut(msg) {
  localStorage.removeItem("bp-key"); state.key = null; if (state.live) state.live.abort();
  $("#app").hidden = true; $("#login").hidden = false; $("#signout").hidden = true; $("#who").textContent = "";
  $("#login-error").textContent = msg || "";
}
async function start() {
  if (!state.key) return signOut();
  try { state.me = await api("/v1/me"); } catch (e) { return; }
  if (state.me.role === "publisher") return signOut("A publisher key cannot read analytics.");
  $("#login").hidden = true; $("#app").hidden = false; $("#signout").hidden = false;
  $("#who").textContent = `${state.me.org_id} · ${state.me.role === "issuer" ? "issuer: " + state.me.issuer_ids.join(", ") : "organization admin"}`;
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
    $("#analytics").hidden = state.tab !== "analytics"; $("#issuers").hidden = state.tab !== "issuers"; reloadSoon();
  });
  const tip = $("#tooltip");
  document.addEventListener("mousemove", (e) => {
    const row = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (!row) { tip.hidden = true; return; }
    tip.textContent = row.dataset.tip; tip.hidden = false; tip.style.left = e.clientX + 12 + "px"; tip.style.top = e.clientY + 12 + "px";
  });
  addExportMenus(); start();
});
