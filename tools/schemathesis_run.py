"""Runs Schemathesis (a tool nobody here wrote) against `echome serve` and its own
/openapi.json, with every check on. A small stand-in for ElevenLabs answers the calls the
agent would place, so that a fuzzed IncomingCall is answered as in production; a viewer's
token comes from `echome token`; the webhooks are signed by tools/schemathesis_hooks.py.

    python3 tools/schemathesis_run.py target/debug/echome [--max-examples N]
"""
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading

SECRETS = {
    "THREECX_WEBHOOK_SECRET": "fuzz-3cx-secret-0123456789",
    "ELEVENLABS_WEBHOOK_SECRET": "fuzz-post-call-secret-0123456789",
    "ELEVENLABS_INITIATION_SECRET": "fuzz-initiation-secret-0123456789",
}


class Provider(http.server.BaseHTTPRequestHandler):
    """Outbound calls succeed; anything else answers an empty list."""

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.endswith("/outbound-call"):
            self._answer(200, {"success": True, "message": "ok", "conversation_id": "conv_fuzz", "sip_call_id": "sip_fuzz"})
        else:
            self._answer(404, {"detail": {"status": "not_found", "message": self.path}})

    def do_GET(self):
        self._answer(200, [])

    def log_message(self, *args):
        pass


def main():
    echome = os.path.abspath(sys.argv[1])
    extra = sys.argv[2:] or ["--max-examples", "100"]
    provider = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, **SECRETS)
        env.update({
            "ELEVENLABS_API_KEY": "fuzz-key",
            "ELEVENLABS_API_BASE": f"http://127.0.0.1:{provider.server_port}",
            "ELEVENLABS_AGENT_ID": "agent_fuzz",
            "ELEVENLABS_AGENT_PHONE_NUMBER_ID": "phnum_fuzz",
            "RATE_LIMIT_VIEWER": "1000000",
            # A URL sample the fuzzer might file is never fetched from the internet.
            "SAMPLE_URL_ALLOWED_HOSTS": "fuzz.invalid",
        })
        serve = subprocess.Popen([echome, "--data-dir", data, "serve", "--port", "0"], env=env,
                                 stdout=subprocess.PIPE, text=True)
        try:
            base = json.loads(serve.stdout.readline())["listening"]
            token = subprocess.run([echome, "--data-dir", data, "token", "--sub", "fuzz", "--role", "viewer"],
                                   check=True, capture_output=True, text=True).stdout.strip()
            here = os.path.dirname(os.path.abspath(__file__))
            env.update({"SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": here, "ECHOME_TOKEN": token})
            cmd = ["schemathesis", "run", f"{base}/openapi.json", "--checks", "all", "--seed", os.environ.get("SCHEMATHESIS_SEED", "1"),
                   "--no-color", "--suppress-health-check", "all", *extra]
            return subprocess.run(cmd, env=env).returncode
        finally:
            serve.terminate()
            serve.wait(timeout=10)
            provider.shutdown()


if __name__ == "__main__":
    sys.exit(main())
