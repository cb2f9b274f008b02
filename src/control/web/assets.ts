/**
 * The web view's stylesheet and page script, served from the package itself (no CDN, no
 * external fonts): /assets/style.css and /assets/app.js. The script only updates what the
 * server rendered: it listens to the server-sent events of /events and replaces each
 * table's rows with the ones sent (text through textContent, never as HTML).
 */

export const STYLE_CSS = `:root { color-scheme: light dark; font-family: system-ui, sans-serif; font-size: 14px; }
body { margin: 0 1.5rem 2rem; }
header { border-bottom: 1px solid #8884; margin-bottom: 1rem; }
h1 { font-size: 1.4rem; margin: 0.8rem 0 0.3rem; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 0.4rem; }
nav a { margin-right: 1rem; }
nav a[aria-current="page"] { font-weight: bold; text-decoration: none; }
#live { color: #888; margin-left: 1rem; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.2rem 0.8rem 0.2rem 0; border-bottom: 1px solid #8882; white-space: nowrap; }
th { font-weight: 600; }
tr.empty td { color: #888; font-style: italic; }
svg.spark { vertical-align: middle; color: #2a7ae2; }
`;

export const APP_JS = `"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  var page = document.body.getAttribute("data-page");
  var live = document.getElementById("live");
  var info = document.getElementById("info");

  function sparkline(c) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("width", "120");
    svg.setAttribute("height", "24");
    svg.setAttribute("viewBox", "0 0 120 24");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", c.spark.length === 0 ? "no samples yet" : c.spark.length + " samples");
    var line = document.createElementNS(SVG, "polyline");
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "currentColor");
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("points", c.points);
    svg.appendChild(line);
    return svg;
  }

  function row(cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) {
      var td = document.createElement("td");
      if (typeof c === "string") td.textContent = c;
      else td.appendChild(sparkline(c));
      tr.appendChild(td);
    });
    return tr;
  }

  function emptyRow(t) {
    var tr = document.createElement("tr");
    tr.className = "empty";
    var td = document.createElement("td");
    td.colSpan = t.columns.length;
    td.textContent = t.empty;
    tr.appendChild(td);
    return tr;
  }

  function update(model) {
    info.textContent = model.info;
    Object.keys(model.tables).forEach(function (id) {
      var table = document.getElementById(id);
      var body = table && table.tBodies[0];
      if (!body) return;
      var t = model.tables[id];
      body.replaceChildren.apply(body, t.rows.length === 0 ? [emptyRow(t)] : t.rows.map(row));
    });
    live.textContent = "live, updated " + new Date().toLocaleTimeString();
  }

  if (!window.EventSource) return;
  live.textContent = "connecting";
  var events = new EventSource("/events?page=" + encodeURIComponent(page));
  events.addEventListener("state", function (ev) {
    update(JSON.parse(ev.data));
  });
  events.addEventListener("error", function () {
    live.textContent = "reconnecting";
  });
})();
`;
