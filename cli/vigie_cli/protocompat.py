"""Breaking changes in the message contracts, against the descriptors of the last release.

Other services decode Vigie's topics and call its APIs with the ``vigie-protos`` package; a
change that breaks them must be a new version (``vigie.v2``, new topics), never an edit of
``v1``. This compares the current ``.proto`` files, compiled, with the descriptor set of the
last released package (``protos/released/``) under the rules of wire and JSON compatibility:

- a message, enum or service of the release still exists under its full name;
- a field keeps its number, name, type, cardinality and oneof; a field that goes away leaves
  its number reserved; a number reserved in the release is not used again;
- an enum value keeps its number and name, or leaves its number reserved;
- a method keeps its request and response types and its streaming.

Additions (messages, fields on new numbers, enum values, methods) are compatible.

``python -m vigie_cli.protocompat`` prints the breaking changes (exit 1 if any);
``--release`` writes the current descriptors as the new baseline, when a version is cut.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"
RELEASED = PROTOS / "released" / "vigie-protos.binpb"
OURS = "vigie/"

Field = descriptor_pb2.FieldDescriptorProto


def compile_protos(root: Path = PROTOS) -> descriptor_pb2.FileDescriptorSet:
    """The descriptors of the ``.proto`` files under ``root``/vigie (imports not included)."""
    from grpc_tools import protoc

    files = sorted(str(p.relative_to(root)) for p in (root / "vigie").rglob("*.proto"))
    include = str(Path(protoc.__file__).parent / "_proto")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.binpb"
        args = ["protoc", f"-I{root}", f"-I{include}", f"--descriptor_set_out={out}", *files]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {files}")
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def _messages(
    prefix: str, messages: Iterator[descriptor_pb2.DescriptorProto] | list
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    for message in messages:
        name = f"{prefix}.{message.name}"
        yield name, message
        yield from _messages(name, list(message.nested_type))


def _enums(
    prefix: str, enums: list, messages: list
) -> Iterator[tuple[str, descriptor_pb2.EnumDescriptorProto]]:
    for enum in enums:
        yield f"{prefix}.{enum.name}", enum
    for message in messages:
        yield from _enums(
            f"{prefix}.{message.name}", list(message.enum_type), list(message.nested_type)
        )


def _index(descriptors: descriptor_pb2.FileDescriptorSet) -> tuple[dict, dict, dict]:
    messages, enums, services = {}, {}, {}
    for file in descriptors.file:
        if not file.name.startswith(OURS):
            continue
        prefix = f".{file.package}"
        messages.update(_messages(prefix, list(file.message_type)))
        enums.update(_enums(prefix, list(file.enum_type), list(file.message_type)))
        for service in file.service:
            services[f"{prefix}.{service.name}"] = service
    return messages, enums, services


def _reserved(ranges: list, number: int) -> bool:
    # Message reserved ranges are end-exclusive, enum ones end-inclusive: both are passed
    # here normalised to (start, end-exclusive).
    return any(start <= number < end for start, end in ranges)


def _shape(field: Field) -> str:
    kind = Field.Type.Name(field.type)
    label = "repeated" if field.label == Field.LABEL_REPEATED else "singular"
    oneof = f", oneof {field.oneof_index}" if field.HasField("oneof_index") else ""
    return f"{label} {kind}{' ' + field.type_name if field.type_name else ''}{oneof}"


def _compare_message(
    name: str, old: descriptor_pb2.DescriptorProto, new: descriptor_pb2.DescriptorProto
) -> Iterator[str]:
    new_fields = {f.number: f for f in new.field}
    new_reserved = [(r.start, r.end) for r in new.reserved_range]
    old_reserved = [(r.start, r.end) for r in old.reserved_range]
    for field in old.field:
        kept = new_fields.get(field.number)
        if kept is None:
            if not _reserved(new_reserved, field.number):
                yield (
                    f"{name}: field {field.name} = {field.number} removed without reserving "
                    "its number"
                )
            continue
        if kept.name != field.name:
            yield f"{name}: field {field.number} renamed {field.name} -> {kept.name}"
        if _shape(kept) != _shape(field):
            yield f"{name}.{field.name}: {_shape(field)} became {_shape(kept)}"
    for field in new.field:
        if _reserved(old_reserved, field.number):
            yield f"{name}: field {field.name} reuses reserved number {field.number}"


def _compare_enum(
    name: str, old: descriptor_pb2.EnumDescriptorProto, new: descriptor_pb2.EnumDescriptorProto
) -> Iterator[str]:
    new_values = {v.number: v.name for v in new.value}
    reserved = [(r.start, r.end + 1) for r in new.reserved_range]
    for value in old.value:
        if value.number not in new_values:
            if not _reserved(reserved, value.number):
                yield f"{name}: value {value.name} = {value.number} removed without reserving it"
        elif new_values[value.number] != value.name:
            yield f"{name}: value {value.number} renamed {value.name} -> {new_values[value.number]}"


def _compare_service(
    name: str,
    old: descriptor_pb2.ServiceDescriptorProto,
    new: descriptor_pb2.ServiceDescriptorProto,
) -> Iterator[str]:
    methods = {m.name: m for m in new.method}
    for method in old.method:
        kept = methods.get(method.name)
        if kept is None:
            yield f"{name}: method {method.name} removed"
            continue
        for attribute in ("input_type", "output_type", "client_streaming", "server_streaming"):
            before, after = getattr(method, attribute), getattr(kept, attribute)
            if before != after:
                yield f"{name}.{method.name}: {attribute} {before} became {after}"


def breaking_changes(
    released: descriptor_pb2.FileDescriptorSet, current: descriptor_pb2.FileDescriptorSet
) -> list[str]:
    """Every change from ``released`` to ``current`` that breaks a reader or a caller."""
    old_messages, old_enums, old_services = _index(released)
    new_messages, new_enums, new_services = _index(current)
    problems: list[str] = []
    for name, message in old_messages.items():
        if name not in new_messages:
            problems.append(f"message {name} removed")
        else:
            problems.extend(_compare_message(name, message, new_messages[name]))
    for name, enum in old_enums.items():
        if name not in new_enums:
            problems.append(f"enum {name} removed")
        else:
            problems.extend(_compare_enum(name, enum, new_enums[name]))
    for name, service in old_services.items():
        if name not in new_services:
            problems.append(f"service {name} removed")
        else:
            problems.extend(_compare_service(name, service, new_services[name]))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vigie_cli.protocompat", description=__doc__)
    parser.add_argument("--released", type=Path, default=RELEASED, help="baseline descriptor set")
    parser.add_argument(
        "--release", action="store_true", help="write the current descriptors as the baseline"
    )
    args = parser.parse_args(argv)
    current = compile_protos()
    if args.release:
        args.released.parent.mkdir(parents=True, exist_ok=True)
        args.released.write_bytes(current.SerializeToString(deterministic=True))
        print(f"baseline written: {args.released}")
        return 0
    released = descriptor_pb2.FileDescriptorSet.FromString(args.released.read_bytes())
    problems = breaking_changes(released, current)
    for problem in problems:
        print(f"breaking: {problem}", file=sys.stderr)
    if problems:
        print(
            f"{len(problems)} breaking change(s) against {args.released}: make them a new "
            "version (vigie.v2, new topics) instead",
            file=sys.stderr,
        )
        return 1
    print(f"no breaking change against {args.released.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
