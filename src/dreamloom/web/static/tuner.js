// The Style Tuner page: a row per direction, look A beside look B; its creator draws rows,
// anyone picks A, B or neither among the drawn looks, and the picks make a --style code.
import { call, el } from "./feed.js";

// While a look is being drawn, the tuner is read again this often (anyone may watch a tuner,
// and the live events are its creator's alone).
const POLL_MS = 1500;

const tuner = JSON.parse(document.getElementById("tuner-data").textContent);
const base = `/web/tune/${encodeURIComponent(tuner.id)}`;
const list = document.getElementById("rows");
const drawNext = document.getElementById("draw-next");
const drawStatus = document.getElementById("draw-status");
const drawError = document.getElementById("draw-error");
const codeHint = document.getElementById("code-hint");
const codeOut = document.getElementById("code-out");
const codeText = document.getElementById("style-code");
const codeError = document.getElementById("code-error");
const useCode = document.getElementById("use-code");
const copyCode = document.getElementById("copy-code");

const rows = new Map(); // direction -> { data, radios, draw, looks: { A, B } }

function drawn(row) {
  return Boolean(row.A.job || row.B.job);
}

function lookState(job) {
  if (!job) return "none";
  return [job.status, job.progress, job.image && job.image.url, job.preview].join("|");
}

function renderLook(side, direction, job) {
  const frame = el("div", { class: "frame" });
  const caption = el("figcaption", {}, el("strong", { text: side }));
  // Another's previews are not for this account: their pictures come once completed.
  const preview = tuner.mine && job && job.preview ? job.preview : null;
  const picture = job && job.image ? job.image.url : preview;
  if (picture) {
    frame.append(el("img", {
      src: picture, alt: `Direction ${direction}, look ${side}`, decoding: "async",
      width: job.image ? job.image.width : null, height: job.image ? job.image.height : null,
    }));
  } else {
    // A row not drawn yet stays short: most rows of a tuner are, at first.
    frame.append(el("div", { class: job ? "placeholder" : "placeholder undrawn", "aria-hidden": "true" }));
  }
  if (!job) {
    caption.append(" ", tuner.mine ? "Not drawn yet" : "Not drawn");
  } else if (job.status === "failed" || job.status === "moderated") {
    caption.append(" ", el("span", { class: "error", text: job.error || job.status }));
  } else if (!job.terminal) {
    caption.append(
      " ",
      el("progress", { max: "100", value: String(job.progress), "aria-label": `Look ${side} progress` }),
      el("span", { role: "status", text: job.status === "created" ? " Waiting to start" : ` ${job.progress}%` }),
    );
  }
  return el("figure", {
    class: "look", "data-side": side, "data-status": job ? job.status : "none",
  }, frame, caption);
}

function build(row) {
  const d = row.direction;
  const radios = {};
  const choice = el("div", { class: "choice" });
  for (const [value, label] of [["A", "A"], ["B", "B"], ["", "Neither"]]) {
    const id = `pick-${d}-${value || "none"}`;
    radios[value] = el("input", { type: "radio", name: `pick-${d}`, id, value, checked: value === "", onchange: () => picked() });
    choice.append(el("label", { for: id }, radios[value], ` ${label}`));
  }
  let draw = null;
  if (tuner.mine) {
    draw = el("button", { type: "button", class: "draw", text: "Draw", "aria-label": `Draw direction ${d}`, onclick: () => drawRows([d]) });
    choice.append(draw);
  }
  const looks = el("div", { class: "looks" });
  const item = el("li", { class: "tune-row", "data-direction": String(d) },
    el("fieldset", {}, el("legend", { text: `Direction ${d}` }), looks, choice));
  list.append(item);
  const entry = { item, looks, radios, draw, data: null, shown: {} };
  // A click on a drawn look picks it, as its radio does.
  looks.addEventListener("click", (event) => {
    const figure = event.target.closest("figure.look");
    const radio = figure && radios[figure.dataset.side];
    if (radio && !radio.disabled && !radio.checked) {
      radio.checked = true;
      picked();
    }
  });
  rows.set(d, entry);
  return entry;
}

function update(row) {
  const entry = rows.get(row.direction) || build(row);
  entry.data = row;
  for (const side of ["A", "B"]) {
    const job = row[side].job;
    const state = lookState(job);
    if (entry.shown[side] !== state) {
      const node = renderLook(side, row.direction, job);
      const old = entry.looks.querySelector(`figure[data-side="${side}"]`);
      if (old) old.replaceWith(node);
      else entry.looks.append(node);
      entry.shown[side] = state;
    }
    // Only a look that was drawn can be picked: the choice is between pictures seen.
    const pickable = Boolean(job && job.status === "completed");
    entry.radios[side].disabled = !pickable;
    if (!pickable && entry.radios[side].checked) entry.radios[""].checked = true;
  }
  if (entry.draw) entry.draw.hidden = drawn(row);
}

function show(data) {
  for (const row of data.rows) update(row);
  if (drawNext) {
    const left = data.rows.filter((row) => !drawn(row)).length;
    drawNext.hidden = left === 0;
  }
  const running = data.rows.some((row) => ["A", "B"].some((side) => row[side].job && !row[side].job.terminal));
  if (running) schedule();
}

let timer = null;
function schedule() {
  if (timer !== null) return;
  timer = setTimeout(async () => {
    timer = null;
    try {
      show(await call("GET", base));
    } catch (error) {
      drawError.textContent = error.message;
      schedule();
    }
  }, POLL_MS);
}

async function drawRows(directions) {
  drawError.textContent = "";
  const buttons = [drawNext, ...[...rows.values()].map((entry) => entry.draw)].filter(Boolean);
  for (const button of buttons) button.disabled = true;
  const which = `direction${directions.length > 1 ? "s" : ""} ${directions.join(", ")}`;
  if (drawStatus) drawStatus.textContent = `Asking for ${which}…`;
  try {
    show(await call("POST", `${base}/draw`, { directions }));
    if (drawStatus) drawStatus.textContent = `Drawing ${which}`;
  } catch (error) {
    drawError.textContent = error.message;
    if (drawStatus) drawStatus.textContent = "";
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

if (drawNext) {
  drawNext.addEventListener("click", () => {
    const next = [...rows.values()].filter((entry) => !drawn(entry.data)).slice(0, tuner.draw_max);
    if (next.length) drawRows(next.map((entry) => entry.data.direction));
  });
}

// The code of the picks, from the service (the codes are its to make).
let asking = 0;
async function picked() {
  const picks = {};
  for (const [direction, entry] of rows) {
    for (const side of ["A", "B"]) if (entry.radios[side].checked) picks[direction] = side;
  }
  const mine = ++asking;
  codeError.textContent = "";
  if (!Object.keys(picks).length) {
    codeOut.hidden = true;
    codeHint.textContent = "Pick a look in a row to make a code.";
    return;
  }
  try {
    const made = await call("POST", `${base}/code`, { picks });
    if (mine !== asking) return;
    codeText.textContent = made.parameter;
    useCode.href = `/imagine?prompt=${encodeURIComponent(`${tuner.prompt} ${made.parameter}`)}`;
    const count = Object.keys(picks).length;
    codeHint.textContent = `${count} look${count > 1 ? "s" : ""} picked:`;
    codeOut.hidden = false;
  } catch (error) {
    if (mine === asking) codeError.textContent = error.message;
  }
}

copyCode.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(codeText.textContent);
    copyCode.textContent = "Copied";
  } catch {
    // No clipboard outside HTTPS and localhost: the code is selected for the user to copy.
    window.getSelection().selectAllChildren(codeText);
    copyCode.textContent = "Selected: copy it";
  }
  setTimeout(() => { copyCode.textContent = "Copy"; }, 1500);
});

show(tuner);
