"""What arrives from GitHub before any work starts: the signature check and the record of
deliveries already handled, so a redelivered or replayed event does not run twice."""
from __future__ import annotations

import hashlib
import hmac
import sqlite3
import threading
import time
from pathlib import Path


def sign(secret: bytes, body: bytes) -> str:
    """The X-Hub-Signature-256 value GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    """True only for a present, well-formed header matching the body (compared in constant time)."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.strip().encode())


class DeliveryLog:
    """Deliveries already accepted, in a small SQLite file that outlives the server: each one's
    id (X-GitHub-Delivery) and the SHA-256 of its signed body. GitHub redelivers an event under
    the same id; a replayed body arrives under any id the sender likes, and the body is what the
    signature covers, so either one seen before makes a delivery a duplicate."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, event TEXT, at REAL)")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(deliveries)")}
        if "body_sha256" not in columns:  # a log written before bodies were recorded
            self._db.execute("ALTER TABLE deliveries ADD COLUMN body_sha256 TEXT")
        self._db.execute("CREATE UNIQUE INDEX IF NOT EXISTS deliveries_body ON deliveries (body_sha256)")
        self._lock = threading.Lock()

    def claim(self, delivery_id: str, event: str, body: bytes | None = None) -> bool:
        """Record a delivery; False when its id, or its body, was recorded before (the caller
        skips the work). Rows without a body (older logs, callers that pass none) match by id."""
        digest = hashlib.sha256(body).hexdigest() if body is not None else None
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO deliveries (id, event, at, body_sha256) VALUES (?, ?, ?, ?)",
                                   (delivery_id, event, time.time(), digest))
            return cur.rowcount == 1

    def release(self, delivery_id: str) -> None:
        """Forget a delivery whose work failed, id and body, so a redelivery may try again."""
        with self._lock:
            self._db.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))

    def seen(self, delivery_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM deliveries WHERE id = ?", (delivery_id,)).fetchone() is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()
