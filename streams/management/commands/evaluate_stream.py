"""``manage.py evaluate_stream``: recall, false alarms per hour and detection delay of the
pipeline on the generator's labelled anomalies (see ``streams/evaluation.py``)."""
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streams.evaluation import evaluate_stream


class Command(BaseCommand):
    help = "Run the generator with injected labelled anomalies through features and detector; score it."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, default=2.0, help="Hours of synthetic stream (event time).")
        parser.add_argument("--anomalies", type=int, default=8, help="Injected anomalies, kinds taking turns.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--bucket", type=float, default=None, help="Bucket width in seconds.")
        parser.add_argument("--lateness", type=float, default=None, help="Accepted lateness in seconds.")
        parser.add_argument("--detector-config", default="{}", help="JSON object of DetectorConfig overrides.")
        parser.add_argument("--json", action="store_true", help="Print the full result as JSON.")

    def handle(self, *args, **options):
        try:
            overrides = json.loads(options["detector_config"])
            result = evaluate_stream(
                hours=options["hours"], anomalies=options["anomalies"], seed=options["seed"],
                bucket_seconds=options["bucket"] or settings.TOPOFORGE_BUCKET_SECONDS,
                allowed_lateness=(settings.TOPOFORGE_ALLOWED_LATENESS_SECONDS
                                  if options["lateness"] is None else options["lateness"]),
                detector_overrides=overrides,
            )
        except (ValueError, TypeError) as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result.to_dict(), indent=2))
            return
        data = result.to_dict()
        self.stdout.write(
            f"{data['hours']:g} h, {data['events']} events, {data['windows']} windows, seed {options['seed']}\n"
            f"recall {data['recall']:.2f} ({sum(a['detected'] for a in data['anomalies'])}/{len(data['anomalies'])}), "
            f"false alarms {data['false_alarms']} ({data['false_alarms_per_hour']:.2f}/h), "
            f"median delay {data['delay_seconds']['median']} s, max {data['delay_seconds']['max']} s"
        )
        for anomaly in data["anomalies"]:
            found = f"found after {anomaly['delay_seconds']:.0f} s" if anomaly["detected"] else "MISSED"
            self.stdout.write(f"  {anomaly['kind']:<20} {anomaly['start_iso']}  {found}")
