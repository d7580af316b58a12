"""Headless Chromium against a real daphne: the chart's time-range picker, drag-to-zoom and hover
values (chart_range.js), the warm-up progress bar (warmup.js), and "Data flowing" for a page
served while the detector stores rows."""
from datetime import timedelta

import pytest
from django.utils import timezone

from anomalies.models import AnomalyLog
from realtime.tests.factories import store_detection
from realtime.tests.live import live_server
from realtime.tests.test_dashboard_browser import PASSWORD, browser  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def log_in(browser, url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")
    browser.find_element(By.ID, "id_username").send_keys("alice")
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    # The click only submits the form: wait for the dashboard, not the login page still shown.
    WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "timeline"))


def chart(browser):
    return browser.execute_script("return TopoForgeChartRange.current()")


def seed(now, count, spacing=60, **fields):
    for i in range(count):
        store_detection(source="generator", score=round(0.2 + (i % 10) / 20, 3),
                        timestamp=now - timedelta(seconds=spacing * (count - i)), **fields)


def test_time_range_picker_zoom_and_hover(tmp_path, make_user, browser):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    make_user("alice", role="admin", password=PASSWORD)
    now = timezone.now()
    seed(now, 400)  # one a minute for 400 minutes: more than the 300 the page is served with
    store_detection(source="generator", score=0.9876, is_anomaly=True, timestamp=now - timedelta(seconds=30),
                    betti_h0=7, betti_h1=3)
    wait = WebDriverWait(browser, 20)
    with live_server(tmp_path) as server:
        log_in(browser, server.url)
        wait.until(lambda d: d.execute_script("return window.TopoForgeChartRange && TopoForgeChartRange.current().rows") == 60)
        assert not chart(browser)["zoomed"]  # the last hour, following the clock

        picker = Select(browser.find_element(By.ID, "chart-range"))
        picker.select_by_visible_text("Last 5 minutes")
        wait.until(lambda d: chart(d)["rows"] == 5)
        # Six hours reach before the page's 300 rows: the rest is read from the API.
        picker.select_by_visible_text("Last 6 hours")
        wait.until(lambda d: chart(d)["rows"] == 360)
        picker.select_by_visible_text("Last 24 hours")
        wait.until(lambda d: chart(d)["rows"] == 401)

        # Hover values: the newest detection is at the right edge of the last 5 minutes.
        picker.select_by_visible_text("Last 5 minutes")
        wait.until(lambda d: chart(d)["rows"] == 5)
        canvas = browser.find_element(By.ID, "timeline")
        tooltip = browser.find_element(By.ID, "chart-tooltip")
        width = canvas.size["width"]
        seen = []
        for step in range(20):  # the pointer moves right (from the centre) over the newest points
            ActionChains(browser).move_to_element_with_offset(canvas, int(width * (0.25 + step / 100)), 0).perform()
            seen.append(tooltip.text if tooltip.is_displayed() else "")
            if "0.9876" in seen[-1]:
                break
        assert "score 0.9876 · anomaly" in seen[-1], seen
        assert "β₀ 7 · β₁ 3" in seen[-1] and "UTC" in seen[-1] and "generator · " in seen[-1]
        assert any("score 0." in text and "anomaly" not in text for text in seen)  # its neighbours' values

        # Drag across the middle of the chart: zoomed into that span, the clock no longer followed.
        before = chart(browser)
        ActionChains(browser).move_to_element_with_offset(canvas, -int(width * 0.3), 0).click_and_hold() \
            .move_by_offset(int(width * 0.3), 0).release().perform()
        wait.until(lambda d: chart(d)["zoomed"])
        zoomed = chart(browser)
        assert before["from"] < zoomed["from"] < zoomed["to"] < before["to"]
        assert browser.find_element(By.ID, "chart-reset").is_displayed()
        ActionChains(browser).double_click(canvas).perform()
        wait.until(lambda d: not chart(d)["zoomed"])
        assert not browser.find_element(By.ID, "chart-reset").is_displayed()


def test_warm_up_progress_and_data_flowing_on_a_served_page(tmp_path, make_user, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    make_user("alice", role="admin", password=PASSWORD)
    now = timezone.now()
    for windows in range(30, 38):
        AnomalyLog.objects.create(
            timestamp=now - timedelta(seconds=10 * (38 - windows)), source_type="generator", anomaly_score=None,
            warming_up=True, severity="low", metadata={"warm_up": {"windows": windows, "needed": 159}, "bucket_seconds": 10},
        )
    wait = WebDriverWait(browser, 20)
    with live_server(tmp_path) as server:
        log_in(browser, server.url)
        warmup = browser.find_element(By.ID, "warmup")
        wait.until(lambda d: warmup.is_displayed())
        assert "generator warming up: 37 of 159 windows · first score in about 21 min" in warmup.text
        bar = browser.find_element(By.CSS_SELECTOR, "#warmup progress")
        assert bar.get_attribute("value") == "37" and bar.get_attribute("max") == "160"
        # The newest row was stored seconds ago: data flows, before anything is pushed.
        wait.until(lambda d: "flow-live" in d.find_element(By.ID, "flow").get_attribute("class"))
        assert browser.find_element(By.ID, "flow-text").text.startswith("Data flowing")
