// A live feed of job cards: rendering, buttons, copy/download, cancel, likes, and the live
// events of the account's jobs over server-sent events (/web/events).
// Cards come as JSON from /web (the same shape for the first render and every update).

export const csrf = document.querySelector('meta[name="csrf-token"]').content;

// Vary (Region) opens the editor, where the mask is drawn.
const EDITOR_BUTTONS = new Set(["Vary (Region)"]);
// With Remix on, these ask for the prompt first (the API's "remix" buttons).
const REMIX_BUTTONS = new Set([
  "V1", "V2", "V3", "V4", "Vary (Strong)", "Vary (Subtle)", "⬅️", "➡️", "⬆️", "⬇️", "🔄",
]);
const remixOn = document.body.dataset.remix === "on";

export async function call(method, url, body) {
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

export function el(tag, attrs = {}, ...children) {
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

export class Feed {
  // selectable: a checkbox per card (Organize); readonly: another's card, no actions but
  // like and "Use this prompt" (Explore).
  constructor(list, { onError, onEmpty, onReuse, selectable = false, readonly = false } = {}) {
    this.list = list;
    this.cards = new Map();
    this.selectable = selectable;
    this.readonly = readonly;
    this.onError = onError || ((message) => window.alert(message));
    this.onEmpty = onEmpty || (() => {});
    // Reusing a prompt: into the imagine bar on Create, through ?prompt= from elsewhere.
    this.onReuse = onReuse || ((prompt) => window.location.assign(`/imagine?prompt=${encodeURIComponent(prompt)}`));
  }

  render(card) {
    const item = el("li", { class: `card ${card.status}`, "data-job": card.id, "data-status": card.status });
    if (this.selectable) {
      const box = el("input", { type: "checkbox", class: "select", value: card.id, id: `select-${card.id}` });
      item.append(el("label", { class: "select-label", for: `select-${card.id}` }, box, el("span", { class: "visually-hidden", text: `Select ${card.prompt}` })));
    }
    item.append(el("p", { class: "prompt", text: card.prompt || "(no text)" }));
    const badges = [];
    if (card.visibility === "stealth") badges.push("Unpublished");
    if (card.hidden) badges.push("Hidden");
    if (card.owner && this.readonly) badges.push(`by ${card.owner}`);
    if (badges.length) item.append(el("p", { class: "badges", text: badges.join(" · ") }));
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
    for (const label of this.readonly ? [] : card.buttons) {
      if (EDITOR_BUTTONS.has(label)) {
        buttons.append(el("a", { class: "button", href: `/editor/${encodeURIComponent(card.id)}`, text: label }));
      } else {
        buttons.append(el("button", { type: "button", "data-button": label, text: label, onclick: () => this.press(card, label) }));
      }
    }
    if (!card.terminal && !this.readonly) {
      buttons.append(el("button", { type: "button", class: "quiet", text: "Cancel", onclick: () => this.cancel(card) }));
    }
    if (this.readonly && card.prompt) {
      buttons.append(el("a", { class: "button", href: `/imagine?prompt=${encodeURIComponent(card.prompt)}`, text: "Use this prompt" }));
    }
    item.append(buttons);
    const meta = el("div", { class: "meta" });
    if (card.status === "completed") {
      meta.append(el("button", {
        type: "button", class: "quiet like", "aria-pressed": card.liked ? "true" : "false",
        text: `${card.liked ? "♥ Liked" : "♡ Like"}${card.likes ? ` (${card.likes})` : ""}`,
        onclick: () => this.like(card),
      }));
    }
    if (card.prompt && !this.readonly) {
      meta.append(el("button", { type: "button", class: "quiet", text: "Reuse prompt", onclick: () => this.onReuse(card.prompt) }));
    }
    if (card.prompt) meta.append(copyButton("Copy prompt", card.prompt));
    if (card.seed !== null) meta.append(copyButton("Copy seed", card.seed));
    if (!this.readonly) meta.append(copyButton("Copy job id", card.id));
    if (card.image) meta.append(el("a", { href: card.image.url, download: `${card.id}.png`, text: "Download" }));
    item.append(meta);
    return item;
  }

  show(card, { prepend = false } = {}) {
    this.cards.set(card.id, card);
    const node = this.render(card);
    const existing = this.list.querySelector(`[data-job="${CSS.escape(card.id)}"]`);
    if (existing) existing.replaceWith(node);
    else if (prepend) this.list.prepend(node);
    else this.list.append(node);
    this.onEmpty(false);
  }

  async refresh(id) {
    this.show(await call("GET", `/web/jobs/${encodeURIComponent(id)}`), { prepend: !this.cards.has(id) });
  }

  selected() {
    return [...this.list.querySelectorAll("input.select:checked")].map((box) => box.value);
  }

  async press(card, label) {
    const body = { button: label };
    if (remixOn && REMIX_BUTTONS.has(label)) {
      const edited = window.prompt("Remix: edit the prompt", card.prompt);
      if (edited === null) return;
      body.prompt = edited;
    } else if (label === "Custom Zoom") {
      const zoomed = window.prompt("Prompt for the zoom (with --zoom 1 to 2)", `${card.prompt} --zoom 1.5`);
      if (zoomed === null) return;
      body.prompt = zoomed;
    }
    try {
      this.show(await call("POST", `/web/jobs/${encodeURIComponent(card.id)}/button`, body), { prepend: true });
    } catch (error) {
      this.onError(error.message);
    }
  }

  async cancel(card) {
    try {
      this.show(await call("POST", `/web/jobs/${encodeURIComponent(card.id)}/cancel`, {}));
    } catch (error) {
      this.onError(error.message);
    }
  }

  async like(card) {
    try {
      const action = card.liked ? "unlike" : "like";
      await call("POST", "/web/jobs/bulk", { ids: [card.id], action });
      const likes = card.likes + (card.liked ? -1 : 1);
      this.show({ ...card, liked: !card.liked, likes });
    } catch (error) {
      this.onError(error.message);
    }
  }

  // Live events; after a reconnect (a server restart) what was missed is read again.
  listen() {
    const source = new EventSource("/web/events");
    source.addEventListener("open", () => {
      for (const card of this.cards.values()) if (!card.terminal) this.refresh(card.id);
    });
    source.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      const card = this.cards.get(event.job);
      if (!card || event.terminal) {
        this.refresh(event.job);
        return;
      }
      this.show({ ...card, status: event.status, progress: event.progress, preview: event.preview || card.preview });
    });
    return source;
  }
}
