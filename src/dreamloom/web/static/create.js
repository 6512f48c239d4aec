// The Create page: the imagine bar, and a live feed of the account's jobs.
// Cards come as JSON from /web (the same shape for the first render and every update);
// progress and previews arrive over server-sent events from /web/events.

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const feed = document.getElementById("feed");
const empty = document.getElementById("feed-empty");
const form = document.getElementById("imagine-form");
const promptBox = document.getElementById("prompt");
const promptError = document.getElementById("prompt-error");
const promptHint = document.getElementById("prompt-hint");
const cards = new Map(); // job id -> its latest card

// Buttons that need more than a press (a mask drawn in the editor) are not offered here yet.
const NEEDS_EDITOR = new Set(["Vary (Region)"]);

async function call(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    window.location.assign("/signin?next=" + encodeURIComponent(window.location.pathname));
    throw new Error("Signed out");
  }
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter(Boolean));
  return node;
}

function copyButton(label, value) {
  return el("button", {
    type: "button", class: "quiet", text: label,
    onclick: async (event) => {
      await navigator.clipboard.writeText(String(value));
      event.target.textContent = "Copied";
      setTimeout(() => { event.target.textContent = label; }, 1200);
    },
  });
}

function statusText(card) {
  if (card.status === "completed") return card.caption || "Done";
  if (card.status === "failed" || card.status === "moderated") return card.error || card.status;
  if (card.status === "created") return "Waiting to start";
  return `${card.progress}%`;
}

function render(card) {
  const item = el("li", { class: `card ${card.status}`, "data-job": card.id, "data-status": card.status });
  item.append(el("p", { class: "prompt", text: card.prompt || "(no text)" }));
  const picture = card.image || (card.preview ? { url: card.preview, width: 0, height: 0 } : null);
  const frame = el("div", { class: "frame" });
  if (picture) {
    frame.append(el("img", {
      src: picture.url, alt: card.prompt || "generated image",
      width: picture.width || null, height: picture.height || null, decoding: "async",
    }));
  } else {
    frame.append(el("div", { class: "placeholder", "aria-hidden": "true" }));
  }
  item.append(frame);
  const status = el("div", { class: "status" });
  if (!card.terminal) {
    status.append(el("progress", { max: "100", value: String(card.progress), "aria-label": "Progress" }));
  }
  status.append(el("span", { class: "state", role: card.terminal ? null : "status", text: statusText(card) }));
  item.append(status);
  for (const note of card.notes) item.append(el("p", { class: "note", text: note }));
  const buttons = el("div", { class: "buttons", role: "group", "aria-label": "Actions" });
  for (const label of card.buttons) {
    if (NEEDS_EDITOR.has(label)) continue;
    buttons.append(el("button", { type: "button", "data-button": label, text: label, onclick: () => press(card, label) }));
  }
  if (!card.terminal) {
    buttons.append(el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => cancel(card) }));
  }
  item.append(buttons);
  const meta = el("div", { class: "meta" });
  if (card.prompt) meta.append(copyButton("Copy prompt", card.prompt));
  if (card.seed !== null) meta.append(copyButton("Copy seed", card.seed));
  meta.append(copyButton("Copy job id", card.id));
  if (card.image) meta.append(el("a", { href: card.image.url, download: `${card.id}.png`, text: "Download" }));
  item.append(meta);
  return item;
}

function show(card, { prepend = false } = {}) {
  cards.set(card.id, card);
  const node = render(card);
  const existing = feed.querySelector(`[data-job="${CSS.escape(card.id)}"]`);
  if (existing) existing.replaceWith(node);
  else if (prepend) feed.prepend(node);
  else feed.append(node);
  empty.hidden = true;
}

async function refresh(id) {
  show(await call("GET", `/web/jobs/${encodeURIComponent(id)}`), { prepend: !cards.has(id) });
}

async function press(card, label) {
  const body = { button: label };
  if (label === "Custom Zoom") {
    const zoomed = window.prompt("Prompt for the zoom (with --zoom 1 to 2)", `${card.prompt} --zoom 1.5`);
    if (zoomed === null) return;
    body.prompt = zoomed;
  }
  try {
    show(await call("POST", `/web/jobs/${encodeURIComponent(card.id)}/button`, body), { prepend: true });
  } catch (error) {
    promptError.textContent = error.message;
  }
}

async function cancel(card) {
  try {
    show(await call("POST", `/web/jobs/${encodeURIComponent(card.id)}/cancel`, {}));
  } catch (error) {
    promptError.textContent = error.message;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = promptBox.value.trim();
  if (!text) {
    promptError.textContent = "Write a prompt first";
    return;
  }
  promptError.textContent = "";
  try {
    const made = await call("POST", "/web/imagine", { prompt: text });
    for (const card of made.reverse()) show(card, { prepend: true });
    promptBox.value = "";
    promptHint.textContent = "";
  } catch (error) {
    promptError.textContent = error.message;
  }
});

promptBox.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});

// Validation as you type, with the prompt parser's own words.
let checking = 0;
promptBox.addEventListener("input", () => {
  const mine = ++checking;
  setTimeout(async () => {
    if (mine !== checking) return;
    const text = promptBox.value;
    const verdict = await call("GET", `/web/prompt-check?prompt=${encodeURIComponent(text)}`);
    if (mine !== checking) return;
    promptError.textContent = verdict.error || "";
    promptBox.setAttribute("aria-invalid", verdict.error ? "true" : "false");
    const count = verdict.prompts.length;
    promptHint.textContent = count > 1 ? `${count} jobs: ${verdict.prompts.join(" | ")}` : (verdict.prompts[0] || "");
  }, 250);
});

function listen() {
  const source = new EventSource("/web/events");
  // After a reconnect (a server restart) what was missed is read again.
  source.addEventListener("open", () => {
    for (const card of cards.values()) if (!card.terminal) refresh(card.id);
  });
  source.addEventListener("message", (message) => {
    const event = JSON.parse(message.data);
    const card = cards.get(event.job);
    if (!card || event.terminal) {
      refresh(event.job);
      return;
    }
    show({ ...card, status: event.status, progress: event.progress, preview: event.preview || card.preview });
  });
}

for (const card of JSON.parse(document.getElementById("feed-data").textContent)) show(card);
listen();
