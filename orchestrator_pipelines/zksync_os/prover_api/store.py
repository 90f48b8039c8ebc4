"""Prover jobs in a SQL store: SQLite for development, PostgreSQL in production.

The rules are the server's (``fri_job_manager.rs``, ``snark_job_manager.rs``,
``prover_job_map``):

- FRI: a pick prefers the smallest batch whose assignment timed out
  (``fri_job_timeout``), re-offering it; otherwise it assigns the smallest
  pending batch, unless the assigned batches already span
  ``max_assigned_batch_range`` (then nothing new is handed out, only retries,
  so one stuck batch cannot let the others run away). A submit is accepted
  only for an assigned job and only when the proof verifies; a second submit
  of a proven batch is accepted and changes nothing (the API is idempotent).
- SNARK: a pick takes the consecutive FRI-proven batches that start at the
  first batch not covered by a SNARK job, at most ``max_fris_per_snark`` of
  them, and assigns the range; a range not proven within
  ``snark_job_timeout`` is offered again. A submit must name exactly an
  assigned range.

Every pick runs under one lock (a transaction-scoped advisory lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two provers never get the same
job and two API processes may share one database.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from orchestrator_pipelines.errors import InvalidInputError, OrchestratorError
from orchestrator_pipelines.zksync_os.prover_api import proofs

# An arbitrary constant naming the advisory lock that serialises picks on PostgreSQL.
_PG_PICK_LOCK = 0x7A6B6F73

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS zkos_fri_jobs (
        batch_number BIGINT PRIMARY KEY,
        prover_input TEXT NOT NULL,
        vk_hash TEXT NOT NULL,
        offered_at DOUBLE PRECISION NOT NULL,
        assigned_at DOUBLE PRECISION,
        assigned_to TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        proof TEXT,
        proved_at DOUBLE PRECISION,
        proved_by TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS zkos_snark_jobs (
        batch_from BIGINT NOT NULL,
        batch_to BIGINT NOT NULL,
        assigned_at DOUBLE PRECISION NOT NULL,
        assigned_to TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        proof TEXT,
        proved_at DOUBLE PRECISION,
        PRIMARY KEY (batch_from, batch_to)
    )""",
)


class UnknownJobError(OrchestratorError):
    """The batch (or range) is not an assigned job of this API (HTTP 404)."""


class ProofRejectedError(OrchestratorError):
    """The submitted proof does not verify or does not match the job (HTTP 400)."""


@dataclass(frozen=True)
class ProverApiLimits:
    """The server's prover API settings (``prover_api_*``), in seconds and counts."""

    fri_job_timeout_s: float = 300.0
    snark_job_timeout_s: float = 300.0
    max_assigned_batch_range: int = 10
    max_fris_per_snark: int = 10

    def __post_init__(self) -> None:
        if self.fri_job_timeout_s <= 0 or self.snark_job_timeout_s <= 0:
            raise InvalidInputError("prover job timeouts must be positive")
        if self.max_assigned_batch_range < 1 or self.max_fris_per_snark < 1:
            raise InvalidInputError("max_assigned_batch_range and max_fris_per_snark must be at least 1")


@dataclass(frozen=True)
class FriJob:
    batch_number: int
    prover_input: str
    vk_hash: str


@dataclass(frozen=True)
class SnarkJob:
    batch_from: int
    batch_to: int
    fri_proofs: list[str]


class ProverJobStore:
    """Prover jobs in SQLite (``sqlite:///path`` or a plain path) or PostgreSQL (``postgresql://…``)."""

    def __init__(self, url: str, limits: ProverApiLimits | None = None, clock: Callable[[], float] = time.time):
        self.url = url
        self.limits = limits or ProverApiLimits()
        self.clock = clock
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        self._local = threading.local()
        self._sqlite_lock = threading.Lock()
        with self._transaction() as cursor:
            for statement in _SCHEMA:
                cursor.execute(statement)

    # -- connections ------------------------------------------------------------------

    def _connection(self):
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            return connection
        if self.postgres:
            import psycopg2

            connection = psycopg2.connect(self.url, connect_timeout=10)
        else:
            path = self.url.removeprefix("sqlite:///") if self.url.startswith("sqlite:///") else self.url
            connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
        self._local.connection = connection
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One serialised transaction; the cursor takes ``%s`` placeholders on both backends."""
        connection = self._connection()
        if self.postgres:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_PICK_LOCK,))
                    yield cursor
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
        else:
            with self._sqlite_lock:
                cursor = _SqliteCursor(connection.cursor())
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    yield cursor
                    cursor.execute("COMMIT")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    # -- orchestrator side ------------------------------------------------------------

    def offer_fri(self, batch_number: int, prover_input: str, vk_hash: str = "") -> bool:
        """Add batch ``batch_number``'s FRI job; True if new, False if it was already offered.

        Offering the same batch again with another input is refused: a job's
        input never changes once a prover may have started on it.
        """
        proofs.decode_words(prover_input)
        with self._transaction() as cursor:
            cursor.execute("SELECT prover_input FROM zkos_fri_jobs WHERE batch_number = %s", (batch_number,))
            row = cursor.fetchone()
            if row is not None:
                if row[0] != prover_input:
                    raise InvalidInputError(
                        f"batch {batch_number} was already offered to provers with a different prover input"
                    )
                return False
            cursor.execute(
                "INSERT INTO zkos_fri_jobs (batch_number, prover_input, vk_hash, offered_at) VALUES (%s, %s, %s, %s)",
                (batch_number, prover_input, vk_hash, self.clock()),
            )
            return True

    def fri_result(self, batch_number: int) -> dict[str, Any] | None:
        """The job's state for the orchestrator: offered, assigned, attempts, proof when proven."""
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT offered_at, assigned_at, assigned_to, attempts, proof, proved_at, proved_by "
                "FROM zkos_fri_jobs WHERE batch_number = %s",
                (batch_number,),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        offered_at, assigned_at, assigned_to, attempts, proof, proved_at, proved_by = row
        return {
            "batch_number": batch_number,
            "offered_at": offered_at,
            "assigned_at": assigned_at,
            "assigned_to": assigned_to,
            "attempts": attempts,
            "proof": proof,
            "proved_at": proved_at,
            "proved_by": proved_by,
        }

    def snark_result(self, batch_number: int) -> dict[str, Any] | None:
        """The proven SNARK range that covers ``batch_number``, if any."""
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT batch_from, batch_to, proof, proved_at FROM zkos_snark_jobs "
                "WHERE batch_from <= %s AND %s <= batch_to AND proof IS NOT NULL",
                (batch_number, batch_number),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return {"batch_from": row[0], "batch_to": row[1], "proof": row[2], "proved_at": row[3]}

    # -- prover side: FRI -------------------------------------------------------------

    def pick_fri(self, prover_id: str) -> FriJob | None:
        now = self.clock()
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT batch_number, prover_input, vk_hash FROM zkos_fri_jobs "
                "WHERE proof IS NULL AND assigned_at IS NOT NULL AND assigned_at <= %s "
                "ORDER BY batch_number LIMIT 1",
                (now - self.limits.fri_job_timeout_s,),
            )
            row = cursor.fetchone()
            if row is None:
                cursor.execute(
                    "SELECT MIN(batch_number), MAX(batch_number) FROM zkos_fri_jobs "
                    "WHERE proof IS NULL AND assigned_at IS NOT NULL"
                )
                low, high = cursor.fetchone()
                if low is not None and high - low >= self.limits.max_assigned_batch_range:
                    return None
                cursor.execute(
                    "SELECT batch_number, prover_input, vk_hash FROM zkos_fri_jobs "
                    "WHERE proof IS NULL AND assigned_at IS NULL ORDER BY batch_number LIMIT 1"
                )
                row = cursor.fetchone()
                if row is None:
                    return None
                if low is not None and row[0] - low > self.limits.max_assigned_batch_range:
                    return None
            cursor.execute(
                "UPDATE zkos_fri_jobs SET assigned_at = %s, assigned_to = %s, attempts = attempts + 1 "
                "WHERE batch_number = %s",
                (now, prover_id, row[0]),
            )
            return FriJob(batch_number=row[0], prover_input=row[1], vk_hash=row[2])

    def submit_fri(self, batch_number: int, proof: str, prover_id: str) -> bool:
        """Record a FRI proof; True if it was new. Raises ``UnknownJobError`` / ``ProofRejectedError``."""
        proofs.decode_b64(proof, "FRI proof")
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT prover_input, assigned_at, proof FROM zkos_fri_jobs WHERE batch_number = %s",
                (batch_number,),
            )
            row = cursor.fetchone()
            if row is None or (row[1] is None and row[2] is None):
                raise UnknownJobError(f"batch {batch_number} is not known to the server")
            prover_input, _, existing = row
            if not proofs.fri_proof_verifies(prover_input, proof):
                raise ProofRejectedError(f"proof verification failed for batch {batch_number}")
            if existing is not None:
                return False
            cursor.execute(
                "UPDATE zkos_fri_jobs SET proof = %s, proved_at = %s, proved_by = %s WHERE batch_number = %s",
                (proof, self.clock(), prover_id, batch_number),
            )
            return True

    def peek_fri(self, batch_number: int) -> FriJob | None:
        """The input of an assigned, unproven job (as the server, which keeps only those)."""
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT prover_input, vk_hash FROM zkos_fri_jobs "
                "WHERE batch_number = %s AND assigned_at IS NOT NULL AND proof IS NULL",
                (batch_number,),
            )
            row = cursor.fetchone()
        return None if row is None else FriJob(batch_number, row[0], row[1])

    def status(self) -> list[dict[str, int]]:
        """Assigned FRI jobs, as ``GET /prover-jobs/status`` lists them."""
        now = self.clock()
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT batch_number, assigned_at FROM zkos_fri_jobs "
                "WHERE proof IS NULL AND assigned_at IS NOT NULL ORDER BY batch_number"
            )
            rows = cursor.fetchall()
        return [{"batch_number": n, "assigned_seconds_ago": max(0, int(now - at))} for n, at in rows]

    # -- prover side: SNARK -----------------------------------------------------------

    def pick_snark(self, prover_id: str) -> SnarkJob | None:
        now = self.clock()
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT batch_from, batch_to FROM zkos_snark_jobs "
                "WHERE proof IS NULL AND assigned_at <= %s ORDER BY batch_from LIMIT 1",
                (now - self.limits.snark_job_timeout_s,),
            )
            timed_out = cursor.fetchone()
            if timed_out is not None:
                batch_from, batch_to = timed_out
                cursor.execute(
                    "UPDATE zkos_snark_jobs SET assigned_at = %s, assigned_to = %s, attempts = attempts + 1 "
                    "WHERE batch_from = %s AND batch_to = %s",
                    (now, prover_id, batch_from, batch_to),
                )
                return SnarkJob(batch_from, batch_to, self._fri_proofs(cursor, batch_from, batch_to))
            cursor.execute("SELECT MAX(batch_to) FROM zkos_snark_jobs")
            (covered,) = cursor.fetchone()
            cursor.execute(
                "SELECT batch_number, proof FROM zkos_fri_jobs WHERE batch_number > %s ORDER BY batch_number LIMIT %s",
                (-1 if covered is None else covered, self.limits.max_fris_per_snark),
            )
            ready: list[tuple[int, str]] = []
            for number, proof in cursor.fetchall():
                expected = ready[-1][0] + 1 if ready else None
                if proof is None or (expected is not None and number != expected):
                    break
                ready.append((number, proof))
            if not ready:
                return None
            batch_from, batch_to = ready[0][0], ready[-1][0]
            cursor.execute(
                "INSERT INTO zkos_snark_jobs (batch_from, batch_to, assigned_at, assigned_to) VALUES (%s, %s, %s, %s)",
                (batch_from, batch_to, now, prover_id),
            )
            return SnarkJob(batch_from, batch_to, [proof for _, proof in ready])

    def submit_snark(self, batch_from: int, batch_to: int, proof: str, prover_id: str) -> bool:
        """Record a SNARK proof of an assigned range; True if it was new."""
        proofs.decode_b64(proof, "SNARK proof")
        with self._transaction() as cursor:
            cursor.execute(
                "SELECT proof FROM zkos_snark_jobs WHERE batch_from = %s AND batch_to = %s",
                (batch_from, batch_to),
            )
            row = cursor.fetchone()
            if row is None:
                raise UnknownJobError(f"batches {batch_from}-{batch_to} are not an assigned SNARK job")
            fri_proofs = self._fri_proofs(cursor, batch_from, batch_to)
            if not proofs.snark_proof_verifies(batch_from, batch_to, fri_proofs, proof):
                raise ProofRejectedError(f"proof rejected: SNARK proof of batches {batch_from}-{batch_to} does not verify")
            if row[0] is not None:
                return False
            cursor.execute(
                "UPDATE zkos_snark_jobs SET proof = %s, proved_at = %s, assigned_to = %s "
                "WHERE batch_from = %s AND batch_to = %s",
                (proof, self.clock(), prover_id, batch_from, batch_to),
            )
            return True

    def peek_snark(self, batch_from: int, batch_to: int) -> list[str]:
        """The FRI proofs of ``batch_from..=batch_to``; ``UnknownJobError`` names the first missing one."""
        if batch_from > batch_to:
            raise InvalidInputError(
                f"Invalid range: from_batch_number ({batch_from}) must be <= to_batch_number ({batch_to})"
            )
        with self._transaction() as cursor:
            return self._fri_proofs(cursor, batch_from, batch_to)

    @staticmethod
    def _fri_proofs(cursor: Any, batch_from: int, batch_to: int) -> list[str]:
        cursor.execute(
            "SELECT batch_number, proof FROM zkos_fri_jobs WHERE batch_number BETWEEN %s AND %s AND proof IS NOT NULL",
            (batch_from, batch_to),
        )
        found = dict(cursor.fetchall())
        missing = next((n for n in range(batch_from, batch_to + 1) if n not in found), None)
        if missing is not None:
            raise UnknownJobError(f"No FRI proof found for batch {missing}")
        return [found[n] for n in range(batch_from, batch_to + 1)]


class _SqliteCursor:
    """A sqlite3 cursor that takes the ``%s`` placeholders the PostgreSQL driver uses."""

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    def execute(self, sql: str, params: tuple = ()) -> None:
        self._cursor.execute(sql.replace("%s", "?").replace("DOUBLE PRECISION", "REAL"), params)

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self):
        return self._cursor.fetchall()
