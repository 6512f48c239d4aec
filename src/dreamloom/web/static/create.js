// The Create page: the imagine bar over the live feed of the account's jobs.
import { Feed, call, csrf } from "./feed.js";

const form = document.getElementById("imagine-form");
const promptBox = document.getElementById("prompt");
const promptError = document.getElementById("prompt-error");
const promptHint = document.getElementById("prompt-hint");
const empty = document.getElementById("feed-empty");
const feed = new Feed(document.getElementById("feed"), {
  onError: (message) => { promptError.textContent = message; },
  onEmpty: (isEmpty) => { empty.hidden = !isEmpty; },
  onReuse: (prompt) => {
    promptBox.value = prompt;
    promptBox.dispatchEvent(new Event("input"));
    promptBox.focus();
  },
});

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
    for (const card of made.reverse()) feed.show(card, { prepend: true });
    // Only what was sent is cleared: the next prompt may be typed while this one is sent.
    if (promptBox.value.trim() === text) {
      promptBox.value = "";
      promptHint.textContent = "";
    }
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
    const verdict = await call("GET", `/web/prompt-check?prompt=${encodeURIComponent(promptBox.value)}`);
    if (mine !== checking) return;
    promptError.textContent = verdict.error || "";
    promptBox.setAttribute("aria-invalid", verdict.error ? "true" : "false");
    const count = verdict.prompts.length;
    promptHint.textContent = count > 1 ? `${count} jobs: ${verdict.prompts.join(" | ")}` : (verdict.prompts[0] || "");
  }, 250);
});

// Pictures: uploaded (picked or dropped), then their link goes into the prompt, or the
// picture opens in the editor.
const drop = document.getElementById("drop");
const fileInput = document.getElementById("upload-file");
const use = document.getElementById("upload-use");
const uploadStatus = document.getElementById("upload-status");

async function send(file) {
  const form = new FormData();
  form.append("file", file);
  uploadStatus.textContent = `Uploading ${file.name}…`;
  const response = await fetch("/web/uploads", {
    method: "POST", body: form, credentials: "same-origin", headers: { "X-CSRF-Token": csrf },
  });
  const data = await response.json();
  if (!response.ok) {
    uploadStatus.textContent = data.error || response.statusText;
    return;
  }
  uploadStatus.textContent = `Added ${file.name}`;
  const text = promptBox.value.trim();
  if (use.value === "edit") {
    window.location.assign(`/editor/${encodeURIComponent(data.id)}`);
    return;
  }
  promptBox.value = use.value === "image" ? `${data.link} ${text}` : `${text} --${use.value} ${data.link}`;
  promptBox.dispatchEvent(new Event("input"));
  promptBox.focus();
}

fileInput.addEventListener("change", () => {
  if (fileInput.files.length) send(fileInput.files[0]);
  fileInput.value = "";
});
for (const name of ["dragenter", "dragover"]) {
  drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
}
for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  if (event.dataTransfer.files.length) send(event.dataTransfer.files[0]);
});

// "Use this prompt" from Explore arrives as ?prompt=...
const offered = new URLSearchParams(window.location.search).get("prompt");
if (offered) {
  promptBox.value = offered;
  promptBox.dispatchEvent(new Event("input"));
}

for (const card of JSON.parse(document.getElementById("feed-data").textContent)) feed.show(card);
feed.listen();
