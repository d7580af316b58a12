"""Permission matrix rows of the realtime endpoints (format: accounts/tests/permission_rows.py).

Every signed-in role may watch every detection; nobody anonymous may. The stream row only checks
the status: the matrix closes the streaming response without reading it.
"""
from accounts.tests.permission_rows import Row

ROWS = [
    Row("POST", "/api/realtime/ticket", 401, 201, 201, 201),
    Row("GET", "/api/realtime/stream", 401, 200, 200, 200),
    Row("GET", "/api/realtime/stream?source=wikipedia&min_score=0.5&anomalies_only=true", 401, 200, 200, 200),
]
