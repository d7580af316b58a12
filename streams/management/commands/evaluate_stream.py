"""``manage.py evaluate_stream``: recall, false alarms per hour and detection delay of the
pipeline on the generator's labelled anomalies (see ``streams/evaluation.py``), or, with
``--background recorded``, on the recorded Wikimedia events replayed as background with incident
kinds the generator never produces (see ``streams/real_background.py``): one run per kind."""
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streams.evaluation import evaluate_stream
from streams.real_background import INCIDENT_KINDS, evaluate_kind


class Command(BaseCommand):
    help = "Run the generator with injected labelled anomalies through features and detector; score it."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, default=None,
                            help="Hours of stream in event time (default 2; 8 per kind with --background recorded).")
        parser.add_argument("--anomalies", type=int, default=8, help="Injected anomalies, kinds taking turns.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--bucket", type=float, default=None, help="Bucket width in seconds.")
        parser.add_argument("--lateness", type=float, default=None, help="Accepted lateness in seconds.")
        parser.add_argument("--detector-config", default="{}", help="JSON object of DetectorConfig overrides.")
        parser.add_argument("--json", action="store_true", help="Print the full result as JSON.")
        parser.add_argument("--background", choices=("generator", "recorded"), default="generator",
                            help="generator: synthetic feed (default); recorded: the recorded samples replayed.")
        parser.add_argument("--kinds", default=",".join(INCIDENT_KINDS),
                            help="Incident kinds for --background recorded, comma-separated.")
        parser.add_argument("--incidents", type=int, default=4, help="Incidents per kind (--background recorded).")

    def handle(self, *args, **options):
        if options["background"] == "recorded":
            return self.recorded(options)
        try:
            overrides = json.loads(options["detector_config"])
            result = evaluate_stream(
                hours=2.0 if options["hours"] is None else options["hours"], anomalies=options["anomalies"], seed=options["seed"],
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

    def recorded(self, options):
        kinds = [kind.strip() for kind in options["kinds"].split(",") if kind.strip()]
        unknown = [kind for kind in kinds if kind not in INCIDENT_KINDS]
        if unknown or not kinds:
            raise CommandError(f"--kinds: unknown kind(s) {', '.join(unknown) or '(none)'}; "
                               f"choose from {', '.join(INCIDENT_KINDS)}")
        hours = 8.0 if options["hours"] is None else options["hours"]
        try:
            overrides = json.loads(options["detector_config"])
            results = [
                evaluate_kind(
                    kind, hours=hours, incidents=options["incidents"], seed=options["seed"],
                    bucket_seconds=options["bucket"] or settings.TOPOFORGE_BUCKET_SECONDS,
                    allowed_lateness=(settings.TOPOFORGE_ALLOWED_LATENESS_SECONDS
                                      if options["lateness"] is None else options["lateness"]),
                    detector_overrides=overrides,
                ).to_dict()
                for kind in kinds
            ]
        except (ValueError, TypeError) as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(results, indent=2))
            return
        self.stdout.write(f"recorded background, {hours:g} h per kind, seed {options['seed']}")
        self.stdout.write(f"{'kind':<18} {'recall':>9} {'false alarms/h':>15} {'delay median':>13} {'max':>8}")
        for data in results:
            found = sum(i["detected"] for i in data["incidents"])
            median, longest = data["delay_seconds"]["median"], data["delay_seconds"]["max"]
            self.stdout.write(
                f"{data['kind']:<18} {found:>3}/{len(data['incidents']):<2} {data['recall']:.2f} "
                f"{data['false_alarms_per_hour']:>15.2f} "
                f"{'-' if median is None else f'{median:.0f} s':>13} {'-' if longest is None else f'{longest:.0f} s':>8}"
            )
