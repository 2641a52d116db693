// The status page: polls /api/status and redraws the cohort waterfall and the tables.
// Plain DOM and SVG, no libraries: the page must work where nothing external is reachable.
"use strict";

const POLL_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const ROW_H = 22;
const LABEL_W = 70;
const STAGE_W = 200;
const STUCK_W = 140;

function el(tag, attrs = {}, text = null, ns = null) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function number(value, digits = 0) {
  if (value === null || value === undefined) return "-";
  return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function seconds(value) {
  if (value === null || value === undefined) return "-";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  if (value < 7200) return `${Math.floor(value / 60)}m${String(Math.floor(value % 60)).padStart(2, "0")}s`;
  return `${Math.floor(value / 3600)}h${String(Math.floor((value % 3600) / 60)).padStart(2, "0")}m`;
}

function sum(values) {
  return values.reduce((a, b) => a + b, 0);
}

// How a cohort's events stand at one stage, as fractions of the cohort's size.
function segments(cell, size) {
  const out = cell.out;
  const parts = [
    ["passed", out.forwarded + out.stored],
    ["dropped", out.filtered],
    ["failed", out.invalid + out.dead_lettered],
    ["in-flight", cell.in_flight],
    ["pending", cell.pending],
  ];
  return parts.map(([name, count]) => [name, count, size > 0 ? count / size : 0]);
}

function drawWaterfall(snapshot) {
  const svg = document.getElementById("waterfall");
  const empty = document.getElementById("no-cohorts");
  svg.replaceChildren();
  const cohorts = snapshot ? [...snapshot.cohorts].sort((a, b) => b.start_ms - a.start_ms) : [];
  empty.hidden = cohorts.length > 0;
  document.getElementById("waterfall-box").hidden = cohorts.length === 0;
  const width_s = snapshot ? snapshot.width_s : 0;
  document.getElementById("cohort-width").textContent =
    width_s % 60 === 0 ? (width_s ? `${width_s / 60} min wide` : "") : `${width_s} s wide`;
  if (!cohorts.length) return;
  const stages = snapshot.stages;
  const width = LABEL_W + stages.length * STAGE_W + STUCK_W;
  svg.setAttribute("width", width);
  svg.setAttribute("height", (cohorts.length + 1) * ROW_H + 4);
  stages.forEach((stage, i) => {
    svg.append(el("text", { x: LABEL_W + i * STAGE_W + 4, y: 15, class: "stage-head" }, stage, SVG));
  });
  cohorts.forEach((cohort, row) => {
    const y = (row + 1) * ROW_H + 2;
    const size = Math.max(0, ...stages.map((s) => (cohort.stages[s] ? cohort.stages[s].in : 0)));
    const group = el("g", {
      class: cohort.stuck_at ? "cohort stuck" : "cohort",
      "data-start-ms": cohort.start_ms,
      "data-label": cohort.label,
      "data-stuck-at": cohort.stuck_at || "",
      "data-size": size,
    }, null, SVG);
    group.append(el("rect", { x: 0, y, width, height: ROW_H, class: "row-bg", fill: "transparent" }, null, SVG));
    // Cohorts narrower than a minute share an HH:MM label: show their seconds too.
    const label = width_s < 60 ? new Date(cohort.start_ms).toISOString().slice(11, 19) : cohort.label;
    group.append(el("text", { x: 4, y: y + 15 }, label, SVG));
    stages.forEach((stage, i) => {
      const cell = cohort.stages[stage];
      const x0 = LABEL_W + i * STAGE_W + 4;
      const barW = STAGE_W - 12;
      const stageGroup = el("g", { class: "cell", "data-stage": stage }, null, SVG);
      stageGroup.append(el("rect", { x: x0, y: y + 4, width: barW, height: ROW_H - 8, class: "bar track" }, null, SVG));
      if (cell) {
        let x = x0;
        const lines = [`${cohort.label} at ${stage}: ${number(cell.in)} in of ${number(size)}`];
        for (const [name, count, fraction] of segments(cell, size)) {
          if (count > 0) {
            const w = Math.max(1, fraction * barW);
            stageGroup.append(el("rect", { x, y: y + 4, width: w, height: ROW_H - 8, class: `bar ${name}` }, null, SVG));
            x += w;
            lines.push(`${name}: ${number(count)}`);
          }
        }
        const p99 = cell.latency_ms && cell.latency_ms.p99;
        if (p99 !== null && p99 !== undefined) lines.push(`p99 ${seconds(p99 / 1000)}`);
        const done = sum(Object.values(cell.out));
        stageGroup.setAttribute("data-done", done);
        stageGroup.append(el("title", {}, lines.join("\n"), SVG));
      }
      group.append(stageGroup);
    });
    if (cohort.stuck_at) {
      const x = LABEL_W + stages.length * STAGE_W + 4;
      group.append(el("text", { x, y: y + 15, class: "stuck-label" }, `stuck at ${cohort.stuck_at}`, SVG));
    }
    svg.append(group);
  });
}

function pausesText(pauses) {
  if (!pauses) return "-";
  const entries = Object.entries(pauses).filter(([, count]) => count > 0);
  if (!entries.length) return "none";
  return entries.sort((a, b) => b[1] - a[1]).map(([reason, count]) => `${reason} ${number(count)}`).join(" · ");
}

function drawStages(stages, oldest) {
  const body = document.querySelector("#stages tbody");
  body.replaceChildren();
  for (const stage of stages || []) {
    const row = el("tr", { "data-stage": stage.name, "data-healthy": String(stage.healthy) });
    const age = oldest ? oldest[stage.name] : undefined;
    const cells = [
      [stage.name, "text"], [stage.state, "text"], [number(stage.consumed_per_s, 1)],
      [number(stage.in_flight)], [number(stage.paused)], [number(stage.lag)],
      [seconds(stage.p50_s)], [seconds(stage.p99_s)], [seconds(age)],
      [pausesText(stage.pauses), "text pauses"],
    ];
    for (const [text, cls] of cells) row.append(el("td", cls ? { class: cls } : {}, text));
    body.append(row);
  }
}

function drawBacklog(ranges) {
  const body = document.querySelector("#backlog tbody");
  body.replaceChildren();
  document.getElementById("no-backlog").hidden = !ranges || ranges.length > 0;
  for (const r of ranges || []) {
    const row = el("tr", { "data-stage": r.stage });
    const cells = [
      [r.stage, "text"], [`${r.topic}[${r.partition}]`, "text"],
      [`${number(r.origin_start)}..${number(r.end)} at ${number(r.start)}`, "text"],
      [number(r.remaining)], [`${Math.round(r.progress * 100)}%`], [seconds(r.age_s)], [number(r.expired)],
    ];
    for (const [text, cls] of cells) row.append(el("td", cls ? { class: cls } : {}, text));
    body.append(row);
  }
}

function drawErrors(errors) {
  const list = document.getElementById("errors");
  list.replaceChildren(...Object.entries(errors || {}).map(([source, error]) => el("li", {}, `${source}: ${error}`)));
}

function render(doc) {
  document.getElementById("title").textContent = doc.title;
  document.title = doc.title;
  document.getElementById("updated").textContent = `as of ${new Date(doc.generated_at_ms).toLocaleTimeString()}`;
  const cohorts = doc.cohorts;
  drawWaterfall(cohorts);
  drawStages(doc.stages, cohorts ? cohorts.oldest_unprocessed_age_s : null);
  drawBacklog(doc.backlog);
  drawErrors(doc.errors);
}

async function poll() {
  const connection = document.getElementById("connection");
  try {
    const response = await fetch("/api/status", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    connection.dataset.state = "ok";
    connection.textContent = "live";
  } catch (error) {
    connection.dataset.state = "down";
    connection.textContent = `not answering (${error.message})`;
  }
  setTimeout(poll, POLL_MS);
}

poll();
