"""The audit journal's hash chain: tamper evidence an auditor can check without trusting us.

Each record is stored with its position (``seq``), the hash of the record before it and its own
hash, ``sha256(prev_hash + canonical(record))``. Changing a record changes its hash; removing one
leaves a gap in ``seq`` and a ``prev_hash`` that points at nothing; swapping two breaks the links
on both sides. :func:`verify` walks the chain and names the first record at which each of these
shows, with what is wrong.

Retention may remove the oldest records: the chain then starts at an *anchor*, the position and
hash of the last record removed, and verifies from there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigie_core.ids import millis, stable_id
from vigie_core.types import AuditRecord

GENESIS = "0" * 64  # the prev_hash of the very first record


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    seq: int
    record: AuditRecord
    prev_hash: str
    hash: str

    def to_data(self) -> dict[str, Any]:
        """One line of ``vigie audit export``: the record, its place and its hashes."""
        return {
            "seq": self.seq,
            **record_data(self.record),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class Anchor:
    after_seq: int
    hash: str


START = Anchor(0, GENESIS)


def entry(
    action: str,
    subject: str,
    at: float,
    *,
    actor: str,
    role: str,
    reason: str = "",
    request_id: str = "",
    camera_id: str = "",
    details: Mapping[str, str] | None = None,
    key: Sequence[object] = (),
) -> AuditRecord:
    """A journal record whose id comes from what it records (action, subject, actor, time and
    ``key``), so the same fact journaled twice, by a replay, is one record."""
    return AuditRecord(
        record_id=stable_id("audit", action, subject, actor, millis(at), *key),
        at=at,
        actor=actor,
        role=role,
        action=action,
        subject=subject,
        reason=reason,
        request_id=request_id,
        camera_id=camera_id,
        details=dict(details or {}),
    )


def record_data(record: AuditRecord) -> dict[str, Any]:
    return {
        "record_id": record.record_id,
        "at": record.at,
        "actor": record.actor,
        "role": record.role,
        "action": record.action,
        "subject": record.subject,
        "reason": record.reason,
        "request_id": record.request_id,
        "camera_id": record.camera_id,
        "details": dict(sorted(record.details.items())),
    }


def canonical(record: AuditRecord) -> bytes:
    """The bytes hashed: sorted keys, no spaces, times as repr'd floats, UTF-8."""
    return json.dumps(
        record_data(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def chain_hash(prev_hash: str, record: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(record)).hexdigest()


def link(previous: Anchor, record: AuditRecord) -> ChainedRecord:
    """The record appended after ``previous`` (the chain's last seq and hash)."""
    seq = previous.after_seq + 1
    return ChainedRecord(seq, record, previous.hash, chain_hash(previous.hash, record))


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    record_id: str
    kind: str  # modified, removed, reordered
    detail: str

    def __str__(self) -> str:
        return f"record {self.seq} ({self.record_id}): {self.kind}: {self.detail}"


@dataclass(slots=True)
class Verification:
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(records: Iterable[ChainedRecord], anchor: Anchor = START) -> Verification:
    """Walk the chain in storage order (by ``seq`` as stored) from ``anchor``.

    - *modified*: the record's content no longer gives its stored hash;
    - *removed*: the seq jumps, or the record's prev_hash is the hash of no record before it;
    - *reordered*: a seq lower than one already seen, or a prev_hash naming a record that is
      present but not the one just before.
    """
    chain = list(records)
    result = Verification()
    # Where each stored hash sits, so a link to a record stored elsewhere reads as a move.
    position = {c.hash: c.seq for c in chain}
    position[anchor.hash] = anchor.after_seq
    expected_seq, expected_prev = anchor.after_seq + 1, anchor.hash
    for chained in chain:
        result.checked += 1
        rid = chained.record.record_id
        if chained_hash_of(chained) != chained.hash:
            result.problems.append(
                Problem(chained.seq, rid, "modified", "its content does not give its hash")
            )
        if chained.seq < expected_seq:
            result.problems.append(
                Problem(chained.seq, rid, "reordered", f"stored after record {expected_seq - 1}")
            )
        elif chained.seq > expected_seq:
            missing = (
                f"{expected_seq}"
                if chained.seq == expected_seq + 1
                else f"{expected_seq}..{chained.seq - 1}"
            )
            result.problems.append(
                Problem(chained.seq, rid, "removed", f"record(s) {missing} missing before it")
            )
        elif chained.prev_hash != expected_prev:
            where = position.get(chained.prev_hash)
            kind, detail = (
                ("reordered", f"it follows record {where}, not record {chained.seq - 1}")
                if where is not None
                else ("removed", "the record it was chained to is missing from the journal")
            )
            result.problems.append(Problem(chained.seq, rid, kind, detail))
        expected_seq, expected_prev = max(expected_seq, chained.seq + 1), chained.hash
    return result


def chained_hash_of(chained: ChainedRecord) -> str:
    return chain_hash(chained.prev_hash, chained.record)


def record_from_data(data: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(
        record_id=str(data["record_id"]),
        at=float(data["at"]),
        actor=str(data["actor"]),
        role=str(data.get("role", "")),
        action=str(data["action"]),
        subject=str(data.get("subject", "")),
        reason=str(data.get("reason", "")),
        request_id=str(data.get("request_id", "")),
        camera_id=str(data.get("camera_id", "")),
        details={str(k): str(v) for k, v in dict(data.get("details", {})).items()},
    )
