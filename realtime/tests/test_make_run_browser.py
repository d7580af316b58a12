"""Done-when of #18: `make run`'s own processes (scripts/run.sh: daphne, alert worker, detector; no
Redis) and a headless Chromium: the dashboard shows the detector's warm-up progress, then its first
scored detection within one bucket plus 2 s of it being stored, and "Data flowing" in green.

run.sh runs in a copy of the checkout (its own .env and var/: journal, admin password), on a free
port and its own SQLite file, so it never meets a real `make run`. Buckets of 1 s and 130 s of
generator history (29 windows short of the warm-up) keep it to a minute."""
import os
import re
import signal
import subprocess
import time

import pytest

from realtime.tests.test_dashboard_browser import browser  # noqa: F401 (fixture)
from streams.pipeline import detector_config
from topoforge.tests.processes import REPO, checkout_copy, child_env, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not (REPO / ".venv" / "bin" / "daphne").exists(), reason="make run needs .venv")]

BUCKET = 1.0
WARM_UP = detector_config().vector_warmup_rows()
PASSWORD = "quartz-meadow-4812"

# Records, in the page, when each detection row and each warm-up text first appeared.
RECORDER = """
window.__seen = {rows: {}, warmup: []};
function look() {
  document.querySelectorAll('#detections tr[data-id]').forEach(function (tr) {
    var id = tr.getAttribute('data-id');
    if (!(id in window.__seen.rows)) window.__seen.rows[id] = {at: Date.now(), warming: tr.classList.contains('is-warming-up')};
  });
  var box = document.getElementById('warmup');
  if (!box.hidden && box.textContent) window.__seen.warmup.push({at: Date.now(), text: box.textContent});
}
new MutationObserver(look).observe(document.body, {subtree: true, childList: true, characterData: true, attributes: true});
look();
"""


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} within {timeout} s")


def test_make_run_shows_warm_up_then_a_detection_within_a_bucket_and_2_s(tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    checkout = checkout_copy(tmp_path / "checkout")
    port = free_port()
    log = tmp_path / "run.log"
    with log.open("w") as output:
        run = subprocess.Popen(
            ["bash", "scripts/run.sh"], cwd=checkout, stdout=output, stderr=subprocess.STDOUT,
            env=child_env(
                TOPOFORGE_PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
                TOPOFORGE_ADMIN_PASSWORD=PASSWORD, DEBUG=None, REDIS_URL=None, SECRET_KEY=None,
                TOPOFORGE_BUCKET_SECONDS=str(BUCKET), TOPOFORGE_ALLOWED_LATENESS_SECONDS="0.5",
                TOPOFORGE_GENERATOR_HISTORY=str(130 * BUCKET), REALTIME_FOLLOW_STORE_SECONDS=None,
            ),
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: f"dashboard: {base}/" in log.read_text(), 120, "run.sh printed no URL")
        username, password = re.search(r"login:\s+(\S+) / (\S+)", log.read_text()).groups()

        def logged_in():
            assert run.poll() is None, log.read_text()
            try:
                browser.get(base + "/")
            except Exception:
                return False
            return "/login/" in browser.current_url
        wait_for(logged_in, 60, "the login page did not answer")
        browser.find_element(By.ID, "id_username").send_keys(username)
        browser.find_element(By.ID, "id_password").send_keys(password)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: browser.execute_script("return !!document.getElementById('detections')"), 20, "no dashboard")
        browser.execute_script(RECORDER)

        def first_scored():
            seen = browser.execute_script("return window.__seen")
            scored = [(v["at"], int(k)) for k, v in seen["rows"].items() if not v["warming"]]
            return min(scored) if scored else None
        shown_at, detection_id = wait_for(first_scored, 120, "no scored detection on the dashboard")

        stored = browser.execute_script(
            "return fetch('/api/anomalies/' + arguments[0], {credentials: 'same-origin'}).then(r => r.json())",
            detection_id)
        assert stored["source_type"] == "generator" and stored["anomaly_score"] is not None
        assert stored["metadata"]["warm_up"]["windows"] > WARM_UP
        created = time.mktime(time.strptime(stored["created_at"][:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        created += float("0." + stored["created_at"][20:26]) if stored["created_at"][19] == "." else 0
        delay = shown_at / 1000 - created
        print(f"first scored detection #{detection_id} shown {delay:.2f} s after it was stored")
        assert delay <= BUCKET + 2, f"shown {delay:.2f} s after it was stored"

        seen = browser.execute_script("return window.__seen")
        progress = [w for w in seen["warmup"] if w["at"] < shown_at and f"of {WARM_UP} windows" in w["text"]]
        assert progress, seen["warmup"][:5]
        counts = [int(re.search(r"(\d+) of", w["text"]).group(1)) for w in progress]
        assert counts == sorted(counts) and counts[-1] > counts[0] > 130  # it moved, past the history
        assert any(not v["warming"] for v in seen["rows"].values())
        assert "flow-live" in browser.find_element(By.ID, "flow").get_attribute("class")
        assert browser.find_element(By.ID, "flow-text").text.startswith("Data flowing")
        assert f"warm start: 130 windows of 130 s of generator history" in log.read_text()
        assert "warm-up" in log.read_text()  # the detector's status line says how far it is
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
            try:
                run.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
