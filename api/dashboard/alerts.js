// Alerts page (shared/spec/insights.md "Alerts"): make an alert, list them, send a test, see the last
// deliveries. Organization admin keys only (the API answers 403 to any other). Uses app.js's helpers.
"use strict";
const ALERT_METRICS = [
  ["acceptance_rate", "Acceptance rate", "rate"], ["share_rate", "Share rate", "rate"],
  ["public_visibility_rate", "Public visibility rate", "rate"],
  ["learner_engagement_score", "Learner Engagement Score", "score"],
  ["external_impact_score", "External Impact Score", "ratio"],
  ["badges_awarded", "Badges awarded", "count"], ["accepted_awards", "Accepted awards", "count"],
  ["shared_awards", "Shared awards", "count"], ["public_awards", "Public awards", "count"],
  ["badges_created", "Badges created", "count"], ["shares", "Shares", "count"], ["views", "Views", "count"],
  ["bot_views", "Bot views", "count"],
];
const OPS = { below: "is below", above: "is above", drops_by_pct: "drops by % or more", rises_by_pct: "rises by % or more" };
const alertState = { selected: null };
const metricLabel = (m) => (ALERT_METRICS.find(([k]) => k === m) ?? [m, m])[1];
const metricKind = (m) => (ALERT_METRICS.find(([k]) => k === m) ?? [m, m, "count"])[2];
const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) + " UTC" : "—");

async function send(method, path, body) {
  const r = await fetch(path, { method, headers: { Authorization: "Bearer " + state.key, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status === 401) { signOut("That key was not accepted (unknown or revoked)."); throw new Error("401"); }
  const data = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) {
    const d = data?.detail;
    const msg = Array.isArray(d) ? d.map((e) => `${e.loc.filter((x) => x !== "body").join(".")}: ${e.msg}`).join("; ") : d ?? `HTTP ${r.status}`;
    const err = new Error(msg); err.status = r.status; throw err;
  }
  return data;
}

function conditionText(a) {
  const v = a.condition.value, kind = metricKind(a.metric);
  const shown = a.condition.op.endsWith("_pct") ? `${v}%` : kind === "rate" ? `${(v * 100).toFixed(1)}%` : String(v);
  return `${OPS[a.condition.op].replace(" by %", " by " + shown).replace(/ (below|above)$/, ` $1 ${shown}`)}`;
}
function scopeText(s) {
  if (s.badge_id) return `badge ${s.badge_id}${s.issuer_id ? ` (${issuerName(s.issuer_id)})` : ""}`;
  return s.issuer_id ? `issuer ${issuerName(s.issuer_id)}` : "whole organization";
}

function renderAlerts(items) {
  $("#al-list tbody").innerHTML = items.map((a) => `<tr data-alert="${esc(a.alert_id)}" class="${a.alert_id === alertState.selected ? "selected" : ""}"
      data-tip="${esc(`${metricLabel(a.metric)} over the last ${a.window_days} day${a.window_days === 1 ? "" : "s"} ${conditionText(a)}, with at least ${a.min_awards} awards · state ${a.state}${a.state_since ? " since " + when(a.state_since) : ""}`)}">
      <td>${esc(metricLabel(a.metric))}</td><td>${esc(conditionText(a))}</td><td class="num">${a.window_days} d</td>
      <td>${esc(scopeText(a.scope))}</td><td class="url" title="${esc(a.url)}">${esc(a.url)}</td>
      <td><span class="state ${a.state}">${a.state}</span></td>
      <td class="actions"><button class="al-test">Test</button> <button class="al-show">Deliveries</button> <button class="al-del">Delete</button></td></tr>`).join("")
    || `<tr><td colspan="7" class="empty">No alerts yet.</td></tr>`;
  $$("#al-list tr[data-alert]").forEach((tr) => {
    const id = tr.dataset.alert;
    $(".al-test", tr).onclick = async () => {
      try { const d = await send("POST", `${base()}/alerts/${encodeURIComponent(id)}/test`); say(`Test delivery ${d.status}${d.http_status ? ` (HTTP ${d.http_status})` : ""}${d.error ? ": " + d.error : ""}.`); }
      catch (e) { say(e.message, true); }
      alertState.selected = id; await loadAlerts();
    };
    $(".al-show", tr).onclick = async () => { alertState.selected = id; await loadAlerts(); };
    $(".al-del", tr).onclick = async () => {
      if (!confirm("Delete this alert and its pending deliveries?")) return;
      try { await send("DELETE", `${base()}/alerts/${encodeURIComponent(id)}`); say("Alert deleted."); } catch (e) { say(e.message, true); }
      if (alertState.selected === id) alertState.selected = null;
      await loadAlerts();
    };
  });
}

function renderDeliveries(items) {
  const box = $("#al-deliveries");
  box.hidden = alertState.selected === null;
  $("tbody", box).innerHTML = items.map((d) => `<tr data-delivery="${esc(d.delivery_id)}" data-tip="${esc(`Delivery ${d.delivery_id}${d.error ? " · last error: " + d.error : ""}${d.delivered_at ? " · delivered " + when(d.delivered_at) : ""}`)}">
      <td>${when(d.time)}</td><td><span class="state ${d.state}">${d.state}</span></td><td>${d.status}</td>
      <td class="num">${d.http_status ?? "—"}</td><td class="num">${d.attempts}</td><td>${when(d.next_retry)}</td></tr>`).join("")
    || `<tr><td colspan="6" class="empty">Nothing sent yet: a delivery goes out when the alert fires or resolves, or on Test.</td></tr>`;
}

function say(msg, error = false) { const el = $("#al-msg"); el.textContent = msg; el.classList.toggle("error", error); }

async function loadAlerts() {
  if (state.me.role !== "org_admin") {
    $("#al-admin").hidden = true; $("#al-denied").hidden = false; return;
  }
  $("#al-admin").hidden = false; $("#al-denied").hidden = true;
  const { items } = await send("GET", `${base()}/alerts`);
  if (!items.some((a) => a.alert_id === alertState.selected)) alertState.selected = null;
  renderAlerts(items);
  renderDeliveries(alertState.selected ? (await send("GET", `${base()}/alerts/${encodeURIComponent(alertState.selected)}/deliveries`)).items : []);
}

function fillAlertForm() {
  const f = $("#al-form");
  if (f.dataset.ready) return;
  $("#al-metric").innerHTML = ALERT_METRICS.map(([k, l]) => `<option value="${k}">${esc(l)}</option>`).join("");
  $("#al-op").innerHTML = Object.entries(OPS).map(([k, l]) => `<option value="${k}">${esc(l.replace(" by %", " by"))}</option>`).join("");
  // the scope choices are the filter bar's (issuers and badges of the org)
  $("#al-issuer").innerHTML = $("#f-issuer").innerHTML.replace("All issuers", "Whole organization");
  $("#al-badge").innerHTML = $("#f-badge").innerHTML.replace("All badges", "Any badge");
  f.dataset.ready = "1";
  f.onsubmit = async (e) => {
    e.preventDefault();
    const metric = $("#al-metric").value, op = $("#al-op").value;
    let value = Number($("#al-value").value);
    if (metricKind(metric) === "rate" && !op.endsWith("_pct")) value /= 100;  // typed as a percentage
    const body = { metric, window_days: Number($("#al-window").value), condition: { op, value },
      min_awards: Number($("#al-min").value), url: $("#al-url").value.trim(), scope: {} };
    if ($("#al-issuer").value) body.scope.issuer_id = $("#al-issuer").value;
    if ($("#al-badge").value) body.scope.badge_id = $("#al-badge").value;
    try {
      const a = await send("POST", `${base()}/alerts`, body);
      $("#al-secret").hidden = false;
      $("#al-secret code").textContent = a.secret;
      say("Alert created. It is checked every 30 seconds.");
      alertState.selected = a.alert_id; await loadAlerts();
    } catch (err) { say(err.message, true); }
  };
  $("#al-op").onchange = $("#al-metric").onchange = () => {
    const pct = $("#al-op").value.endsWith("_pct") || metricKind($("#al-metric").value) === "rate";
    $("#al-unit").textContent = pct ? "%" : "";
  };
  $("#al-op").onchange();
}

registerTab("alerts", { filters: false, load: async () => { fillAlertForm(); await loadAlerts(); } });
