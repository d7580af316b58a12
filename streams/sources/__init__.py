"""Event sources: each is an iterable of plain event dicts (see ``base.Source``).

``wikimedia`` (SSE), ``ndjson`` (X/Twitter or generic JSON lines), ``replay`` (files),
``generator`` (synthetic recentchange with labelled anomalies) and ``inbox`` (events pushed
to ``POST /api/events``).
"""
