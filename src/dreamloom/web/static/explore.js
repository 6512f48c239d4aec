// Explore: everyone's public images; like them, or take a prompt to the Create page.
import { Feed } from "./feed.js";

const errors = document.getElementById("explore-error");
const empty = document.getElementById("feed-empty");
const feed = new Feed(document.getElementById("feed"), {
  readonly: true,
  onError: (message) => { errors.textContent = message; },
  onEmpty: (isEmpty) => { empty.hidden = !isEmpty; },
});
for (const card of JSON.parse(document.getElementById("feed-data").textContent)) feed.show(card);
