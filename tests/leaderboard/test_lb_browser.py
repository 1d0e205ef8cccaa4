"""index.html in a real headless browser (Debian's chromium through selenium and chromedriver).

Two versions are built from a tiny real run (linear model on digits, FGSM and PGD at two radii,
the margin probe, and a small task from a throwaway plugin that returns a PNG grid declaring its
two rows, a 1,001-step loss curve and '@' columns; v2 with one row moved and flagged, the
suite's description, claims and a compare page), then the pages are opened from disk: no
console errors, every image decodes, the rows open in rank order and clicking a header sorts,
typing in the search box and the filters hide rows and columns, a flag badge jumps to its
explanation, the grid labels sit beside their image rows, at 400 px every metric cell can be
scrolled into view with the model still visible, and the compare page lists the changed rows.

The browser is installed when missing (``apt-get install chromium chromium-driver`` when
running as root, as CI does); the test fails rather than skips when that is impossible.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import bench
from bench.api.claim import ClaimResult
from bench.claims import ClaimOutcome
from bench.leaderboard.build import RunArtifacts, build_snapshot, read_meta
from bench.leaderboard.ranking import standings
from bench.rows.schema import Accuracy

pytestmark = pytest.mark.slow

APT_PACKAGES = ["chromium", "chromium-driver"]

PLUGIN = textwrap.dedent('''
    """A throwaway plugin with one task whose outputs follow the plot conventions."""
    import io
    import json

    import numpy as np
    import torch

    from bench.api import Task, TaskResult
    from bench.hookspecs import hookimpl
    from bench.specs import TaskSpec

    GRID_ROWS = ["original", "negative"]

    class Grid(Task):
        def run(self, model, inputs, generator):
            from matplotlib.figure import Figure

            x = inputs.data.x_test[:6]
            with torch.no_grad():
                acc = float((model(x.to(inputs.device)).argmax(1).cpu() == inputs.data.y_test[:6]).double().mean())
            fig = Figure(figsize=(3, 1.0), dpi=50)
            fig.subplots_adjust(0, 0, 1, 1, 0.05, 0.05)
            for i, ax in enumerate(fig.subplots(2, 6).T):  # two grid rows: the images and their negatives
                ax[0].imshow(x[i, 0].numpy(), cmap="gray")
                ax[1].imshow(1 - x[i, 0].numpy(), cmap="gray")
                ax[0].axis("off")
                ax[1].axis("off")
            buf = io.BytesIO()
            fig.savefig(buf, format="png", metadata={"robarena:grid-rows": json.dumps(GRID_ROWS)})
            steps = np.arange(1001)  # an inversion-like loss: 1,001 steps over three orders of magnitude
            return TaskResult({"acc@small": acc, "acc@large": acc / 2},
                              {"grid": buf.getvalue(), "loss_curve": 3.0 * np.exp(-steps / 120.0)})


    @hookimpl
    def robarena_tasks():
        return [TaskSpec(name="grid", version="1", target="lbpagekit:Grid", columns=["acc@small", "acc@large"])]
''')

SUITE = {
    "name": "lbpage",
    "datasets": [{"id": "core/digits", "params": {"n_train": 200, "n_test": 40}}],
    "models": [{"id": "classics/linear"}],
    "defenses": [{"id": "classics/standard"}, {"id": "classics/fast-at"}],
    "attacks": [{"id": "classics/fgsm", "norm": "Linf", "eps": [0.05, 0.1]},
                {"id": "classics/pgd", "norm": "Linf", "eps": [0.05, 0.1], "params": {"steps": 5}}],
    "probes": [{"id": "classics/margin"}],
    "tasks": [{"id": "lbpagekit/grid"}],
    "train": {"epochs": 1, "batch_size": 32},
    "eval": {"n": 40, "batch_size": 40},
}


def _install_browser() -> tuple[str, str]:
    """Paths of chromium and chromedriver, apt-installed if missing (fails the test if it cannot)."""
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if all(found):
        return found  # type: ignore[return-value]
    if not (hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")):
        pytest.fail("the browser test needs Debian's chromium and chromedriver: run "
                    f"`apt-get install -y {' '.join(APT_PACKAGES)}` as root (CI runs as root and installs them)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *APT_PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(cmd)}` failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if not all(found):
        pytest.fail(f"apt-get installed {APT_PACKAGES} but chromium or chromedriver is still not on PATH")
    return found  # type: ignore[return-value]


def _selenium():
    try:
        import selenium  # noqa: F401
    except ImportError:  # the dev extra lists it; install it for runs without the extra
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "selenium>=4.10"],
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"pip install selenium failed:\n{done.stderr[-2000:]}")
    from selenium import webdriver

    return webdriver


@pytest.fixture(scope="module")
def browser():
    chromium, driver_path = _install_browser()
    webdriver = _selenium()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--allow-file-access-from-files"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


CLAIMS = [ClaimOutcome("lbpagekit/holds", "a claim that holds", "P1", ClaimResult(True, {"gap": 0.25}, "ok")),
          ClaimOutcome("lbpagekit/fails", "a claim that fails", "P1", ClaimResult(False, {}, "no")),
          ClaimOutcome("lbpagekit/unchecked", "a claim without data", "", ClaimResult(None, {}, "missing data: x"))]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two versions of a tiny real run with the throwaway task plugin: v1 as run, v2 with the standard row's
    clean accuracy moved and a tiny-gradients flag added (built with a description, claims and a compare page)."""
    from bench.registry import _CACHE

    tmp = tmp_path_factory.mktemp("lbpage")
    (tmp / "lbpagekit.py").write_text(PLUGIN)
    sys.path.insert(0, str(tmp))
    _CACHE.clear()
    try:
        result = bench.run(SUITE, workdir=tmp / "work", device="cpu", plugins=("lbpagekit",))
    finally:
        sys.path.remove(str(tmp))
        sys.modules.pop("lbpagekit", None)
        _CACHE.clear()
    assert result.ok, result.failures
    artifacts = RunArtifacts.from_workdir(tmp / "work", "lbpage")
    build_snapshot(result.rows, "lbpage", "v1", root=tmp / "lb", artifacts=artifacts)
    new = []
    for row in result.rows:
        if row.defense == "standard":
            clean = Accuracy.of(row.clean.correct // 2, row.clean.n)
            row = row.model_copy(update={"clean": clean, "flags": row.flags + ["tiny-gradients"]})
        new.append(row)
    build_snapshot(new, "lbpage", "v2", root=tmp / "lb", artifacts=artifacts, claims=CLAIMS, compare_with="v1",
                   description="A tiny page suite: a linear model on digits.")
    return {"root": tmp / "lb", "old": sorted(result.rows, key=lambda r: r.row_id),
            "new": sorted(new, key=lambda r: r.row_id), "path": tmp / "lb" / "lbpage" / "v2"}


@pytest.fixture(scope="module")
def snapshot(site):
    """The page under test (v2): its folder, meta.json and rows."""
    return site["path"], read_meta(site["root"], "lbpage", "v2"), site["new"]


def _console(driver) -> list[dict]:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


def _column(driver, column: str) -> list[str]:
    return driver.execute_script(
        "var th = document.querySelector('#leaderboard th[data-column=\"' + arguments[0] + '\"]');"
        "return Array.from(document.querySelector('#leaderboard').tBodies[0].rows)"
        ".map(function (r) { return r.cells[th.cellIndex].getAttribute('data-sort'); });", column)


def _click_header(driver, column: str) -> str:
    from selenium.webdriver.common.by import By

    th = driver.find_element(By.CSS_SELECTOR, f'#leaderboard th[data-column="{column}"]')
    th.find_element(By.TAG_NAME, "button").click()
    return th.get_attribute("aria-sort")


def test_page_loads_and_images_render(browser, snapshot):
    path, meta, rows = snapshot
    kinds = {f["kind"] for f in meta["figures"]}
    assert {"eps-curve", "histogram", "curve", "column-family"} <= kinds
    assert len(meta["images"]) == len(rows) == 2  # one grid per row
    browser.get((path / "index.html").as_uri())
    assert _console(browser) == []
    images = browser.execute_script(
        "return Array.from(document.images).map(function (i) {"
        "  return [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight]; });")
    assert sorted(src for src, *_ in images) == sorted([f["file"] for f in meta["figures"]]
                                                       + [i["file"] for i in meta["images"]])
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in images), images
    plots = [img for img in images if img[0].startswith("plots/")]
    assert {(w, h) for _, _, w, h in plots} == {(640, 400)}


def test_clicking_a_header_sorts_the_table(browser, snapshot):
    path, meta, rows = snapshot
    browser.get((path / "index.html").as_uri())
    by_id = {r.row_id: r for r in rows}
    ordered = [by_id[s.row_id] for s in standings(rows)]  # the page's initial order: the rank
    metrics = [name for name, value in ordered[0].metric_columns().items()
               if value is not None and value != ordered[1].metric_columns().get(name)]
    column = next(name for name in metrics if name.startswith(("robust[", "clean")))  # one whose values differ
    before = [float(v) for v in _column(browser, column)]
    assert before == [r.metric_columns()[column] for r in ordered] and len(set(before)) == 2
    assert _click_header(browser, column) == "descending"  # numbers: largest first
    first = [float(v) for v in _column(browser, column)]
    assert first == sorted(before, reverse=True)
    assert _click_header(browser, column) == "ascending"
    assert [float(v) for v in _column(browser, column)] == sorted(before)
    assert _click_header(browser, "defense") == "ascending"  # text: A-Z first
    assert _column(browser, "defense") == sorted(r.defense for r in rows)
    assert _click_header(browser, "defense") == "descending"
    assert _column(browser, "defense") == sorted((r.defense for r in rows), reverse=True)
    assert _console(browser) == []


def test_missing_values_sort_last_and_provenance_opens(browser, tmp_path, rows):
    from selenium.webdriver.common.by import By

    path = build_snapshot(rows, "quick", "v1", root=tmp_path)
    browser.get((path / "index.html").as_uri())
    column = "robust[pgd Linf 0.1]"
    assert _click_header(browser, column) == "descending"
    assert _column(browser, column) == [repr(0.6), repr(0.4567), ""]
    assert _click_header(browser, column) == "ascending"
    assert _column(browser, column) == [repr(0.4567), repr(0.6), ""]
    details = browser.find_element(By.CSS_SELECTOR, '#leaderboard tr[data-row-id="digits/mlp/pgd-at/seed0"] details')
    assert details.get_attribute("open") is None
    details.find_element(By.TAG_NAME, "summary").click()
    assert details.get_attribute("open") is not None
    assert "cfg-aaaa" in details.text and "square_beats_whitebox" in details.text
    assert _console(browser) == []


def _shown_rows(driver) -> list[str]:
    """Row ids of the table rows the browser displays, top to bottom."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
        ".filter(function (r) { return r.offsetParent !== null; })"
        ".map(function (r) { return r.getAttribute('data-row-id'); });")


def _shown_columns(driver) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#leaderboard thead th'))"
        ".filter(function (th) { return th.offsetParent !== null; })"
        ".map(function (th) { return th.getAttribute('data-column'); });")


def _type(driver, element_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.ID, element_id)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)


def test_default_order_is_the_rank_and_rank_columns_sort(browser, snapshot):
    path, meta, rows = snapshot
    browser.get((path / "index.html").as_uri())
    places = standings(rows)
    assert _shown_rows(browser) == [s.row_id for s in places]
    th = browser.find_element("css selector", '#leaderboard th[data-column="rank"]')
    assert th.get_attribute("aria-sort") == "ascending"  # the default sort, marked
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('#leaderboard tbody tr')).map(function (r) {"
        "  return [r.cells[0].textContent, r.cells[1].getAttribute('data-sort')]; });")
    assert shown == [[str(s.rank), repr(s.worst.value)] for s in places]
    worst = [s.worst.value for s in places]
    assert _click_header(browser, "lowest worst case") == "descending"
    assert [float(v) for v in _column(browser, "lowest worst case")] == sorted(worst, reverse=True)
    assert _click_header(browser, "rank") == "ascending"
    assert _shown_rows(browser) == [s.row_id for s in places]
    assert _console(browser) == []


def test_search_and_filters_hide_rows_and_columns(browser, snapshot):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path, meta, rows = snapshot
    browser.get((path / "index.html").as_uri())
    everything = _shown_rows(browser)
    assert sorted(everything) == sorted(r.row_id for r in rows)
    count = browser.find_element(By.ID, "lb-count")
    standard = next(r for r in rows if r.defense == "standard")
    _type(browser, "lb-search", "STANDARD")  # case-insensitive, over labels and flags
    assert _shown_rows(browser) == [standard.row_id] and count.text == f"1 of {len(rows)} rows shown"
    _type(browser, "lb-search", "linear tiny-gradients")  # every word must match
    assert _shown_rows(browser) == [r.row_id for r in rows if "tiny-gradients" in r.flags]
    _type(browser, "lb-search", "no-such-row")
    assert _shown_rows(browser) == [] and count.text == f"0 of {len(rows)} rows shown"
    _type(browser, "lb-search", "")
    assert _shown_rows(browser) == everything
    flags = Select(browser.find_element(By.ID, "lb-flagged"))
    flags.select_by_value("flagged")
    assert _shown_rows(browser) == [i for i in everything if next(r for r in rows if r.row_id == i).flags]
    flags.select_by_value("clean")
    assert _shown_rows(browser) == [i for i in everything if not next(r for r in rows if r.row_id == i).flags]
    flags.select_by_value("")
    columns = _shown_columns(browser)
    probes = [c for c in columns if c.startswith("probe[")]
    assert probes
    browser.find_element(By.CSS_SELECTOR, 'input[data-group="probe"]').click()
    assert _shown_columns(browser) == [c for c in columns if c not in probes]
    hidden_cells = browser.execute_script(
        "var want = arguments[0], i = Array.from(document.querySelectorAll('#leaderboard thead th'))"
        ".findIndex(function (th) { return th.getAttribute('data-column') === want; });"
        "return Array.from(document.querySelectorAll('#leaderboard tbody tr'))"
        ".map(function (r) { return r.cells[i].offsetParent === null; });", probes[0])
    assert hidden_cells == [True] * len(rows)
    browser.find_element(By.CSS_SELECTOR, 'input[data-group="probe"]').click()
    _type(browser, "lb-columns", "linf 0.1")
    kept = _shown_columns(browser)
    metrics = [c for c in columns if browser.execute_script(
        "return document.querySelector('#leaderboard th[data-column=\"' + arguments[0] + '\"]').hasAttribute('data-group')", c)]
    assert [c for c in kept if c in metrics] == [c for c in metrics if "linf 0.1" in c.lower()]
    assert [c for c in kept if c not in metrics] == [c for c in columns if c not in metrics]  # labels stay
    assert _console(browser) == []


def test_flag_badges_explain_and_link_to_their_meaning(browser, snapshot):
    from selenium.webdriver.common.by import By

    path, meta, rows = snapshot
    browser.get((path / "index.html").as_uri())
    badge = browser.find_element(By.CSS_SELECTOR, 'a.flag[data-indicator="tiny-gradients"]')
    assert badge.get_attribute("title").startswith("tiny-gradients: more than 5 % of the examples")
    badge.click()
    assert browser.execute_script("return location.hash") == "#flag-tiny-gradients"
    target = browser.find_element(By.ID, "flag-tiny-gradients")
    top, bottom, height = browser.execute_script(
        "var r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom, innerHeight];", target)
    assert -1 <= top and bottom <= height, (top, bottom, height)  # scrolled to the explanation
    assert target.find_elements(By.TAG_NAME, "td")[1].text == "1"  # one row carries it
    assert _console(browser) == []


def test_claims_and_description_are_shown(browser, snapshot):
    from selenium.webdriver.common.by import By

    path, meta, rows = snapshot
    browser.get((path / "index.html").as_uri())
    assert browser.find_element(By.CSS_SELECTOR, "p.description").text == "A tiny page suite: a linear model on digits."
    shown = [(tr.get_attribute("data-claim"), tr.find_element(By.CSS_SELECTOR, ".verdict").text)
             for tr in browser.find_elements(By.CSS_SELECTOR, "#claims tbody tr")]
    assert shown == [(c.claim, c.status) for c in CLAIMS]
    colors = {tr.get_attribute("data-status"): tr.find_element(By.CSS_SELECTOR, ".verdict").value_of_css_property(
        "background-color") for tr in browser.find_elements(By.CSS_SELECTOR, "#claims tbody tr")}
    assert len(set(colors.values())) == 3  # holds, does not hold and not checked look different


def test_grid_rows_are_labelled_beside_their_image_row(browser, snapshot):
    path, meta, rows = snapshot
    browser.get((path / "index.html").as_uri())
    figures = browser.execute_script(
        "return Array.from(document.querySelectorAll('.grid')).map(function (g) {"
        "  var img = g.querySelector('img'), r = img.getBoundingClientRect();"
        "  return {complete: img.complete, natural: img.naturalWidth, top: r.top, height: r.height, left: r.left,"
        "          labels: Array.from(g.querySelectorAll('li')).map(function (li) {"
        "            var b = li.getBoundingClientRect();"
        "            return [li.textContent, (b.top + b.bottom) / 2, b.right]; })}; });")
    assert len(figures) == len(meta["images"]) == len(rows)
    assert all(image["grid_rows"] == ["original", "negative"] for image in meta["images"])
    for fig in figures:
        assert fig["complete"] and fig["natural"] > 0 and fig["height"] > 0
        assert [label for label, _, _ in fig["labels"]] == ["original", "negative"]
        band = fig["height"] / 2
        for i, (_, middle, right) in enumerate(fig["labels"]):  # each label sits beside its own half of the grid
            assert fig["top"] + i * band < middle < fig["top"] + (i + 1) * band
            assert right <= fig["left"] + 1


def test_phone_width_keeps_every_metric_reachable(browser, snapshot):
    path, meta, rows = snapshot
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 400, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    try:
        browser.get((path / "index.html").as_uri())
        assert browser.execute_script("return [innerWidth, document.documentElement.scrollWidth]") == [400, 400]
        columns = browser.execute_script(
            "return Array.from(document.querySelectorAll('#leaderboard thead th')).map(function (th) {"
            "  return th.getAttribute('data-column'); });")
        metrics = [c for c in columns if c not in ("rank", "model", "defense", "dataset", "seed", "flags", "details")]
        assert "clean" in metrics and len(metrics) >= 10
        first = _shown_rows(browser)[0]
        for column in metrics:  # scroll the table to the cell: it shows its value, not hidden under the labels
            seen = browser.execute_script(
                "var row = document.querySelector('#leaderboard tr[data-row-id=\"' + arguments[0] + '\"]');"
                "var want = arguments[1], i = Array.from(document.querySelectorAll('#leaderboard thead th'))"
                "  .findIndex(function (th) { return th.getAttribute('data-column') === want; });"
                "var cell = row.cells[i]; cell.scrollIntoView({block: 'center', inline: 'center'});"
                "var r = cell.getBoundingClientRect(), x = (r.left + r.right) / 2, y = (r.top + r.bottom) / 2;"
                "var model = row.cells[2].getBoundingClientRect();"
                "var hit = document.elementFromPoint(x, y);"
                "var label = document.elementFromPoint((model.left + model.right) / 2, (model.top + model.bottom) / 2);"
                "return [r.left >= 0 && r.right <= innerWidth, hit === cell || cell.contains(hit), cell.textContent,"
                "        label === row.cells[2] || row.cells[2].contains(label)];", first, column)
            inside, on_top, text, model_visible = seen
            assert inside and on_top and text.strip(), (column, seen)
            assert model_visible, column  # the model column stays in view while the table scrolls
        assert _console(browser) == []
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_compare_page_lists_the_changed_rows(browser, site):
    from selenium.webdriver.common.by import By

    from bench.leaderboard.diff import diff_snapshots

    diff = diff_snapshots(site["old"], site["new"])
    assert [c.row_id for c in diff.changed] == [r.row_id for r in site["new"] if r.defense == "standard"]
    browser.get((site["path"] / "index.html").as_uri())
    browser.find_element(By.LINK_TEXT, "compare-v1.html").click()
    assert browser.current_url.endswith("/v2/compare-v1.html")
    sections = browser.find_elements(By.CSS_SELECTOR, "section.change")
    assert [s.get_attribute("data-row-id") for s in sections] == [c.row_id for c in diff.changed]
    (change,) = diff.changed
    shown = [tr.get_attribute("data-column") for tr in sections[0].find_elements(By.CSS_SELECTOR, "tr[data-column]")]
    assert shown == [m.column for m in change.metrics] == ["clean"]
    assert "new: tiny-gradients" in sections[0].text
    assert _console(browser) == []
    browser.find_element(By.LINK_TEXT, "version v1").click()
    assert browser.current_url.endswith("/v1/index.html") and _console(browser) == []
