"""The operator console in a real Chromium, against the real pipeline replaying the sample clip.

Debian's Chromium, driven by Playwright through ``executable_path`` (no browser download). The
services are the six of ``vigie run`` plus the console, on a fresh broker; the people are an
operator, a supervisor and an auditor with tokens of their own. The tests run in file order and
share the pipeline: the operator watches alerts arrive and dismisses one, the auditor can look
but not decide, searches and exports, the supervisor draws a zone. Every page is captured at
1366x768 into ``var/artifacts/console`` (``VIGIE_ARTIFACTS`` to change), the README's pictures.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from tests.conftest import REPO, SAMPLE_CLIP
from vigie.v1 import services_pb2, services_pb2_grpc
from vigie_cli.pipeline import CONSUMERS, LocalPipeline, PipelinePlan
from vigie_cli.samples import example_scenes, sample_config_dir
from vigie_core.types import VerdictAction
from vigie_runtime import codec
from vigie_runtime.auth import digest
from vigie_runtime.broker import fresh_broker
from vigie_runtime.kafka import KafkaBus
from vigie_runtime.settings import KafkaSettings
from vigie_runtime.topics import VERDICTS

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CHROMIUM = Path(os.environ.get("VIGIE_CHROMIUM", "/usr/bin/chromium"))
# Flags for a headless Chromium on a machine without a network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
ARTIFACTS = Path(os.environ.get("VIGIE_ARTIFACTS", REPO / "var" / "artifacts")) / "console"
CAMERA = "one-by-one"
TOKENS = {"operator": "op1-token", "supervisor": "sup1-token", "auditor": "aud1-token"}
PEOPLE = {"operator": "op1", "supervisor": "sup1", "auditor": "aud1"}
ALERT_WAIT_S = 300.0


@dataclass
class Console:
    url: str
    pipeline: LocalPipeline
    scenes: Path
    bootstrap: str
    archive: str
    shared: dict[str, Any]


def _browser_or_skip() -> Any:
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium; make install does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return playwright


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    if not SAMPLE_CLIP.exists():
        pytest.skip(f"sample clip not available: {SAMPLE_CLIP}")
    _browser_or_skip()
    work = tmp_path_factory.mktemp("console")
    tokens = work / "desk-tokens.yaml"
    entries = [
        {"sha256": digest(TOKENS[role]), "operator": PEOPLE[role], "role": role} for role in TOKENS
    ]
    tokens.write_text(yaml.safe_dump({"tokens": entries}))
    scenes = work / "scenes.yaml"
    shutil.copy(example_scenes(), scenes)
    with fresh_broker() as broker:
        plan = PipelinePlan.on_free_ports(
            broker.bootstrap,
            work,
            scenes,
            session_timeout_ms=2000,
            config_dir=sample_config_dir(),
            extra_env={"VIGIE_TOKENS_FILE": str(tokens)},
        )
        pipeline = LocalPipeline(plan)
        try:
            pipeline.start_consumers()
            pipeline.start("console")
            pipeline.wait_ready((*CONSUMERS, "console"), timeout_s=180)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            yield Console(
                url=f"http://localhost:{plan.web_ports['console']}",
                pipeline=pipeline,
                scenes=scenes,
                bootstrap=broker.bootstrap,
                archive=f"127.0.0.1:{plan.grpc_ports['storage']}",
                shared={},
            )
        finally:
            pipeline.stop_all()


@pytest.fixture(scope="module")
def browser(console: Console) -> Iterator[Any]:
    playwright = _browser_or_skip()
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def new_page(browser: Any, console: Console, language: str = "en-GB") -> Any:
    context = browser.new_context(
        base_url=console.url, viewport=VIEWPORT, locale=language, accept_downloads=True
    )
    context.set_default_timeout(30_000)
    return context.new_page()


def sign_in(page: Any, role: str) -> None:
    """With the keyboard only: the token field has the focus, Enter submits."""
    page.goto("/")
    assert "/signin" in page.url
    page.keyboard.type(TOKENS[role])
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=who]")  # signed in: the page names the person
    assert PEOPLE[role] in page.get_by_test_id("who").inner_text()
    assert "/signin" not in page.url


def shoot(page: Any, name: str) -> None:
    """A screenshot for the README, and a check that the page fits the operator screen."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"{name}: {width}px wide, more than the screen"


def archive_call(console: Console, method: str, request: Any, role: str) -> Any:
    with grpc.insecure_channel(console.archive) as channel:
        stub = services_pb2_grpc.ArchiveStub(channel)
        metadata = [("authorization", f"Bearer {TOKENS[role]}")]
        return getattr(stub, method)(request, metadata=metadata, timeout=20)


def journal(console: Console, **filters: Any) -> list[Any]:
    request = services_pb2.ListJournalRequest(purpose="console browser test", limit=1000, **filters)
    return [e.record for e in archive_call(console, "ListJournal", request, "auditor").entries]


def eventually(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        time.sleep(1.0)


def test_an_operator_sees_alerts_arrive_opens_one_and_dismisses_it(
    console: Console, browser: Any
) -> None:
    page = new_page(browser, console)
    sign_in(page, "operator")
    assert page.locator("#alerts tr").count() == 0
    page.evaluate("window.notReloaded = true")
    page.wait_for_selector("#live[data-state=live]")
    shoot(page, "01-wall-waiting")
    console.pipeline.start_capture(str(SAMPLE_CLIP), CAMERA)  # real time, as a camera
    # The first alert's row arrives over the live feed, the page never reloads.
    page.wait_for_selector("#alerts tr.alert", timeout=ALERT_WAIT_S * 1000)
    assert page.evaluate("window.notReloaded") is True
    row = page.locator("#alerts tr.alert").first
    assert "zone intrusion" in row.inner_text() and "table" in row.inner_text()
    assert "high" in (row.get_attribute("class") or "")  # high severity marked
    alert_id = row.get_attribute("data-alert")
    console.shared["alert_id"] = alert_id
    shoot(page, "02-wall-live")

    # The alert page: the archive's redacted snapshot, and the zone drawn over it.
    def snapshot_stored() -> bool:
        return page.request.get(f"/alerts/{alert_id}/snapshot.jpg").status == 200

    eventually(snapshot_stored, 120, "the alert's snapshot is in the archive")
    row.get_by_role("link").click()
    page.wait_for_url(f"**/alerts/{alert_id}")
    page.wait_for_function(
        "document.querySelector('[data-testid=snapshot]').naturalWidth > 0", timeout=30_000
    )
    served = page.request.get(f"/alerts/{alert_id}/snapshot.jpg").body()
    stored = archive_call(
        console,
        "GetSnapshot",
        services_pb2.GetSnapshotRequest(alert_id=alert_id, purpose="test"),
        "operator",
    )
    assert served == stored.jpeg  # the archive's redacted image, not a frame of the camera
    assert stored.info.faces_blurred >= 0 and stored.info.width > 0
    zone = page.locator("[data-testid=zone-overlay] polygon.zone")
    assert zone.count() == 1
    assert zone.get_attribute("points").startswith("0.48,0.72")  # the scene's table zone
    assert page.get_by_test_id("explanation").count() == 1

    # The clip around the alert, once its after-frames are in, plays in the page.
    eventually(
        lambda: page.request.get(f"/alerts/{alert_id}/clip.json").status == 200,
        180,
        "the alert's clip is in the archive",
    )
    page.reload()
    page.wait_for_selector("#clip-frame:not([hidden])")
    frames = page.request.get(f"/alerts/{alert_id}/clip.json").json()["frames"]
    assert len(frames) > 3 and sum(f["alert_frame"] for f in frames) == 1
    shoot(page, "03-alert")

    # Dismissing needs a reason: without one, the browser keeps the form.
    page.get_by_role("button", name="Dismiss").click()
    assert page.url.endswith(f"/alerts/{alert_id}")
    reason = "a visitor at the table, expected"
    page.locator("#reason").fill(reason)
    page.get_by_role("button", name="Dismiss").click()
    page.wait_for_url("**/?done=dismiss")
    assert page.locator(f"#alert-{alert_id}").count() == 0

    # The verdict is on the verdicts topic, and in the journal under the operator's name.
    bus = KafkaBus(KafkaSettings(bootstrap_servers=console.bootstrap))
    verdicts = [codec.decode_verdict(m.value) for m in bus.read_all(VERDICTS)]
    mine = [v for v in verdicts if v.alert_id == alert_id]
    assert [(v.action, v.operator, v.reason) for v in mine] == [
        (VerdictAction.DISMISS, "op1", reason)
    ]
    records = eventually(
        lambda: [r for r in journal(console, subject=alert_id) if r.action == "verdict.dismiss"],
        60,
        "the dismissal is journaled",
    )
    assert records[0].actor == "op1" and records[0].reason == reason
    page.context.close()


def test_cookies_are_strict_and_a_post_without_the_csrf_token_is_refused(
    console: Console, browser: Any
) -> None:
    page = new_page(browser, console)
    sign_in(page, "operator")
    cookie = next(c for c in page.context.cookies() if c["name"] == "vigie_session")
    assert cookie["httpOnly"] is True
    assert cookie["secure"] is True
    assert cookie["sameSite"] == "Strict"
    assert "vigie_session" not in page.evaluate("document.cookie")  # no script can read it
    alert_id = console.shared["alert_id"]
    form = {"action": "confirm", "reason": "forged"}
    refused = page.request.post(f"/alerts/{alert_id}/verdict", form=form)
    assert refused.status == 403
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    foreign = page.request.post(
        f"/alerts/{alert_id}/verdict",
        form={**form, "csrf": csrf},
        headers={"origin": "https://elsewhere.example"},
    )
    assert foreign.status == 403
    headers = page.request.get("/").headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    # Signing out ends the session on the server: the old cookie opens nothing.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    page.context.add_cookies([{**cookie}])
    page.goto("/")
    assert "/signin" in page.url
    page.context.close()


def test_an_auditor_cannot_dismiss_searches_with_a_purpose_and_exports(
    console: Console, browser: Any
) -> None:
    page = new_page(browser, console)
    sign_in(page, "auditor")
    page.wait_for_selector("#alerts tr.alert", timeout=ALERT_WAIT_S * 1000)
    open_id = page.locator("#alerts tr.alert").first.get_attribute("data-alert")
    page.goto(f"/alerts/{open_id}")
    assert page.get_by_test_id("verdict-form").count() == 0
    assert page.get_by_test_id("no-decide").count() == 1
    # A forged dismissal reaches the desk, which refuses it and journals the attempt.
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(
        f"/alerts/{open_id}/verdict", form={"action": "dismiss", "reason": "x", "csrf": csrf}
    )
    assert forged.status == 403
    eventually(
        lambda: [
            r
            for r in journal(console, actor="aud1", action_prefix="desk.dismiss")
            if r.details.get("outcome") != "ok"
        ],
        60,
        "the refused dismissal is journaled",
    )

    # A search without a purpose is refused (the field is required; a crafted URL too).
    page.goto("/search?run=1&what=alerts")
    assert "purpose" in page.get_by_test_id("search-error").inner_text()
    page.goto("/search")
    page.locator("input[name=purpose]").fill("monthly audit of the table zone")
    page.get_by_role("button", name="Search").click()
    page.wait_for_selector("[data-testid=results]")
    assert page.locator("[data-testid=results] tbody tr, [data-testid=results] tr").count() > 1
    shoot(page, "04-search")
    with page.expect_download() as download:
        page.get_by_test_id("export").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0][:3] == ["alert_id", "camera_id", "kind"] and len(rows) > 1
    assert all(r[1] == CAMERA for r in rows[1:])
    exports = eventually(
        lambda: [r for r in journal(console, actor="aud1") if r.action == "export.alerts"],
        60,
        "the export is journaled",
    )
    assert exports[0].reason == "monthly audit of the table zone"

    # The journal and its verification.
    page.goto("/audit")
    page.locator("input[name=purpose]").fill("quarterly review")
    page.get_by_role("button", name="Verify the chain").click()
    page.wait_for_selector("[data-testid=verification]")
    assert "intact" in page.get_by_test_id("verification").inner_text()
    page.get_by_role("button", name="List").click()
    page.wait_for_selector("[data-testid=journal]")
    assert "verdict.dismiss" in page.get_by_test_id("journal").inner_text()
    shoot(page, "05-audit")
    page.context.close()


def test_a_supervisor_draws_a_zone_that_check_config_accepts(
    console: Console, browser: Any
) -> None:
    page = new_page(browser, console)
    sign_in(page, "supervisor")
    page.goto("/cameras")
    card = page.locator(f"article[data-camera='{CAMERA}']")
    assert card.get_by_test_id("camera-state").inner_text() in ("online", "offline", "stalled")
    eventually(
        lambda: page.request.get(f"/cameras/{CAMERA}/still.jpg").status == 200,
        120,
        "the camera's still",
    )
    page.reload()
    shoot(page, "07-cameras")
    page.goto(f"/cameras/{CAMERA}/edit")
    canvas = page.get_by_test_id("editor-canvas")
    box = canvas.bounding_box()
    for x, y in [(0.1, 0.1), (0.3, 0.1), (0.3, 0.4), (0.1, 0.4)]:
        canvas.click(position={"x": box["width"] * x, "y": box["height"] * y})
    page.locator("#shape-name").fill("door")
    page.locator("#shape-classes").fill("person")
    page.get_by_role("button", name="Finish shape").click()
    page.get_by_label("Counting line").check()
    for x, y in [(0.05, 0.6), (0.95, 0.6)]:
        canvas.click(position={"x": box["width"] * x, "y": box["height"] * y})
    page.locator("#shape-name").fill("passage")
    page.get_by_role("button", name="Finish shape").click()
    page.locator("#save-reason").fill("new door watched at night")
    page.get_by_role("button", name="Save scene").click()
    page.wait_for_selector("#editor-status[data-outcome=saved]")
    shoot(page, "08-editor")
    checked = subprocess.run(
        [sys.executable, "-m", "vigie_cli.main", "check-config", str(console.scenes), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    cameras = {c["camera_id"]: c for c in yaml.safe_load(checked.stdout)["cameras"]}
    assert "door" in cameras[CAMERA]["zones"] and "table" in cameras[CAMERA]["zones"]
    assert "passage" in cameras[CAMERA]["lines"]
    saved = eventually(
        lambda: [r for r in journal(console, actor="sup1") if r.action == "config.scene_saved"],
        60,
        "the scene change is journaled",
    )
    assert saved[0].reason == "new door watched at night"
    # A shape the checker refuses is refused whole, with its words, and the file stays.
    before = console.scenes.read_bytes()
    refused = page.request.post(
        f"/cameras/{CAMERA}/scene",
        data='{"zones": [{"name": "flat", "polygon": [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]}]}',
        headers={
            "content-type": "application/json",
            "x-csrf-token": page.locator(".editor").get_attribute("data-csrf"),
        },
    )
    assert refused.status == 422 and not refused.json()["ok"]
    assert console.scenes.read_bytes() == before
    page.context.close()


def test_the_console_speaks_french(console: Console, browser: Any) -> None:
    page = new_page(browser, console, language="fr-FR")
    page.goto("/")
    assert page.get_by_role("heading", name="Connexion").count() == 1
    page.keyboard.type(TOKENS["operator"])
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=who]")
    assert "opérateur" in page.get_by_test_id("who").inner_text()
    assert page.get_by_role("heading", name="Alertes ouvertes").count() == 1
    shoot(page, "09-wall-fr")
    page.get_by_role("link", name="EN", exact=True).click()
    assert page.get_by_role("heading", name="Open alerts").count() == 1
    page.context.close()


def test_reports_show_occupancy_where_people_stood_and_precision(
    console: Console, browser: Any
) -> None:
    """Last, so that the clip has closed occupancy periods (60 s each) by now."""
    page = new_page(browser, console)
    sign_in(page, "auditor")

    def table_peaks() -> list[int]:
        """The table zone's peak in each curve shown; the door zone's, where nobody went
        through during the run, are 0 and come first."""
        page.goto("/reports?run=1&purpose=quarterly+review")
        captions = page.locator("figure.curve figcaption").all_inner_texts()
        return [int(m[1]) for c in captions if (m := re.search(r"· table — peak (\d+)", c))]

    eventually(
        lambda: any(peak > 0 for peak in table_peaks()),
        240,
        "an occupancy period of the table zone, with someone in it, in the report",
    )
    assert page.locator("figure.heat rect").count() > 0  # where people stood
    precision = page.get_by_test_id("precision").inner_text()
    assert CAMERA in precision and "zone intrusion" in precision
    shoot(page, "06-reports")
    page.context.close()
