"""A schema-driven run of the official OpenAPI file against the live server.

Starts the binary named by SUNBEAM_BIN (default target/debug/sunbeam) on 127.0.0.1 port 0
over a fresh SQLite database in a temporary folder, with a known account key; creates one
of each resource (an app, an app key, a user, a conversation, a message, an integration
with a webhook, a switchboard with a switchboard integration) so that generated requests
reach the handlers with ids that exist; then runs schemathesis (pinned in
requirements.txt) over conformance/schemathesis/sunshine-openapi-v2.yaml, a verbatim copy
of the spec, with the checks `not_a_server_error` and `response_schema_conformance`
(see schemathesis.toml), bounded by SCHEMATHESIS_MAX_TIME seconds (default 90).

Exit status: schemathesis's (0 when no check failed), or 2 when the server could not be
started or the fixtures could not be made.
"""

import base64
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
LISTENING = re.compile(r"Sunbeam listening on (http://\S+)")


def start(binary: Path, data_dir: str, key_id: str, key_secret: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNBEAM_") or k == "SUNBEAM_LOG"}
    env.update(
        SUNBEAM_LISTEN="127.0.0.1:0",
        SUNBEAM_DATABASE_URL=f"sqlite://{os.path.join(data_dir, 'sunbeam.db')}",
        SUNBEAM_DATA_DIR=data_dir,
        SUNBEAM_ACCOUNT_KEY_ID=key_id,
        SUNBEAM_ACCOUNT_KEY_SECRET=key_secret,
        # schemathesis sends thousands of requests from one key: no rate limit here.
        SUNBEAM_RATE_LIMITS="off",
    )
    child = subprocess.Popen(
        [str(binary), "serve"], cwd=data_dir, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    output, found, base = [], threading.Event(), {}

    def read():
        for line in child.stdout:
            output.append(line)
            m = LISTENING.search(line)
            if m and not found.is_set():
                base["url"] = m.group(1).rstrip("/")
                found.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while not found.wait(0.1):
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            raise SystemExit(f"sunbeam did not start (exit {child.poll()}); output:\n{''.join(output)}")
    return child, base["url"], output


def basic(key_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key_id}:{secret}".encode()).decode()


class Api:
    def __init__(self, base: str, key_id: str, key_secret: str):
        self.base = base
        self.auth = basic(key_id, key_secret)

    def call(self, method: str, path: str, body=None, want=(200, 201)):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("authorization", self.auth)
        if data is not None:
            req.add_header("content-type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as res:
            status, text = res.status, res.read().decode()
        if status not in want:
            raise SystemExit(f"fixture {method} {path} answered {status}: {text}")
        return json.loads(text) if text else {}


def fixtures(api: Api) -> dict:
    """One of each resource; returns the spec's path parameter names to their ids."""
    app = api.call("POST", "/v2/apps", {"displayName": "Schemathesis"})["app"]["id"]
    key = api.call("POST", f"/v2/apps/{app}/keys", {"displayName": "fuzz"})["key"]["id"]
    user = api.call("POST", f"/v2/apps/{app}/users", {"externalId": "fuzz-user", "profile": {"givenName": "Fuzz"}})["user"]["id"]
    conv = api.call("POST", f"/v2/apps/{app}/conversations", {"type": "personal", "participants": [{"userId": user}]})["conversation"]["id"]
    msg = api.call("POST", f"/v2/apps/{app}/conversations/{conv}/messages", {"author": {"type": "business"}, "content": {"type": "text", "text": "hello"}})["messages"][0]["id"]
    integration = api.call("POST", f"/v2/apps/{app}/integrations", {"type": "custom", "displayName": "Fuzz", "webhooks": [{"target": "http://127.0.0.1:9/hook", "triggers": ["conversation:message"]}]})["integration"]
    integration_id = integration["id"]
    webhook = integration["webhooks"][0]["id"]
    switchboard = api.call("POST", f"/v2/apps/{app}/switchboards", {})["switchboard"]["id"]
    sbi = api.call("POST", f"/v2/apps/{app}/switchboards/{switchboard}/switchboardIntegrations", {"name": "bot", "integrationId": integration_id, "deliverStandbyEvents": False})["switchboardIntegration"]["id"]
    clients = api.call("GET", f"/v2/apps/{app}/users/{user}/clients")["clients"]
    # Its own key for the operations only app scope may call (not `keyId`, which may be deleted).
    own = api.call("POST", f"/v2/apps/{app}/keys", {"displayName": "schemathesis"})["key"]
    throwaway = api.call("POST", "/v2/apps", {"displayName": "Deleted by DeleteApp"})["app"]["id"]
    return {
        "APP_AUTH": basic(own["id"], own["secret"]),
        "THROWAWAY_APPID": throwaway,
        "appId": app,
        "keyId": key,
        "userIdOrExternalId": user,
        "conversationId": conv,
        "messageId": msg,
        "integrationId": integration_id,
        "webhookId": webhook,
        "switchboardId": switchboard,
        "switchboardIntegrationId": sbi,
        **({"clientId": clients[0]["id"]} if clients else {}),
    }


def main() -> int:
    binary = Path(os.environ["SUNBEAM_BIN"]).resolve() if os.environ.get("SUNBEAM_BIN") else ROOT / "target" / "debug" / "sunbeam"
    if not binary.exists():
        print(f"sunbeam binary not found at {binary}", file=sys.stderr)
        return 2
    data_dir = tempfile.mkdtemp(prefix="sunbeam-schemathesis-")
    key_id, key_secret = "act_" + secrets.token_hex(12), secrets.token_urlsafe(24)
    child, base, output = start(binary, data_dir, key_id, key_secret)
    try:
        ids = fixtures(Api(base, key_id, key_secret))
        env = dict(os.environ)
        env.update({f"FUZZ_{k.upper()}": v for k, v in ids.items()})
        print("fixtures:", json.dumps({k: v for k, v in ids.items() if "AUTH" not in k}))
        env.update(FUZZ_BASE_URL=base, FUZZ_ACCOUNT_AUTH=basic(key_id, key_secret))
        env.setdefault("FUZZ_CLIENTID", "0" * 24)
        max_time = int(os.environ.get("SCHEMATHESIS_MAX_TIME", "90"))
        # Two passes, so that deletions do not take the fixtures away from the rest: every
        # operation but DELETE first, then the DELETEs.
        status = 0
        for name, share, selection in (("all but DELETE", 2 / 3, ["--exclude-method", "DELETE"]), ("DELETE", 1 / 3, ["--include-method", "DELETE"])):
            budget = max(10, int(max_time * share))
            cmd = [
                str(Path(sys.executable).parent / "schemathesis"),
                "--config-file", str(HERE / "schemathesis.toml"),
                "run", str(HERE / "sunshine-openapi-v2.yaml"),
                "--max-time", str(budget), *selection,
            ]
            print(f"pass {name}: {' '.join(cmd)}", flush=True)
            try:
                # --max-time bounds generation; the hard bound is a margin over it.
                result = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, timeout=budget + 120).returncode
            except subprocess.TimeoutExpired:
                print(f"pass {name} did not finish within {budget + 120}s", file=sys.stderr)
                result = 1
            status = status or result
        server_errors = [l for l in output if "panicked" in l or " ERROR " in l]
        if server_errors:
            print("server log errors:\n" + "".join(server_errors[:40]), file=sys.stderr)
        return status
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
