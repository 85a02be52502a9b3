"""Cuts the operations echome calls (and every schema they reach) out of ElevenLabs' official
OpenAPI description, so the client's tests check requests against the spec on any machine.

    python3 tools/trim_openapi.py ../shared/reference/elevenlabs-openapi-2026-08-22.json \
        > crates/elevenlabs/tests/spec/openapi-subset.json
"""
import hashlib
import json
import sys

OPERATIONS = {
    "/v1/voices/add": ["post"],
    "/v1/voices/{voice_id}": ["get", "delete"],
    "/v2/voices": ["get"],
    "/v1/text-to-speech/{voice_id}": ["post"],
    "/v1/models": ["get"],
    "/v1/user/subscription": ["get"],
    "/v1/convai/twilio/outbound-call": ["post"],
    "/v1/convai/sip-trunk/outbound-call": ["post"],
}


def refs(node, out):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith("#/components/schemas/"):
            out.add(r.rsplit("/", 1)[1])
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def main(path):
    raw = open(path, "rb").read()
    spec = json.loads(raw)
    paths = {p: {m: spec["paths"][p][m] for m in ms} for p, ms in OPERATIONS.items()}
    schemas, todo = {}, set()
    refs(paths, todo)
    while todo:
        name = todo.pop()
        if name in schemas:
            continue
        schemas[name] = spec["components"]["schemas"][name]
        found = set()
        refs(schemas[name], found)
        todo |= found - set(schemas)
    out = {
        "openapi": spec.get("openapi"),
        "x-source": {"file": path.rsplit("/", 1)[-1], "sha256": hashlib.sha256(raw).hexdigest()},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
