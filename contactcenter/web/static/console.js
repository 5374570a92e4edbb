// One operator's console, from their live feed (`event: console` on /api/events/console):
// their state and the time in it, the buttons that fit the state, and the screen pop of the
// call they are offered or on (or, in wrap-up, the call just ended). An action shows the
// operator as the API returns it at once; the feed's next message confirms it.
import {
  api, everyTick, follow, languageName, localName, mmss, setOptions, setText, showMessage,
  since, stateWord, tr,
} from "./common.js";

const $ = (sel, root = document) => root.querySelector(sel);
const OPERATOR_ID = document.body.dataset.operatorId;
const ON_CALL = ["reserved", "talking"];
const baseTitle = document.title;

let latest = null;  // the last message
let op = null;      // the operator as last known (feed or action)
let opStamp = 0;    // performance.now() when op.since_s held

function renderOperator(next, stamp) {
  op = next;
  opStamp = stamp;
  setText($("#operator-name"), op.name);
  const state = $('[data-field="state"]');
  setText(state, stateWord(op.state));
  state.dataset.state = op.state;
  document.body.dataset.state = op.state;
  document.title = `${stateWord(op.state)} · ${baseTitle}`;
  let reason = "";
  if (op.state === "paused" && op.reason) {
    const r = latest && latest.pause_reasons.find((x) => x.code === op.reason);
    reason = r ? localName(r.names, op.reason) : op.reason;
  } else if (op.state === "unreachable") {
    reason = op.reason ? `${tr("fault_hint")} (${op.reason})` : tr("fault_hint");
  }
  setText($('[data-field="reason"]'), reason);
  setText($('[data-field="after_call"]'), op.after_call === "pause" ? tr("after_call_pause")
    : op.after_call === "log_out" ? tr("after_call_log_out") : "");
  const skills = Object.entries(op.skills || {}).sort((a, b) => a[1] - b[1]);
  setText($('[data-field="skills"]'), skills.length
    ? `${tr("skills")}: ${skills.map(([id, level]) => `${skillName(id)} ${level}`).join(" · ")}` : "");
  // The controls that fit the state (data-when lists the states).
  for (const row of document.querySelectorAll(".controls [data-when]")) {
    row.hidden = !row.dataset.when.split(" ").includes(op.state);
  }
  tick();
}

/** A skill's name: from skills_all when the feed sends it, else from the call, else the id. */
function skillName(id) {
  const s = latest && latest.skills_all && latest.skills_all.find((x) => x.skill === id);
  if (s) return localName(s.names, id);
  const call = latest && (latest.call || latest.last_call);
  return call && call.skill === id ? localName(call.names, id) : id;
}

/** The screen pop: the call offered or on; in wrap-up the one just ended; else hidden. */
function renderPop(call, ended) {
  const pop = $("#pop");
  pop.hidden = !call;
  if (!call) {
    pop.dataset.callState = "";
    pop.dataset.callId = "";
    return;
  }
  const callState = ended ? "ended" : call.state;
  pop.dataset.callState = callState;
  pop.dataset.callId = call.call_id;
  setText($("#pop-h"), ended ? tr("pop_last_call") : call.state === "reserved" ? tr("pop_ringing") : tr("pop_talking"));
  setText($('[data-field="kind"]', pop), call.kind === "callback" ? tr("kind_callback") : tr("kind_inbound"));
  setText($('[data-field="skill"]', pop), localName(call.names, call.skill) || "–");
  setText($('[data-field="language"]', pop), call.language == null ? "–" : languageName(call.language));
  setText($('[data-field="ivr_path"]', pop), (call.ivr_path || []).map((step) => ivrStep(step, call)).join(" › ") || "–");
  setText($('[data-field="wait"]', pop), mmss(call.wait_s));
  setText($('[data-field="number"]', pop), call.number || tr("number_withheld"));
  // calls_7d counts this number's earlier calls in the last 7 days, this one not included;
  // null when the number is withheld (nothing to count by).
  const n = call.calls_7d;
  const repeat = $('[data-field="calls_7d"]', pop);
  setText(repeat, n == null ? "" : n === 0 ? tr("calls_7d_first") : n === 1 ? tr("calls_7d_one") : tr("calls_7d_many", { n }));
  repeat.classList.toggle("repeat", n >= 1);
  repeat.dataset.calls = n == null ? "" : String(n);
}

/** A step of the IVR path in words: a language code or the call's skill, else as sent. */
function ivrStep(step, call) {
  if (step === call.skill) return localName(call.names, step);
  const name = languageName(step);
  return name === step ? String(step) : name;
}

function renderConsole(data) {
  latest = data;
  setOptions($('select[name="reason"]'), data.pause_reasons.map((r) => [r.code, localName(r.names, r.code)]));
  setOptions($('select[name="disposition"]'), data.dispositions.map((d) => [d.code, localName(d.names, d.code)]));
  renderOperator(data.operator, performance.now());
  if (data.call) renderPop(data.call, false);
  else if (data.last_call && data.operator.state === "wrap_up") renderPop(data.last_call, true);
  else renderPop(null);
}

async function act(button) {
  if (!op) return;
  const action = button.dataset.action;
  const afterCall = ON_CALL.includes(op.state) && $('input[name="after_call"]').checked;
  let body = {};
  if (action === "pause") body = { reason: $('select[name="reason"]').value, after_call: afterCall };
  else if (action === "logout") body = { after_call: afterCall };
  else if (action === "wrap-up") body = { disposition: $('select[name="disposition"]').value };
  const msg = $("#action-msg");
  // One action at a time: a second press before the answer would act on a stale state.
  const buttons = document.querySelectorAll(".controls button");
  for (const b of buttons) b.disabled = true;
  showMessage(msg, tr("working"), "ok");
  try {
    const next = await api("POST", `/api/operators/${encodeURIComponent(OPERATOR_ID)}/${action}`, body);
    showMessage(msg, "");
    if (next && next.id) renderOperator(next, performance.now());
  } catch (err) {
    showMessage(msg, err.message, "error");
  } finally {
    for (const b of buttons) b.disabled = false;
    keepFocus();
  }
}

/** The pressed button's row may now be hidden (Log in, once logged in): keyboard users
 *  would be left on the page's body; put them on the first control the new state offers. */
function keepFocus() {
  const focused = document.activeElement;
  if (focused && focused !== document.body && focused.checkVisibility()) return;
  const first = [...document.querySelectorAll(".controls button")].find((b) => b.checkVisibility());
  if (first) first.focus();
}

function setConnected(ok) {
  $("#conn-banner").hidden = ok;
  document.body.classList.toggle("stale", !ok);
}

function tick() {
  // No time while logged out: since_s is 0 then, not a time in state.
  if (op) setText($('[data-field="time"]'), op.state === "logged_out" ? "" : mmss(op.since_s + since(opStamp)));
}

$(".controls").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-action]");
  if (button) act(button);
});
follow("/api/events/console", "console", renderConsole, setConnected);
everyTick(tick);
