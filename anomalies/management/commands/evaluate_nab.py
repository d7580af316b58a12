"""Run the topology detector over a NAB-layout folder and score it with NAB's rules.

    python manage.py evaluate_nab --data-dir ../shared/nab/data \
        --labels ../shared/nab/labels/combined_windows.json --out var/nab-results

Causal: one fresh detector per file, fed row by row, so the score of row t depends on rows <= t
only. Results land in ``<out>/topoforge/<category>/topoforge_<name>.csv`` (NAB's format, so NAB's
own scorer can re-score them); the command prints each profile's optimised threshold and
normalised score.
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tda.nab.runner import evaluate
from tda import DetectorConfig


class _Progress:
    """Two tqdm bars: files, and rows over the whole corpus."""

    def __init__(self, corpus, stream, enabled):
        self.files = tqdm(total=len(corpus), desc="files", unit="file", position=0, file=stream, disable=not enabled)
        self.rows = tqdm(
            total=sum(len(s) for s in corpus), desc="rows", unit="row", position=1, file=stream,
            disable=not enabled, unit_scale=True, miniters=500,
        )

    def row_done(self):
        self.rows.update(1)

    def file_done(self, series):
        self.files.set_postfix_str(series.key, refresh=False)
        self.files.update(1)

    def close(self):
        self.rows.close()
        self.files.close()


class Command(BaseCommand):
    help = "Evaluate the detector on a folder in NAB's layout and print NAB's three profile scores."

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", required=True, type=Path, help="NAB data folder (<category>/<file>.csv)")
        parser.add_argument("--labels", required=True, type=Path, help="NAB windows file (combined_windows.json)")
        parser.add_argument("--out", required=True, type=Path, help="results folder (NAB layout)")
        parser.add_argument("--config", type=Path, help="JSON file of DetectorConfig settings (default: built-in)")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    def handle(self, *args, data_dir, labels, out, config=None, no_progress=False, **options):
        if not data_dir.is_dir():
            raise CommandError(f"--data-dir: no such folder: {data_dir}")
        if not labels.is_file():
            raise CommandError(f"--labels: no such file: {labels}")
        try:
            detector_config = DetectorConfig.from_dict(json.loads(config.read_text())) if config else DetectorConfig()
        except (OSError, ValueError, TypeError) as error:
            raise CommandError(f"--config: {error}") from None

        def progress(corpus):
            return _Progress(corpus, self.stderr._out, enabled=not no_progress)

        try:
            evaluation = evaluate(data_dir, labels, out, detector_config, progress=progress)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from None
        if not evaluation.files:
            raise CommandError(f"no labelled CSV files under {data_dir} (labels: {labels})")

        for key in evaluation.unlabelled:
            self.stderr.write(f"skipped (not in the labels file): {key}")
        self.stdout.write(f"{evaluation.files} files, {evaluation.rows} rows; results in {out / 'topoforge'}")
        self.stdout.write(f"{'profile':<20} {'threshold':>12} {'raw':>9} {'null':>8} {'perfect':>8} {'score':>7}")
        for result in evaluation.results:
            self.stdout.write(
                f"{result.profile.name:<20} {result.threshold:>12.6f} {result.raw:>9.3f} "
                f"{result.null_raw:>8.2f} {result.perfect:>8.2f} {result.score:>7.2f}"
            )
