#!/usr/bin/env python3
"""slab-report's page in a real browser: headless Chromium driven by Selenium.

Makes a small run folder (slab-train-mnist with sghmc-spl on 1,024 Fashion-MNIST images,
--holdout 200, then slab-eval with MNIST as the out-of-distribution set), or takes --run-dir,
writes its report with slab-report, opens it and checks that
  - the page logs no console error;
  - every chart (svg.chart) has a rendered size;
  - each training curve has one point per epoch of metrics.jsonl;
  - the bin counts of every reliability diagram sum to the test-set size;
  - the charts the run calls for are there;
and saves a screenshot of the whole page next to the report.

Without selenium, chromium or chromedriver (Debian: python3-selenium, chromium,
chromium-driver; tools/setup.sh --with-browser), or without Fashion-MNIST, it prints
"SLAB_SKIPPED: why" and exits 77, which ctest reports as skipped.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

SKIP = 77
FASHION_MNIST = "/usr/share/datasets/fashion-mnist"


def skip(reason):
    print("SLAB_SKIPPED: " + reason)
    sys.exit(SKIP)


def run(command):
    print("+ " + " ".join(command), flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        print(done.stdout)
        sys.exit("failed: " + " ".join(command))
    return done.stdout


def make_run(build, source, scratch):
    if not os.path.isdir(FASHION_MNIST):
        skip("Fashion-MNIST not installed at " + FASHION_MNIST)
    run_dir = os.path.join(scratch, "run")
    shutil.rmtree(run_dir, ignore_errors=True)
    run([os.path.join(build, "bin", "slab-train-mnist"), "--optimizer", "sghmc-spl", "--train-limit", "1224",
         "--holdout", "200", "--test-limit", "500", "--epochs", "3", "--samples-per-cycle", "3", "--threads", "2",
         "--progress", "none", "--output", run_dir])
    mnist = os.path.join(source, "..", "shared", "data", "mnist")
    evaluate = [os.path.join(build, "bin", "slab-eval"), run_dir, "--threads", "2"]
    if os.path.isdir(mnist):
        evaluate += ["--ood-data-dir", mnist, "--ood-limit", "500"]
    else:
        print("MNIST not at %s: the page has no OOD section" % mnist)
    run(evaluate)
    return run_dir


def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        skip("python3-selenium is not installed (tools/setup.sh --with-browser)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        skip("chromium or chromedriver is not installed (tools/setup.sh --with-browser)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1300,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def check_page(driver, run_dir, failures):
    from selenium.webdriver.common.by import By

    epochs = sum(1 for line in open(os.path.join(run_dir, "metrics.jsonl")) if line.strip())
    config = json.load(open(os.path.join(run_dir, "config.json")))
    charts = driver.find_elements(By.CSS_SELECTOR, "svg.chart")
    ids = [c.get_attribute("data-chart") for c in charts]
    print("%d charts: %s" % (len(charts), ", ".join(ids)))
    for chart in charts:
        size = chart.size
        if size["width"] <= 0 or size["height"] <= 0:
            failures.append("chart %s has no rendered size (%s)" % (chart.get_attribute("data-chart"), size))
    for chart_id in ("loss", "accuracy", "learning-rate"):
        curves = driver.find_elements(By.CSS_SELECTOR, 'svg[data-chart="%s"] polyline.series' % chart_id)
        if not curves:
            failures.append("chart %s has no curve" % chart_id)
        for curve in curves:
            points = len(curve.get_attribute("points").split())
            if points != epochs or int(curve.get_attribute("data-points")) != epochs:
                failures.append("curve %s of %s has %d points, the run %d epochs"
                                % (curve.get_attribute("data-series"), chart_id, points, epochs))
    diagrams = driver.find_elements(By.CSS_SELECTOR, "svg.reliability")
    if not diagrams:
        failures.append("no reliability diagram")
    for diagram in diagrams:
        counts = sum(int(b.get_attribute("data-count")) for b in diagram.find_elements(By.CSS_SELECTOR, "rect.bin"))
        if counts != config["test_size"] or int(diagram.get_attribute("data-test-size")) != config["test_size"]:
            failures.append("reliability diagram %s: counts sum to %d, the test set has %d"
                            % (diagram.get_attribute("data-chart"), counts, config["test_size"]))
    wanted = ["macs-kept", "running-accuracy", "running-nll", "running-ece"]
    if os.path.exists(os.path.join(run_dir, "ood.json")):
        wanted += ["ood-msp-", "ood-entropy-", "ood-mi-"]
    wanted += ["sparsity-heat-map-", "channels-"]
    for prefix in wanted:
        if not any(i and i.startswith(prefix) for i in ids):
            failures.append("no chart %s*" % prefix)
    if driver.find_elements(By.TAG_NAME, "script"):
        failures.append("the page holds a script")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    parser.add_argument("--run-dir", help="an existing run folder (default: make a small one)")
    args = parser.parse_args()
    driver = browser()
    scratch = os.path.join(args.build_dir, "report_browser_test")
    os.makedirs(scratch, exist_ok=True)
    run_dir = args.run_dir or make_run(args.build_dir, args.source_dir, scratch)
    page = os.path.join(scratch, "report.html")
    run([os.path.join(args.build_dir, "bin", "slab-report"), run_dir, "--output", page])
    failures = []
    try:
        driver.get("file://" + os.path.abspath(page))
        check_page(driver, run_dir, failures)
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        failures += ["console error: %s" % e.get("message") for e in errors]
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1300, min(int(height) + 100, 30000))
        screenshot = os.path.join(scratch, "report.png")
        driver.save_screenshot(screenshot)
        print("screenshot: " + screenshot)
    finally:
        driver.quit()
    for failure in failures:
        print("FAIL: " + failure)
    if failures:
        sys.exit(1)
    print("report page checked: no console errors, every chart rendered")


if __name__ == "__main__":
    main()
