"""The HTML report: its numbers are ``deepzip inspect --json``'s, every layer is there with its
figures, it loads nothing from outside, and the command behaves like the others."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from deepzip.container import dzip_sizes, read_dzip
from deepzip.report.html import render_report, write_report
from deepzip.report.streams import layer_streams
from deepzip.sim import SimConfig, simulate_file

TABLE_KEYS = [
    "name",
    "kind",
    "shape",
    "weights",
    "kept",
    "weight_bits_pq",
    "weight_bits_pqh",
    "index_bits_pq",
    "index_bits_pqh",
    "rate_pq",
    "rate_pqh",
    "bytes_pqh",
]


class Page(HTMLParser):
    """The parts of the report the tests read: tables by id (rows of data-value cells, footer
    row apart), summary cards by data-key, layer sections, images and every link."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[list[str | None]]]] = {}
        self.cards: dict[str, str] = {}
        self.layers: list[str] = []
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.images_in_layer: dict[str, int] = {}
        self._table: str | None = None
        self._part = "tbody"
        self._row: list[str | None] | None = None
        self._layer: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if key in a:
                self.links.append(a[key])
        if tag == "table":
            self._table = a.get("id", f"table-{len(self.tables)}")
            self.tables[self._table] = {"tbody": [], "tfoot": []}
        elif tag in ("tbody", "tfoot", "thead"):
            self._part = tag
        elif tag == "tr" and self._table and self._part != "thead":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append(a.get("data-value"))
        elif tag == "dd" and "data-key" in a:
            self.cards[a["data-key"]] = a["data-value"]
        elif tag == "section" and "data-layer" in a:
            self._layer = a["data-layer"]
            self.layers.append(self._layer)
            self.images_in_layer[self._layer] = 0
        elif tag == "img":
            self.images.append(a)
            if self._layer is not None:
                self.images_in_layer[self._layer] += 1

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None:
            self.tables[self._table][self._part].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "section":
            self._layer = None


def _stage_rows(page: Page) -> list[list[str | None]]:
    """The rows of the one table of pipeline stages (its first row is the baseline)."""
    tables = [t["tbody"] for t in page.tables.values() if t["tbody"][:1]]
    found = [rows for rows in tables if rows[0][0] == "baseline"]
    assert len(found) == 1
    return found[0]


def deepzip(*args):
    return subprocess.run(
        [sys.executable, "-m", "deepzip", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _check_row(cells: list[str | None], expected: dict) -> None:
    for key, value in zip(TABLE_KEYS, cells):
        want = expected[key]
        if key == "shape":
            assert value == "x".join(map(str, want))
        elif isinstance(want, str):
            assert value == want, key
        else:  # exact: the page holds Python's repr of the same float
            assert float(value) == want, (key, value, want)


@pytest.fixture(scope="module")
def page_with_work_dir(small_run):
    return Page(render_report(small_run.dzip, work_dir=small_run.work_dir))


def test_numbers_equal_inspect_json(small_run, page_with_work_dir):
    result = deepzip("inspect", small_run.dzip, "--json")
    assert result.returncode == 0, result.stderr
    inspected = json.loads(result.stdout)
    table = page_with_work_dir.tables["layer-table"]
    assert len(table["tbody"]) == len(inspected["layers"]) == 3
    for cells, expected in zip(table["tbody"], inspected["layers"]):
        _check_row(cells, expected)
    assert len(table["tfoot"]) == 1
    _check_row(table["tfoot"][0], inspected["total"])
    cards = page_with_work_dir.cards
    assert int(cards["file_bytes"]) == inspected["file_bytes"] == small_run.dzip.stat().st_size
    assert int(cards["dense_bytes"]) == inspected["dense_bytes"]
    assert float(cards["ratio"]) == inspected["ratio"]
    assert float(cards["kept"]) == inspected["total"]["kept"]
    assert float(cards["rate_pq"]) == inspected["total"]["rate_pq"]
    assert float(cards["rate_pqh"]) == inspected["total"]["rate_pqh"]


def test_every_layer_has_its_section_and_figures(small_run, page_with_work_dir, capsys):
    page = page_with_work_dir
    assert page.layers == small_run.layers
    # Codes and gaps, codebook, sparsity, load balance, and (work directory) before/after pruning.
    assert all(page.images_in_layer[name] == 5 for name in small_run.layers)
    without = Page(render_report(small_run.dzip))
    assert capsys.readouterr() == ("", "")  # the library prints nothing
    assert all(without.images_in_layer[name] == 4 for name in small_run.layers)
    for image in page.images:
        assert image["src"].startswith("data:image/png;base64,")
        assert image["alt"]


def test_page_loads_nothing_from_outside(page_with_work_dir):
    page = page_with_work_dir
    assert page.links
    for link in page.links:
        assert link.startswith(("data:image/png;base64,", "#")), link[:80]


def test_stages_come_from_the_work_directory(small_run, page_with_work_dir):
    rows = _stage_rows(page_with_work_dir)
    assert [r[0] for r in rows] == [s.stage for s in small_run.stages]
    assert [float(r[1]) for r in rows] == [s.error for s in small_run.stages]
    assert [float(r[2]) for r in rows] == [s.weights_kept for s in small_run.stages]
    # The last checkpoint's error is the summary's metric.
    assert float(page_with_work_dir.cards["error"]) == small_run.stages[-1].error


def test_a_reproduce_result_gives_the_engine_error(small_run, tmp_path):
    point = {"file": f"somewhere/{small_run.dzip.name}", "error": 0.0123, "stages": []}
    other = {"file": "somewhere/other.dzip", "error": 0.5, "stages": []}
    result = tmp_path / "result.json"
    sensitivity = {"baseline": 0.9, "ratios": [0, 0.5], "accuracy": {"0": [0.9, 0.8]}}
    result.write_text(
        json.dumps({"points": {"beyond": other, "paper": point}, "sensitivity": sensitivity})
    )
    page = Page(render_report(small_run.dzip, work_dir=small_run.work_dir, result_json=result))
    assert float(page.cards["error"]) == 0.0123  # the JSON's, over the checkpoint's
    # A seeded run: the point's "error" is the seeds' mean, the file's own is "file_error".
    seeded = tmp_path / "seeded.json"
    seeded.write_text(json.dumps({"points": {"paper": {**point, "file_error": 0.0111}}}))
    seeded_page = render_report(small_run.dzip, work_dir=small_run.work_dir, result_json=seeded)
    assert float(Page(seeded_page).cards["error"]) == 0.0111
    assert "sensitivity curves" in [i["alt"] for i in page.images]
    stranger = tmp_path / "stranger.json"
    stranger.write_text(json.dumps({"points": {"paper": other}}))
    with pytest.raises(ValueError, match=small_run.dzip.name):
        render_report(small_run.dzip, result_json=stranger)


def test_streams_are_the_files_huffman_coded_bits(small_run):
    sizes = {layer.name: layer for layer in dzip_sizes(small_run.dzip).layers}
    for streams in layer_streams(small_run.dzip):
        layer = sizes[streams.name]
        assert len(streams.codes) == len(streams.gaps) == layer.n_entries
        # Kraft: the stored lengths are a code; a stream is the sum of its symbols' lengths.
        used = streams.code_lengths[streams.code_lengths > 0].astype(float)
        assert math.fsum(2.0**-used) <= 1.0
        assert int(streams.code_lengths[streams.codes].sum()) == layer.huffman_code_bits
        assert int(streams.gap_lengths[streams.gaps].sum()) == layer.huffman_index_bits
        assert int(np.count_nonzero(streams.codes == 0)) == layer.n_fillers


def test_sim_section_equals_the_simulator(small_run):
    page = Page(render_report(small_run.dzip, sim=True))
    rows = page.tables["sim-table"]["tbody"]
    expected = simulate_file(read_dzip(small_run.dzip), SimConfig(pes=64))
    assert [r[0] for r in rows] == [r.name for r in expected.layers]
    assert [int(r[3]) for r in rows] == [r.cycles for r in expected.layers]
    assert "sim-table" not in Page(render_report(small_run.dzip)).tables


def test_write_report_default_path_is_beside_the_file(small_run, tmp_path):
    dzip = tmp_path / "model.dzip"
    dzip.write_bytes(small_run.dzip.read_bytes())
    written = write_report(dzip)
    assert written == tmp_path / "model.html"
    assert written.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.dzip", "model.html"]


def test_command_exit_codes(small_run, tmp_path):
    out = tmp_path / "r.html"
    result = deepzip("report", small_run.dzip, "--work-dir", small_run.work_dir, "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    assert Page(out.read_text()).layers == small_run.layers
    bad = tmp_path / "bad.dzip"
    bad.write_bytes(b"not a dzip file")
    result = deepzip("report", bad)
    assert result.returncode == 1
    assert str(bad) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "bad.html").exists()
    assert deepzip("report", small_run.dzip, "--no-such-option").returncode == 2


def test_a_work_directory_without_a_run_is_refused(small_run, tmp_path):
    with pytest.raises(ValueError, match="no pipeline run"):
        render_report(small_run.dzip, work_dir=tmp_path)


def test_a_reproduce_work_directory_picks_the_files_operating_point(small_run, tmp_path):
    import shutil

    from safetensors.torch import save_file

    from deepzip.pipeline import read_checkpoint

    work = tmp_path / "work"
    for point in ("paper", "beyond"):
        shutil.copytree(small_run.work_dir, work / point)
    # The beyond run stops after pruning: its stages tell the two runs apart.
    (work / "beyond" / "quantize.pt").unlink()
    baseline = read_checkpoint(small_run.work_dir / "baseline.pt").state_dict
    save_file({k: v.contiguous() for k, v in baseline.items()}, work / "baseline.safetensors")
    sensitivity = {"baseline": 0.9, "ratios": [0.0, 0.9], "accuracy": {"3": [0.9, 0.5]}}
    (work / "sensitivity.json").write_text(json.dumps(sensitivity))
    for name, stages in (("small.dzip", 3), ("small-beyond.dzip", 2)):
        dzip = tmp_path / name
        dzip.write_bytes(small_run.dzip.read_bytes())
        page = Page(render_report(dzip, work_dir=work))
        stage_rows = _stage_rows(page)
        assert len(stage_rows) == stages
        assert "sensitivity curves" in [i["alt"] for i in page.images]
        assert all(page.images_in_layer[n] == 5 for n in small_run.layers)
