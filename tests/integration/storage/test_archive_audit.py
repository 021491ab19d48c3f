"""The Archive's calls for auditors and reports on loopback over a real SQLite archive: who may
read and verify the journal, every filter and page of a listing, tampering found by
VerifyJournal, a report's numbers from archived rows, and exports journaled as such."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.contract.recording_session import RecordingSession
from tests.integration.storage.archive_server import archive_stub, callers, code_of
from vigie.v1 import events_pb2, services_pb2, services_pb2_grpc
from vigie_core.journal import ChainedRecord, Keyring
from vigie_core.reporting import TooManyRows, every_row
from vigie_core.types import (
    Alert,
    AlertStatus,
    AuditRecord,
    Event,
    EventKind,
    FrameRef,
    Severity,
    TrackSummary,
    Verdict,
    VerdictAction,
)
from vigie_runtime import codec
from vigie_runtime.auth import GRANTS, Authenticator, Permission, Role, TokenEntry, digest
from vigie_runtime.grpc_server import GrpcServer, Registration
from vigie_runtime.settings import GrpcSettings
from vigie_storage.adapters.cassandra import store as cassandra_store
from vigie_storage.adapters.cassandra.store import CassandraArchive
from vigie_storage.adapters.sqlite_store import SqliteArchive
from vigie_storage.grpc_api import ArchiveServicer
from vigie_storage.grpc_audit import AuditCalls
from vigie_storage.grpc_common import encode_cursor
from vigie_storage.ports import ArchiveStore, Cursor, DataKind, JournalQuery, SearchQuery

pytestmark = pytest.mark.integration

T0 = 1_795_000_000.0  # 2026-11-18T09:06:40Z
NOW = T0 + 10_000.0
KEYS = Keyring({"k1": b"k1-secret-" + b"x" * 30}, "k1")
OPERATOR = [("authorization", "Bearer ana-token")]
AUDITOR = [("authorization", "Bearer dpo-token"), ("x-request-id", "req-9")]
PURPOSE = "quarterly access review"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "archive.sqlite"


@pytest.fixture
def archive(db_path: Path) -> Iterator[SqliteArchive]:
    store = SqliteArchive(db_path, KEYS, checkpoint_every=4)
    yield store
    store.close()


@pytest.fixture
def servicer(archive: SqliteArchive) -> ArchiveServicer:
    servicer = ArchiveServicer(archive, callers(), clock=lambda: NOW)
    servicer.journal_keyring = KEYS
    return servicer


@pytest.fixture
def stub(servicer: ArchiveServicer) -> Iterator[services_pb2_grpc.ArchiveStub]:
    with archive_stub(servicer) as stub:
        yield stub


def record(n: int, actor: str, action: str, subject: str = "", camera: str = "") -> AuditRecord:
    return AuditRecord(
        f"rec-{n}", T0 + n, actor, "operator", action, subject, "why", "req-1", camera, {}
    )


# Ten records, seq 1..10 at T0+1..T0+10.
SEEDED = [
    record(1, "ana", "search.events", "events", "cam-1"),
    record(2, "bob", "verdict.dismiss", "al-1", "cam-1"),
    record(3, "ana", "verdict.confirm", "al-2", "cam-2"),
    record(4, "system:alerting", "alert.raised", "al-3", "cam-2"),
    record(5, "ana", "search.alerts", "alerts"),
    record(6, "bob", "search.tracks", "tracks"),
    record(7, "ana", "verdict.dismiss", "al-3", "cam-2"),
    record(8, "bob", "searchlight.on", "cam-1", "cam-1"),
    record(9, "ana", "export.snapshot", "al-2"),
    record(10, "ana", "search.events", "events", "cam-1"),
]


def journaled(store: ArchiveStore, action: str) -> list[AuditRecord]:
    return [c.record for c in store.audit_records() if c.record.action == action]


# -- who may read the journal -------------------------------------------------------------------


def test_an_operator_may_neither_list_nor_verify_the_journal_and_trying_is_journaled(
    stub: services_pb2_grpc.ArchiveStub, archive: SqliteArchive
) -> None:
    listing = services_pb2.ListJournalRequest(purpose=PURPOSE)
    assert code_of(stub.ListJournal, listing) is grpc.StatusCode.PERMISSION_DENIED
    verifying = services_pb2.VerifyJournalRequest(purpose=PURPOSE)
    assert code_of(stub.VerifyJournal, verifying) is grpc.StatusCode.PERMISSION_DENIED
    assert code_of(stub.ListJournal, listing, []) is grpc.StatusCode.UNAUTHENTICATED
    (listed,) = journaled(archive, "audit.list")[:1]
    (verified,) = journaled(archive, "audit.verify")
    for refusal in (listed, verified):
        assert (refusal.actor, refusal.role) == ("ana", "operator")
        assert refusal.details["outcome"] == "permission_denied"
        assert refusal.reason == PURPOSE
    anonymous = journaled(archive, "audit.list")[1]
    assert (anonymous.actor, anonymous.details["outcome"]) == ("anonymous", "unauthenticated")


def test_reading_the_journal_needs_a_purpose(
    stub: services_pb2_grpc.ArchiveStub, archive: SqliteArchive
) -> None:
    assert code_of(stub.ListJournal, services_pb2.ListJournalRequest(), AUDITOR) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert code_of(stub.VerifyJournal, services_pb2.VerifyJournalRequest(), AUDITOR) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    outcomes = [r.details["outcome"] for r in _all(archive)]
    assert outcomes == ["invalid_argument", "invalid_argument"]


def _all(store: ArchiveStore) -> list[AuditRecord]:
    return [c.record for c in store.audit_records()]


# -- listing ------------------------------------------------------------------------------------


def listed(
    stub: services_pb2_grpc.ArchiveStub, **fields: object
) -> tuple[list[int], services_pb2.ListJournalResponse]:
    answer = stub.ListJournal(
        services_pb2.ListJournalRequest(purpose=PURPOSE, **fields),  # type: ignore[arg-type]
        metadata=AUDITOR,
    )
    return [e.seq for e in answer.entries], answer


def ts(t: float) -> object:
    return codec.time_to_proto(t)


def test_an_auditor_lists_newest_first_with_each_filter(
    stub: services_pb2_grpc.ArchiveStub, archive: SqliteArchive
) -> None:
    archive.append_audit(SEEDED)
    seqs, answer = listed(stub)
    assert seqs == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]  # the listing is not in its own page
    assert answer.next_page_token == ""
    first = answer.entries[0]
    assert (first.record.record_id, first.record.action) == ("rec-10", "search.events")
    assert first.hash == archive.audit_records()[9].hash
    # the listing above is seq 11 now, and is seen by the next one; from here on, each
    # listing's filters leave it out
    assert listed(stub, actor="bob")[0] == [8, 6, 2]
    assert listed(stub, action_prefix="search.")[0] == [10, 6, 5, 1]  # not searchlight.on
    assert listed(stub, action_prefix="verdict.")[0] == [7, 3, 2]
    assert listed(stub, action_prefix="SEARCH.")[0] == []  # case matters
    assert listed(stub, subject="al-3")[0] == [7, 4]
    assert listed(stub, camera_id="cam-2")[0] == [7, 4, 3]
    assert listed(stub, since=ts(T0 + 3), until=ts(T0 + 6))[0] == [5, 4, 3]  # [since, until)
    assert listed(stub, actor="ana", action_prefix="verdict.", camera_id="cam-2")[0] == [7, 3]
    audit_lists = listed(stub, action_prefix="audit.list")[0]
    assert audit_lists == list(range(19, 10, -1))  # each earlier listing, newest first
    (last,) = [
        r for r in _all(archive) if r.action == "audit.list" and r.details.get("actor") == "bob"
    ]
    assert (last.actor, last.role, last.reason, last.request_id) == (
        "dpo",
        "auditor",
        PURPOSE,
        "req-9",
    )
    assert last.details["results"] == "3" and last.details["page"] == "first"
    assert last.details["outcome"] == "ok"


def test_pages_cover_the_filtered_journal_once_newest_first(
    stub: services_pb2_grpc.ArchiveStub, archive: SqliteArchive
) -> None:
    archive.append_audit(SEEDED)
    pages: list[list[int]] = []
    token = ""
    while True:
        seqs, answer = listed(stub, action_prefix="search", limit=2, page_token=token)
        pages.append(seqs)
        token = answer.next_page_token
        if not token:
            break
    assert pages == [[10, 8], [6, 5], [1]]  # "search" also takes searchlight.on
    # the listings made meanwhile (audit.list) are newer than the first page: never in a next one
    assert [r.details["page"] for r in journaled(archive, "audit.list")] == [
        "first",
        "next",
        "next",
    ]
    # the default page is 100, at most 1000
    archive.append_audit(record(n, "eve", "search.events", "events") for n in range(100, 1_250))
    seqs, answer = listed(stub, actor="eve")
    assert len(seqs) == 100 and answer.next_page_token
    seqs, _ = listed(stub, actor="eve", limit=5_000)
    assert len(seqs) == 1_000


def test_a_bad_listing_is_refused(stub: services_pb2_grpc.ArchiveStub) -> None:
    for fields in (
        {"page_token": "not-a-token"},
        {"since": ts(T0 + 5), "until": ts(T0 + 5)},
    ):
        request = services_pb2.ListJournalRequest(purpose=PURPOSE, **fields)  # type: ignore[arg-type]
        assert code_of(stub.ListJournal, request, AUDITOR) is grpc.StatusCode.INVALID_ARGUMENT
    # a search's token (a time and an event id) is no listing's
    foreign = encode_cursor(Cursor(T0, "ev-1"))
    request = services_pb2.ListJournalRequest(purpose=PURPOSE, page_token=foreign)
    assert code_of(stub.ListJournal, request, AUDITOR) is grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(params=["sqlite", "cassandra-recorded"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArchiveStore]:
    found: ArchiveStore
    if request.param == "sqlite":
        found = SqliteArchive(tmp_path / "a.sqlite", KEYS)
    else:
        keep = dict.fromkeys(DataKind, 400.0)
        found = CassandraArchive(RecordingSession(), "LOCAL_QUORUM", keep, keyring=KEYS)
    found.append_audit(SEEDED)
    yield found
    found.close()


def page_seqs(store: ArchiveStore, **fields: object) -> list[list[int]]:
    """Every page of a listing, following next_before_seq."""
    pages = []
    before = None
    while True:
        page = store.audit_page(JournalQuery(before_seq=before, **fields))  # type: ignore[arg-type]
        pages.append([c.seq for c in page.records])
        if page.next_before_seq is None:
            return pages
        before = page.next_before_seq


def test_both_adapters_page_the_journal_alike(store: ArchiveStore) -> None:
    assert page_seqs(store) == [list(range(10, 0, -1))]
    assert page_seqs(store, actor="ana", limit=2) == [[10, 9], [7, 5], [3, 1]]
    assert page_seqs(store, action_prefix="verdict.", subject="al-3") == [[7]]
    assert page_seqs(store, camera_id="cam-1", since=T0 + 2, until=T0 + 10) == [[8, 2]]
    assert page_seqs(store, actor="nobody") == [[]]
    (chained,) = store.audit_page(JournalQuery(limit=1, before_seq=5)).records
    assert isinstance(chained, ChainedRecord) and chained.record == SEEDED[3]


def test_cassandra_bounds_its_scan_and_says_where_to_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keep = dict.fromkeys(DataKind, 400.0)
    session = RecordingSession()
    store = CassandraArchive(session, "LOCAL_QUORUM", keep, keyring=KEYS)
    store.append_audit(SEEDED)
    monkeypatch.setattr(cassandra_store, "AUDIT_SCAN_CHUNK", 2)
    monkeypatch.setattr(cassandra_store, "AUDIT_SCAN_MAX", 3)
    session.executions.clear()
    first = store.audit_page(JournalQuery(actor="system:alerting"))
    # records 10, 9, 8 read (two chunks: 2, then the 1 the bound leaves), none matched
    assert (first.records, first.next_before_seq) == ([], 8)
    reads = session.executed("SELECT * FROM audit_journal")
    assert [r.values for r in reads] == [("main", 2**63 - 1, 2), ("main", 9, 1)]
    assert all(r.cql.endswith("ORDER BY seq DESC LIMIT ?") for r in reads)
    assert page_seqs(store, actor="system:alerting") == [[], [], [4], []]


# -- verification -------------------------------------------------------------------------------


def test_verify_journal_passes_an_intact_journal_and_names_a_tampered_record(
    stub: services_pb2_grpc.ArchiveStub, archive: SqliteArchive, db_path: Path
) -> None:
    archive.append_audit(SEEDED)
    intact = stub.VerifyJournal(
        services_pb2.VerifyJournalRequest(purpose=PURPOSE), metadata=AUDITOR
    )
    assert intact.ok and not intact.problems and not intact.development_key
    assert (intact.checked, intact.checkpoints) == (10, 1)  # one append, one checkpoint
    assert codec.time_from_proto(intact.verified_at) == NOW
    (verified,) = journaled(archive, "audit.verify")
    assert verified.details["ok"] == "true" and verified.details["checked"] == "10"
    assert verified.details["problems"] == "0" and verified.actor == "dpo"

    with sqlite3.connect(db_path, isolation_level=None) as raw:
        raw.execute("UPDATE audit_journal SET actor = 'nobody' WHERE seq = 3")
    tampered = stub.VerifyJournal(
        services_pb2.VerifyJournalRequest(purpose=PURPOSE), metadata=AUDITOR
    )
    assert not tampered.ok and tampered.checked == 11  # the first verification is a record now
    (problem,) = tampered.problems
    assert (problem.seq, problem.record_id, problem.kind) == (3, "rec-3", "modified")
    last = journaled(archive, "audit.verify")[-1]
    assert (last.details["ok"], last.details["problems"]) == ("false", "1")


def test_without_its_keys_a_servicer_verifies_with_the_archives_own(tmp_path: Path) -> None:
    keyed = SqliteArchive(tmp_path / "k.sqlite", KEYS)
    plain = SqliteArchive(tmp_path / "d.sqlite")
    try:
        assert ArchiveServicer(keyed, Authenticator([]))._keyring() is KEYS
        assert ArchiveServicer(plain, Authenticator([]))._keyring().is_development
        assert AuditCalls.journal_keyring is None
    finally:
        keyed.close()
        plain.close()


def test_a_development_keyed_journal_says_so(tmp_path: Path) -> None:
    store = SqliteArchive(tmp_path / "dev.sqlite")
    tokens = [TokenEntry(sha256=digest("dpo-token"), operator="dpo", role=Role.AUDITOR)]
    servicer = ArchiveServicer(store, Authenticator(tokens), clock=lambda: NOW)
    server = GrpcServer(
        GrpcSettings(host="127.0.0.1", port=0, grace_s=0, plaintext=True),
        [Registration(services_pb2_grpc.add_ArchiveServicer_to_server, servicer, "a")],
    ).start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            answer = services_pb2_grpc.ArchiveStub(channel).VerifyJournal(
                services_pb2.VerifyJournalRequest(purpose=PURPOSE), metadata=AUDITOR
            )
        assert answer.ok and answer.development_key
    finally:
        server.stop()
        store.close()


# -- reports ------------------------------------------------------------------------------------


def occupancy(camera: str, zone: str, start: float, came_in: int, peak: int) -> Event:
    frame = FrameRef(camera, int(start), start + 60.0, 640, 360)
    details = {
        "period_start": f"{start:.3f}",
        "period_s": "60",
        "in": str(came_in),
        "out": "1",
        "present": "2",
        "peak": str(peak),
    }
    event_id = f"occ-{camera}-{zone}-{start}"
    return Event(event_id, EventKind.OCCUPANCY, frame, zone, "person", (), details)


def person(camera: str, n: int, *points: tuple[float, float]) -> TrackSummary:
    path = tuple((T0 + i, x, y) for i, (x, y) in enumerate(points))
    return TrackSummary(f"{camera}/p-{n}", camera, "person", T0, T0 + len(points), 5, path)


def raised(n: int, camera: str, kind: EventKind, zone: str) -> Alert:
    t = T0 + n
    return Alert(
        f"al-{n}", camera, kind, zone, Severity.HIGH, AlertStatus.RAISED, f"ev-{n}", t, t + 5, 1
    )


def verdict(n: int, action: VerdictAction) -> Verdict:
    return Verdict(f"v-{n}", f"al-{n}", action, "ana", "seen on camera", T0 + n + 10, "operator")


@pytest.fixture
def archived(archive: SqliteArchive) -> SqliteArchive:
    car = TrackSummary("cam-1/c-1", "cam-1", "car", T0, T0 + 2, 5, ((T0, 0.5, 0.5),))
    archive.save_many(
        [
            occupancy("cam-1", "gate", T0, 3, 4),
            occupancy("cam-1", "gate", T0 + 60, 1, 2),
            occupancy("cam-2", "gate", T0, 5, 6),  # another camera's zone of the same name
            occupancy("cam-1", "gate", T0 - 3600, 9, 9),  # before the range
            Event("ev-x", EventKind.ZONE_INTRUSION, FrameRef("cam-1", 1, T0 + 1), "gate", "person"),
            person("cam-1", 1, (0.0, 0.0), (0.99, 0.99), (0.99, 0.99)),
            person("cam-2", 1, (0.5, 0.5)),
            car,  # not a person: in no heat map
            raised(1, "cam-1", EventKind.ZONE_INTRUSION, "gate"),
            raised(2, "cam-1", EventKind.ZONE_INTRUSION, "gate"),
            raised(3, "cam-1", EventKind.ZONE_INTRUSION, "gate"),
            raised(4, "cam-1", EventKind.LOITERING, "hall"),
            raised(5, "cam-2", EventKind.FIRE, ""),
            verdict(1, VerdictAction.CONFIRM),
            verdict(2, VerdictAction.DISMISS),
            verdict(3, VerdictAction.CONFIRM),
            verdict(4, VerdictAction.ACKNOWLEDGE),
        ]
    )
    return archive


def report(stub: services_pb2_grpc.ArchiveStub, **fields: object) -> services_pb2.Report:
    request = services_pb2.ReportRequest(
        since=ts(T0 - 60),
        until=ts(T0 + 3600),
        purpose=PURPOSE,
        **fields,  # type: ignore[arg-type]
    )
    return stub.GetReport(request, metadata=OPERATOR)


def test_a_report_counts_occupancy_heat_and_precision_from_the_archive(
    stub: services_pb2_grpc.ArchiveStub, archived: SqliteArchive
) -> None:
    answer = report(stub, heat_columns=2, heat_rows=2)
    assert (answer.events, answer.tracks, answer.alerts) == (3, 2, 5)
    occupancy_of = {
        (z.camera_id, z.zone): [
            (codec.time_from_proto(p.start), p.came_in, p.peak, p.period_s) for p in z.periods
        ]
        for z in answer.occupancy
    }
    assert occupancy_of == {
        ("cam-1", "gate"): [(T0, 3, 4, 60.0), (T0 + 60, 1, 2, 60.0)],
        ("cam-2", "gate"): [(T0, 5, 6, 60.0)],
    }
    heat = {h.camera_id: h for h in answer.heat_maps}
    assert set(heat) == {"cam-1", "cam-2"}
    assert (heat["cam-1"].columns, heat["cam-1"].rows, heat["cam-1"].tracks) == (2, 2, 1)
    assert list(heat["cam-1"].cells) == [1, 0, 0, 2]  # row-major, top row first
    assert list(heat["cam-2"].cells) == [0, 0, 0, 1]
    precision = {
        (p.camera_id, events_pb2.EventKind.Name(p.kind), p.zone): p for p in answer.precision
    }
    gate = precision[("cam-1", "EVENT_KIND_ZONE_INTRUSION", "gate")]
    assert (gate.raised, gate.confirmed, gate.dismissed) == (3, 2, 1)
    assert gate.precision == pytest.approx(2 / 3)
    hall = precision[("cam-1", "EVENT_KIND_LOITERING", "hall")]
    assert (hall.raised, hall.confirmed, hall.dismissed) == (1, 0, 0)
    assert math.isnan(hall.precision)  # acknowledged is not decided
    assert precision[("cam-2", "EVENT_KIND_FIRE", "")].raised == 1
    (viewed,) = journaled(archived, "report.view")
    assert (viewed.actor, viewed.reason, viewed.details["outcome"]) == ("ana", PURPOSE, "ok")
    assert (viewed.details["events"], viewed.details["tracks"]) == ("3", "2")


def test_a_report_for_some_cameras_and_the_default_grid(
    stub: services_pb2_grpc.ArchiveStub, archived: SqliteArchive
) -> None:
    answer = report(stub, cameras=["cam-2", "cam-9"])
    assert (answer.events, answer.tracks, answer.alerts) == (1, 1, 1)
    assert [(z.camera_id, z.zone) for z in answer.occupancy] == [("cam-2", "gate")]
    heat = {h.camera_id: h for h in answer.heat_maps}
    assert set(heat) == {"cam-2", "cam-9"}  # a camera asked for has its map, empty or not
    assert (heat["cam-9"].columns, heat["cam-9"].rows) == (48, 27)
    assert len(heat["cam-9"].cells) == 48 * 27 and sum(heat["cam-9"].cells) == 0
    assert [p.camera_id for p in answer.precision] == ["cam-2"]


def test_a_report_needs_a_bounded_range_and_a_purpose(
    stub: services_pb2_grpc.ArchiveStub, archive: SqliteArchive
) -> None:
    bad = [
        {"until": ts(T0), "purpose": PURPOSE},
        {"since": ts(T0), "purpose": PURPOSE},
        {"since": ts(T0), "until": ts(T0), "purpose": PURPOSE},
        {"since": ts(T0), "until": ts(T0 + 31 * 86_400 + 1), "purpose": PURPOSE},
        {"since": ts(T0), "until": ts(T0 + 60), "heat_columns": 10_000, "purpose": PURPOSE},
        {"since": ts(T0), "until": ts(T0 + 60)},
    ]
    for fields in bad:
        request = services_pb2.ReportRequest(**fields)  # type: ignore[arg-type]
        assert code_of(stub.GetReport, request) is grpc.StatusCode.INVALID_ARGUMENT, fields
    full_month = services_pb2.ReportRequest(
        since=ts(T0), until=ts(T0 + 31 * 86_400), purpose=PURPOSE
    )
    assert stub.GetReport(full_month, metadata=OPERATOR).events == 0
    outcomes = [r.details["outcome"] for r in journaled(archive, "report.view")]
    assert outcomes == ["invalid_argument"] * len(bad) + ["ok"]


def test_a_report_past_its_row_bound_is_refused_not_truncated(
    stub: services_pb2_grpc.ArchiveStub, archived: SqliteArchive, servicer: ArchiveServicer
) -> None:
    servicer.report_max_rows = 10  # 3 occupancy events + 2 person tracks + 5 alerts
    assert report(stub).alerts == 5
    servicer.report_max_rows = 9
    with pytest.raises(grpc.RpcError) as error:
        report(stub)
    assert error.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "more than 9 rows" in str(error.value.details())
    refused = journaled(archived, "report.view")[-1]
    assert refused.details["outcome"] == "resource_exhausted"


def test_every_row_reads_page_after_page_up_to_its_bound(archived: SqliteArchive) -> None:
    # Alerts overlap each other (each lasts 5 s, one a second): a page boundary falls among
    # rows that also match a restart at its time; the keyset cursor pages past them exactly.
    query = SearchQuery(limit=2)

    def alerts(**bound: object) -> list[str]:
        rows = every_row(
            archived.search_alerts,
            query,
            lambda a: a.first_seen,
            after=lambda a: Cursor(a.first_seen, a.alert_id),
            **bound,  # type: ignore[arg-type]
        )
        return [a.alert_id for a in rows]

    assert alerts() == ["al-1", "al-2", "al-3", "al-4", "al-5"]
    assert alerts(at_most=5) == ["al-1", "al-2", "al-3", "al-4", "al-5"]
    with pytest.raises(TooManyRows):
        alerts(at_most=4)


# -- exports ------------------------------------------------------------------------------------


def test_an_export_is_journaled_as_one(
    stub: services_pb2_grpc.ArchiveStub, archived: SqliteArchive
) -> None:
    request = services_pb2.SearchRequest(camera_id="cam-1", export=True, purpose=PURPOSE)
    assert len(stub.SearchAlerts(request, metadata=OPERATOR).alerts) == 4
    (exported,) = journaled(archived, "export.alerts")
    assert (exported.actor, exported.reason, exported.subject) == ("ana", PURPOSE, "alerts")
    assert exported.details["results"] == "4" and exported.details["outcome"] == "ok"
    assert journaled(archived, "search.alerts") == []
    # an auditor may export too
    events = services_pb2.SearchRequest(export=True, purpose=PURPOSE)
    assert len(stub.SearchEvents(events, metadata=AUDITOR).events) == 5
    (by_auditor,) = journaled(archived, "export.events")
    assert (by_auditor.actor, by_auditor.role) == ("dpo", "auditor")
    # without export, a search stays a search
    stub.SearchTracks(services_pb2.SearchRequest(purpose=PURPOSE), metadata=OPERATOR)
    assert len(journaled(archived, "search.tracks")) == 1
    assert journaled(archived, "export.tracks") == []


def test_a_refused_export_is_journaled_as_an_export(
    stub: services_pb2_grpc.ArchiveStub, archive: SqliteArchive
) -> None:
    no_purpose = services_pb2.SearchRequest(export=True)
    assert code_of(stub.SearchAlerts, no_purpose) is grpc.StatusCode.INVALID_ARGUMENT
    (refused,) = journaled(archive, "export.alerts")
    assert refused.details["outcome"] == "invalid_argument" and refused.actor == "ana"
    bad_filter = services_pb2.SearchRequest(export=True, purpose=PURPOSE, min_seconds_in_zone=5)
    assert code_of(stub.SearchEvents, bad_filter) is grpc.StatusCode.INVALID_ARGUMENT
    assert journaled(archive, "export.events")[0].details["outcome"] == "invalid_argument"
    assert journaled(archive, "search.alerts") == journaled(archive, "search.events") == []
    # a refused plain search is still a search
    assert code_of(stub.SearchAlerts, services_pb2.SearchRequest()) is (
        grpc.StatusCode.INVALID_ARGUMENT
    )
    assert len(journaled(archive, "search.alerts")) == 1


def test_an_export_needs_the_export_permission(
    stub: services_pb2_grpc.ArchiveStub, archive: SqliteArchive, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No role lacks export today; a role that lost it may still search, not export.
    monkeypatch.setitem(GRANTS, Role.OPERATOR, GRANTS[Role.OPERATOR] - {Permission.EXPORT})
    search = services_pb2.SearchRequest(purpose=PURPOSE)
    assert list(stub.SearchEvents(search, metadata=OPERATOR).events) == []
    export = services_pb2.SearchRequest(purpose=PURPOSE, export=True)
    assert code_of(stub.SearchEvents, export) is grpc.StatusCode.PERMISSION_DENIED
    (refused,) = journaled(archive, "export.events")
    assert refused.details["outcome"] == "permission_denied"
    assert "may not export" in refused.details["error"]
