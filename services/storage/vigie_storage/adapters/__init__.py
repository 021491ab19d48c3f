"""Archive back-ends implementing :class:`vigie_storage.ports.ArchiveStore`."""

from vigie_storage.adapters.migrations import SchemaVersionError
from vigie_storage.adapters.sqlite_store import SqliteArchive

__all__ = ["SchemaVersionError", "SqliteArchive"]
