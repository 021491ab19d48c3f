"""``vigie``: one command for every service, the broker, topics, and the local pipeline.

Exit codes: 0 done, 1 the work failed, 2 usage or configuration error, 130 interrupted by
Ctrl-C. --json on the commands that print a table or a verdict (see `vigie COMMAND --help`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from vigie_cli.output import (
    FAILED,
    INTERRUPTED,
    OK,
    USAGE,
    add_json_argument,
    print_json,
    version_text,
)

SERVICES = ("capture", "detection", "tracking", "analytics", "alerting", "storage", "console")


def _broker(args: argparse.Namespace) -> int:
    from vigie_runtime.broker import ensure_background_broker, stop_background_broker

    state = Path(args.state_dir)
    if args.action == "start":
        print(ensure_background_broker(state, args.port))
        print(f"bootstrap servers: 127.0.0.1:{args.port}")
    else:
        for line in stop_background_broker(state):
            print(line)
    return 0


def _topics(args: argparse.Namespace) -> int:
    from vigie_runtime.admin import admin_client, ensure_topics

    try:
        report = ensure_topics(admin_client(args.bootstrap), replication=args.replication)
    except Exception as exc:  # the admin client's errors are many; the user needs one line
        print(f"vigie topics: {args.bootstrap}: {exc}", file=sys.stderr)
        if args.json:
            print_json({"bootstrap": args.bootstrap, "ok": False, "error": str(exc), "topics": []})
        return FAILED
    if args.json:
        print_json({"bootstrap": args.bootstrap, "ok": True, "topics": topic_rows(report)})
        return OK
    for line in report:
        print(line)
    return OK


def topic_rows(report: list[str]) -> list[dict[str, str | None]]:
    """``ensure_topics``' lines as rows: ``created NAME`` / ``exists  NAME (has 1, wants 6)``."""
    rows: list[dict[str, str | None]] = []
    for line in report:
        state, _, rest = line.partition(" ")
        name, _, note = rest.strip().partition(" ")
        rows.append({"topic": name, "state": state, "note": note.strip("() ") or None})
    return rows


def _check_config(args: argparse.Namespace) -> int:
    from vigie_runtime.scenes import load_scenes
    from vigie_runtime.yamlconf import ConfigError

    try:
        scenes = load_scenes(Path(args.scenes))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        if args.json:
            print_json({"file": args.scenes, "ok": False, "error": str(exc), "cameras": []})
        return USAGE
    if args.json:
        cameras = [
            {
                "camera_id": camera,
                "zones": [zone.name for zone in spec.zones],
                "lines": [line.name for line in spec.lines],
            }
            for camera, spec in scenes.items()
        ]
        print_json({"file": args.scenes, "ok": True, "error": None, "cameras": cameras})
        return OK
    for camera, spec in scenes.items():
        print(f"{camera}: {len(spec.zones)} zone(s), {len(spec.lines)} line(s)")
    return OK


def _check_policy(args: argparse.Namespace) -> int:
    from vigie_alerting.policy_file import load_policy
    from vigie_runtime.yamlconf import ConfigError

    try:
        loaded = load_policy(Path(args.policy))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        if args.json:
            print_json({"file": args.policy, "ok": False, "error": str(exc)})
        return USAGE
    policy = loaded.file
    if args.json:
        print_json(
            {
                "file": args.policy,
                "ok": True,
                "error": None,
                "version": policy.version,
                "sha256": loaded.sha256,
                "default": None if policy.default is None else sorted(policy.default),
                "cameras": {camera: sorted(kinds) for camera, kinds in policy.cameras.items()},
                "suppressions": len(policy.suppressions),
                "routes": len(policy.routes),
                "webhooks": len(policy.webhooks),
            }
        )
        return OK
    print(f"alert policy {policy.version} (sha256 {loaded.sha256[:12]})")
    if policy.default is not None:
        print(f"  other cameras: {', '.join(sorted(policy.default)) or 'nothing'}")
    for camera, kinds in sorted(policy.cameras.items()):
        print(f"  {camera}: {', '.join(sorted(kinds)) or 'nothing'}")
    print(
        f"  {len(policy.suppressions)} suppression(s), {len(policy.routes)} route(s),"
        f" {len(policy.webhooks)} webhook(s)"
    )
    return OK


def _desk_token(args: argparse.Namespace) -> int:
    from vigie_runtime.auth import Role, new_token

    token, line = new_token(args.operator, Role(args.role))
    if args.json:
        print_json({"operator": args.operator, "role": args.role, "token": token, "line": line})
        return OK
    print(f"token (give it to {args.operator}; it is not stored anywhere): {token}")
    print("line for the tokens file:")
    print(line)
    return OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigie", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-V", "--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", required=True)

    broker = sub.add_parser("broker", help="start or stop the development broker")
    broker.add_argument("action", choices=["start", "stop"])
    broker.add_argument("--port", type=int, default=19092)
    broker.add_argument("--state-dir", default="var/broker")
    broker.set_defaults(func=_broker)

    topics = sub.add_parser("topics", help="create every Vigie topic (idempotent)")
    topics.add_argument("--bootstrap", default="127.0.0.1:19092")
    topics.add_argument("--replication", type=int, default=1)
    add_json_argument(topics)
    topics.set_defaults(func=_topics)

    check = sub.add_parser("check-config", help="validate a scene (zones and lines) file")
    check.add_argument("scenes")
    add_json_argument(check)
    check.set_defaults(func=_check_config)

    check_policy = sub.add_parser("check-policy", help="validate an alert policy file")
    check_policy.add_argument("policy")
    add_json_argument(check_policy)
    check_policy.set_defaults(func=_check_policy)

    token = sub.add_parser("desk-token", help="a new AlertDesk token and its tokens-file line")
    token.add_argument("--operator", required=True)
    token.add_argument("--role", choices=["operator", "supervisor", "auditor"], required=True)
    add_json_argument(token)
    token.set_defaults(func=_desk_token)

    from vigie_cli import audit, demo, report, run

    audit.add_parser(sub)
    run.add_parser(sub)
    demo.add_parser(sub)
    report.add_parser(sub)

    for name in SERVICES:
        svc = sub.add_parser(name, help=f"run the {name} service", add_help=False)
        svc.set_defaults(func=None, service=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SERVICES:
            if {"-V", "--version"} & set(argv[1:]):
                print(version_text())
                return OK
            module = importlib.import_module(f"vigie_{argv[0]}.__main__")
            return int(module.main(argv[1:]))
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except KeyboardInterrupt:
        print("vigie: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
