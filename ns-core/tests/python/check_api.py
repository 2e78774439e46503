"""Compares our `api` descriptors with ChirpStack's (PyPI chirpstack-api).

  check_api.py DESCRIPTOR_SET

DESCRIPTOR_SET is ns-core's encoded FileDescriptorSet. For every file of
ChirpStack's `api` package that we cover (and for our `google.api` stand-ins,
against googleapis-common-protos), compares messages (nested ones included),
fields, oneofs, enums and their values, services, methods and each method's
`google.api.http` option. File names, other options, comments and source info
are ignored. Prints every difference and exits 1 if there is any; exits 3 when
a Python package is missing.
"""

import importlib
import sys

try:
    from google.protobuf import descriptor_pb2
    from google.api import annotations_pb2, http_pb2
except ImportError as e:
    print(f"check_api.py: {e}", file=sys.stderr)
    sys.exit(3)

# Our file name -> the chirpstack_api / googleapis module describing it.
COVERED = {
    "api/tenant.proto": "chirpstack_api.api.tenant_pb2",
    "api/user.proto": "chirpstack_api.api.user_pb2",
    "api/application.proto": "chirpstack_api.api.application_pb2",
    "api/device_profile.proto": "chirpstack_api.api.device_profile_pb2",
    "api/device.proto": "chirpstack_api.api.device_pb2",
    "api/gateway.proto": "chirpstack_api.api.gateway_pb2",
    "api/internal.proto": "chirpstack_api.api.internal_pb2",
    "google/api/http.proto": "google.api.http_pb2",
    "google/api/annotations.proto": "google.api.annotations_pb2",
}

FDP = descriptor_pb2.FieldDescriptorProto


def json_name(name):
    """protoc's default JSON name: lowerCamelCase of the field name."""
    out, upper = [], False
    for c in name:
        if c == "_":
            upper = True
        elif upper:
            out.append(c.upper())
            upper = False
        else:
            out.append(c)
    return "".join(out)


def field_facts(msg, f):
    oneof = msg.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else None
    return {
        "number": f.number,
        "type": FDP.Type.Name(f.type),
        "label": FDP.Label.Name(f.label),
        "type_name": f.type_name,
        "extendee": f.extendee,
        "oneof": oneof,
        "proto3_optional": f.proto3_optional,
        "json_name": f.json_name if f.HasField("json_name") else json_name(f.name),
        "default_value": f.default_value,
    }


def http_rule(rule):
    """The facts of an HttpRule, additional bindings included."""
    return {
        "pattern": rule.WhichOneof("pattern"),
        "path": (getattr(rule, rule.WhichOneof("pattern")) if rule.WhichOneof("pattern")
                 and rule.WhichOneof("pattern") != "custom" else None),
        "custom": (rule.custom.kind, rule.custom.path) if rule.HasField("custom") else None,
        "selector": rule.selector,
        "body": rule.body,
        "response_body": rule.response_body,
        "additional_bindings": [http_rule(b) for b in rule.additional_bindings],
    }


def method_http(method):
    opts = method.options
    if not opts.HasExtension(annotations_pb2.http):
        # Not recognised as an extension: it may be left as an unknown field
        # when the option was parsed by a different pool; re-parse.
        return None
    return http_rule(opts.Extensions[annotations_pb2.http])


class Diff:
    def __init__(self):
        self.lines = []

    def named(self, where, kind, ours, theirs, compare):
        """Pairs two lists of named items; reports missing/extra ones and
        compares the pairs with `compare`."""
        ours_by = {x.name: x for x in ours}
        theirs_by = {x.name: x for x in theirs}
        for name in theirs_by.keys() - ours_by.keys():
            self.lines.append(f"{where}: missing {kind} {name}")
        for name in ours_by.keys() - theirs_by.keys():
            self.lines.append(f"{where}: extra {kind} {name}")
        for name in theirs_by.keys() & ours_by.keys():
            compare(f"{where}.{name}", ours_by[name], theirs_by[name])
        if [x.name for x in ours] != [x.name for x in theirs] and ours_by.keys() == theirs_by.keys():
            self.lines.append(f"{where}: {kind} order differs: ours {[x.name for x in ours]}, "
                              f"theirs {[x.name for x in theirs]}")

    def facts(self, where, ours, theirs):
        for key in theirs.keys() | ours.keys():
            if ours.get(key) != theirs.get(key):
                self.lines.append(f"{where}: {key} is {ours.get(key)!r}, ChirpStack has {theirs.get(key)!r}")

    def enum(self, where, ours, theirs):
        self.named(where, "value", ours.value, theirs.value,
                   lambda w, o, t: self.facts(w, {"number": o.number}, {"number": t.number}))

    def message(self, where, ours, theirs):
        self.named(where, "field", ours.field, theirs.field,
                   lambda w, o, t: self.facts(w, field_facts(ours, o), field_facts(theirs, t)))
        self.facts(where, {"oneofs": [o.name for o in ours.oneof_decl],
                           "map_entry": ours.options.map_entry},
                   {"oneofs": [o.name for o in theirs.oneof_decl],
                    "map_entry": theirs.options.map_entry})
        self.named(where, "nested message", ours.nested_type, theirs.nested_type, self.message)
        self.named(where, "nested enum", ours.enum_type, theirs.enum_type, self.enum)
        self.named(where, "extension", ours.extension, theirs.extension,
                   lambda w, o, t: self.facts(w, field_facts(ours, o), field_facts(theirs, t)))

    def method(self, where, ours, theirs):
        def facts(m):
            return {"input_type": m.input_type, "output_type": m.output_type,
                    "client_streaming": m.client_streaming,
                    "server_streaming": m.server_streaming,
                    "http": method_http(m)}
        self.facts(where, facts(ours), facts(theirs))

    def service(self, where, ours, theirs):
        self.named(where, "method", ours.method, theirs.method, self.method)

    def file(self, where, ours, theirs):
        self.facts(where, {"package": ours.package, "syntax": ours.syntax},
                   {"package": theirs.package, "syntax": theirs.syntax})
        # Imports, with ChirpStack's `chirpstack-api/` prefix taken off.
        ours_deps = sorted(ours.dependency)
        theirs_deps = sorted(d.removeprefix("chirpstack-api/") for d in theirs.dependency)
        if ours_deps != theirs_deps:
            self.lines.append(f"{where}: imports {ours_deps}, ChirpStack has {theirs_deps}")
        self.named(where, "message", ours.message_type, theirs.message_type, self.message)
        self.named(where, "enum", ours.enum_type, theirs.enum_type, self.enum)
        self.named(where, "service", ours.service, theirs.service, self.service)
        self.named(where, "extension", ours.extension, theirs.extension,
                   lambda w, o, t: self.facts(w, field_facts(ours, o), field_facts(theirs, t)))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(data)
    ours = {f.name: f for f in fds.file}

    diff = Diff()
    counts = {"files": 0, "messages": 0, "map entries": 0, "enums": 0, "services": 0, "methods": 0, "http": 0}
    for name, module in COVERED.items():
        try:
            mod = importlib.import_module(module)
        except ImportError as e:
            print(f"check_api.py: {e}", file=sys.stderr)
            sys.exit(3)
        theirs = descriptor_pb2.FileDescriptorProto()
        mod.DESCRIPTOR.CopyToProto(theirs)
        if name not in ours:
            diff.lines.append(f"{name}: not in our descriptor set")
            continue
        diff.file(name, ours[name], theirs)
        if not module.startswith("chirpstack_api."):
            continue
        counts["files"] += 1

        def count(msgs):
            for m in msgs:
                if m.options.map_entry:
                    counts["map entries"] += 1
                else:
                    counts["messages"] += 1
                counts["enums"] += len(m.enum_type)
                count(m.nested_type)
        count(theirs.message_type)
        counts["enums"] += len(theirs.enum_type)
        counts["services"] += len(theirs.service)
        for s in theirs.service:
            counts["methods"] += len(s.method)
            counts["http"] += sum(1 for m in s.method if method_http(m) is not None)

    # Guard against a vacuous pass: the option must be readable on our side.
    tenant_create = ours["api/tenant.proto"].service[0].method[0] if "api/tenant.proto" in ours else None
    if tenant_create is None or method_http(tenant_create) is None:
        diff.lines.append("api/tenant.proto: the google.api.http option of the first method "
                          "cannot be read")

    for line in sorted(diff.lines):
        print(line)
    print(f"check_api.py: compared {counts['files']} files of ChirpStack's api package: "
          f"{counts['messages']} messages (nested included) and {counts['map entries']} map "
          f"entries, {counts['enums']} enums, {counts['services']} services, "
          f"{counts['methods']} methods ({counts['http']} with a REST mapping); "
          f"and google.api's http and annotations files")
    if diff.lines:
        print(f"check_api.py: {len(diff.lines)} differences")
        sys.exit(1)
    print("check_api.py: identical")


if __name__ == "__main__":
    main()
