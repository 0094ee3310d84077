"""The HTML page around the report: style sheet, the table-sorting script, and small builders.

The page is self-contained: a Content-Security-Policy forbids every fetch except ``data:``
images, so a report that tried to load anything from the network would show it as a console
error (which the browser test fails on) rather than quietly depend on it.
"""

from __future__ import annotations

import base64
from html import escape

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dde5; --band: #f4f6f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 1.6rem; margin: 0.2rem 0 0.4rem; overflow-wrap: anywhere; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.6rem; padding-bottom: 0.25rem;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
p.note { color: var(--muted); margin: 0.3rem 0; }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.9rem; margin: 0.4rem 0; }
nav a { color: #2456b3; text-decoration: none; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px;
  margin: 0.8rem 0; padding: 0; }
.card { background: var(--band); border-radius: 8px; padding: 10px 12px; margin: 0;
  display: flex; flex-direction: column; justify-content: space-between; }
.card dt { font-size: 0.8rem; color: var(--muted); }
.card dd { margin: 0; font-size: 1.3rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.9rem; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right;
  white-space: nowrap; }
th { vertical-align: bottom; }
th:first-child, td:first-child { text-align: left; }
thead th { background: var(--band); position: sticky; top: 0; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th::after { content: " \\2195"; color: #a0a7b4; font-size: 0.8em; }
table.sortable thead th[aria-sort=ascending]::after { content: " \\2191"; color: var(--ink); }
table.sortable thead th[aria-sort=descending]::after { content: " \\2193"; color: var(--ink); }
tfoot td { font-weight: 600; border-top: 2px solid var(--ink); }
.stack { display: flex; height: 26px; border-radius: 4px; overflow: hidden; min-width: 200px;
  background: var(--band); }
.stack span { display: block; height: 100%; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.85rem; margin: 6px 0; }
.legend i { display: inline-block; width: 11px; height: 11px; margin-right: 5px;
  border-radius: 2px; vertical-align: -1px; }
td.bar { width: 55%; min-width: 200px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 520px), 1fr));
  gap: 12px; margin-top: 10px; }
figure { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 6px; }
figure.wide { grid-column: 1 / -1; }
figure img { display: block; width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: var(--muted); padding: 4px 4px 0; }
section.layer { border-top: 3px solid var(--band); margin-top: 1.6rem; }
@media (max-width: 600px) {
  main { padding: 10px 10px 32px; }
  body { font-size: 14px; }
  .card dd { font-size: 1.1rem; }
}
"""

SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, column) {
    th.tabIndex = 0;
    function sort() {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-value");
        var y = b.cells[column].getAttribute("data-value");
        var nx = Number(x), ny = Number(y);
        var order = isNaN(nx) || isNaN(ny) ? String(x).localeCompare(String(y)) : nx - ny;
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
  });
});
"""


def page(title: str, body: str) -> str:
    """A whole HTML document around ``body`` (already escaped HTML)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="deepzip report">\n<title>{escape(title)}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n"
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def image(png: bytes, alt: str, caption: str = "", wide: bool = False) -> str:
    """A figure with a PNG inlined as a data URI; ``wide`` spans the whole row of a grid."""
    data = base64.b64encode(png).decode("ascii")
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    cls = ' class="wide"' if wide else ""
    return (
        f'<figure{cls}><img src="data:image/png;base64,{data}" alt="{escape(alt)}">{text}</figure>'
    )


def cell(text: str, value: object = None, tag: str = "td") -> str:
    """A table cell showing ``text``; ``value`` (the exact number) goes in ``data-value`` for
    sorting and for machines reading the page."""
    attribute = "" if value is None else f' data-value="{escape(str(value))}"'
    return f"<{tag}{attribute}>{escape(text)}</{tag}>"


def table(
    headers: list[str], rows: list[list[str]], footer: list[str] | None = None, **attrs: str
) -> str:
    """A table from already-built cells; ``attrs`` become attributes (``cls`` is ``class``)."""
    attributes = "".join(
        f' {"class" if k == "cls" else k.replace("_", "-")}="{escape(v)}"' for k, v in attrs.items()
    )
    head = "".join(f'<th scope="col">{escape(h).replace(chr(10), "<br>")}</th>' for h in headers)
    body = "".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    foot = f"<tfoot><tr>{''.join(footer)}</tr></tfoot>" if footer else ""
    return (
        f'<div class="scroll"><table{attributes}><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody>{foot}</table></div>"
    )
