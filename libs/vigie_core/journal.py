"""The audit journal's keyed chain: tamper evidence an auditor can check, and a database
administrator cannot forge.

Each record is stored with its position (``seq``), the MAC of the record before it, its own MAC
and the id of the key that made it: ``HMAC-SHA256(key, domain, key_id, prev_hash,
canonical(record))``. A plain hash chain proves nothing against someone who can write the
database: they edit a record and recompute every hash after it. A MAC can only be recomputed
with the key, which lives in a secret the database never sees. The key id on each record lets
keys rotate: verification is given every key still trusted, by id.

Chaining alone cannot show that the newest records were removed (the shortened chain is still a
valid chain), nor that retention's *anchor* (where the chain starts once the oldest records are
gone) was moved forward over records deleted by hand. So:

- the anchor is MACed when retention moves it, and
- *checkpoints* (how many records the journal held, and the MAC of the last one, themselves
  MACed) are written every few records, in their own table, away from the records. A checkpoint
  that counted more records than remain shows a truncated tail; one whose head differs from the
  record now at that place shows a chain rewritten up to it.

:func:`verify` names what it finds: ``modified``, ``removed``, ``reordered``, ``truncated``,
``moved`` (the anchor), ``recomputed``, ``unknown key`` and ``forged`` (a checkpoint).

Records written before the journal was keyed (key id ``""``) were chained with plain SHA-256;
they are trusted only up to a valid checkpoint, which the store writes once when it first opens
such a journal with a key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from vigie_core.ids import millis, stable_id
from vigie_core.types import AuditRecord

GENESIS = "0" * 64  # the prev_hash of the very first record
LEGACY_KEY_ID = ""  # records chained by plain SHA-256, before the journal was keyed
DEV_KEY_ID = "dev"
# Published in the source, so it protects nothing: only for a laptop or a test. Services warn
# loudly at start when they run with it.
DEV_SECRET = b"vigie-development-journal-key--public--never-use-in-production"
MIN_SECRET_BYTES = 32
_RECORD = b"vigie.audit.record.v1\n"
_ANCHOR = b"vigie.audit.anchor.v1\n"
_CHECKPOINT = b"vigie.audit.checkpoint.v1\n"


@dataclass(frozen=True, slots=True)
class Keyring:
    """The journal keys by id; ``current`` signs, every key verifies (so records made under a
    retired key still verify as long as its key is given)."""

    keys: Mapping[str, bytes]
    current: str

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise ValueError(f"the signing key {self.current!r} is not among the keys")
        for key_id, secret in self.keys.items():
            if not key_id or any(c.isspace() or c in ":,#" for c in key_id):
                raise ValueError(f"bad journal key id {key_id!r}: no spaces, ':', ',' or '#'")
            if len(secret) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"journal key {key_id!r} is {len(secret)} bytes; at least"
                    f" {MIN_SECRET_BYTES} are needed"
                )

    @classmethod
    def development(cls) -> Keyring:
        return cls({DEV_KEY_ID: DEV_SECRET}, DEV_KEY_ID)

    @property
    def is_development(self) -> bool:
        return self.keys.get(self.current) == DEV_SECRET

    def mac(self, key_id: str, domain: bytes, *parts: str) -> str | None:
        """The MAC of ``parts`` under ``key_id``, or None if that key is not known."""
        secret = self.keys.get(key_id)
        if secret is None:
            return None
        message = domain + "\n".join((key_id, *parts)).encode()
        return hmac.new(secret, message, hashlib.sha256).hexdigest()

    def sign(self, domain: bytes, *parts: str) -> tuple[str, str]:
        """(key id, MAC) under the current key."""
        mac = self.mac(self.current, domain, *parts)
        assert mac is not None  # the current key is always known (checked at construction)
        return self.current, mac


@dataclass(frozen=True, slots=True)
class ChainedRecord:
    seq: int
    record: AuditRecord
    prev_hash: str
    hash: str
    key_id: str = LEGACY_KEY_ID

    def to_data(self) -> dict[str, Any]:
        """One line of ``vigie audit export``: the record, its place, its MACs and key id."""
        return {
            "seq": self.seq,
            **record_data(self.record),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "key_id": self.key_id,
        }


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where the chain starts: after record ``after_seq``, whose MAC was ``hash``. Moved only by
    retention, which MACs it (``key_id``, ``mac``); the genesis anchor needs no MAC."""

    after_seq: int
    hash: str
    key_id: str = ""
    mac: str = ""


START = Anchor(0, GENESIS)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The journal held ``record_count`` records (from the genesis) and the last one's MAC was
    ``head_hash``, at time ``at``; MACed, and stored away from the records."""

    record_count: int
    head_hash: str
    at: float
    key_id: str
    mac: str


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
    record_id: str | None = None,
) -> AuditRecord:
    """A journal record. Its id comes from what it records (action, subject, actor, time and
    ``key``), so the same fact journaled twice, by a replay, is one record; a caller journaling
    a call it answered gives ``record_id`` (one of its own making, never one the client sent)
    so two calls are two records whatever they claim."""
    return AuditRecord(
        record_id=record_id or stable_id("audit", action, subject, actor, millis(at), *key),
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
    """The bytes MACed: sorted keys, no spaces, times as repr'd floats, UTF-8."""
    return json.dumps(
        record_data(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def legacy_hash(prev_hash: str, record: AuditRecord) -> str:
    """How records were chained before the journal was keyed (plain SHA-256)."""
    return hashlib.sha256(prev_hash.encode() + canonical(record)).hexdigest()


def record_mac(keyring: Keyring, key_id: str, prev_hash: str, record: AuditRecord) -> str | None:
    return keyring.mac(key_id, _RECORD, prev_hash, canonical(record).decode())


def link(previous: Anchor, record: AuditRecord, keyring: Keyring) -> ChainedRecord:
    """The record appended after ``previous`` (the chain's last seq and MAC), under the
    current key."""
    key_id = keyring.current
    mac = record_mac(keyring, key_id, previous.hash, record)
    assert mac is not None
    return ChainedRecord(previous.after_seq + 1, record, previous.hash, mac, key_id)


def seal_anchor(keyring: Keyring, after_seq: int, head_hash: str) -> Anchor:
    key_id, mac = keyring.sign(_ANCHOR, str(after_seq), head_hash)
    return Anchor(after_seq, head_hash, key_id, mac)


def checkpoint(keyring: Keyring, record_count: int, head_hash: str, at: float) -> Checkpoint:
    key_id, mac = keyring.sign(_CHECKPOINT, str(record_count), head_hash, repr(float(at)))
    return Checkpoint(record_count, head_hash, float(at), key_id, mac)


def _anchor_mac(keyring: Keyring, anchor: Anchor) -> str | None:
    return keyring.mac(anchor.key_id, _ANCHOR, str(anchor.after_seq), anchor.hash)


def _checkpoint_mac(keyring: Keyring, cp: Checkpoint) -> str | None:
    return keyring.mac(cp.key_id, _CHECKPOINT, str(cp.record_count), cp.head_hash, repr(cp.at))


# -- verification -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    record_id: str
    # modified, removed, reordered, truncated, moved, recomputed, unknown key, forged
    kind: str
    detail: str
    where: str = ""  # what is wrong when it is not one record: "anchor", "journal", ...

    def __str__(self) -> str:
        place = self.where or f"record {self.seq} ({self.record_id})"
        return f"{place}: {self.kind}: {self.detail}"


@dataclass(slots=True)
class Verification:
    checked: int = 0
    checkpoints: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _equal(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a, b)


def _check_anchor(anchor: Anchor, keyring: Keyring, result: Verification) -> None:
    if anchor.after_seq == 0 and anchor.hash == GENESIS:
        return
    if anchor.key_id and anchor.key_id not in keyring.keys:
        result.problems.append(
            Problem(anchor.after_seq, "", "unknown key", _unknown(anchor.key_id), "anchor")
        )
    elif not _equal(_anchor_mac(keyring, anchor), anchor.mac):
        result.problems.append(
            Problem(
                anchor.after_seq,
                "",
                "moved",
                f"the chain is said to start after record {anchor.after_seq}, but retention"
                " did not put its anchor there (its MAC does not verify)",
                "anchor",
            )
        )


def _unknown(key_id: str) -> str:
    return f"made under key {key_id!r}, which verification was not given"


def _valid_checkpoints(
    checkpoints: Iterable[Checkpoint], keyring: Keyring, result: Verification
) -> list[Checkpoint]:
    valid = []
    for cp in sorted(checkpoints, key=lambda c: c.record_count):
        result.checkpoints += 1
        where = f"checkpoint of {cp.record_count} record(s)"
        if cp.key_id not in keyring.keys:
            result.problems.append(
                Problem(cp.record_count, "", "unknown key", _unknown(cp.key_id), where)
            )
        elif not _equal(_checkpoint_mac(keyring, cp), cp.mac):
            result.problems.append(
                Problem(cp.record_count, "", "forged", "its MAC does not verify", where)
            )
        else:
            valid.append(cp)
    return valid


@dataclass(slots=True)
class _Run:
    """Consecutive records whose MAC fails, each chained to the one before: a chain rewritten
    by someone without the key."""

    first: ChainedRecord
    last: ChainedRecord

    def problem(self) -> Problem | None:
        if self.last.seq == self.first.seq:
            return None
        return Problem(
            self.first.seq,
            self.first.record.record_id,
            "recomputed",
            f"records {self.first.seq}..{self.last.seq} are chained to each other by hashes the"
            " journal key did not make: the chain was recomputed from here",
        )


def verify(
    records: Iterable[ChainedRecord],
    anchor: Anchor = START,
    *,
    keyring: Keyring | None = None,
    checkpoints: Iterable[Checkpoint] = (),
) -> Verification:
    """Walk the chain in storage order (by ``seq`` as stored) from ``anchor``, then hold it
    against the checkpoints. ``keyring`` defaults to the development key.

    - *modified*: the record's content no longer gives its MAC;
    - *recomputed*: several records in a row fail their MAC yet are chained to each other
      (hashes recomputed without the key), or a checkpoint saw another record at that place;
    - *unknown key*: a record, the anchor or a checkpoint made under a key id not given;
    - *removed*: the seq jumps, or the record's prev_hash is the MAC of no record before it;
    - *reordered*: a seq lower than one already seen, or a prev_hash naming a record that is
      present but not the one just before;
    - *truncated*: a checkpoint counted more records than the journal now holds;
    - *moved*: the anchor does not carry retention's MAC;
    - *forged*: a checkpoint whose MAC does not verify.
    """
    keyring = keyring or Keyring.development()
    chain = list(records)
    result = Verification()
    _check_anchor(anchor, keyring, result)
    valid = _valid_checkpoints(checkpoints, keyring, result)
    # Records chained before the journal was keyed are trusted up to the last valid checkpoint.
    covered = max((cp.record_count for cp in valid), default=0)
    # Where each stored MAC sits, so a link to a record stored elsewhere reads as a move.
    position = {c.hash: c.seq for c in chain}
    position[anchor.hash] = anchor.after_seq
    expected_seq, expected_prev = anchor.after_seq + 1, anchor.hash
    run: _Run | None = None
    for chained in chain:
        result.checked += 1
        rid = chained.record.record_id
        if chained.key_id == LEGACY_KEY_ID:
            sound: bool | None = chained.seq <= covered and (
                legacy_hash(chained.prev_hash, chained.record) == chained.hash
            )
        elif chained.key_id not in keyring.keys:
            sound = None
            result.problems.append(
                Problem(chained.seq, rid, "unknown key", _unknown(chained.key_id))
            )
        else:
            expected = record_mac(keyring, chained.key_id, chained.prev_hash, chained.record)
            sound = _equal(expected, chained.hash)
        if sound is False:
            if run is not None and chained.prev_hash == run.last.hash:
                run.last = chained
            else:
                if run is not None and (problem := run.problem()):
                    result.problems.append(problem)
                run = _Run(chained, chained)
                result.problems.append(
                    Problem(chained.seq, rid, "modified", "its content does not give its MAC")
                )
        elif run is not None:
            if problem := run.problem():
                result.problems.append(problem)
            run = None
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
    if run is not None and (problem := run.problem()):
        result.problems.append(problem)
    _against_checkpoints(chain, anchor, valid, result)
    return result


def _against_checkpoints(
    chain: list[ChainedRecord], anchor: Anchor, valid: list[Checkpoint], result: Verification
) -> None:
    by_seq = {c.seq: c for c in chain}
    last_seq = max(by_seq, default=anchor.after_seq)
    beyond = [cp for cp in valid if cp.record_count > last_seq]
    for cp in valid:
        if cp.record_count == anchor.after_seq and cp.head_hash != anchor.hash:
            result.problems.append(
                Problem(
                    anchor.after_seq,
                    "",
                    "moved",
                    f"a checkpoint saw another record {cp.record_count} than the anchor names",
                    "anchor",
                )
            )
        chained = by_seq.get(cp.record_count)
        if chained is not None and chained.hash != cp.head_hash:
            result.problems.append(
                Problem(
                    chained.seq,
                    chained.record.record_id,
                    "recomputed",
                    f"a checkpoint saw another record at this place (at {cp.at!r}): the chain"
                    " was rewritten up to here",
                )
            )
    if beyond:
        cp = beyond[-1]
        result.problems.append(
            Problem(
                cp.record_count,
                "",
                "truncated",
                f"the journal ends at record {last_seq}, but a checkpoint (at {cp.at!r}) counted"
                f" {cp.record_count} record(s): record(s) {last_seq + 1}..{cp.record_count}"
                " were removed from its tail",
                "journal",
            )
        )


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


# -- verifying a store's journal --------------------------------------------------------------

READ_PAGE = 5000  # records read at a time when walking a store's journal


class JournalSource(Protocol):
    """What verification reads of an archive (``vigie_storage.ports.ArchiveStore`` has it)."""

    def audit_records(self, after_seq: int = 0, limit: int = ...) -> list[ChainedRecord]: ...

    def audit_anchor(self) -> Anchor: ...

    def audit_checkpoints(self) -> list[Checkpoint]: ...


def stored_records(source: JournalSource, page: int = READ_PAGE) -> Iterator[ChainedRecord]:
    """Every record of ``source``'s journal in storage order, ``page`` at a time (an archive
    caps what one read returns)."""
    after = 0
    while True:
        found = source.audit_records(after_seq=after, limit=page)
        yield from found
        if len(found) < page:
            return
        after = found[-1].seq


def verify_stored(source: JournalSource, keyring: Keyring) -> tuple[Anchor, Verification]:
    """:func:`verify` of a whole stored journal with its anchor and checkpoints: one way to
    check an archive, for ``vigie audit verify`` and the Archive's VerifyJournal alike. Returns
    the anchor too, to say where the chain checked starts. The anchor is read first: retention
    moving it while the records are read shows as records removed, never as a clean chain."""
    anchor = source.audit_anchor()
    checkpoints = source.audit_checkpoints()
    return anchor, verify(stored_records(source), anchor, keyring=keyring, checkpoints=checkpoints)
