"""The alerting service's logic, over a per-camera state store, whatever drives it.

Its handler (``handler.py``) feeds it, whichever driver runs the stage; the store is the
replica's :class:`~vigie_alerting.books.AlertBooks` (any mapping in tests). Every
method returns the messages to publish: alerts on ``vigie.alerts.v1`` and the audience topics
that match, verdicts, and audit records. Nothing here talks to a broker.

State is one JSON document per camera (its alert book and evaluation counts), so the store is
partitioned exactly like the camera-keyed input topics. Each book is bounded: decided alerts
stay ``keep_closed_s``, then live on in the archive only; at most ``max_open_alerts`` are open
per camera, and an event beyond that cap either merges into its key's open alert or is refused,
counted (``vigie_alerts_capped_total``), warned about once per episode and journaled as
``alert.refused`` with the reason, like a refusal of the policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from vigie_alerting import metrics
from vigie_alerting.policy_file import LoadedPolicy
from vigie_core.alerting import AlertBook, AlertRules, UnknownAlert
from vigie_core.alerting.book import MAX_OPEN_ALERTS, REASON_CAPPED
from vigie_core.alerting.evaluation import Evaluation
from vigie_core.alerting.policy import Refusal
from vigie_core.journal import entry
from vigie_core.types import Alert, Event, Verdict, VerdictAction
from vigie_runtime import codec
from vigie_runtime import metrics as runtime_metrics
from vigie_runtime.auth import Caller, Permission
from vigie_runtime.bus import Output
from vigie_runtime.stage import Reject
from vigie_runtime.topics import ALERTS, ALERTS_JSON, AUDIT, VERDICTS

log = logging.getLogger(__name__)

SYSTEM = "system:alerting"
KEEP_CLOSED_S = 3600.0  # decided alerts stay in the desk's memory this long, then only archived
CAPPED = Counter(
    "vigie_alerts_capped_total",
    "Events refused because their camera already had the maximum of open alerts",
)


@dataclass(slots=True)
class CameraState:
    book: AlertBook
    evaluation: Evaluation

    def to_data(self) -> dict[str, Any]:
        return {"book": self.book.to_state(), "evaluation": self.evaluation.to_data()}


@dataclass(frozen=True, slots=True)
class Decision:
    """What a person's verdict did: the alert's new state and what to publish."""

    alert: Alert
    verdict: Verdict
    outputs: list[Output]


class AlertEngine:
    def __init__(
        self,
        policy: LoadedPolicy,
        store: MutableMapping[str, Any],
        *,
        keep_closed_s: float = KEEP_CLOSED_S,
        max_open_alerts: int = MAX_OPEN_ALERTS,
        json_mirror: bool = False,
    ) -> None:
        self.store = store
        self.json_mirror = json_mirror
        self.keep_closed_s = keep_closed_s
        self.max_open_alerts = max_open_alerts
        self._capped: set[str] = set()  # cameras at the cap (warned once per episode)
        self._use(policy)

    def _use(self, policy: LoadedPolicy) -> None:
        self.policy = policy
        self._policy = policy.file.to_policy()
        self._rules = AlertRules(
            {}, cooldown_s=policy.file.cooldown_s, max_open=self.max_open_alerts
        )
        self._after_s = dict(policy.file.escalation.after_s)

    def change_policy(self, policy: LoadedPolicy, now: float) -> Output:
        """Put a new policy in force (from the next event on) and journal the change."""
        previous = self.policy
        self._use(policy)
        record = entry(
            "policy.changed",
            policy.file.version,
            now,
            actor=SYSTEM,
            role="system",
            key=(policy.sha256,),
            reason=(
                f"alert policy {previous.file.version} replaced by {policy.file.version}"
                f" from {policy.source}"
            ),
            details={
                "sha256": policy.sha256,
                "previous_version": previous.file.version,
                "previous_sha256": previous.sha256,
            },
        )
        return Output(AUDIT, "", codec.encode(record))

    # -- state ------------------------------------------------------------------------------------

    def _load(self, camera_id: str) -> CameraState:
        data = self.store.get(camera_id)
        if not data:
            return CameraState(AlertBook(self._rules), Evaluation())
        return CameraState(
            AlertBook.from_state(self._rules, data["book"]),
            Evaluation.from_data(data["evaluation"]),
        )

    def _save(self, camera_id: str, state: CameraState) -> None:
        self.store[camera_id] = state.to_data()
        metrics.export(camera_id, state.evaluation)

    def cameras(self) -> list[str]:
        return sorted(self.store.keys())

    def _states(self) -> Iterator[tuple[str, CameraState]]:
        for camera_id in self.cameras():
            yield camera_id, self._load(camera_id)

    # -- events -----------------------------------------------------------------------------------

    def on_event(self, event: Event, now: float) -> list[Output]:
        """Authorise, then raise or merge; a refusal is journaled with its reason."""
        decision = self._policy.decide(event)
        if isinstance(decision, Refusal):
            log.info(
                "event refused by policy",
                extra={"event_id": event.event_id, "why": decision.reason},
            )
            return [self._refusal_record(event, decision)]
        state = self._load(event.camera_id)
        outcome = state.book.on_event(event, decision, now)
        if outcome.reason == REASON_CAPPED:
            return [self._capped_record(event, decision.policy_version)]
        if outcome.is_new:
            self._capped.discard(event.camera_id)
        if outcome.alert is None or not outcome.changed:
            return []
        alert = outcome.alert
        outputs = self._publish(alert)
        if outcome.is_new:
            state.evaluation.raised(alert)
            runtime_metrics.FRAME_TO_ALERT.observe(max(time.time() - event.occurred_at, 0.0))
            outputs.append(
                self._record(
                    "alert.raised",
                    alert,
                    at=now,
                    reason=alert.reason,
                    details={
                        "severity": str(alert.severity),
                        "policy_version": alert.policy_version,
                        "event_id": event.event_id,
                    },
                )
            )
        self._save(event.camera_id, state)
        return outputs

    # -- verdicts ---------------------------------------------------------------------------------

    def find(self, alert_id: str) -> tuple[str, CameraState]:
        for camera_id, state in self._states():
            try:
                state.book.get(alert_id)
            except UnknownAlert:
                continue
            return camera_id, state
        raise UnknownAlert(alert_id)

    def decide(
        self,
        alert_id: str,
        action: VerdictAction,
        caller: Caller,
        reason: str,
        now: float,
        request_id: str = "",
    ) -> Decision:
        """A person's verdict; raises ``UnknownAlert``, ``VerdictError`` or ``PermissionError``."""
        caller.require(Permission.DECIDE)
        camera_id, state = self.find(alert_id)
        alert, verdict = state.book.verdict(alert_id, action, caller.operator, reason, now)
        verdict = Verdict(
            verdict.verdict_id,
            verdict.alert_id,
            verdict.action,
            verdict.operator,
            verdict.reason,
            verdict.decided_at,
            role=str(caller.role),
        )
        state.evaluation.decided(alert, action)
        self._save(camera_id, state)
        outputs = [
            Output(VERDICTS, camera_id, codec.encode(verdict)),
            *self._publish(alert),
            self._record(
                f"verdict.{action}",
                alert,
                at=now,
                actor=caller.operator,
                role=str(caller.role),
                reason=verdict.reason,
                request_id=request_id,
                details={"verdict_id": verdict.verdict_id, "status": str(alert.status)},
            ),
        ]
        return Decision(alert, verdict, outputs)

    def on_verdict(self, verdict: Verdict, camera_id: str) -> list[Output]:
        """A verdict read back from its topic: applied if this replica has not yet (given at
        another replica, or before a restart); a no-op otherwise.

        A verdict for an alert the camera's book does not hold (never raised, keyed by another
        camera, or long forgotten) is rejected: the stage dead-letters it with the reason
        instead of dropping it unseen."""
        state = self._load(camera_id)
        try:
            state.book.get(verdict.alert_id)
        except UnknownAlert:
            raise Reject(
                f"verdict {verdict.verdict_id} is for alert {verdict.alert_id}, which camera "
                f"{camera_id!r} does not hold"
            ) from None
        alert = state.book.apply_verdict(verdict)
        if alert is None:
            return []
        state.evaluation.decided(alert, verdict.action)
        self._save(camera_id, state)
        return self._publish(alert)

    # -- time -------------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Output]:
        """Escalate what nobody acknowledged in time, and forget what no longer matters."""
        outputs: list[Output] = []
        for camera_id, state in self._states():
            escalated = state.book.escalate(now, self._after_s)
            dropped = state.book.expire(now, self.keep_closed_s)
            for alert in escalated:
                log.warning(
                    "alert escalated",
                    extra={"alert_id": alert.alert_id, "alert_severity": str(alert.severity)},
                )
                outputs.extend(self._publish(alert))
                outputs.append(
                    self._record(
                        "alert.escalated",
                        alert,
                        at=now,
                        reason=f"not acknowledged in time; severity now {alert.severity}",
                        details={"escalation_level": str(alert.escalation_level)},
                    )
                )
            if escalated or dropped:
                self._save(camera_id, state)
        return outputs

    # -- queries ----------------------------------------------------------------------------------

    def alert(self, alert_id: str) -> Alert:
        """One alert of this replica's cameras, open or decided; raises ``UnknownAlert``."""
        _, state = self.find(alert_id)
        return state.book.get(alert_id)

    def alerts(self, camera_id: str | None = None, include_closed: bool = False) -> list[Alert]:
        """The operator queue across this replica's cameras: newest first, stable order."""
        found: list[Alert] = []
        for cam, state in self._states():
            if camera_id is None or cam == camera_id:
                found.extend(state.book.alerts(cam, include_closed))
        return sorted(found, key=lambda a: (a.first_seen, a.alert_id), reverse=True)

    def evaluations(self) -> dict[str, Evaluation]:
        return {camera_id: state.evaluation for camera_id, state in self._states()}

    # -- outputs ----------------------------------------------------------------------------------

    def _publish(self, alert: Alert) -> list[Output]:
        value = codec.encode(alert)
        outputs = [Output(ALERTS, alert.camera_id, value)]
        if self.json_mirror:
            outputs.append(Output(ALERTS_JSON, alert.camera_id, codec.alert_json(alert)))
        outputs.extend(
            Output(route.topic, alert.camera_id, value)
            for route in self.policy.file.routes
            if route.wants(alert)
        )
        return outputs

    def _refusal_record(self, event: Event, refusal: Refusal) -> Output:
        record = entry(
            "alert.refused",
            event.event_id,
            event.occurred_at,
            actor=SYSTEM,
            role="system",
            reason=refusal.reason,
            camera_id=event.camera_id,
            details={
                "kind": str(event.kind),
                "zone": event.zone,
                "policy_version": refusal.policy_version,
            },
        )
        return Output(AUDIT, event.camera_id, codec.encode(record))

    def _capped_record(self, event: Event, policy_version: str) -> Output:
        """An event refused at the camera's cap of open alerts: counted, warned about when the
        cap starts to bite, and journaled with the reason like a refusal of the policy."""
        CAPPED.inc()
        if event.camera_id not in self._capped:
            self._capped.add(event.camera_id)
            log.warning(
                "camera at its maximum of open alerts: new alerts refused until some are decided",
                extra={"camera": event.camera_id, "max_open_alerts": self.max_open_alerts},
            )
        reason = (
            f"camera {event.camera_id} already has {self.max_open_alerts} open alerts;"
            " decide some to let new ones through"
        )
        return self._refusal_record(event, Refusal(reason, policy_version))

    def _record(
        self,
        action: str,
        alert: Alert,
        *,
        at: float,
        actor: str = SYSTEM,
        role: str = "system",
        reason: str = "",
        request_id: str = "",
        details: dict[str, str] | None = None,
    ) -> Output:
        record = entry(
            action,
            alert.alert_id,
            at,
            actor=actor,
            role=role,
            key=(alert.escalation_level,),
            reason=reason,
            request_id=request_id,
            camera_id=alert.camera_id,
            details={"kind": str(alert.kind), "zone": alert.zone, **(details or {})},
        )
        return Output(AUDIT, alert.camera_id, codec.encode(record))

    def policy_record(self, now: float) -> Output:
        """The journal entry for the policy in force, written when it is loaded."""
        record = entry(
            "policy.loaded",
            self.policy.file.version,
            now,
            actor=SYSTEM,
            role="system",
            key=(self.policy.sha256,),
            reason=f"alert policy {self.policy.file.version} from {self.policy.source}",
            details={"sha256": self.policy.sha256, "source": self.policy.source},
        )
        return Output(AUDIT, "", codec.encode(record))
