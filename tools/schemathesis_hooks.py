"""Schemathesis hooks for echome's API: every generated request gets past authentication, so
the fuzzing reaches the handlers. The read API gets a viewer's token (`ECHOME_TOKEN`, from
`echome token`), the conversation-initiation webhook its bearer secret, and the other webhooks
are signed here the way 3CX and ElevenLabs sign them (HMAC-SHA256 over
"<timestamp>.<raw body>"), over the exact bytes that are sent. A case generated without a
signature header (a negative test) is left unsigned, so that its refusal is what is checked.
"""
import hashlib
import hmac
import json
import os
import time

import schemathesis

THREECX = os.environ.get("THREECX_WEBHOOK_SECRET", "")
POST_CALL = os.environ.get("ELEVENLABS_WEBHOOK_SECRET", "")
INITIATION = os.environ.get("ELEVENLABS_INITIATION_SECRET", "")
TOKEN = os.environ.get("ECHOME_TOKEN", "")


@schemathesis.auth()
class Bearer:
    """The read API's JWT, or the initiation webhook's own secret; the signed webhooks need none."""

    def get(self, case, ctx):
        return TOKEN

    def set(self, case, data, ctx):
        path = case.operation.path
        if path == "/webhook/conversation-initiation":
            data = INITIATION
        elif path.startswith("/webhook/"):
            return
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _sign(secret, ts, body):
    return hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


def _has(headers, name):
    return any(k.lower() == name.lower() for k in headers)


@schemathesis.hook
def before_call(ctx, case, kwargs):
    path = case.operation.path
    if not path.startswith("/webhook/"):
        return
    body = case.body if isinstance(case.body, (dict, list, str, int, float, bool)) or case.body is None else None
    raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    headers = dict(case.headers or {})
    ts = str(int(time.time()))
    if path == "/webhook/3cx-call":
        if not (_has(headers, "X-3CX-Timestamp") and _has(headers, "X-3CX-Signature")):
            return
        headers = {k: v for k, v in headers.items() if k.lower() not in ("x-3cx-timestamp", "x-3cx-signature")}
        headers["X-3CX-Timestamp"] = ts
        headers["X-3CX-Signature"] = "sha256=" + _sign(THREECX, ts, raw)
    elif path == "/webhook/post-call":
        if not _has(headers, "ElevenLabs-Signature"):
            return
        headers = {k: v for k, v in headers.items() if k.lower() != "elevenlabs-signature"}
        headers["ElevenLabs-Signature"] = f"t={ts},v0={_sign(POST_CALL, ts, raw)}"
    kwargs["data"] = raw
    headers["Content-Type"] = "application/json"
    case.headers = headers
