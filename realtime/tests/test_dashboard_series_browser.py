"""Headless Chromium against a real daphne: the dashboard lists the top anomalous series from
/api/series and, clicked, shows only that series' detections; clicked again, all of them."""
from datetime import timedelta

import pytest
from django.utils import timezone

from anomalies import series_registry
from realtime.tests.factories import store_detection
from realtime.tests.live import live_server
from realtime.tests.test_dashboard_browser import PASSWORD, browser  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def seed(now):
    """Three hosts of one stream; web-2 ends on the rarest row, so it tops the list; {host: ids}."""
    ids = {}
    for host, scores in {"web-1": [0.2, 0.4, 0.5], "web-2": [0.3, 0.999], "web-3": [0.1, 0.7, 0.6, 0.2]}.items():
        rows = [store_detection(source="ndjson", series=host, score=score, is_anomaly=score > 0.99,
                                timestamp=now - timedelta(minutes=10 - i)) for i, score in enumerate(scores)]
        series_registry.record(rows)
        ids[host] = {str(row.pk) for row in rows}
    return ids


def test_top_series_listed_and_filtering_by_one(tmp_path, make_user, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    make_user("alice", role="viewer", password=PASSWORD)
    ids = seed(timezone.now())
    wait = WebDriverWait(browser, 20)

    def shown():
        return {tr.get_attribute("data-id") for tr in browser.find_elements(By.CSS_SELECTOR, "#detections tr[data-id]")}

    with live_server(tmp_path) as server:
        browser.get(server.url + "/")
        browser.find_element(By.ID, "id_username").send_keys("alice")
        browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#series-top .series-item")) == 3)
        items = browser.find_elements(By.CSS_SELECTOR, "#series-top .series-item")
        assert [item.get_attribute("data-series") for item in items] == ["web-2", "web-1", "web-3"]  # last scores 0.999, 0.5, 0.2
        assert "0.999" in items[0].text and "2 rows" in items[0].text
        wait.until(lambda d: shown() == set().union(*ids.values()))

        items[2].click()
        wait.until(lambda d: shown() == ids["web-3"])
        assert "series-chosen" in browser.find_element(By.CSS_SELECTOR, '.series-item[data-series="web-3"]').get_attribute("class")
        wait.until(EC.text_to_be_present_in_element((By.ID, "stat-total"), "4"))

        browser.find_element(By.CSS_SELECTOR, '.series-item[data-series="web-3"]').click()
        wait.until(lambda d: shown() == set().union(*ids.values()))
