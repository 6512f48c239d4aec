// Organize: the account's images as cards; select some, then act on them all at once.
import { Feed, call } from "./feed.js";

const status = document.getElementById("bulk-status");
const empty = document.getElementById("feed-empty");
const feed = new Feed(document.getElementById("feed"), {
  selectable: true,
  onError: (message) => { status.textContent = message; },
  onEmpty: (isEmpty) => { empty.hidden = !isEmpty; },
});

const DONE = {
  like: "Liked", unlike: "Unliked", hide: "Hidden", unhide: "Shown again",
  publish: "Published", unpublish: "Unpublished", delete: "Deleted",
};

for (const button of document.querySelectorAll(".bulk [data-action]")) {
  button.addEventListener("click", async () => {
    const ids = feed.selected();
    const action = button.dataset.action;
    if (!ids.length) {
      status.textContent = "Select at least one image";
      return;
    }
    if (action === "download") {
      const query = ids.map((id) => `ids=${encodeURIComponent(id)}`).join("&");
      window.location.assign(`/web/archive.zip?${query}`);
      return;
    }
    if (action === "delete" && !window.confirm(`Delete ${ids.length} job(s) and their images for good?`)) return;
    try {
      const result = await call("POST", "/web/jobs/bulk", { ids, action });
      status.textContent = `${DONE[action]}: ${result.changed}`;
      // What no longer matches the filters leaves the page; the rest is read again.
      if (["delete", "hide", "unhide"].includes(action)) {
        for (const id of ids) feed.list.querySelector(`[data-job="${CSS.escape(id)}"]`)?.remove();
      } else {
        await Promise.all(ids.map((id) => feed.refresh(id)));
      }
    } catch (error) {
      status.textContent = error.message;
    }
  });
}

for (const card of JSON.parse(document.getElementById("feed-data").textContent)) feed.show(card);
feed.listen();
