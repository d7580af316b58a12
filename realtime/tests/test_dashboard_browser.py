"""Headless Chromium (Debian's chromium + chromedriver, driven by selenium) against a real daphne:
log in, watch a detection created through the API appear live, open its persistence diagram, and
keep a screenshot in test-artifacts/."""
import math
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

from realtime.tests.factories import access_token_for, store_detection
from realtime.tests.live import REPO, live_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "correct horse battery staple"


def seed_history(now, count=90):
    """An hour and a half of plausible detections so the chart and cards have something to show.

    Scores are tail probabilities (anomalies are rarer than 1 in 100 windows): mostly spread over
    [0, 0.95), with three anomalous windows whose H1 count jumps.
    """
    anomalous = {41: 0.996, 42: 0.9993, 77: 0.992}
    for i in range(count):
        score = anomalous.get(i, round(0.45 + 0.4 * math.sin(i * 1.7) * math.cos(i * 0.3), 3))
        store_detection(
            source="wikipedia" if i % 3 else "github",
            score=score,
            is_anomaly=i in anomalous,
            timestamp=now - timedelta(seconds=60 * (count - i)),
            betti_h0=4 + round(1.5 * math.sin(i / 5)),
            betti_h1=5 if i in anomalous else 1 + (i % 7 == 0),
        )


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def test_dashboard_shows_a_detection_the_moment_it_is_stored(tmp_path, make_user, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    admin = make_user("alice", role="admin", password=PASSWORD)
    seed_history(timezone.now())
    wait = WebDriverWait(browser, 20)
    with live_server(tmp_path) as server:
        browser.get(server.url + "/")
        assert "/login/" in browser.current_url  # login required
        browser.find_element(By.ID, "id_username").send_keys("alice")
        browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        # Connected (the rows were stored a moment ago: "Data flowing" already).
        wait.until(lambda d: d.find_element(By.ID, "flow-text").text.startswith(("Connected", "Data flowing")))
        wait.until(lambda d: d.find_element(By.ID, "stat-total").text not in ("", "–"))
        assert browser.find_element(By.ID, "stat-total").text == "90"

        created = httpx.post(
            server.url + "/api/anomalies",
            headers={"Authorization": f"Bearer {access_token_for(admin)}"},
            json={
                "timestamp": timezone.now().isoformat(),
                "source_type": "wikipedia",
                "anomaly_score": 0.9995,
                "is_anomaly": True,
                "betti_h0": 4,
                "betti_h1": 3,
                "metadata": {"diagram": {"h0": [[0, 0.31], [0, 0.52], [0, 0.8]], "h1": [[0.35, 0.71], [0.4, 0.48]], "h2": []}},
            },
            timeout=10,
        )
        assert created.status_code == 201, created.text
        new_id = created.json()["id"]

        row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-id="{new_id}"]')))
        assert "wikipedia" in row.text and "0.9995" in row.text and "critical" in row.text.lower()
        wait.until(EC.text_to_be_present_in_element((By.ID, "flow-text"), "Data flowing"))
        row.click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "detail-id"), f"#{new_id}"))
        assert len(browser.find_elements(By.CSS_SELECTOR, "#diagram svg circle.pt-h1")) >= 2

        # A burst stored in one request reaches the (coalescing) dashboard whole, in whatever
        # mix of `anomaly` and `anomalies` messages the server sends it.
        burst = httpx.post(
            server.url + "/api/anomalies",
            headers={"Authorization": f"Bearer {access_token_for(admin)}"},
            json=[
                {"timestamp": timezone.now().isoformat(), "source_type": "metric", "anomaly_score": 0.5 + i / 100}
                for i in range(8)
            ],
            timeout=10,
        )
        assert burst.status_code == 201, burst.text
        for item in burst.json():
            wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-id="{item["id"]}"]')))

        ARTIFACTS.mkdir(exist_ok=True)
        screenshot = ARTIFACTS / "dashboard.png"
        assert browser.save_screenshot(str(screenshot))
        assert Path(screenshot).stat().st_size > 10_000
