import signal

from django.core.management.base import BaseCommand

from anomalies.alerts.worker import AlertWorker


class Command(BaseCommand):
    help = (
        "Send pending alert deliveries (email, webhook, Slack) as they fall due, retrying with "
        "backoff. Safe to run several at once; SIGTERM or Ctrl-C stops after the current send."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Send what is due now, then exit.")
        parser.add_argument("--batch-size", type=int, default=20, help="Deliveries claimed at once.")
        parser.add_argument(
            "--poll-interval", type=float, default=None,
            help="Seconds between looks for due deliveries (default ALERT_WORKER_POLL_SECONDS).",
        )

    def handle(self, *args, once=False, batch_size=20, poll_interval=None, **options):
        worker = AlertWorker(batch_size=batch_size, poll_interval=poll_interval)
        if once:
            attempted = worker.run_once()
            self.stdout.write(f"{attempted} deliveries attempted.")
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop())
        worker.run_forever()
