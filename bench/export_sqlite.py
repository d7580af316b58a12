"""The SQLite export paths measured against each other (docs/PERFORMANCE.md, "Export on SQLite").

    .venv/bin/python bench/api.py --rows 100000 --seed-only   # makes var/bench.sqlite3
    .venv/bin/python bench/export_sqlite.py

Each variant writes the CSV (or NDJSON) of every row of var/bench.sqlite3 newest first; the best
CPU time of three interleaved rounds is printed as rows per CPU-second (CPU time, since the
machine is shared). Prints figures; asserts nothing.
"""
import csv
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DATABASE_URL"] = f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"
os.environ.pop("MONGODB_URI", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "topoforge.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-of-enough-length")
import django  # noqa: E402

django.setup()
from django.db import connection
from anomalies.api import export_sql as x  # noqa: E402
from anomalies.api.export import reference_chunks
from anomalies.api.filters import ordered
from anomalies.models import AnomalyLog
qs = ordered(AnomalyLog.objects.all())
N = AnomalyLog.objects.count()
def drain(it):
    for c in it: pass
PRE = ("=", "+", "-", "@", "\t", "\r")
raw = ("SELECT id, CAST(timestamp AS TEXT), source_type, anomaly_score, is_anomaly, severity, betti_h0, betti_h1, "
       "betti_h2, event_data, metadata, dedup_key, CAST(created_at AS TEXT), feedback_label, series "
       "FROM anomalies_anomalylog ORDER BY timestamp DESC, id DESC")
def python_csv():
    c = connection.connection.execute(raw)
    buf = io.StringIO(); w = csv.writer(buf, lineterminator="\r\n")
    def nz(v): return "'" + v if v.startswith(PRE) else v
    while rows := c.fetchmany(1000):
        w.writerows([(i, ts.replace(" ", "T") + "Z", nz(s), sc, "true" if f else "false", nz(sv), a, b, cc,
                      nz(e), nz(m), nz(k), cr.replace(" ", "T") + "Z", nz(fl), nz(se))
                     for i, ts, s, sc, f, sv, a, b, cc, e, m, k, cr, fl, se in rows])
        buf.getvalue(); buf.seek(0); buf.truncate()


def lines_csv():
    """Whole CSV lines in SQL (quoting too), as on PostgreSQL, with %r of the float put in."""
    col = x._columns(connection)
    segs = x._segments(x._line_parts(x.SQLite(), "csv", col))
    fl = iter(x._float_columns(col))
    sql, params = x._compiled(qs, [next(fl) if s is None else s for s in segs])
    tpl = "".join("%r" if s is None else "%s" for s in segs)
    c = connection.connection.execute(sql, params)
    while rows := c.fetchmany(1000):
        "".join([tpl % r for r in rows])


variants = {
    "CSV: cells in SQL, quoting by csv.writer.writerows (export_sql.py)": lambda: drain(x.chunks(qs, "csv")),
    "CSV: whole lines in SQL, %r of the float": lines_csv,
    "CSV: raw tuples, cells formatted in Python, csv.writer": python_csv,
    "CSV: export.py (the reference)": lambda: drain(reference_chunks(qs, "csv")),
    "NDJSON: whole lines in SQL, %r of the float (export_sql.py)": lambda: drain(x.chunks(qs, "ndjson")),
    "NDJSON: export.py (the reference)": lambda: drain(reference_chunks(qs, "ndjson")),
}
best = {}
for _ in range(3):
    for name, fn in variants.items():
        b = time.process_time(); fn(); d = time.process_time() - b
        best[name] = min(best.get(name, 1e9), d)
print(f"{N:,} rows, best of 3, load {os.getloadavg()[0]:.1f}")
for name, d in best.items():
    print(f"{name}: {N / d:,.0f} rows per CPU-second")
print(f"machine: {os.cpu_count()} CPUs, " + next(
    (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?"))
