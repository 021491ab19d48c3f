"""Versioned schema migrations for the SQLite archive.

Each ``NNNN_name.sql`` file in this package is one migration; ``NNNN`` is its version. At open,
every version not yet recorded in ``schema_migrations`` is applied in order, each in its own
transaction together with the row that records it, so a crash mid-migration leaves the database
at the previous version rather than half-migrated. Migrations are never edited once released: a
schema change is a new file.

A database that records a version this code does not know was written by a newer (or different)
release. It is refused rather than used: this code would read and write it with the wrong schema,
and there is no downgrade.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[A-Za-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)
"""


class SchemaVersionError(RuntimeError):
    """The database's schema does not match any this code can use; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str = __name__) -> list[Migration]:
    """Every migration shipped in ``package``, by version; read through ``importlib.resources``
    so it works from a wheel or a zip as well as from a source tree."""
    found: dict[int, Migration] = {}
    for entry in resources.files(package).iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        version = int(match["version"])
        if version in found:
            raise SchemaVersionError(
                f"two migrations claim version {version}: {found[version].name!r} and"
                f" {match['name']!r}"
            )
        found[version] = Migration(version, match["name"], entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def applied_versions(conn: sqlite3.Connection) -> dict[int, str]:
    """Versions recorded in the database, with their names."""
    rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version")
    return {int(version): str(name) for version, name in rows}


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration] | None = None) -> list[int]:
    """Bring the database up to the newest known version; returns the versions applied now.

    ``conn`` must be in autocommit mode (``isolation_level=None``): each migration opens its own
    transaction. Safe against another process migrating the same file at the same time: the
    write lock is taken before checking whether a version is still pending.
    """
    known = list(load_migrations() if migrations is None else migrations)
    conn.execute(_CREATE_LEDGER)
    _refuse_unknown(applied_versions(conn), known)
    applied_now = []
    for migration in known:
        if _apply(conn, migration):
            applied_now.append(migration.version)
    return applied_now


def _refuse_unknown(applied: dict[int, str], known: Sequence[Migration]) -> None:
    known_versions = {m.version for m in known}
    unknown = sorted(set(applied) - known_versions)
    if unknown:
        newest_known = max(known_versions, default=0)
        raise SchemaVersionError(
            f"the database records schema version(s) {unknown} but this release knows versions"
            f" up to {newest_known}; it was written by a newer release. Upgrade this service or"
            " point it at another database: downgrading is not supported."
        )


def _apply(conn: sqlite3.Connection, migration: Migration) -> bool:
    """Apply one migration and record it in the same transaction, unless already recorded."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if migration.version in applied_versions(conn):
            conn.execute("COMMIT")
            return False
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (migration.version, migration.name, datetime.now(UTC).isoformat(timespec="seconds")),
        )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True


def split_statements(sql: str) -> Iterator[str]:
    """The statements of a script, one at a time.

    ``executescript`` would commit before running, breaking the one-transaction-per-migration
    rule, so statements are run one by one instead. ``sqlite3.complete_statement`` decides where
    each ends, which keeps semicolons inside strings, comments and trigger bodies intact.
    """
    pending = ""
    for chunk in sql.split(";"):
        pending += chunk + ";"
        if sqlite3.complete_statement(pending):
            if _has_code(pending):
                yield pending.strip()
            pending = ""
    if _has_code(pending.removesuffix(";")):
        raise ValueError(f"incomplete SQL statement at end of migration: {pending.strip()!r}")


def _has_code(sql: str) -> bool:
    """True unless ``sql`` is only whitespace, comments and semicolons."""
    without_block = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    without_line = re.sub(r"--[^\n]*", " ", without_block)
    return bool(without_line.replace(";", "").strip())
