// Shared by the wallboard and the console: the page's strings, number and time formats,
// the API's fetch (CSRF header, error text), and the live feed (EventSource).
// Plain ES modules, no build step. Data is only ever put in the page with textContent
// (or as attribute values), never parsed as HTML.

// The page's strings, in its language, as the server rendered them (base.html, #i18n).
const T = JSON.parse(document.getElementById("i18n").textContent);
export const LANG = document.documentElement.lang || "ca";
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

/** The string `key`, with `{name}` placeholders replaced from `vars`. */
export function tr(key, vars = {}) {
  let s = T[key];
  if (s === undefined) {
    console.warn("missing string", key);  // tests/web/test_strings.py should have caught it
    s = key;
  }
  for (const [name, value] of Object.entries(vars)) s = s.replaceAll(`{${name}}`, String(value));
  return s;
}

/** A name in the page's language from a {"ca": ..., "es": ..., "en": ...} map. */
export function localName(names, fallback) {
  return (names && (names[LANG] || names.ca)) || fallback;
}

/** Seconds as m:ss (minutes keep counting past 59: a room reads "75:03" at a glance). */
export function mmss(seconds) {
  if (seconds == null || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

const percentFormats = {};
/** A ratio 0..1 as a percentage in the page's locale ("92 %" in Catalan, "92%" in English). */
export function percent(ratio, digits = 0) {
  if (ratio == null) return "–";
  percentFormats[digits] ??= new Intl.NumberFormat(LANG, { style: "percent", maximumFractionDigits: digits });
  return percentFormats[digits].format(ratio);
}

/** Whole seconds with the unit ("14 s"), or "–" before there is a figure. */
export function secondsText(seconds) {
  return seconds == null ? "–" : tr("seconds_short", { n: Math.round(seconds) });
}

/** The centre's local wall-clock time of an ISO timestamp, as the server wrote it ("08:15").
 *  Taken from the text, not through Date: the browser's time zone may not be Barcelona's. */
export function wallTime(iso, withSeconds = false) {
  const m = /T(\d\d):(\d\d):(\d\d)/.exec(iso || "");
  if (!m) return "–";
  return withSeconds ? `${m[1]}:${m[2]}:${m[3]}` : `${m[1]}:${m[2]}`;
}

/** The calendar date of an ISO timestamp in words ("3 de desembre de 2026"), from its text. */
export function dateText(iso) {
  const m = /^(\d{4})-(\d\d)-(\d\d)/.exec(iso || "");
  if (!m) return "–";
  const day = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return new Intl.DateTimeFormat(LANG, { dateStyle: "long", timeZone: "UTC" }).format(day);
}

/** Seconds since the centre's local midnight of an ISO timestamp (null if not one). */
export function secondsOfDay(iso) {
  const m = /T(\d\d):(\d\d):(\d\d)/.exec(iso || "");
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : null;
}

/** The name of a language code in the page's language ("castellà" for es on a Catalan page). */
export function languageName(code) {
  const key = `lang_name_${code}`;
  return key in T ? T[key] : code;
}

/** The word for an operator state ("En pausa"); an unknown state shows as sent. */
export function stateWord(state) {
  const key = `state_${state}`;
  return key in T ? T[key] : state;
}

/** Set an element's text only when it changes: a live region re-reads a replaced text. */
export function setText(el, text) {
  if (el && el.textContent !== text) el.textContent = text;
}

/** Replace a select's options with [value, label] pairs, keeping the chosen value if it
 *  still exists; skipped when nothing changed (a rebuild would close an open list). */
export function setOptions(select, pairs) {
  const key = JSON.stringify(pairs);
  if (select.dataset.options === key) return;
  const chosen = select.value;
  select.replaceChildren(...pairs.map(([value, label]) => new Option(label, value)));
  if (pairs.some(([value]) => value === chosen)) select.value = chosen;
  select.dataset.options = key;
}

/** A failed API call: `message` is for the user (the API's `detail`), `status` 0 = network. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Call the API; resolve to the parsed JSON body, or reject with an ApiError whose message
 *  is the server's `detail` (FastAPI's 422 lists its problems: their `msg` fields). */
export async function api(method, url, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = CSRF;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(tr("error_network"), 0);
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) throw new ApiError(errorText(resp.status, data), resp.status);
  return data;
}

function errorText(status, data) {
  const detail = data && data.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
  }
  if (status === 401) return tr("error_session");
  if (status === 403) return tr("error_forbidden");
  return tr("error_http", { status });
}

/** Show `text` in a message element; `kind` "error" or "ok" sets its look. */
export function showMessage(el, text, kind = "error") {
  if (!el) return;
  el.classList.toggle("error", kind === "error");
  el.classList.toggle("ok", kind === "ok");
  setText(el, text);
}

/** Follow the server's feed at `url`: onData(parsed JSON) for each `eventName` message,
 *  onStatus(true|false) as the connection opens or is lost. EventSource reconnects by itself
 *  after a dropped stream; when it gives up (CLOSED: e.g. the server answered with an error
 *  instead of a stream) this opens a new one, waiting longer each time, up to 30 s. */
export function follow(url, eventName, onData, onStatus) {
  let delay = 1000;
  const open = () => {
    const source = new EventSource(url, { withCredentials: true });
    source.addEventListener("open", () => {
      delay = 1000;
      onStatus(true);
    });
    source.addEventListener(eventName, (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        console.warn("unreadable message on", url);
        return;
      }
      onStatus(true);
      onData(data);
    });
    source.addEventListener("error", async () => {
      onStatus(false);
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        // An EventSource cannot see why it was refused: ask. An ended session goes back to
        // the sign-in page (then here again), not to "reconnecting" for ever.
        if (await sessionEnded()) {
          location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
          return;
        }
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 30000);
      }
    });
  };
  open();
}

async function sessionEnded() {
  try {
    const resp = await fetch("/api/me", { credentials: "same-origin", headers: { Accept: "application/json" } });
    return resp.status === 401;
  } catch {
    return false;  // the server is unreachable: keep trying to reconnect
  }
}

/** Call fn about four times a second, for the figures that count up between messages. */
export function everyTick(fn) {
  fn();
  setInterval(fn, 250);
}

/** Seconds elapsed since a performance.now() stamp. */
export function since(stamp) {
  return (performance.now() - stamp) / 1000;
}
