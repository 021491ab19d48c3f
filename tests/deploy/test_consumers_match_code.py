"""The consumer table deploy-check scales and grants ACLs by (``service_groups``) is the code's:
every consumer a service's ``service.py`` starts (``topics=..., group_id=...``) and every topic
the alerting stream application subscribes to appear in it, with the same group and topics."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("capture", "detection", "tracking", "analytics", "alerting", "storage")

_spec = importlib.util.spec_from_file_location("deploy_check_table", REPO / "deploy" / "check.py")
assert _spec is not None and _spec.loader is not None
deploy_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(deploy_check)


def consumers_in_code(service: str) -> dict[str, set[str]]:
    """Group -> topics of every call in ``service.py`` with ``topics=`` and ``group_id=``."""
    module = importlib.import_module(f"vigie_{service}.service")
    settings = importlib.import_module(f"vigie_{service}.settings")
    defaults = [
        cls.model_fields["group_id"].default
        for cls in vars(settings).values()
        if isinstance(cls, type) and "group_id" in getattr(cls, "model_fields", {})
    ]
    group_default = next(g for g in defaults if g)
    path = REPO / "services" / service / f"vigie_{service}" / "service.py"
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        if "topics" not in keywords or "group_id" not in keywords:
            continue
        group_node = keywords["group_id"]
        if isinstance(group_node, ast.JoinedStr):  # f"{settings.group_id}-pixels"
            suffix = "".join(v.value for v in group_node.values if isinstance(v, ast.Constant))
            group = group_default + suffix
        else:
            group = group_default
        topics_node = keywords["topics"]
        if isinstance(topics_node, ast.List):
            topics = {getattr(module, e.id) for e in topics_node.elts if isinstance(e, ast.Name)}
        else:
            topics = set(getattr(module, ast.unparse(topics_node)))
        found.setdefault(group, set()).update(topics)
    return found


def test_every_consumer_the_services_start_is_in_the_table() -> None:
    table = deploy_check.service_groups()
    for service in SERVICES:
        for group, topics in consumers_in_code(service).items():
            assert group in table.get(service, {}), f"{service}: group {group} missing"
            assert topics <= table[service][group], (service, group, topics)


def test_every_topic_the_alerting_application_subscribes_to_is_in_the_table() -> None:
    streaming = importlib.import_module("vigie_alerting.streaming")
    path = REPO / "services" / "alerting" / "vigie_alerting" / "streaming.py"
    subscribed = {
        getattr(streaming, node.args[0].id)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "topic"
        and node.args
        and isinstance(node.args[0], ast.Name)
    }
    assert subscribed
    assert subscribed <= deploy_check.service_groups()["alerting"]["vigie-alerting"]
