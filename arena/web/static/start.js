// The start page: one card per page the server lists (/pages.json, from the
// registered modes' declarations).
import { el, loadPages, header } from "./page.js";

const list = document.getElementById("pages");
header(document.getElementById("top"));
loadPages()
  .then((pages) => {
    list.replaceChildren(
      ...(pages.length
        ? pages.map((p) => el("li", {}, el("a", { href: p.path }, el("strong", {}, p.title)), el("p", {}, p.description)))
        : [el("li", { class: "empty" }, "This server has no game pages.")]),
    );
  })
  .catch((err) => list.replaceChildren(el("li", { class: "error" }, `Cannot load the list of pages: ${err.message}`)));
