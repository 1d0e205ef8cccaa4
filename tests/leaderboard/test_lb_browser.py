"""index.html in a real headless browser (Debian's chromium through selenium and chromedriver).

A snapshot is built from a tiny real run (linear model on digits, FGSM and PGD at two radii,
the margin probe, and a small task from a throwaway plugin that returns a PNG grid, a loss
curve and '@' columns), then the page is opened from disk: it must load without console
errors, every image must decode, and clicking a column header must sort the table.

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
from bench.leaderboard.build import RunArtifacts, build_snapshot, read_meta

pytestmark = pytest.mark.slow

APT_PACKAGES = ["chromium", "chromium-driver"]

PLUGIN = textwrap.dedent('''
    """A throwaway plugin with one task whose outputs follow the plot conventions."""
    import io

    import numpy as np
    import torch

    from bench.api import Task, TaskResult
    from bench.hookspecs import hookimpl
    from bench.specs import TaskSpec


    class Grid(Task):
        def run(self, model, inputs, generator):
            from matplotlib.figure import Figure

            x = inputs.data.x_test[:6]
            with torch.no_grad():
                acc = float((model(x.to(inputs.device)).argmax(1).cpu() == inputs.data.y_test[:6]).double().mean())
            fig = Figure(figsize=(3, 0.8), dpi=50)
            for i, ax in enumerate(fig.subplots(1, 6)):
                ax.imshow(x[i, 0].numpy(), cmap="gray")
                ax.axis("off")
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            return TaskResult({"acc@small": acc, "acc@large": acc / 2},
                              {"grid": buf.getvalue(), "loss_curve": np.array([3.0, 2.0, 1.5, 1.25])})


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
                {"id": "classics/pgd", "norm": "Linf", "eps": [0.05, 0.1], "params": {"steps": 3}}],
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


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A snapshot of a tiny real run with the throwaway task plugin."""
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
    build_snapshot(result.rows, "lbpage", "v1", root=tmp / "lb",
                   artifacts=RunArtifacts.from_workdir(tmp / "work", "lbpage"))
    return tmp / "lb" / "lbpage" / "v1", read_meta(tmp / "lb", "lbpage", "v1"), result.rows


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
    ordered = sorted(rows, key=lambda r: r.row_id)  # the page's initial order
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
