"""``manage.py detect --source ...``: run the detection pipeline on one stream until stopped.

Examples::

    manage.py detect --source generator                      # live synthetic feed (the demo)
    manage.py detect --source wikipedia                      # the real Wikimedia feed
    manage.py detect --source replay --file events.jsonl --speed 60
    manage.py detect --source replay --file nab.csv --bucket 300 --speed 0
    manage.py detect --source ndjson --url https://api.x.com/2/tweets/search/stream --format twitter
    manage.py detect --source ndjson --file - --mapping timestamp=ts,value=latency_ms,key=host
    manage.py detect --source http --stream checkout          # events pushed to POST /api/events
    manage.py detect --source wikipedia --warm-start recorded.jsonl   # scored from the first window

Warm-up: a stream's detector scores nothing for its first 159 windows (26.5 minutes of 10 s
buckets; the rows say ``warming_up``). The live generator feeds that much of its own history
through the detector first (``--history``, stored nowhere), so it is scored from its first live
window; ``--warm-start FILE`` does the same with a recorded file for any source.

SIGINT/SIGTERM stop it cleanly: queued detections are stored (or journaled) and the state is
checkpointed, so the next run resumes where this one stopped.
"""
import json
import math
import signal
import sys
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from streams.sources.event_time import parse_time
from streams.journal import Journal, JournalLocked
from streams.pipeline import Pipeline, detector_config, warm_up_progress
from streams.series_pipeline import SeriesPipeline
from streams.sources.base import RECENTCHANGE
from streams.sources.generator import ANOMALY_KINDS, Anomaly, GeneratorSource, schedule
from streams.sources.ndjson import NDJSONSource
from streams.sources.replay import ReplaySource
from streams.sources.wikimedia import WikimediaSource, user_agent
from streams.store import DetectionStore, Interrupted, load_checkpoint
from streams import cluster
from streams.router import ConfigMismatch, ShardRouter
from streams.shard_worker import ShardWorker

SOURCES = ("wikipedia", "ndjson", "replay", "generator", "http")


def parse_speed(value):
    if value in ("fast", "max", "0"):
        return 0.0
    if value in ("realtime", "real-time"):
        return 1.0
    try:
        speed = float(value)
    except ValueError:
        raise CommandError(f"--speed {value!r}: a factor (1 = real time, 60, ...) or 'fast'") from None
    if not math.isfinite(speed) or speed < 0:
        raise CommandError("--speed must be a non-negative factor or 'fast'")
    return speed


def parse_anomaly(text, start):
    """``kind@offset[+duration]`` with seconds from the generator's start, e.g. bot_storm@600+90."""
    try:
        kind, _, rest = text.partition("@")
        offset, _, duration = rest.partition("+")
        return Anomaly(kind, start + float(offset), float(duration or 90.0))
    except ValueError as exc:
        raise CommandError(f"--anomaly {text!r}: {exc} (use kind@offset[+duration], kinds: {', '.join(ANOMALY_KINDS)})")


class Command(BaseCommand):
    help = "Run the detection pipeline on a stream: source → features → detector → store."

    def add_arguments(self, parser):
        parser.add_argument("--source", choices=SOURCES, help="The stream to read (required unless --join).")
        parser.add_argument("--source-key", help="Identity of the stream for checkpoints and dedup keys.")
        parser.add_argument("--url", help="wikipedia/ndjson: the stream URL.")
        parser.add_argument("--file", help="replay: a .jsonl or NAB .csv file; ndjson: a file or - for stdin.")
        parser.add_argument("--format", choices=("generic", "twitter"), default="generic", help="ndjson flavour.")
        parser.add_argument("--mapping", default="", help="Generic field mapping, e.g. timestamp=ts,value=ms,key=host.")
        parser.add_argument("--speed", default=None, help="replay/generator: 1 = real time, N = N× faster, fast.")
        parser.add_argument("--seed", type=int, default=0, help="generator: random seed.")
        parser.add_argument("--start", help="generator: event time of the first event (ISO); default now, live.")
        parser.add_argument("--duration", type=float, help="generator: seconds of event time, then stop.")
        parser.add_argument("--anomaly", action="append", default=[], help="generator: kind@offset[+duration].")
        parser.add_argument("--anomalies", type=int, default=0, help="generator: N anomalies spread over --duration.")
        parser.add_argument("--history", default=None,
                            help="live generator: seconds of its history fed to the detector before the "
                                 "live start, storing no row; 'auto' (the default, TOPOFORGE_GENERATOR_HISTORY) "
                                 "= the detector's warm-up, so the first live window is scored; 0 = none.")
        parser.add_argument("--warm-start", metavar="FILE",
                            help="A recorded .jsonl (or NAB .csv) of this stream's kind of events, fed through "
                                 "the detector before going live, storing no row (a fresh detector only).")
        parser.add_argument("--stream", default="default", help="http: the stream name used by the pushers.")
        parser.add_argument("--bucket", type=float, default=None, help="Bucket (window) width in seconds.")
        parser.add_argument("--lateness", type=float, default=None, help="Accepted lateness of events in seconds.")
        parser.add_argument("--detector-config", default="{}", help="JSON object of DetectorConfig overrides.")
        parser.add_argument("--split-by", default="", help="A field of the events (host, key, wiki, ...): one "
                            "detector, checkpoint and set of rows per value of it (a series).")
        parser.add_argument("--series-idle", type=float, default=None, help="--split-by: evict a series to its "
                            "checkpoint after this many seconds of event time without an event of it.")
        parser.add_argument("--max-series", type=int, default=None, help="--split-by: at most N live series; the "
                            "least recently seen is evicted to make room.")
        parser.add_argument("--workers", type=int, default=None, help="--split-by: route the stream into Redis "
                            "Streams (REDIS_URL) and start N local worker processes that share its series; 0 = "
                            "route only, for workers started with --join elsewhere.")
        parser.add_argument("--shards", type=int, default=16, help="--workers: the number of Redis Streams the "
                            "series are hashed into (the unit of ownership; fixed for the life of the stream).")
        parser.add_argument("--join", metavar="SOURCE_KEY", help="Run one worker of a stream routed by "
                            "`detect --workers` (on this or another machine with the same REDIS_URL and database).")
        parser.add_argument("--worker-id", help="--join: this worker's name (default host:pid).")
        parser.add_argument("--lease-seconds", type=float, default=15.0, help="--workers/--join: a dead worker's "
                            "shards are taken over this long after its last renewal.")
        parser.add_argument("--checkpoint-seconds", type=float, default=5.0)
        parser.add_argument("--fresh", action="store_true", help="Ignore the saved checkpoint.")
        parser.add_argument("--status-interval", type=float, default=None,
                            help="Seconds between status lines (default 1 on a terminal, 30 otherwise); 0 = none.")
        parser.add_argument("--status-lines", action="store_true",
                            help="Print each status as a new line, never redrawn in place (a terminal "
                                 "shared with other processes, as under `make run`).")

    def handle(self, *args, **options):
        if options["join"]:
            return self._join(options)
        if not options["source"]:
            raise CommandError("--source is required (or --join SOURCE_KEY to work on a routed stream)")
        bucket = options["bucket"] or settings.TOPOFORGE_BUCKET_SECONDS
        lateness = settings.TOPOFORGE_ALLOWED_LATENESS_SECONDS if options["lateness"] is None else options["lateness"]
        try:
            overrides = json.loads(options["detector_config"])
            detector_config(overrides)  # validate before anything starts
        except (ValueError, TypeError) as exc:
            raise CommandError(f"--detector-config: {exc}") from None
        make_source, kind, source_key = self._source_factory(options, bucket)
        source_key = options["source_key"] or source_key
        split_by = options["split_by"].strip()
        if not split_by and (options["series_idle"] is not None or options["max_series"] is not None):
            raise CommandError("--series-idle and --max-series need --split-by")
        if options["series_idle"] is not None and not (options["series_idle"] > 0 and math.isfinite(options["series_idle"])):
            raise CommandError("--series-idle must be a positive number of seconds")
        if options["max_series"] is not None and options["max_series"] < 1:
            raise CommandError("--max-series must be at least 1")
        warm_start = self._warm_start(options, kind, bucket, overrides)
        if warm_start is not None and split_by:
            raise CommandError("--warm-start and the generator's --history do not combine with --split-by "
                               "(one detector per series)")
        if options["workers"] is not None:
            config = {"kind": kind, "split_by": split_by, "shards": options["shards"], "bucket_seconds": bucket,
                      "allowed_lateness": lateness, "detector": overrides, "idle_seconds": options["series_idle"],
                      "max_series": options["max_series"]}
            return self._route(make_source, source_key, config, options)

        try:
            journal = Journal(settings.TOPOFORGE_JOURNAL_DIR, source_key)
        except JournalLocked as exc:
            raise CommandError(f"{exc}: is another `detect` for {source_key!r} running?") from None
        stopping = threading.Event()
        self._install_signal_handlers(stopping, lambda: None)
        try:
            checkpoint = None if options["fresh"] else load_checkpoint(source_key, stopping)
        except Interrupted:
            journal.close()
            return
        store = DetectionStore(source_key, journal, queue_size=settings.TOPOFORGE_STORE_QUEUE_SIZE).start()
        common = dict(kind=kind, store=store, checkpoint=checkpoint, bucket_seconds=bucket, allowed_lateness=lateness,
                      detector_overrides=overrides, checkpoint_seconds=options["checkpoint_seconds"])
        if split_by:
            pipeline = SeriesPipeline.resume(make_source, source_key=source_key, split_by=split_by,
                                             idle_seconds=options["series_idle"], max_series=options["max_series"],
                                             **common)
        else:
            pipeline = Pipeline.resume(make_source, source_key=source_key, **common)
        if hasattr(pipeline.source, "consumed"):
            store.on_checkpoint_stored = pipeline.source.consumed
        self._install_signal_handlers(stopping, pipeline.stop)
        if warm_start is not None:
            self._warm(pipeline, *warm_start)
        status = StatusLine(pipeline, options["status_interval"], redraw=not options["status_lines"]).start()
        ended = False
        try:
            ended = pipeline.run()
        except KeyboardInterrupt:
            pipeline.stop()
        finally:
            status.stop()
            store.close(final_checkpoint=None if ended else pipeline.final_checkpoint())
            journal.close()
        stats = store.stats
        self.stderr.write(
            f"{source_key}: {pipeline.counters.events} events, {pipeline.counters.windows} windows, "
            f"{pipeline.counters.anomalies} anomalies; stored {stats.stored}, already stored "
            f"{stats.duplicates}, journaled {stats.journaled}, drained {stats.drained}, "
            f"dropped late {pipeline.dropped_late}; source {dict(pipeline.source.stats)}"
            + (f"; series {len(pipeline.series.live)} live, {pipeline.series.evicted} evicted" if split_by else "")
        )

    def _route(self, make_source, source_key, config, options):
        """``--workers N``: this process routes the source into the shards; N children detect."""
        if not config["split_by"]:
            raise CommandError("--workers needs --split-by: the series are what the workers share")
        if options["workers"] < 0 or options["shards"] < 1:
            raise CommandError("--workers must be 0 or more and --shards at least 1")
        client = self._redis()
        if options["fresh"]:
            cluster.discard(client, source_key)
        try:
            router = ShardRouter(make_source, redis_url=settings.REDIS_URL, source_key=source_key, config=config)
        except ConfigMismatch as exc:
            raise CommandError(str(exc)) from None
        stopping = threading.Event()
        self._install_signal_handlers(stopping, router.stop)
        children = cluster.spawn_workers(options["workers"], source_key, options)
        self.stderr.write(f"{source_key}: routing into {config['shards']} shards in Redis, split by "
                          f"{config['split_by']!r}; {options['workers']} local workers (more: "
                          f"`manage.py detect --join {source_key}`)")
        ended = router.run()
        codes = cluster.wait_for_workers(children, stopping)
        self.stderr.write(f"{source_key}: routed {router.events} events; source {dict(router.source.stats)}"
                          + (f"; workers exited {codes}" if children else ""))
        if ended and children and not cluster.all_ended(client, source_key, config["shards"]):
            raise CommandError(f"the workers exited before every shard was done: run "
                               f"`manage.py detect --join {source_key}` to finish")

    def _join(self, options):
        """``--join KEY``: one worker of a routed stream, until stopped or the stream is done."""
        source_key = options["join"]
        client = self._redis()
        stopping = threading.Event()
        self._install_signal_handlers(stopping, lambda: None)
        config = cluster.wait_for_config(client, source_key, stopping)
        if config is None:
            return
        worker = ShardWorker(redis_url=settings.REDIS_URL, source_key=source_key, config=config,
                             worker_id=options["worker_id"], lease_seconds=options["lease_seconds"],
                             checkpoint_seconds=options["checkpoint_seconds"],
                             queue_size=settings.TOPOFORGE_STORE_QUEUE_SIZE)
        self._install_signal_handlers(stopping, worker.stop)
        status = StatusLine(worker, options["status_interval"], redraw=not options["status_lines"]).start()
        try:
            worker.run()
        finally:
            status.stop()
        self.stderr.write(f"{worker.worker_id}: {worker.counters.events} events, {worker.counters.windows} windows, "
                          f"{worker.counters.anomalies} anomalies; shards taken {worker.taken}, given back "
                          f"{worker.given_back}, lost {worker.lost}")

    @staticmethod
    def _redis():
        if not settings.REDIS_URL:
            raise CommandError("--workers and --join need REDIS_URL: the workers share the stream through "
                               "Redis Streams")
        from streams.shards import connect

        return connect(settings.REDIS_URL)

    def _warm_start(self, options, kind, bucket, overrides):
        """(description, make_events()) of the recorded events to warm the detector with, or None."""
        if options["warm_start"]:
            try:
                probe = ReplaySource(options["warm_start"], speed=0.0, mapping=options["mapping"])
            except (OSError, ValueError) as exc:
                raise CommandError(f"--warm-start: {exc}") from None
            if probe.kind != kind:
                raise CommandError(f"--warm-start: {probe.path.name} holds {probe.kind} events, "
                                   f"the stream's are {kind}")
            return probe.path.name, lambda: probe
        history = options["history"]
        if history is None:
            history = settings.TOPOFORGE_GENERATOR_HISTORY if self._live_generator(options) else "0"
        elif not self._live_generator(options):
            raise CommandError("--history is the live generator's (--source generator without --start); "
                               "use --warm-start FILE for other sources")
        if history == "auto":
            seconds = detector_config(overrides).vector_warmup_rows() * bucket
        else:
            try:
                seconds = float(history)
            except ValueError:
                raise CommandError(f"--history {history!r}: seconds, or 'auto'") from None
            if not (math.isfinite(seconds) and seconds >= 0):
                raise CommandError("--history must be 'auto' or a non-negative number of seconds")
        if not seconds:
            return None
        start = self._live_start - seconds
        # Its own seed: history like the live feed's, not the same events again.
        return (f"{seconds:g} s of generator history",
                lambda: GeneratorSource(start=start, seed=options["seed"] + 1, speed=0.0, duration=seconds))

    @staticmethod
    def _live_generator(options):
        return options["source"] == "generator" and options["start"] is None

    def _warm(self, pipeline, description, make_events):
        if pipeline.detector.rows:
            self.stderr.write(f"warm start skipped: the detector resumed from its checkpoint "
                              f"({pipeline.detector.rows} windows seen)")
            return
        began = time.monotonic()
        fed = pipeline.warm(make_events())
        progress = warm_up_progress(pipeline.detector)
        self.stderr.write(f"warm start: {fed} windows of {description} fed to the detector in "
                          f"{time.monotonic() - began:.1f} s, stored nowhere; warm-up "
                          f"{min(progress['windows'], progress['needed'])}/{progress['needed']}")

    def _install_signal_handlers(self, stopping, stop):
        def handler(signum, frame):
            stopping.set()
            stop()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)

    def _source_factory(self, options, bucket):
        """(make_source(resume_from), event kind, default source key) for ``--source``."""
        name = options["source"]
        if name == "wikipedia":
            url = options["url"] or settings.TOPOFORGE_WIKIPEDIA_URL
            agent = user_agent(settings.TOPOFORGE_VERSION, settings.TOPOFORGE_CONTACT)
            return (lambda resume: WikimediaSource(url, user_agent=agent, resume_from=resume)), RECENTCHANGE, "wikipedia"
        if name == "ndjson":
            return self._ndjson(options)
        if name == "replay":
            if not options["file"]:
                raise CommandError("--source replay needs --file")
            speed = parse_speed(options["speed"] or "fast")
            try:
                probe = ReplaySource(options["file"], speed=speed, mapping=options["mapping"])
            except (OSError, ValueError) as exc:
                raise CommandError(str(exc)) from None

            def make(resume):
                return ReplaySource(options["file"], speed=speed, mapping=options["mapping"], resume_from=resume)

            return make, probe.kind, f"replay:{probe.path.name}"
        if name == "generator":
            return self._generator(options, bucket)
        from streams.sources.inbox import InboxSource  # needs the ORM: imported on demand

        stream = options["stream"]
        return (lambda resume: InboxSource(stream, resume_from=resume)), "generic", f"http:{stream}"

    def _ndjson(self, options):
        url, path = options["url"], options["file"]
        if bool(url) == bool(path):
            raise CommandError("--source ndjson needs exactly one of --url or --file")
        agent = user_agent(settings.TOPOFORGE_VERSION, settings.TOPOFORGE_CONTACT)
        try:
            NDJSONSource(stream=[], mapping=options["mapping"], flavour=options["format"])
        except ValueError as exc:
            raise CommandError(f"--mapping: {exc}") from None

        def make(resume):
            stream = None
            if path:
                stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
            return NDJSONSource(url=url, stream=stream, mapping=options["mapping"], flavour=options["format"],
                                bearer_token=settings.TOPOFORGE_NDJSON_BEARER_TOKEN, user_agent=agent)

        key = "twitter" if options["format"] == "twitter" else "ndjson"
        return make, "generic", key

    def _generator(self, options, bucket):
        speed = parse_speed(options["speed"] or "1")
        live = options["start"] is None
        if live:
            if speed != 1.0:
                raise CommandError("--speed needs --start: a live generator runs on the clock")
            start = math.floor(time.time() / bucket) * bucket  # the first bucket is a whole one
            self._live_start = start
        else:
            start = parse_time(options["start"])
            if start is None:
                raise CommandError(f"--start {options['start']!r} is not an ISO 8601 time")
        anomalies = [parse_anomaly(text, start) for text in options["anomaly"]]
        if options["anomalies"]:
            if not options["duration"]:
                raise CommandError("--anomalies needs --duration")
            try:
                anomalies += schedule(start, options["duration"], options["anomalies"], seed=options["seed"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None

        def make(resume):
            if live:  # the clock has moved on: a live feed never replays its past
                return GeneratorSource(start=time.time() if resume else start, seed=options["seed"],
                                       anomalies=anomalies, wall_clock=True)
            return GeneratorSource(start=start, seed=options["seed"], speed=speed, duration=options["duration"],
                                   anomalies=anomalies, resume_from=resume)

        # A replayed timeline is its own stream: its resume ids mean nothing to the live demo's.
        key = "generator" if live else f"generator:{options['start']}:seed{options['seed']}"
        return make, RECENTCHANGE, key


class StatusLine:
    """The one-line live status on stderr: rewritten in place on a terminal, a log line otherwise."""

    def __init__(self, pipeline, interval, redraw=True, stream=None):
        self.pipeline = pipeline
        self.stream = stream or sys.stderr
        self.tty = redraw and self.stream.isatty()
        self.interval = (1.0 if self.tty else 30.0) if interval is None else interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)

    def start(self):
        if self.interval > 0:
            self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.tty:
            self.stream.write("\n")

    def _run(self):
        previous, every = 0, self.interval
        while not self._stop.wait(every):
            line = self.pipeline.status_line(previous, every)
            previous = self.pipeline.counters.events
            self.stream.write(f"\r\x1b[2K{line}" if self.tty else f"detect: {line}\n")
            self.stream.flush()
