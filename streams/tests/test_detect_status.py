"""The detector's status line: redrawn in place on its own terminal, one line each under `make run`
(a terminal shared with the server and the alert worker), and never switched off there."""
import io
import re
import time
from types import SimpleNamespace

from streams.management.commands.detect import StatusLine
from topoforge.tests.processes import REPO


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Counting:
    """What StatusLine reads of a pipeline: its counters and its status text."""

    def __init__(self):
        self.counters = SimpleNamespace(events=0)
        self.calls = 0

    def status_line(self, previous, interval):
        self.calls += 1
        self.counters.events += 10
        return f"{10 / interval:.1f} ev/s | events {self.counters.events}"


def run_status(redraw, seconds=0.35, interval=0.1):
    terminal = Terminal()
    status = StatusLine(Counting(), interval, redraw=redraw, stream=terminal).start()
    time.sleep(seconds)
    status.stop()
    return terminal.getvalue()


def test_on_its_own_terminal_the_status_is_redrawn_in_place():
    text = run_status(redraw=True)
    assert text.count("\r\x1b[2K") >= 2 and text.count("\n") == 1  # the newline at the end only


def test_with_status_lines_each_status_is_a_line_of_its_own():
    lines = run_status(redraw=False).splitlines()
    assert len(lines) >= 2
    assert all(re.fullmatch(r"detect: [\d.]+ ev/s \| events \d+", line) for line in lines)
    assert "\r" not in "".join(lines)


def test_make_run_shows_the_detector_status_as_lines():
    run_script = (REPO / "scripts" / "run.sh").read_text()
    [detect] = [line for line in run_script.splitlines() if "manage.py detect" in line]
    assert "--status-lines" in detect
    assert "--status-interval 0" not in detect


def test_the_status_line_says_how_far_the_warm_up_is_until_the_first_scored_window():
    from streams.pipeline import Pipeline, detector_config
    from streams.tests.pipeline_support import generator
    from tda import Detector

    store = SimpleNamespace(stats=SimpleNamespace(db_healthy=True, journaled=0, drained=0), depth=0)
    aggregator = SimpleNamespace(dropped_late=0)
    detector = Detector(detector_config())
    pipeline = Pipeline(generator(10), source_key="s", aggregator=aggregator, detector=detector, store=store)
    needed = detector.config.vector_warmup_rows()
    detector.rows = 37
    assert pipeline.status_line(0, 1).endswith(f"last event - ago | warm-up 37/{needed}")
    detector.rows = needed
    assert "warm-up" not in pipeline.status_line(0, 1)
