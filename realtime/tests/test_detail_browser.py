"""Headless Chromium against a real daphne: open an anomaly's detail on the dashboard and find
its explanation in words and its lifetime diagram against the series' noise band, and its
incident in the incidents card (issue #17)."""
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from anomalies import incidents
from realtime.tests.factories import store_detection
from realtime.tests.live import REPO, live_server
from realtime.tests.test_dashboard_browser import PASSWORD, browser  # noqa: F401 (fixture)
from tda import Detector, DetectorConfig

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def a_real_alarm():
    """The first alarm of the detector on a seasonal series with an injected incident."""
    rng = np.random.default_rng(4)
    t = np.arange(1100)
    values = 10 + np.sin(2 * np.pi * t / 40) + rng.normal(scale=0.15, size=len(t))
    values[1000:1012] += 5.0
    detector = Detector(DetectorConfig())
    for i, value in enumerate(values):
        detection = detector.update(60.0 * i, float(value))
        if detection.is_anomaly and i >= 1000:
            return detection
    raise AssertionError("the incident raised no alarm")


def test_anomaly_detail_shows_its_explanation_and_diagram(tmp_path, make_user, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    make_user("alice", role="admin", password=PASSWORD)
    now = timezone.now()
    for i in range(5):
        store_detection(score=0.3, timestamp=now - timedelta(minutes=10 - i))
    store_detection(score=None, warming_up=True, timestamp=now - timedelta(minutes=11))
    alarm = a_real_alarm()
    row = store_detection(
        score=alarm.score, is_anomaly=True, timestamp=now - timedelta(minutes=1),
        explanation=alarm.explanation, metadata={"diagram": alarm.diagram},
    )
    (incident,) = incidents.attach([row])
    wait = WebDriverWait(browser, 20)
    with live_server(tmp_path) as server:
        browser.get(server.url + "/")
        browser.find_element(By.ID, "id_username").send_keys("alice")
        browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-id="{row.pk}"]')))
        warm = browser.find_element(By.CSS_SELECTOR, "tr.is-warming-up")
        assert "warming up" in warm.text  # drawn as such, not as a score of 0

        browser.find_element(By.CSS_SELECTOR, f'tr[data-id="{row.pk}"]').click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "detail-id"), f"#{row.pk}"))
        text = browser.find_element(By.CSS_SELECTOR, "#explanation .explanation-text").text
        assert text == alarm.explanation["text"]
        assert "Tail probability" in text and "alarmed" in text and "noise band" in text
        diagram = browser.find_element(By.CSS_SELECTOR, "#explanation svg.explanation-diagram")
        points = diagram.find_elements(By.CSS_SELECTOR, "circle")
        assert len(points) == len(alarm.diagram["h0"]) + len(alarm.diagram["h1"])
        assert diagram.find_elements(By.CSS_SELECTOR, "line.band-h0") and diagram.find_elements(By.CSS_SELECTOR, "line.band-h1")
        assert len(diagram.find_elements(By.CSS_SELECTOR, "circle.above-band")) >= alarm.betti_h0 - 1
        features = browser.find_elements(By.CSS_SELECTOR, "#explanation .rare-features li")
        assert features and alarm.explanation["rare_features"][0]["feature"] in features[0].text

        # The incidents card lists the alarm's incident; clicking it opens its peak detection.
        item = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#incidents li[data-id="{incident.pk}"]')))
        assert "1 row" in item.text and f"{alarm.score:.4f}" in item.text
        browser.find_element(By.CSS_SELECTOR, '#detections tr:not(.is-anomaly)').click()
        item.click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "detail-id"), f"#{row.pk}"))

        artifacts = REPO / "test-artifacts"
        artifacts.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(artifacts / "dashboard-explanation.png"))
