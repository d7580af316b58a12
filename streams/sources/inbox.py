"""Events pushed to ``POST /api/events``, read back from the durable inbox in id order.

The resume id is the id of the last row read. Rows are deleted once a checkpoint past them is
stored (``consumed``), so the inbox holds only what detection has not yet made durable.

Rows become visible to the reader ``settle`` seconds after they were received: a concurrent
push whose transaction commits a moment later than a newer one cannot be skipped.
"""
import logging
from datetime import timedelta

from django.db import DatabaseError, connection
from django.utils import timezone

from anomalies.models import IngestedEvent
from streams.sources.base import GENERIC, Backoff, Source

logger = logging.getLogger(__name__)


class InboxSource(Source):
    kind = GENERIC
    source_type = "http"
    live = True

    def __init__(self, stream, *, resume_from="", poll_interval=1.0, batch_size=1000, settle=1.0):
        super().__init__(resume_from)
        self.stream = stream
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self.settle = timedelta(seconds=settle)
        self._pk = IngestedEvent._meta.pk

    def describe(self):
        return {"stream": self.stream}

    def _after(self):
        queryset = IngestedEvent.objects.filter(stream=self.stream)
        if self.last_event_id:
            queryset = queryset.filter(pk__gt=self._pk.to_python(self.last_event_id))
        return queryset

    def __iter__(self):
        backoff = Backoff(0.5, 10.0)
        while not self.stopped:
            try:
                rows = list(
                    self._after().filter(received_at__lte=timezone.now() - self.settle)
                    .order_by("pk")[: self.batch_size]
                )
            except DatabaseError as exc:
                logger.warning("inbox %s: database unavailable: %s", self.stream, exc)
                connection.close()
                yield None
                self.sleep(backoff.next_delay())
                continue
            backoff.reset()
            for row in rows:
                self.last_event_id = str(row.pk)
                self.stats["events"] += 1
                yield {
                    "timestamp": row.event_time.timestamp(),
                    "value": row.value,
                    "key": row.key or None,
                    "type": row.type or None,
                    "data": row.data,
                }
                if self.stopped:
                    return
            if len(rows) < self.batch_size:
                yield None  # quiet: let the pipeline close buckets on the clock
                self.sleep(self.poll_interval)

    def consumed(self, last_event_id):
        """A checkpoint after ``last_event_id`` is stored: its rows are no longer needed."""
        if not last_event_id:
            return
        IngestedEvent.objects.filter(
            stream=self.stream, pk__lte=self._pk.to_python(last_event_id)
        ).delete()
