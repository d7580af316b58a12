import signal

from django.core.management.base import BaseCommand, CommandError

from alerts.worker import AlertWorker


class Command(BaseCommand):
    help = (
        "Send pending alert deliveries (email, webhook, Slack) as they fall due, retrying with "
        "backoff. Safe to run several at once; SIGTERM or Ctrl-C stops after the current send."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Send what is due now, then exit.")
        parser.add_argument(
            "--concurrency", type=int, default=4,
            help="Deliveries sent at the same time (threads), so one slow target delays no other.",
        )
        parser.add_argument(
            "--poll-interval", type=float, default=None,
            help="Seconds between looks for due deliveries (default ALERT_WORKER_POLL_SECONDS).",
        )

    def handle(self, *args, once=False, concurrency=4, poll_interval=None, **options):
        if concurrency < 1:
            raise CommandError("--concurrency must be at least 1.")
        worker = AlertWorker(concurrency=concurrency, poll_interval=poll_interval)
        if once:
            attempted = worker.run_once()
            self.stdout.write(f"{attempted} deliveries attempted.")
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: worker.stop())
        worker.run_forever()
