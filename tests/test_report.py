"""report.html (ddae/report.py): the page in a real browser (headless Chromium through Selenium), after the
folder has been moved: players load with the right duration, images load, the table's values are the CSV's,
and the rows sort. Chromium comes from Debian (`apt-get install chromium chromium-driver`; .ci/run does it)."""

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ddae.audio import write_audio
from ddae.evaluation import evaluate, read_pairs, summary_markdown, system_outputs
from ddae.report import pick_files, write_report
from ddae.runs import load_run
from ddae.settings import FeatureSettings

from conftest import tone_in_noise

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    """Five files, a model, the baseline and the oracle; the report capped at four files, then moved."""
    tmp = tmp_path_factory.mktemp("report")
    for i in range(5):
        clean, noisy = tone_in_noise(1.0 + 0.25 * i, snr_db=5 * i, seed=i)
        write_audio(tmp / "clean" / f"f{i}.wav", clean, 16000)
        write_audio(tmp / "noisy" / f"f{i}.wav", noisy, 16000)
    pairs = read_pairs(str(tmp / "clean"), str(tmp / "noisy"), "")
    model = load_run(runs["dense"])
    rows = evaluate(pairs, [model], [], baseline=True, oracle=True, max_att=20.0)
    from ddae.evaluation import improvement_plot, write_per_file

    out = tmp / "results"
    out.mkdir()
    write_per_file(rows, out / "per_file.csv")
    improvement_plot(rows, out / "improvement.png")
    by_name = {str(p["noisy"]): p for p in pairs}
    write_report(out, rows, summary_markdown(rows),
                 lambda key: system_outputs(by_name[key[0]], [model], [], True, True, 20.0, (), FeatureSettings(), 0.0), 4)
    moved = tmp / "moved_elsewhere"
    shutil.move(str(out), str(moved))  # relative links only: it still works
    return moved


def test_report_folder_is_complete_and_self_contained(report):
    page = (report / "report.html").read_text()
    assert "http://" not in page and "https://" not in page and "file://" not in page
    assert len(list((report / "report_files" / "audio").glob("*.wav"))) == 4 * 5  # noisy, model, wiener, oracle, clean
    assert len(list((report / "report_files" / "spectrograms").glob("*.png"))) == 4 * 5
    assert not [p for p in report.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_pick_files_shows_worst_median_and_best():
    rows = [{"noisy": f"f{i}", "system": s, "pesq_imp": float(i)} for i in range(10) for s in ("noisy", "m")]
    assert pick_files(rows, 0) == [(f"f{i}", 0.0) for i in range(10)]
    assert [k[0] for k in pick_files(rows, 6)] == ["f0", "f1", "f4", "f5", "f8", "f9"]


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.is_file() and DRIVER.is_file()):
        if os.environ.get("CI_REQUIRE_BROWSER"):
            pytest.fail("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


def _open(browser, report):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get((report / "report.html").as_uri())
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('audio')).every(a => a.readyState >= 1 || a.error)"))


def test_players_load_with_the_right_duration_and_images_load(browser, report):
    _open(browser, report)
    import soundfile as sf

    audio = browser.execute_script("return Array.from(document.querySelectorAll('audio')).map("
                                   "a => [a.error ? a.error.code : 0, a.duration, a.getAttribute('src')])")
    assert len(audio) == 20
    for err, duration, src in audio:
        assert err == 0 and duration == pytest.approx(sf.info(str(report / src)).duration, abs=0.01)
    images = browser.execute_script("return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert len(images) == 21 and all(images)  # 20 spectrograms and the improvement plot


def test_table_values_are_the_csvs_and_rows_sort(browser, report):
    _open(browser, report)
    with open(report / "per_file.csv", newline="") as f:
        csv_rows = {(Path(r["noisy"]).name, r["system"]): r for r in csv.DictReader(f)}
    head = browser.execute_script("return Array.from(document.querySelectorAll('table.files th')).map(t => t.textContent)")
    table = browser.execute_script("return Array.from(document.querySelectorAll('table.files tbody.file tr.metrics')).map("
                                   "r => Array.from(r.cells).map(c => [c.textContent, c.dataset.value]))")
    assert len(table) == 4
    checked = 0
    for row in table:
        name = row[1][0]
        for j, title in enumerate(head[2:], 2):
            system, metric = title.rsplit(": ", 1)
            key = {"PESQ": "pesq", "STOI": "stoi", "SI-SDR": "si_sdr"}[metric]
            assert float(row[j][1]) == pytest.approx(float(csv_rows[(name, system)][key]), rel=1e-12, abs=1e-12)
            checked += 1
    assert checked == 4 * 4 * 3
    col = head.index("wiener (baseline): SI-SDR")
    header = browser.find_elements("css selector", "table.files th")[col]
    for order in (1, -1):
        header.click()
        values = browser.execute_script(f"return Array.from(document.querySelectorAll('table.files tbody.file tr.metrics'))"
                                        f".map(r => parseFloat(r.cells[{col}].dataset.value))")
        assert values == sorted(values, key=lambda v: order * v) and len(set(values)) == 4
    browser.save_screenshot(str(report.parent / "report.png"))
    assert np.isfinite(values).all()
