"""Archive calls for auditors and reports: the journal, its verification, and reports."""

from __future__ import annotations


class AuditCalls:
    pass
