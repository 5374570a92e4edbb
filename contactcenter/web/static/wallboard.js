// The wallboard: one tile per skill and one per operator, from the centre's live feed
// (`event: centre` on /api/events/wallboard). No polling: each message redraws what changed;
// between messages only the clocks count on (time in state, longest wait, the clock), from
// the figures at the message plus the time since it arrived (the browser's clock may not
// agree with the server's, the elapsed time does).
// Supervisors (body[data-role=supervisor]; the server leaves the controls out for viewers)
// also get each operator's menu, the waiting calls and the callback booking form.
import {
  LANG, api, dateText, everyTick, follow, languageName, localName, mmss, percent, secondsOfDay,
  secondsText, setOptions, setText, showMessage, since, stateWord, tr, wallTime,
} from "./common.js";

const SUPERVISOR = document.body.dataset.role === "supervisor";
const LEVELS = ["ok", "amber", "red"];
// States in which the operator is on (or about to be on) a call: "after this call" applies.
const ON_CALL = ["reserved", "talking"];

const $ = (sel, root = document) => root.querySelector(sel);
const skillsBox = $("#skills");
const operatorsBox = $("#operators");
const skillTiles = new Map();     // skill id -> {el, skill}
const operatorTiles = new Map();  // operator id -> {el, op, stamp}
let centre = null;                // the last message
let receivedAt = 0;               // performance.now() when it came

// ---- figures --------------------------------------------------------------------------

/** A figure's text and level: class level-ok|amber|red on the value (colour and symbol,
 *  app.css), and the level in words for screen readers beside it. */
function setFigure(root, field, text, level) {
  const el = root.querySelector(`[data-field="${field}"]`);
  setText(el, text);
  for (const l of LEVELS) el.classList.toggle(`level-${l}`, l === level);
  const word = el.parentElement.querySelector(".level-word");
  if (word) setText(word, level === "amber" || level === "red" ? tr(`level_${level}`) : "");
}

/** The level the server gave a figure: `levels` is keyed by the JSON field (asa_s). */
function levelOf(levels, field) {
  return (levels && (levels[field] ?? levels[`${field}_s`])) || null;
}

function skillName(id) {
  if (id == null) return "–";  // a call not yet routed to a skill
  const s = centre && centre.skills_all.find((x) => x.skill === id);
  return s ? localName(s.names, id) : id;
}

function pauseReasonName(code) {
  const r = centre && centre.pause_reasons.find((x) => x.code === code);
  return r ? localName(r.names, code) : code;
}

/** Put the tiles in `box` in the order of `ids`, moving nodes only when the order changed
 *  (moving a node would take the keyboard focus out of an open menu). */
function arrange(box, tiles, ids) {
  const wanted = ids.map((id) => tiles.get(id).el);
  const current = [...box.children];
  if (wanted.length === current.length && wanted.every((el, i) => el === current[i])) return;
  box.replaceChildren(...wanted);
}

function dropMissing(tiles, ids) {
  const keep = new Set(ids);
  for (const [id, rec] of tiles) if (!keep.has(id)) { rec.el.remove(); tiles.delete(id); }
}

// ---- skills ---------------------------------------------------------------------------

function renderSkill(rec, s) {
  const el = rec.el;
  rec.skill = s;
  setText($(".skill-name", el), localName(s.names, s.skill));
  const lv = s.levels || {};
  setFigure(el, "waiting", String(s.waiting), levelOf(lv, "waiting"));
  setFigure(el, "longest_wait", longestWaitText(rec), levelOf(lv, "longest_wait"));
  setFigure(el, "service_level", percent(s.service_level), levelOf(lv, "service_level"));
  setFigure(el, "asa", secondsText(s.asa_s), levelOf(lv, "asa"));
  setFigure(el, "abandon_rate", percent(s.abandon_rate, 1), levelOf(lv, "abandon_rate"));
  const ops = s.operators;
  // `talking` counts ringing (reserved) operators too, as the API does: they are taken;
  // the note under it says how many of them are ringing.
  setFigure(el, "available", String(ops.available), levelOf(lv, "available"));
  setFigure(el, "talking", String(ops.talking), levelOf(lv, "talking"));
  const ringing = $('[data-field="reserved"]', el);
  ringing.hidden = !ops.reserved;
  setText(ringing, ops.reserved ? tr("ringing_note", { n: ops.reserved }) : "");
  setFigure(el, "wrap_up", String(ops.wrap_up), levelOf(lv, "wrap_up"));
  setFigure(el, "paused", String(ops.paused), levelOf(lv, "paused"));
  setFigure(el, "unreachable", String(ops.unreachable), levelOf(lv, "unreachable"));
  setFigure(el, "callbacks_pending", String(s.callbacks_pending), levelOf(lv, "callbacks_pending"));
  el.classList.toggle("has-fault", ops.unreachable > 0);
}

/** The oldest caller keeps waiting between messages: count on while anyone waits. */
function longestWaitText(rec) {
  const s = rec.skill;
  if (s.longest_wait_s == null) return "–";
  return mmss(s.waiting > 0 ? s.longest_wait_s + since(receivedAt) : s.longest_wait_s);
}

function renderSkills(skills) {
  for (const s of skills) {
    let rec = skillTiles.get(s.skill);
    if (!rec) {
      const el = $("#skill-tile").content.firstElementChild.cloneNode(true);
      el.dataset.skill = s.skill;
      rec = { el, skill: s };
      skillTiles.set(s.skill, rec);
    }
    renderSkill(rec, s);
  }
  const ids = skills.map((s) => s.skill);
  dropMissing(skillTiles, ids);
  arrange(skillsBox, skillTiles, ids);
}

// ---- operators ------------------------------------------------------------------------

/** Redraw an operator's tile from `op`, whose since_s held at `stamp` (performance.now()). */
function renderOperator(rec, op, stamp) {
  const el = rec.el;
  rec.op = op;
  rec.stamp = stamp;
  el.dataset.state = op.state;
  setText($(".op-name", el), op.name);
  const state = $('[data-field="state"]', el);
  setText(state, stateWord(op.state));
  state.dataset.state = op.state;
  setText($('[data-field="time"]', el), timeInState(rec));
  let reason = "";
  if (op.state === "paused" && op.reason) reason = pauseReasonName(op.reason);
  else if (op.state === "unreachable") reason = op.reason ? `${tr("fault_hint")} (${op.reason})` : tr("fault_hint");
  setText($('[data-field="reason"]', el), reason);
  const after = op.after_call === "pause" ? tr("after_call_pause")
    : op.after_call === "log_out" ? tr("after_call_log_out") : "";
  setText($('[data-field="after_call"]', el), after);
  renderOperatorSkills($('[data-field="skills"]', el), op.skills);
  if (SUPERVISOR) updateMenu(rec);
}

/** Time in state, counted on since the stamp; none while logged out (since_s is 0 then). */
function timeInState(rec) {
  return rec.op.state === "logged_out" ? "" : mmss(rec.op.since_s + since(rec.stamp));
}

/** The operator's skills, best level first ("Informació general 1"). */
function renderOperatorSkills(list, skills) {
  const entries = Object.entries(skills || {}).sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
  const key = JSON.stringify([LANG, entries, centre && centre.skills_all.length]);
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...entries.map(([id, level]) => {
    const li = document.createElement("li");
    li.dataset.skillId = id;  // not data-skill: that names a skill tile
    li.append(skillName(id), " ");
    const b = document.createElement("b");
    b.textContent = String(level);
    b.title = tr("skill_level");
    li.append(b);
    return li;
  }));
}

function renderOperators(ops) {
  for (const op of ops) {
    let rec = operatorTiles.get(op.id);
    if (!rec) {
      const el = $("#operator-tile").content.firstElementChild.cloneNode(true);
      el.dataset.operator = op.id;
      rec = { el, op, stamp: receivedAt };
      operatorTiles.set(op.id, rec);
      if (SUPERVISOR) setUpMenu(rec);
    }
    renderOperator(rec, op, receivedAt);
  }
  const ids = ops.map((o) => o.id);
  dropMissing(operatorTiles, ids);
  arrange(operatorsBox, operatorTiles, ids);
}

// ---- the supervisor's operator menu ---------------------------------------------------

/** Show the menu's rows that fit the operator's state (data-when lists the states). */
function updateMenu(rec) {
  const el = rec.el;
  for (const row of el.querySelectorAll(".menu-body [data-when]")) {
    row.hidden = !row.dataset.when.split(" ").includes(rec.op.state);
  }
  setOptions($('select[name="reason"]', el),
    centre.pause_reasons.map((r) => [r.code, localName(r.names, r.code)]));
}

function setUpMenu(rec) {
  const details = $(".op-menu", rec.el);
  // The skills editor is filled when the menu opens, not on every message: the supervisor's
  // choices would otherwise be overwritten while they edit.
  details.addEventListener("toggle", () => { if (details.open) fillSkillsEditor(rec); });
  details.addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (button) operatorAction(rec, button);
  });
}

function fillSkillsEditor(rec) {
  const rows = $(".skill-rows", rec.el);
  rows.replaceChildren(...centre.skills_all.map((s) => {
    const label = document.createElement("label");
    label.append(localName(s.names, s.skill), " ");
    const select = document.createElement("select");
    select.dataset.skillId = s.skill;
    select.append(new Option(tr("skill_none"), ""));
    for (let level = 1; level <= 9; level++) select.append(new Option(String(level), String(level)));
    const current = rec.op.skills && rec.op.skills[s.skill];
    select.value = current ? String(current) : "";
    label.append(select);
    return label;
  }));
}

function readSkillsEditor(rec) {
  const skills = {};
  for (const select of rec.el.querySelectorAll(".skill-rows select")) {
    if (select.value) skills[select.dataset.skillId] = Number(select.value);
  }
  return skills;
}

async function operatorAction(rec, button) {
  const el = rec.el;
  const action = button.dataset.action;
  const msg = $(".menu-body .msg", el);
  const afterCall = ON_CALL.includes(rec.op.state) && $('input[name="after_call"]', el).checked;
  let method = "POST";
  let body = {};
  let path = action;
  if (action === "pause") body = { reason: $('select[name="reason"]', el).value, after_call: afterCall };
  else if (action === "logout") body = { after_call: afterCall };
  else if (action === "monitor") body = { mode: button.dataset.mode };
  else if (action === "skills") { method = "PUT"; body = { skills: readSkillsEditor(rec) }; }
  button.disabled = true;
  showMessage(msg, tr("working"), "ok");
  try {
    const op = await api(method, `/api/operators/${encodeURIComponent(rec.op.id)}/${path}`, body);
    // Monitoring answers 202 {detail}: the supervisor's own phone rings.
    showMessage(msg, action === "monitor" ? tr("monitor_ringing") : tr("done"), "ok");
    // The API answers with the operator as it is now: show it at once, the feed follows.
    if (op && op.id === rec.op.id) {
      renderOperator(rec, op, performance.now());
      if (action === "skills") fillSkillsEditor(rec);
    }
  } catch (err) {
    showMessage(msg, err.message, "error");
  } finally {
    button.disabled = false;
    // The button's row may be hidden now (the state changed): keep the keyboard in the menu.
    const focused = document.activeElement;
    if (!focused || focused === document.body || !focused.checkVisibility()) $("summary", el).focus();
  }
}

// ---- the supervisor's waiting calls ---------------------------------------------------

const callsTable = SUPERVISOR ? $("#calls tbody") : null;
const callsMsg = $("#calls-msg");
const callRows = new Map();  // call_id -> {el, call}
let callsStamp = 0;
let callsBusy = false;
let callsAgain = false;
let callsFailed = false;

/** Fetch the waiting calls (after each centre message); one request at a time, and at most
 *  one more queued behind it, however fast the messages come. */
async function refreshCalls() {
  if (callsBusy) { callsAgain = true; return; }
  callsBusy = true;
  try {
    const calls = await api("GET", "/api/calls");
    callsStamp = performance.now();
    renderCalls(calls);
    if (callsFailed) { showMessage(callsMsg, ""); callsFailed = false; }
  } catch (err) {
    callsFailed = true;
    showMessage(callsMsg, `${tr("calls_unavailable")}: ${err.message}`, "error");
  } finally {
    callsBusy = false;
    if (callsAgain) { callsAgain = false; setTimeout(refreshCalls, 500); }
  }
}

function renderCalls(calls) {
  for (const call of calls) {
    let rec = callRows.get(call.call_id);
    if (!rec) {
      rec = { el: newCallRow(call), call };
      callRows.set(call.call_id, rec);
    }
    rec.call = call;
    const cells = rec.el.cells;
    setText(cells[0], String(call.position));
    setText(cells[1], skillName(call.skill));
    setText(cells[2], call.language == null ? "–" : languageName(call.language));
    setText(cells[3], call.kind === "callback" ? tr("kind_callback") : tr("kind_inbound"));
    setText(cells[4], mmss(call.wait_s));
    setOptions($("select", cells[5]), centre.skills_all
      .filter((s) => s.skill !== call.skill)
      .map((s) => [s.skill, localName(s.names, s.skill)]));
  }
  const ids = calls.map((c) => c.call_id);
  dropMissing(callRows, ids);
  arrange(callsTable, callRows, ids);
  $("#calls-empty").hidden = calls.length > 0;
  $("#calls").hidden = calls.length === 0;
}

function newCallRow(call) {
  const row = document.createElement("tr");
  row.dataset.call = call.call_id;
  for (let i = 0; i < 5; i++) row.insertCell();
  row.cells[4].classList.add("num");
  const cell = row.insertCell();
  const select = document.createElement("select");
  select.name = "skill";
  select.setAttribute("aria-label", tr("move_to_skill"));
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.action = "move";
  button.textContent = tr("move");
  cell.append(select, " ", button);
  button.addEventListener("click", () => moveCall(call.call_id, select, button));
  return row;
}

async function moveCall(callId, select, button) {
  if (!select.value) return;
  button.disabled = true;
  try {
    await api("POST", `/api/calls/${encodeURIComponent(callId)}/move`, { skill: select.value });
    showMessage(callsMsg, tr("call_moved", { skill: skillName(select.value) }), "ok");
    refreshCalls();
  } catch (err) {
    showMessage(callsMsg, err.message, "error");
  } finally {
    button.disabled = false;
  }
}

// ---- the supervisor's callback booking ------------------------------------------------

const cbForm = $("#callback-form");

function setUpCallbackForm() {
  const slots = $("#slots", cbForm);
  const book = $('[data-action="book"]', cbForm);
  const msg = $("#cb-msg", cbForm);
  const clearSlots = () => {
    slots.hidden = true;
    book.hidden = book.disabled = true;
    $(".slot-list", slots).replaceChildren();
  };
  // Slots belong to the number/skill/language/date they were found for.
  for (const name of ["skill", "language", "date"]) cbForm.elements[name].addEventListener("change", clearSlots);

  cbForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearSlots();
    const f = cbForm.elements;
    if (!f.number.value.trim() || !f.date.value) {
      showMessage(msg, tr("callback_fill_in"), "error");
      (f.number.value.trim() ? f.date : f.number).focus();
      return;
    }
    const q = new URLSearchParams({ skill: f.skill.value, language: f.language.value, date: f.date.value });
    showMessage(msg, tr("working"), "ok");
    try {
      const list = await api("GET", `/api/callbacks/slots?${q}`);
      renderSlots(list);
      if (list.some((s) => s.free > 0)) showMessage(msg, "");
      else showMessage(msg, tr("no_slots"), "error");
    } catch (err) {
      showMessage(msg, err.message, "error");
    }
  });

  function renderSlots(list) {
    const box = $(".slot-list", slots);
    box.replaceChildren(...list.map((s) => {
      const label = document.createElement("label");
      label.className = "slot";
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "slot";
      radio.value = s.start;
      radio.disabled = !(s.free > 0);
      label.append(radio, ` ${wallTime(s.start)}–${wallTime(s.end)} `);
      const free = document.createElement("span");
      free.className = "free";
      free.textContent = tr("slot_free", { n: s.free });
      label.append(free);
      return label;
    }));
    slots.hidden = list.length === 0;
    book.hidden = list.length === 0;
    book.disabled = true;
  }

  slots.addEventListener("change", () => { book.disabled = !$('input[name="slot"]:checked', slots); });

  book.addEventListener("click", async () => {
    const chosen = $('input[name="slot"]:checked', slots);
    if (!chosen) return;
    const f = cbForm.elements;
    book.disabled = true;
    try {
      const res = await api("POST", "/api/callbacks", {
        number: f.number.value.trim(), skill: f.skill.value, language: f.language.value, at: chosen.value,
      });
      const at = (res && res.at) || chosen.value;
      showMessage(msg, tr("callback_booked", { date: dateText(at), time: wallTime(at) }), "ok");
      f.number.value = "";
      clearSlots();
    } catch (err) {
      showMessage(msg, err.message, "error");
      book.disabled = false;
    }
  });
}

/** The form's choices follow the centre's lists; the date starts at the centre's today. */
function updateCallbackForm() {
  const f = cbForm.elements;
  setOptions(f.skill, centre.skills_all.map((s) => [s.skill, localName(s.names, s.skill)]));
  setOptions(f.language, centre.languages_all.map((code) => [code, languageName(code)]));
  const today = (centre.at || "").slice(0, 10);
  if (/^\d{4}-\d\d-\d\d$/.test(today)) {
    f.date.min = today;
    if (!f.date.value) f.date.value = today;
  }
}

// ---- the page -------------------------------------------------------------------------

function renderCentre(data) {
  centre = data;
  receivedAt = performance.now();
  $("#placeholder").hidden = true;
  setText($(".centre-name"), data.centre);
  const lines = data.lines;
  setFigure($("#lines"), "lines", `${lines.in_use} / ${lines.capacity}`, lines.level || null);
  setText($('[data-field="in_ivr"]'), String(data.in_ivr));
  $("#ami-banner").hidden = data.ami_connected !== false;
  document.body.classList.toggle("ami-down", data.ami_connected === false);
  renderSkills(data.skills);
  renderOperators(data.operators);
  if (SUPERVISOR) {
    updateCallbackForm();
    refreshCalls();
  }
  tick();
}

function setConnected(ok) {
  $("#conn-banner").hidden = ok;
  document.body.classList.toggle("stale", !ok);  // the figures are dimmed, not trusted
}

/** The clocks between messages. */
function tick() {
  if (!centre) return;
  const base = secondsOfDay(centre.at);
  if (base != null) {
    const s = Math.floor(base + since(receivedAt)) % 86400;
    const hh = String(Math.floor(s / 3600)).padStart(2, "0");
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
    setText($("#clock"), `${hh}:${mm}:${String(s % 60).padStart(2, "0")}`);
  }
  for (const rec of operatorTiles.values()) {
    setText($('[data-field="time"]', rec.el), timeInState(rec));
  }
  for (const rec of skillTiles.values()) {
    setText($('[data-field="longest_wait"]', rec.el), longestWaitText(rec));
  }
  for (const rec of callRows.values()) {
    setText(rec.el.cells[4], mmss(rec.call.wait_s + since(callsStamp)));
  }
}

if (SUPERVISOR) setUpCallbackForm();
follow("/api/events/wallboard", "centre", renderCentre, setConnected);
everyTick(tick);
