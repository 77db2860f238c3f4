"""Real-browser test of the notebooks: JupyterLab + headless Chromium, as a person meets them.

``make uitest`` runs this script (and ``.ci/run`` runs ``make uitest`` after ``make test``). It

1. installs Debian's ``chromium`` and ``chromium-driver`` with apt when they are absent (as root;
   a browser download of Selenium's own is never used);
2. starts JupyterLab on 127.0.0.1 with a random token (``--allow-root`` when run as root), the
   ``smoke`` profile, on copies of notebooks 01-04 and 06 under ``runs/uitest/notebooks`` (the stored
   notebooks stay without outputs);
3. per notebook: opens it, Run -> Run All Cells, waits until the kernel is done, saves it, and
   asserts that every code cell ran without an error output (read back from the saved file),
   that every widget shows as a control (no "Error displaying widget", no ``HBox(children=...)``
   text), and that moving one slider (where the notebook has one) changes the rendered widget
   (PNG bytes of the widget before and after differ);
4. saves screenshots to ``runs/uitest/`` for a person to look at.

Without Chromium (and no way to install it) the test is skipped with a message, except with
``CI`` set, where that is a failure. Exit status 0 = passed or skipped, 1 = failed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = ROOT / "runs" / "uitest"
#: notebook -> substrings of the sources of the cells whose widgets' first slider is moved (04 has
#: no slider: it trains the classifier that 06 needs, and its live training plot must render)
NOTEBOOKS = {
    "01_data_exploration.ipynb": ("sample_browser(",),
    "02_segmentation_training.ipynb": ("display(slider)",),
    "03_mask_generation.ipynb": ("display(browser)", "display(explorer)"),
    "04_classifier_training.ipynb": (),
    "06_field_analysis.ipynb": ("display(picker)",),
}
BAD_WIDGET_TEXT = (
    "Error displaying widget",
    "HBox(children=",
    "VBox(children=",
    "Box(children=",
    "interactive(children=",
    "Loading widget...",
)
RUN_TIMEOUT_S = 1200  # per notebook; 02 trains the smoke segmentation run (8 epochs, ~8 min on 2 cores)
#: the notebook on screen (each is opened in a workspace of its own, but be safe)
NB = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"


def log(msg: str) -> None:
    print(f"[uitest] {msg}", flush=True)


def skip_or_fail(msg: str) -> int:
    if os.environ.get("CI"):
        log(f"FAILED: {msg} (CI is set, so a missing browser is a failure)")
        return 1
    log(f"SKIPPED: {msg}")
    return 0


def find_browser() -> tuple[str | None, str | None]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
    )
    return browser, driver


def install_browser() -> str:
    """apt-get install chromium chromium-driver; returns '' or why it could not."""
    if not shutil.which("apt-get"):
        return "apt-get not available"
    if os.geteuid() != 0:
        return "not root, cannot apt-get install chromium chromium-driver"
    log("installing Debian's chromium and chromium-driver with apt-get ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"]):
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            return f"{' '.join(cmd)} failed: {r.stderr.strip()[-400:]}"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(workdir: Path, token: str, port: int) -> subprocess.Popen:
    settings = workdir / "lab-settings"
    for rel, value in (
        ("@jupyterlab/notebook-extension/tracker.jupyterlab-settings", {"windowingMode": "none"}),
        (
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings",
            {"fetchNews": "false", "checkForUpdates": False},
        ),
    ):
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    env = {
        **os.environ,
        "CERVIX_PROFILE": "smoke",
        "CERVIX_ROOT": str(ROOT),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab-workspaces"),
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={workdir}",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    logf = open(workdir / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    for _ in range(120):
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}; see {workdir / 'jupyterlab.log'}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"JupyterLab did not answer on port {port} within 60 s; see {workdir / 'jupyterlab.log'}")


def make_driver(browser: str, driver_path: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1500,1100",
        "--disable-gpu",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=opts)


def click_menu(driver, top: str, item: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, f"//li[contains(@class,'lm-MenuBar-item')][.//*[text()='{top}']]").click()
    time.sleep(0.3)
    driver.find_element(
        By.XPATH,
        "//ul[contains(@class,'lm-Menu-content')]//li[contains(@class,'lm-Menu-item')]"
        f"[.//*[contains(@class,'lm-Menu-itemLabel') and text()='{item}']]",
    ).click()


def prompts(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, f"{NB} .jp-CodeCell .jp-InputPrompt")]


def wait_until_done(driver, timeout: float) -> None:
    t0, quiet = time.time(), 0
    while time.time() - t0 < timeout:
        p = prompts(driver)
        running = any("*" in x for x in p)
        started = any(re.search(r"\[\d+\]", x) for x in p)
        quiet = quiet + 1 if (started and not running) else 0
        if quiet >= 3:
            return
        time.sleep(1.0)
    raise TimeoutError(f"cells still running after {timeout:.0f} s: {p}")


def saved_problems(path: Path) -> list[str]:
    """Code cells of the saved notebook that did not run or have an error output."""
    nb = json.loads(path.read_text())
    problems = []
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        head = "".join(cell["source"]).strip().splitlines()[:1]
        if not "".join(cell["source"]).strip():
            continue
        if cell.get("execution_count") is None:
            problems.append(f"code cell {i + 1} did not run: {head}")
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                problems.append(f"code cell {i + 1} raised {out.get('ename')}: {out.get('evalue', '')[:200]}")
    return problems


def widget_output(driver, marker: str):
    """The output area of the code cell whose source contains ``marker``."""
    from selenium.webdriver.common.by import By

    for cell in driver.find_elements(By.CSS_SELECTOR, f"{NB} .jp-CodeCell"):
        src = cell.find_element(By.CSS_SELECTOR, ".jp-InputArea-editor").text
        if marker in src:
            return cell.find_element(By.CSS_SELECTOR, ".jp-OutputArea")
    raise AssertionError(f"no code cell containing {marker!r}")


def move_slider(driver, area) -> None:
    """Focus the first slider handle of ``area`` and press the right arrow a few times."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    handle = area.find_element(By.CSS_SELECTOR, ".widget-slider .noUi-handle")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", handle)
    handle.click()
    for _ in range(6):
        handle.send_keys(Keys.ARROW_RIGHT)
        time.sleep(0.2)


def slider_changes_widget(driver, marker: str, shot: str) -> list[str]:
    """Move the first slider of the widget in the cell with ``marker``; a problem unless its picture
    changes. Screenshots ``<shot>_before.png`` and ``<shot>_after.png``."""
    area = widget_output(driver, marker)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", area)
    time.sleep(0.5)
    driver.save_screenshot(str(OUT / f"{shot}_before.png"))
    before = area.screenshot_as_png
    move_slider(driver, area)
    changed = False
    for _ in range(60):
        time.sleep(0.5)
        if area.screenshot_as_png != before:
            changed = True
            break
    time.sleep(1.0)
    driver.save_screenshot(str(OUT / f"{shot}_after.png"))
    return [] if changed else [f"moving a slider in the cell with {marker!r} did not change the rendered widget"]


def check_notebook(driver, base: str, name: str, markers: tuple[str, ...], notebooks: Path) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    stem = name.removesuffix(".ipynb")
    log(f"{name}: open, Run All Cells")
    driver.get(f"{base}/lab/workspaces/{stem}/tree/notebooks/{name}")  # a workspace of its own: no other tabs
    WebDriverWait(driver, 120).until(EC.presence_of_element_located((By.CSS_SELECTOR, f"{NB} .jp-CodeCell")))
    time.sleep(3)  # the kernel starts
    t0 = time.time()
    click_menu(driver, "Run", "Run All Cells")
    wait_until_done(driver, RUN_TIMEOUT_S)
    log(f"{name}: ran in {time.time() - t0:.0f} s")
    before_save = (notebooks / name).stat().st_mtime
    driver.find_element(By.CSS_SELECTOR, f"{NB} .jp-Cell").click()
    driver.find_element(By.CSS_SELECTOR, "body").send_keys(Keys.CONTROL, "s")
    for attempt in range(80):
        if (notebooks / name).stat().st_mtime != before_save:
            break
        if attempt == 40:  # the shortcut did not reach the notebook: the menu then
            click_menu(driver, "File", "Save Notebook")
        time.sleep(0.25)
    else:
        raise RuntimeError(f"{name} could not be saved (its outputs are checked in the saved file)")
    time.sleep(1.0)
    problems = saved_problems(notebooks / name)
    for _ in range(40):  # widgets may still be loading for a moment
        text = driver.find_element(By.CSS_SELECTOR, NB).text
        shown_as_text = [bad for bad in BAD_WIDGET_TEXT if bad in text]
        if not shown_as_text:
            break
        time.sleep(0.5)
    problems += [f"widget shown as text: {bad!r}" for bad in shown_as_text]
    controls = driver.find_elements(By.CSS_SELECTOR, f"{NB} .widget-slider")
    if markers and not controls:
        problems.append("no slider control rendered")
    for k, marker in enumerate(markers):
        problems += slider_changes_widget(driver, marker, f"{stem}_widget{k if k else ''}")
    driver.execute_script(
        "document.querySelectorAll('.jp-WindowedPanel-outer, .jp-Notebook').forEach(e => { e.scrollTop = 0; })"
    )
    time.sleep(0.5)
    driver.save_screenshot(str(OUT / f"{stem}_top.png"))
    log(f"{name}: {len(controls)} slider(s); " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return [f"{name}: {p}" for p in problems]


def main() -> int:
    browser, driver_path = find_browser()
    if not (browser and driver_path):
        why = install_browser()
        browser, driver_path = find_browser()
        if not (browser and driver_path):
            return skip_or_fail(f"no chromium + chromedriver ({why or 'not found after install'})")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return skip_or_fail("selenium is not installed (pip install -e '.[ui]')")
    if OUT.exists():
        shutil.rmtree(OUT)
    notebooks = OUT / "notebooks"
    notebooks.mkdir(parents=True)
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / name, notebooks / name)
    token, port = secrets.token_hex(16), free_port()
    t0 = time.time()
    lab = start_lab(OUT, token, port)
    log(f"JupyterLab on 127.0.0.1:{port} (token), {browser}")
    driver = None
    problems: list[str] = []
    try:
        driver = make_driver(browser, driver_path)
        driver.get(f"http://127.0.0.1:{port}/lab?token={token}")  # logs in (cookie)
        time.sleep(2)
        for name, markers in NOTEBOOKS.items():
            try:
                problems += check_notebook(driver, f"http://127.0.0.1:{port}", name, markers, notebooks)
            except Exception as exc:  # noqa: BLE001 - one notebook's failure is reported, the next still runs
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
                driver.save_screenshot(str(OUT / f"{name.removesuffix('.ipynb')}_failure.png"))
        console = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        (OUT / "browser_console.txt").write_text("\n".join(json.dumps(e) for e in console))
        widget_errors = [e for e in console if "widget" in e.get("message", "").lower()]
        problems += [f"browser console: {e['message'][:300]}" for e in widget_errors]
        log(f"{len(console)} severe browser-console entries (listed in {OUT / 'browser_console.txt'})")
    finally:
        if driver is not None:
            driver.quit()
        lab.terminate()
        try:
            lab.wait(20)
        except subprocess.TimeoutExpired:
            lab.kill()
    shots = sorted(p.name for p in OUT.glob("*.png"))
    log(f"screenshots in {OUT}: {', '.join(shots)}")
    log(f"took {time.time() - t0:.0f} s")
    if problems:
        log("FAILED:\n  " + "\n  ".join(problems))
        return 1
    log("PASSED: notebooks 01-04 and 06 ran in JupyterLab in Chromium; widgets render and react")
    return 0


if __name__ == "__main__":
    sys.exit(main())
