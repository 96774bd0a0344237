// calmstrap's page: live state over server-sent events, a breathing pacer, one-tap answers.
// No build step, no framework. Times from the service are epoch seconds on the pipeline's clock.
"use strict";

const params = new URLSearchParams(location.search);
const user = params.get("user") || "";
const linkedPrompt = params.get("prompt");
const $ = (id) => document.getElementById(id);
const svgNS = "http://www.w3.org/2000/svg";
// For tests and benchmarks: when each prompt was shown (Date.now(), ms), and the pacer in use.
const probe = (window.__calmstrap = { shown: {}, pacer: null, events: 0 });

let current = null;      // the prompt on screen
let practice = null;     // the practice in progress
let timeline = [];       // [t, level, state]
let episodes = new Map();
let prompts = [];
let spark = [];          // recent [t, level] for the small trend

function q(path) {
  return user ? `${path}${path.includes("?") ? "&" : "?"}user=${encodeURIComponent(user)}` : path;
}

async function send(command) {
  const r = await fetch(q("/api/command"), {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/json", "x-calmstrap-request": "1" },
    body: JSON.stringify(command),
  });
  let doc = {};
  try { doc = await r.json(); } catch (e) { doc = { message: "no answer" }; }
  return { ok: r.ok, message: doc.message || "" };
}

function clock(t) {
  return new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

// ---------------------------------------------------------------------------------------- state
function showState(s) {
  if (!s) return;
  const word = $("state-word");
  word.textContent = s.word;
  word.dataset.state = s.state;
  $("state-line").textContent = s.line || "";
  $("hr").textContent = s.hr_bpm == null ? "–" : Math.round(s.hr_bpm);
  $("link-state").textContent = s.connected === false ? "The strap is not connected right now." : "";
  if (s.level != null) {
    spark.push([s.t, s.level]);
    const cut = s.t - 600;
    while (spark.length && spark[0][0] < cut) spark.shift();
    drawSpark();
  }
}

function trendWord() {
  if (spark.length < 6) return "";
  const n = Math.floor(spark.length / 2);
  const mean = (xs) => xs.reduce((a, x) => a + x[1], 0) / xs.length;
  const d = mean(spark.slice(n)) - mean(spark.slice(0, n));
  return d < -5 ? "settling" : d > 5 ? "rising" : "steady";
}

function drawSpark() {
  const svg = $("spark");
  svg.replaceChildren();
  if (spark.length < 2) return;
  const t0 = spark[0][0], t1 = spark[spark.length - 1][0] || t0 + 1;
  const pts = spark.map(([t, v]) => `${(200 * (t - t0)) / Math.max(t1 - t0, 1)},${38 - (36 * v) / 100}`);
  const line = document.createElementNS(svgNS, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#5f8f78");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  $("trend").textContent = trendWord();
}

// ---------------------------------------------------------------------------------------- timeline
function drawTimeline() {
  const svg = $("timeline");
  svg.replaceChildren();
  if (!timeline.length) return;
  const last = timeline[timeline.length - 1][0];
  const midnight = new Date(last * 1000);
  midnight.setHours(0, 0, 0, 0);
  const t0 = Math.max(midnight.getTime() / 1000, timeline[0][0]);
  const span = Math.max(last - t0, 60);
  const x = (t) => (300 * (t - t0)) / span;
  for (const e of episodes.values()) {
    const r = document.createElementNS(svgNS, "rect");
    const a = Math.max(x(e.onset_t), 0), b = x(e.end_t == null ? last : e.end_t);
    r.setAttribute("x", a); r.setAttribute("width", Math.max(b - a, 1));
    r.setAttribute("y", 0); r.setAttribute("height", 80);
    r.setAttribute("fill", "rgba(201,179,217,.45)");
    r.classList.add("episode");
    svg.append(r);
  }
  const pts = timeline.filter((p) => p[0] >= t0 && p[1] != null).map((p) => `${x(p[0])},${76 - (70 * p[1]) / 100}`);
  const line = document.createElementNS(svgNS, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("fill", "none"); line.setAttribute("stroke", "#5f8f78"); line.setAttribute("stroke-width", "1.5");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  for (const p of prompts) {
    if (p.t < t0) continue;
    const c = document.createElementNS(svgNS, "line");
    c.setAttribute("x1", x(p.t)); c.setAttribute("x2", x(p.t)); c.setAttribute("y1", 66); c.setAttribute("y2", 80);
    c.setAttribute("stroke", "#5f8f78"); c.setAttribute("stroke-width", "3");
    c.setAttribute("vector-effect", "non-scaling-stroke");
    c.classList.add("prompt-mark");
    svg.append(c);
  }
}

// ---------------------------------------------------------------------------------------- pacer
// The circle grows while breathing in and shrinks while breathing out (eased, so it feels like a breath);
// a physiological sigh is a long breath in with a short top-up at its end. Real seconds, whatever the
// service's clock does.
const LO = 0.45, HI = 1.0;
let raf = 0;

function ease(p) { return 0.5 - 0.5 * Math.cos(Math.PI * Math.min(Math.max(p, 0), 1)); }

function pacerAt(pace, sec) {
  const cycle = pace.inhale_s + pace.hold_s + pace.exhale_s;
  const x = sec % cycle;
  if (x < pace.inhale_s) {
    const p = x / pace.inhale_s;
    if (pace.sigh) {
      const first = 0.75;
      const s = p < first ? LO + (HI - LO) * 0.8 * ease(p / first)
        : LO + (HI - LO) * (0.8 + 0.2 * ease((p - first) / (1 - first)));
      return [s, p < first ? "breathe in" : "a little more"];
    }
    return [LO + (HI - LO) * ease(p), "breathe in"];
  }
  if (x < pace.inhale_s + pace.hold_s) return [HI, "hold"];
  const p = (x - pace.inhale_s - pace.hold_s) / pace.exhale_s;
  return [HI - (HI - LO) * ease(p), "breathe out"];
}

function startPacer(b, seconds, stopLine) {
  stopPacer();
  const pace = { inhale_s: b.inhale_s, hold_s: b.hold_s || 0, exhale_s: b.exhale_s, sigh: !!b.sigh };
  const t0 = performance.now();
  probe.pacer = { ...pace, started: Date.now(), seconds };
  $("pacer-wrap").hidden = false;
  $("pacer-start").hidden = true;
  $("stop-line").textContent = stopLine || "";
  const circle = $("pacer-circle"), word = $("pacer-word");
  const frame = (now) => {
    const sec = (now - t0) / 1000;
    if (seconds && sec > seconds) { stopPacer(); return; }
    const [s, w] = pacerAt(pace, sec);
    circle.style.transform = `scale(${s.toFixed(4)})`;
    if (word.textContent !== w) word.textContent = w;
    raf = requestAnimationFrame(frame);
  };
  raf = requestAnimationFrame(frame);
}

function stopPacer() {
  if (raf) cancelAnimationFrame(raf);
  raf = 0;
  probe.pacer = null;
  $("pacer-wrap").hidden = true;
  $("pacer-circle").style.transform = `scale(${LO})`;
  if (current && current.breathing && !practice) $("pacer-start").hidden = false;
}

// ---------------------------------------------------------------------------------------- prompts
function showPrompt(p, live) {
  current = p;
  $("prompt").hidden = false;
  $("prompt").dataset.id = p.id;
  $("prompt-when").textContent = clock(p.t);
  $("prompt-title").textContent = p.title;
  $("prompt-body").textContent = p.body;
  $("answers").hidden = !p.answerable;
  $("answer-note").textContent = p.feedback_helped == null ? "" : "Thanks, noted.";
  for (const id of ["helped", "not-helped"]) $(id).disabled = p.feedback_helped != null;
  if (p.breathing && live && !practice) startPacer({ ...p.breathing, sigh: p.sigh }, p.duration_s, p.stop_line);
  else if (!practice) { stopPacer(); $("pacer-start").hidden = !p.breathing; }
  probe.shown[p.id] = Date.now();
}

async function answer(helped) {
  if (!current) return;
  const r = await send({ command: "feedback", prompt_id: current.id, helped });
  $("answer-note").textContent = r.ok ? "Thanks, noted." : r.message;
  if (r.ok) for (const id of ["helped", "not-helped"]) $(id).disabled = true;
}

// ---------------------------------------------------------------------------------------- practice
function showPractice(doc, weekMin) {
  if (weekMin != null) $("week-min").textContent = Math.round(weekMin);
  const live = $("practice-live");
  if (doc && doc.running) {
    const firstSight = !practice || practice.id !== doc.id;
    practice = doc;
    $("practice-start").disabled = true;
    if (firstSight) {
      const remain = Math.max(doc.minutes * 60 - (doc.elapsed_s || 0), 5);
      startPacer({ inhale_s: doc.inhale_s, hold_s: 0, exhale_s: doc.exhale_s }, remain, doc.stop_line);
    }
    live.textContent = practiceWords(doc);
  } else {
    const was = practice;
    practice = null;
    $("practice-start").disabled = false;
    if (was) stopPacer();
    if (doc) live.textContent = practiceWords(doc);
  }
}

function practiceWords(d) {
  const parts = [];
  if (d.running) parts.push("Breathing with the circle.");
  else parts.push(`Done: ${d.minutes} minute${d.minutes === 1 ? "" : "s"} logged.`);
  if (d.osc_amplitude_bpm != null) {
    parts.push(`Your heart rate rises and falls with each breath by about ${d.osc_amplitude_bpm} beats a minute ` +
      "(a bigger wave means heart and breath are moving together).");
  } else if (d.running) parts.push("The heart-rate wave shows after about 40 seconds.");
  if (d.hr_change_bpm != null) {
    parts.push(d.hr_change_bpm <= -1 ? `Heart rate is coming down (${d.hr_change_bpm} beats a minute).`
      : "Heart rate is about where it started.");
  }
  return parts.join(" ");
}

// ---------------------------------------------------------------------------------------- stream
function applySnapshot(doc) {
  timeline = doc.timeline || [];
  episodes = new Map((doc.episodes || []).map((e) => [e.id, e]));
  prompts = doc.prompts || [];
  showState(doc.state);
  drawTimeline();
  showPractice(doc.practice, doc.practice_week_min);
  const linked = linkedPrompt && prompts.find((p) => p.id === linkedPrompt);
  const latest = linked || prompts.filter((p) => p.answerable).slice(-1)[0];
  if (latest && (!current || current.id !== latest.id)) showPrompt(latest, false);
}

function connect() {
  const es = new EventSource(q("/api/events"), { withCredentials: true });
  const on = (name, fn) => es.addEventListener(name, (ev) => { probe.events++; fn(JSON.parse(ev.data)); });
  on("snapshot", applySnapshot);
  on("state", (s) => {
    showState(s);
    if (s.sample) { timeline.push(s.sample); drawTimeline(); }
  });
  on("prompt", (p) => { prompts.push(p); showPrompt(p, true); drawTimeline(); });
  on("episode", (e) => { episodes.set(e.id, e); drawTimeline(); });
  on("practice", (d) => showPractice(d.practice, d.practice_week_min));
  on("answer", (a) => {
    if (current && current.id === a.prompt_id) {
      $("answer-note").textContent = "Thanks, noted.";
      for (const id of ["helped", "not-helped"]) $(id).disabled = true;
    }
  });
  es.onerror = () => { $("link-state").textContent = "Reconnecting to calmstrap…"; };
  es.onopen = () => { $("link-state").textContent = ""; };
}

document.addEventListener("DOMContentLoaded", () => {
  $("helped").addEventListener("click", () => answer(true));
  $("not-helped").addEventListener("click", () => answer(false));
  $("snooze").addEventListener("click", async () => {
    const r = await send({ command: "snooze", minutes: 60 });
    $("answer-note").textContent = r.ok ? "No prompts for an hour." : r.message;
  });
  $("pacer-stop").addEventListener("click", () => stopPacer());
  $("pacer-start").addEventListener("click", () => {
    if (current && current.breathing) startPacer({ ...current.breathing, sigh: current.sigh }, current.duration_s, current.stop_line);
  });
  $("practice-start").addEventListener("click", async () => {
    $("practice-start").disabled = true;
    const r = await send({ command: "practice", minutes: Number($("practice-min").value) });
    if (!r.ok) { $("practice-live").textContent = r.message; $("practice-start").disabled = false; }
  });
  connect();
});
