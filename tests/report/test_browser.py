"""The report in a real browser (headless Chromium): no console error, no broken image, nothing
fetched from outside, the table sorts, a screenshot at 1280 px, no sideways scrolling at 400 px.

A checking script is put at the top of a copy of the page: it records uncaught errors, failed
loads, policy violations and ``console.error`` calls, then after the load event checks every image
(``naturalWidth > 0``) and sorts the layer table, and writes what it saw into the DOM, which
``--dump-dom`` prints. Chromium's own console log (stderr) is searched as well. A deliberately
broken page shows that the check fails when it should.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess

import pytest

from deepzip.report.html import render_report

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="headless Chromium not found (Debian: apt-get install chromium); "
        "the report's browser checks are skipped",
    ),
]

CHECK = """<script>
(function () {
  var problems = [];
  window.addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && t.tagName) {
      problems.push("failed to load <" + t.tagName.toLowerCase() + "> "
        + String(t.src || t.href || "").slice(0, 60));
    } else {
      problems.push("uncaught: " + e.message);
    }
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) {
    problems.push("blocked by the page's policy: " + e.blockedURI);
  });
  var consoleError = console.error;
  console.error = function () {
    problems.push("console.error: " + Array.prototype.join.call(arguments, " "));
    consoleError.apply(console, arguments);
  };
  window.addEventListener("load", function () {
    Array.prototype.forEach.call(document.images, function (img) {
      if (!img.complete || img.naturalWidth === 0) { problems.push("broken image: " + img.alt); }
    });
    var sorts = [];
    var table = document.getElementById("layer-table");
    if (table) {
      var th = table.tHead.rows[0].cells[3];  /* weights */
      for (var i = 0; i < 2; i++) {
        th.click();
        sorts.push(Array.prototype.map.call(table.tBodies[0].rows, function (r) {
          return r.cells[0].textContent;
        }));
      }
    }
    var out = document.createElement("pre");
    out.id = "browser-check";
    out.textContent = JSON.stringify({
      problems: problems,
      images: document.images.length,
      sorts: sorts,
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth
    });
    document.body.appendChild(out);
  });
})();
</script>"""

CONSOLE_ERROR = re.compile(r"CONSOLE.*(Uncaught|Refused|Failed to load|Not allowed)|ERROR:CONSOLE")


def open_in_chromium(page: str, tmp_path, width: int = 1280, screenshot=None) -> dict:
    """Load ``page`` (with the checking script) in headless Chromium; what the script saw, plus
    Chromium's console errors under ``console``."""
    path = tmp_path / f"page-{width}.html"
    path.write_text(page.replace("<head>", "<head>" + CHECK, 1))
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={tmp_path / f'profile-{width}'}",
        f"--window-size={width},2000",
        "--virtual-time-budget=10000",
        "--enable-logging=stderr",
        "--v=0",
    ]
    if screenshot is not None:
        command.append(f"--screenshot={screenshot}")
    else:
        command.append("--dump-dom")
    done = subprocess.run([*command, path.as_uri()], capture_output=True, text=True, timeout=120)
    console = [line for line in done.stderr.splitlines() if CONSOLE_ERROR.search(line)]
    if screenshot is not None:
        return {"console": console}
    found = re.search(r'<pre id="browser-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page never finished loading: {done.stderr[-2000:]}"
    return {**json.loads(html.unescape(found.group(1))), "console": console}


@pytest.fixture(scope="module")
def report_page(small_run):
    return render_report(small_run.dzip, work_dir=small_run.work_dir, sim=True)


def test_report_opens_without_errors_and_its_table_sorts(report_page, small_run, tmp_path):
    seen = open_in_chromium(report_page, tmp_path)
    assert seen["problems"] == [] and seen["console"] == []
    assert seen["images"] == 5 * len(small_run.layers) + 1  # per layer, and the stages
    ascending, descending = seen["sorts"]
    weights = {"0": 6 * 9, "3": 216 * 48, "5": 48 * 10}
    assert ascending == sorted(weights, key=weights.get)
    assert descending == ascending[::-1]


def test_screenshot_at_1280_px(report_page, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    seen = open_in_chromium(report_page, tmp_path, screenshot=shot)
    assert seen["console"] == []
    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50  # text, bars and figures, not a blank page


def test_no_sideways_scrolling_on_a_phone(report_page, tmp_path):
    seen = open_in_chromium(report_page, tmp_path, width=400)
    assert seen["problems"] == []
    assert seen["scrollWidth"] <= seen["innerWidth"]


def test_the_check_catches_a_broken_page(tmp_path):
    broken = (
        "<!DOCTYPE html><html><head><title>broken</title></head><body>"
        '<img src="data:image/png;base64,AAAA" alt="bad data">'
        "<script>noSuchFunction();</script></body></html>"
    )
    seen = open_in_chromium(broken, tmp_path)
    assert any("broken image: bad data" in p for p in seen["problems"])
    assert any("noSuchFunction" in p for p in seen["problems"])


@pytest.mark.parametrize("network", ["lenet-300-100", "lenet-5"])
def test_committed_reports_open_without_errors(network, tmp_path):
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "results" / f"{network}.html"
    if not page.is_file():
        pytest.skip(f"{page} is not in this checkout")
    seen = open_in_chromium(page.read_text(), tmp_path)
    assert seen["problems"] == [] and seen["console"] == []
    assert seen["images"] > 0
