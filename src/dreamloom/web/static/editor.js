// The region editor: paint a mask over the picture (brush, rectangle, eraser), zoom and pan,
// then submit Vary (Region) with the mask (white where painted, transparent elsewhere).
import { call } from "./feed.js";

const root = document.querySelector(".editor");
const jobId = root.dataset.job;
const remix = root.dataset.remix === "on";
const mask = document.getElementById("editor-mask");
const ctx = mask.getContext("2d");
const stage = root.querySelector(".stage");
const size = document.getElementById("brush-size");
const errors = document.getElementById("editor-error");
let tool = "brush";
let zoom = 1;
let start = null; // where a stroke or rectangle began, in picture pixels
let before = null; // the mask as it was when a rectangle began

function point(event) {
  const box = mask.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) / box.width) * mask.width,
    y: ((event.clientY - box.top) / box.height) * mask.height,
  };
}

function brushWidth() {
  // The slider is in screen pixels; the mask is in picture pixels.
  const box = mask.getBoundingClientRect();
  return (Number(size.value) * mask.width) / box.width;
}

function stroke(from, to) {
  ctx.globalCompositeOperation = tool === "erase" ? "destination-out" : "source-over";
  ctx.strokeStyle = "rgba(255, 255, 255, 1)";
  ctx.lineWidth = brushWidth();
  ctx.lineCap = "round";
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
}

mask.addEventListener("pointerdown", (event) => {
  mask.setPointerCapture(event.pointerId);
  start = point(event);
  if (tool === "rect") before = ctx.getImageData(0, 0, mask.width, mask.height);
  else stroke(start, start);
});
mask.addEventListener("pointermove", (event) => {
  if (!start) return;
  const here = point(event);
  if (tool === "rect") {
    ctx.putImageData(before, 0, 0);
    ctx.globalCompositeOperation = "source-over";
    ctx.fillStyle = "rgba(255, 255, 255, 1)";
    ctx.fillRect(start.x, start.y, here.x - start.x, here.y - start.y);
  } else {
    stroke(start, here);
    start = here;
  }
});
for (const name of ["pointerup", "pointercancel"]) mask.addEventListener(name, () => { start = null; });

for (const button of root.querySelectorAll("[data-tool]")) {
  button.addEventListener("click", () => {
    tool = button.dataset.tool;
    for (const other of root.querySelectorAll("[data-tool]")) other.setAttribute("aria-pressed", String(other === button));
  });
}

function setZoom(value) {
  zoom = Math.min(4, Math.max(1, value));
  stage.style.width = `${zoom * 100}%`;
}
root.querySelector('[data-do="zoom-in"]').addEventListener("click", () => setZoom(zoom * 1.5));
root.querySelector('[data-do="zoom-out"]').addEventListener("click", () => setZoom(zoom / 1.5));
root.querySelector('[data-do="clear"]').addEventListener("click", () => ctx.clearRect(0, 0, mask.width, mask.height));

function painted() {
  const pixels = ctx.getImageData(0, 0, mask.width, mask.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) return true;
  return false;
}

document.getElementById("editor-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!painted()) {
    errors.textContent = "Paint the area to change first";
    return;
  }
  const body = { button: "Vary (Region)", mask: mask.toDataURL("image/png") };
  if (remix) body.prompt = document.getElementById("editor-prompt").value;
  try {
    await call("POST", `/web/jobs/${encodeURIComponent(jobId)}/button`, body);
    window.location.assign("/imagine");
  } catch (error) {
    errors.textContent = error.message;
  }
});
