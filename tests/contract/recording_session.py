"""A stand-in for a Cassandra session: it records every statement prepared and every execution
(CQL, bound values, consistency) and keeps rows in memory the way Cassandra would for the exact
statements the adapter prepares (primary keys, clustering order, LIMIT, IF NOT EXISTS, write
timestamps: the newest timestamp wins per row). No Cassandra server can run here; this is the
closest offline substitute, and the recorded CQL is itself under test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

_INSERT = re.compile(
    r"^INSERT INTO (\w+) \(([^)]*)\) VALUES \([^)]*\)( IF NOT EXISTS)?( USING TTL \?)?"
    r"( AND TIMESTAMP \?)?$"
)
_SELECT = re.compile(
    r"^SELECT (.+?) FROM (\w+)(?: WHERE (.+?))?( ORDER BY \w+ DESC)?( LIMIT (?:\?|(\d+)))?$"
)
_DELETE = re.compile(r"^DELETE FROM (\w+) WHERE (.+)$")

# Primary key columns of each table (partition + clustering), as in schema.cql.
KEYS = {
    "cameras": ("bucket", "camera_id"),
    "events_by_camera_day": ("camera_id", "day", "occurred_at", "event_id"),
    "alerts_by_camera_day": ("camera_id", "day", "first_seen", "alert_id"),
    "alerts_by_id": ("alert_id",),
    "verdicts_by_alert": ("alert_id", "decided_at", "verdict_id"),
    "tracks_by_camera_day": ("camera_id", "day", "first_seen", "track_id"),
    "snapshots_by_alert": ("alert_id",),
    "audit_journal": ("chain", "seq"),
    "audit_by_record": ("record_id",),
    "audit_anchor": ("chain",),
    "audit_checkpoints": ("chain", "record_count"),
}


@dataclass
class Prepared:
    query_string: str
    consistency_level: Any = None
    serial_consistency_level: Any = None


@dataclass
class Execution:
    cql: str
    values: tuple[Any, ...]
    consistency: Any


@dataclass
class RecordingSession:
    prepared: list[Prepared] = field(default_factory=list)
    executions: list[Execution] = field(default_factory=list)
    tables: dict[str, dict[tuple[Any, ...], tuple[int, dict[str, Any]]]] = field(
        default_factory=dict
    )
    clock: int = 0  # the write timestamp of statements that give none, always increasing

    def prepare(self, query: str) -> Prepared:
        statement = Prepared(query)
        self.prepared.append(statement)
        return statement

    def execute(self, statement: Prepared, parameters: Any = None) -> list[Any]:
        values = tuple(parameters or ())
        self.executions.append(
            Execution(statement.query_string, values, statement.consistency_level)
        )
        cql = statement.query_string
        for pattern, run in (
            (_INSERT, self._insert),
            (_SELECT, self._select),
            (_DELETE, self._delete),
        ):
            match = pattern.match(cql)
            if match:
                return run(match, list(values))
        raise AssertionError(f"statement the stand-in does not know: {cql}")

    def executed(self, prefix: str) -> list[Execution]:
        return [e for e in self.executions if e.cql.startswith(prefix)]

    # -- statements -------------------------------------------------------------------------------

    def _insert(self, match: re.Match[str], values: list[Any]) -> list[Any]:
        table, columns = match[1], [c.strip() for c in match[2].split(",")]
        row = dict(zip(columns, values[: len(columns)], strict=True))
        extra = values[len(columns) :]
        if match[4]:
            ttl = extra.pop(0)
            assert isinstance(ttl, int) and ttl > 0, f"TTL must be a positive int, got {ttl!r}"
        self.clock += 1
        timestamp = extra.pop(0) if match[5] else self.clock
        key = tuple(row[k] for k in KEYS[table])
        rows = self.tables.setdefault(table, {})
        if match[3]:  # IF NOT EXISTS: a lightweight transaction
            if key in rows:
                return [SimpleNamespace(applied=False)]
            rows[key] = (timestamp, row)
            return [SimpleNamespace(applied=True)]
        current = rows.get(key)
        if current is None or timestamp >= current[0]:
            merged = {**(current[1] if current else {}), **row}
            rows[key] = (timestamp, merged)
        return []

    def _conditions(self, where: str | None, values: list[Any]) -> list[tuple[str, str, Any]]:
        conditions = []
        for clause in (where or "").split(" AND "):
            if not clause:
                continue
            column, op, _ = clause.split(" ", 2)
            conditions.append((column, op, values.pop(0)))
        return conditions

    def _select(self, match: re.Match[str], values: list[Any]) -> list[Any]:
        columns, table, where = match[1], match[2], match[3]
        conditions = self._conditions(where, values)
        limit = (int(match[6]) if match[6] else values.pop(0)) if match[5] else None
        keys = KEYS[table]
        found = []
        for _key, (_, row) in sorted(
            self.tables.get(table, {}).items(), key=lambda kv: _order(kv[0])
        ):
            if all(_holds(row[c], op, v) for c, op, v in conditions):
                found.append(row)
        if match[4]:  # ORDER BY <the clustering column> DESC
            found.reverse()
        if limit is not None:
            found = found[:limit]
        wanted = keys if columns == "*" else None
        return [
            SimpleNamespace(
                **(row if wanted else {c.strip(): row.get(c.strip()) for c in columns.split(",")})
            )
            for row in found
        ]

    def _delete(self, match: re.Match[str], values: list[Any]) -> list[Any]:
        table, conditions = match[1], self._conditions(match[2], values)
        rows = self.tables.get(table, {})
        for key in [
            k
            for k, (_, row) in rows.items()
            if all(_holds(row[c], op, v) for c, op, v in conditions)
        ]:
            del rows[key]
        return []


def _order(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        k.timestamp() if isinstance(k, datetime) else k.toordinal() if isinstance(k, date) else k
        for k in key
    )


def _holds(actual: Any, op: str, expected: Any) -> bool:
    if op == "=":
        return bool(actual == expected)
    if op == ">=":
        return bool(actual >= expected)
    if op == ">":
        return bool(actual > expected)
    if op == "<":
        return bool(actual < expected)
    if op == "<=":
        return bool(actual <= expected)
    raise AssertionError(f"operator {op}")
