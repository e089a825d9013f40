"""Starts a Sunbeam server for the Python conformance story, as conformance/lib/server.js
does for the JavaScript suite: the binary named by SUNBEAM_BIN (default
target/debug/sunbeam), on 127.0.0.1 port 0, a fresh SQLite database in a temporary folder
(also its working directory), and a known account key. Yields once the server prints its
"Sunbeam listening on http://…" line; stops it and removes the folder afterwards."""

import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = ROOT / "target" / "debug" / "sunbeam"
LISTENING = re.compile(r"Sunbeam listening on (http://\S+)")
START_TIMEOUT_S = float(os.environ.get("SUNBEAM_START_TIMEOUT_MS", "60000")) / 1000


@dataclass
class Server:
    base_url: str
    key_id: str
    key_secret: str
    output: list


@pytest.fixture(scope="session")
def server():
    binary = Path(os.environ["SUNBEAM_BIN"]).resolve() if os.environ.get("SUNBEAM_BIN") else DEFAULT_BIN
    if not binary.exists():
        pytest.fail(f"sunbeam binary not found at {binary}: build it (cargo build --bin sunbeam) or set SUNBEAM_BIN")
    data_dir = tempfile.mkdtemp(prefix="sunbeam-python-")
    key_id = "act_" + secrets.token_hex(12)
    key_secret = secrets.token_urlsafe(24)
    # Our environment without any SUNBEAM_* setting, plus the test settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUNBEAM_") or k == "SUNBEAM_LOG"}
    env.update(
        SUNBEAM_LISTEN="127.0.0.1:0",
        SUNBEAM_DATABASE_URL=f"sqlite://{os.path.join(data_dir, 'sunbeam.db')}",
        SUNBEAM_DATA_DIR=data_dir,
        SUNBEAM_ACCOUNT_KEY_ID=key_id,
        SUNBEAM_ACCOUNT_KEY_SECRET=key_secret,
        # One key drives the story as fast as it can: no rate limits (tests/api/limits.rs tests them).
        SUNBEAM_RATE_LIMITS="off",
        # Retry a failed webhook quickly (the story's receiver answers 200 anyway).
        SUNBEAM_WEBHOOK_RETRY_DELAYS_MS="200,400",
    )
    child = subprocess.Popen(
        [str(binary), "serve"], cwd=data_dir, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
    )
    output = []
    found = threading.Event()
    base = {}

    def read():
        for line in child.stdout:
            output.append(line)
            m = LISTENING.search(line)
            if m and not found.is_set():
                base["url"] = m.group(1).rstrip("/")
                found.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not found.wait(0.1):
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            shutil.rmtree(data_dir, ignore_errors=True)
            pytest.fail(f"sunbeam did not start (exit {child.poll()}); output:\n{''.join(output)}")
    try:
        yield Server(base["url"], key_id, key_secret, output)
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
