"""Run the topology detector over a NAB-layout folder and score it with NAB's rules.

    python manage.py evaluate_nab --data-dir ../shared/nab/data \
        --labels ../shared/nab/labels/combined_windows.json --out var/nab-results

Causal: one fresh detector per file, fed row by row, so the score of row t depends on rows <= t
only. Results land in ``<out>/topoforge/<category>/topoforge_<name>.csv`` (NAB's format, so NAB's
own scorer can re-score them); the command prints each profile's optimised threshold and
normalised score.

    python manage.py evaluate_nab ... --cross-validate [--candidates cands.json] [--cache DIR]

``--cross-validate`` is the honest protocol (``tda/nab/crossval.py``): leave one category out,
every choice made from labels (each profile's threshold, and which candidate configuration of
``--candidates`` is used) is made on the other categories and the held-out one is scored with it.
It prints per-category and pooled scores beside the in-sample ones (choices made on everything).
The detector runs once per file and candidate; ``--cache`` keeps those scores on disk.
"""
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from tda.nab.runner import evaluate, evaluate_cross_validated
from tda import DetectorConfig


class _Progress:
    """Two tqdm bars: files, and rows over the whole corpus."""

    def __init__(self, corpus, stream, enabled, passes=1):
        self.files = tqdm(total=len(corpus) * passes, desc="files", unit="file", position=0, file=stream, disable=not enabled)
        self.rows = tqdm(
            total=sum(len(s) for s in corpus) * passes, desc="rows", unit="row", position=1, file=stream,
            disable=not enabled, unit_scale=True, miniters=500,
        )

    def row_done(self):
        self.rows.update(1)

    def rows_skipped(self, count):
        self.rows.update(count)

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
        parser.add_argument(
            "--cross-validate", action="store_true",
            help="leave one category out: choices made on the other categories, the held-out one scored",
        )
        parser.add_argument(
            "--candidates", type=Path,
            help="JSON object {name: {DetectorConfig settings}}: configurations the cross-validation "
                 "chooses among on the training categories (default: --config alone)",
        )
        parser.add_argument("--cache", type=Path, help="folder keeping per-file scores between runs")

    def handle(self, *args, data_dir, labels, out, config=None, no_progress=False, cross_validate=False,
               candidates=None, cache=None, **options):
        if not data_dir.is_dir():
            raise CommandError(f"--data-dir: no such folder: {data_dir}")
        if not labels.is_file():
            raise CommandError(f"--labels: no such file: {labels}")
        try:
            detector_config = DetectorConfig.from_dict(json.loads(config.read_text())) if config else DetectorConfig()
        except (OSError, ValueError, TypeError) as error:
            raise CommandError(f"--config: {error}") from None

        if candidates and not cross_validate:
            raise CommandError("--candidates: only with --cross-validate")
        if cross_validate:
            return self.cross_validate(
                data_dir, labels, out, self.candidates(candidates, detector_config), cache, no_progress
            )

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

    @staticmethod
    def candidates(path, default):
        if path is None:
            return {"default": default}
        try:
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict) or not raw:
                raise ValueError("expected a non-empty object {name: {settings}}")
            return {str(name): DetectorConfig.from_dict({**default.to_dict(), **settings})
                    for name, settings in raw.items()}
        except (OSError, ValueError, TypeError) as error:
            raise CommandError(f"--candidates: {error}") from None

    def cross_validate(self, data_dir, labels, out, candidates, cache, no_progress):
        def progress(corpus, passes):
            return _Progress(corpus, self.stderr._out, enabled=not no_progress, passes=passes)

        try:
            evaluation = evaluate_cross_validated(data_dir, labels, out, candidates, progress, cache)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from None
        cv = evaluation.cross_validation
        for key in evaluation.unlabelled:
            self.stderr.write(f"skipped (not in the labels file): {key}")
        self.stdout.write(
            f"{evaluation.files} files, {evaluation.rows} rows, {len(candidates)} candidate(s), "
            f"{evaluation.detector_runs} detector run(s); results of '{next(iter(candidates))}' in {out / 'topoforge'}"
        )
        self.stdout.write("leave-one-category-out: choices made on the other categories (CV) / on all (in-sample)")
        for pooled, in_sample, choice in zip(cv.pooled, cv.in_sample, cv.in_sample_choices):
            profile = pooled.profile.name
            self.stdout.write(f"\n{profile}")
            self.stdout.write(
                f"  {'held-out category':<24} {'candidate':<12} {'threshold':>10} {'windows':>8} {'FP':>4} "
                f"{'raw':>8} {'null':>7} {'CV':>7} {'in-sample':>9}"
            )
            for category in cv.categories:
                fold, inside = cv.fold(category, profile), cv.fold(category, profile, in_sample=True)
                self.stdout.write(
                    f"  {category:<24} {fold.choice.candidate:<12} {fold.choice.threshold:>10.6f} "
                    f"{fold.windows_detected:>3}/{fold.windows:<4} {fold.false_positives:>4} {fold.raw:>8.3f} "
                    f"{fold.null_raw + 0.0:>7.2f} {_score(fold.score):>7} {_score(inside.score):>9}"
                )
            self.stdout.write(
                f"  {'pooled':<24} {'':<12} {'':>10} {'':>8} {'':>4} {pooled.raw:>8.3f} {pooled.null_raw:>7.2f} "
                f"{pooled.score:>7.2f} {in_sample.score:>9.2f}  (in-sample: {choice.candidate}, {choice.threshold:.6f})"
            )


def _score(value):
    return "n/a" if value is None else f"{value:.2f}"
