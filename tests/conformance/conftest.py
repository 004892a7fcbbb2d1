"""Fixtures for the Switchboard conformance suite.

One server runs for the whole session (a fresh config and SQLite file in a temp dir); every
test starts its own chat on it, so tests stay independent. Clients are plain boto3 clients
pointed at the server, exactly as an application would use them against Amazon Connect.

Environment:
    SWITCHBOARD_BIN   path of the switchboard binary
                      (default /root/.cache/switchboard-target/debug/switchboard)
"""

import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

import boto3
import botocore.config
import pytest
import websocket

DEFAULT_BIN = "/root/.cache/switchboard-target/debug/switchboard"
READY = re.compile(r"switchboard listening on (http://127\.0\.0\.1:(\d+))")

REGION = "us-east-1"
ACCESS_KEY = "AKIDTEST"
SECRET_KEY = "testsecret"
INSTANCE_ID = "inst-1"
QUEUE_ID = "q-1"
CONTACT_FLOW_ID = "flow-1"

STARTUP_TIMEOUT = 60  # seconds for the readiness line
WS_TIMEOUT = 10  # seconds a socket waits for an expected frame

ISO_MILLIS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

EVENT = "application/vnd.amazonaws.connect.event."
TYPING = EVENT + "typing"
JOINED = EVENT + "participant.joined"
LEFT = EVENT + "participant.left"
CHAT_ENDED = EVENT + "chat.ended"
DELIVERED = EVENT + "message.delivered"
READ = EVENT + "message.read"
METADATA = EVENT + "message.metadata"

CONFIG = f"""\
region = "{REGION}"
storage = "sqlite://{{db}}"

[[access_keys]]
id = "{ACCESS_KEY}"
secret = "{SECRET_KEY}"

[[instances]]
id = "{INSTANCE_ID}"

[[instances.queues]]
id = "{QUEUE_ID}"
name = "Queue"

[[instances.contact_flows]]
id = "{CONTACT_FLOW_ID}"
name = "Flow"
queue = "{QUEUE_ID}"
"""


@dataclass
class Server:
    endpoint: str
    port: int
    region: str
    access_key: str
    secret_key: str
    instance_id: str
    contact_flow_id: str
    queue_id: str


def _binary_path():
    """The binary under test (scripts/test.sh builds it and sets SWITCHBOARD_BIN)."""
    path = os.environ.get("SWITCHBOARD_BIN", DEFAULT_BIN)
    if not os.access(path, os.X_OK):
        pytest.fail(f"switchboard binary not found or not executable: {path} (set SWITCHBOARD_BIN)")
    return path


def _read_lines(stream, lines):
    for line in iter(stream.readline, ""):
        lines.put(line)
    lines.put(None)


def wait_for_line(lines, pattern, what, process, log, timeout=STARTUP_TIMEOUT):
    """The match of `pattern` in the first line of `lines` (a queue fed by a reader thread) that
    has it; fails the test, showing `log()`, if the process exits or says nothing of the kind in
    time."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            pytest.fail(f"{what} printed no readiness line in {timeout}s; log:\n{log()}")
        if line is None:
            process.wait()
            pytest.fail(f"{what} exited with {process.returncode} before it was ready; "
                        f"log:\n{log()}")
        match = pattern.search(line)
        if match:
            return match


@contextlib.contextmanager
def running_switchboard(workdir, config_text):
    """Runs `switchboard serve` with `config_text` on a free port; stops it with SIGTERM at the
    end and checks that it exited with 0."""
    config = workdir / "switchboard.toml"
    config.write_text(config_text)
    stderr_path = workdir / "stderr.log"
    with open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [_binary_path(), "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "SWITCHBOARD_LOG": os.environ.get("SWITCHBOARD_LOG", "info")},
        )
    # Stdout is read by a thread for the whole run, so the server never blocks on a full pipe.
    lines = queue.Queue()
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    match = wait_for_line(lines, READY, "switchboard", process, stderr_path.read_text)

    yield Server(
        endpoint=match.group(1),
        port=int(match.group(2)),
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        instance_id=INSTANCE_ID,
        contact_flow_id=CONTACT_FLOW_ID,
        queue_id=QUEUE_ID,
    )

    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("switchboard did not stop within 30s of SIGTERM")
    assert code == 0, f"switchboard exited with {code} on SIGTERM; stderr:\n{stderr_path.read_text()}"


@pytest.fixture(scope="session")
def switchboard(tmp_path_factory):
    """One server for the session, on its own SQLite file."""
    workdir = tmp_path_factory.mktemp("switchboard")
    with running_switchboard(workdir, CONFIG.format(db=workdir / "switchboard.db")) as server:
        yield server


def client_config(**overrides):
    """No retries: a conformance test must see the first answer, not a retried one."""
    return botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}, **overrides)


def make_client(server, service, access_key=None, secret_key=None, **config):
    return boto3.session.Session().client(
        service,
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=access_key or server.access_key,
        aws_secret_access_key=secret_key or server.secret_key,
        config=client_config(**config),
    )


@pytest.fixture(scope="session")
def connect(switchboard):
    """boto3 `connect` client, signed with the configured access key."""
    return make_client(switchboard, "connect")


@pytest.fixture(scope="session")
def participant(switchboard):
    """boto3 `connectparticipant` client (it signs too; the server only reads X-Amz-Bearer)."""
    return make_client(switchboard, "connectparticipant")


@pytest.fixture
def start_chat(connect, switchboard):
    """StartChatContact on the configured instance and flow; keyword arguments override."""

    def start(**params):
        request = {
            "InstanceId": switchboard.instance_id,
            "ContactFlowId": switchboard.contact_flow_id,
            "ParticipantDetails": {"DisplayName": "Customer"},
        }
        request.update(params)
        return connect.start_chat_contact(**request)

    return start


@pytest.fixture
def connect_participant(participant):
    """CreateParticipantConnection(WEBSOCKET + CONNECTION_CREDENTIALS) for a ParticipantToken."""

    def create(participant_token):
        return participant.create_participant_connection(
            ParticipantToken=participant_token,
            Type=["WEBSOCKET", "CONNECTION_CREDENTIALS"],
        )

    return create


@pytest.fixture
def connection_token(start_chat, connect_participant):
    """A fresh chat's customer ConnectionToken (for tests that only need a valid bearer)."""
    chat = start_chat()
    return connect_participant(chat["ParticipantToken"])["ConnectionCredentials"]["ConnectionToken"]


class ChatSocket:
    """A participant WebSocket (websocket-client) that speaks the aws/* topics.

    Every receive has a timeout, so a frame that never comes fails the test instead of hanging it.
    `wait_for` returns the first decoded aws/chat item matching a predicate; items that do not
    match are kept in `pending` (so the order of waits does not matter) and every item ever
    received is in `items`.
    """

    def __init__(self, url, timeout=WS_TIMEOUT):
        self.url = url
        self.timeout = timeout
        self.ws = websocket.create_connection(url, timeout=timeout)
        self.items = []
        self.pending = []
        self.close_code = None

    # -- raw frames ----------------------------------------------------------------------------

    def send(self, frame):
        self.ws.send(json.dumps(frame))

    def recv_frame(self, deadline):
        """The next text frame as JSON, or ('close', code) when the server closes the socket."""
        if self.close_code is not None:
            raise AssertionError(f"socket already closed by the server with code {self.close_code}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise websocket.WebSocketTimeoutException("deadline passed")
        self.ws.settimeout(remaining)
        opcode, frame = self.ws.recv_data_frame(False)  # answers pings by itself
        payload = frame.data if isinstance(frame, websocket.ABNF) else frame
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            return ("close", self.close_code)
        assert opcode == websocket.ABNF.OPCODE_TEXT, f"expected a text frame, got opcode {opcode}"
        return json.loads(payload.decode("utf-8") if isinstance(payload, (bytes, bytearray)) else payload)

    def request(self, frame, topic):
        """Sends a frame and returns the next reply frame on `topic` (chat items are kept)."""
        self.send(frame)
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._recv_or_fail(deadline, f"a reply on {topic}")
            if isinstance(reply, dict) and reply.get("topic") == topic:
                return reply

    def subscribe(self):
        reply = self.request({"topic": "aws/subscribe", "content": {"topics": ["aws/chat"]}}, "aws/subscribe")
        assert reply == {"topic": "aws/subscribe", "content": {"status": "success", "topics": ["aws/chat"]}}
        return self

    # -- chat items ----------------------------------------------------------------------------

    def _recv_or_fail(self, deadline, what):
        try:
            frame = self.recv_frame(deadline)
        except websocket.WebSocketTimeoutException:
            raise AssertionError(
                f"no {what} within {self.timeout}s; chat items received so far: "
                f"{json.dumps(self.items, indent=1)}"
            ) from None
        if isinstance(frame, tuple):
            if what == "close":
                return frame
            raise AssertionError(
                f"socket closed (code {frame[1]}) while waiting for {what}; chat items received: "
                f"{json.dumps(self.items, indent=1)}"
            )
        if frame.get("topic") == "aws/chat":
            assert frame.get("contentType") == "application/json", frame
            assert isinstance(frame.get("content"), str), f"content must be a JSON string: {frame}"
            item = json.loads(frame["content"])
            self.items.append(item)
            self.pending.append(item)
        return frame

    def wait_for(self, predicate, what="a matching chat item"):
        """The first aws/chat item (decoded) for which `predicate(item)` is true."""
        for item in self.pending:
            if predicate(item):
                self.pending.remove(item)
                return item
        deadline = time.monotonic() + self.timeout
        while True:
            frame = self._recv_or_fail(deadline, what)
            if frame.get("topic") == "aws/chat":
                item = self.pending[-1]
                if predicate(item):
                    self.pending.pop()
                    return item

    def wait_for_id(self, item_id):
        return self.wait_for(lambda item: item.get("Id") == item_id, f"item {item_id}")

    def wait_for_type(self, content_type, **fields):
        def matches(item):
            return item.get("ContentType") == content_type and all(item.get(k) == v for k, v in fields.items())

        return self.wait_for(matches, f"{content_type} {fields}")

    def wait_closed(self):
        """Reads (keeping chat items) until the server closes the socket; returns the close code."""
        if self.close_code is not None:
            return self.close_code
        deadline = time.monotonic() + self.timeout
        while True:
            frame = self._recv_or_fail(deadline, "close")
            if isinstance(frame, tuple):
                return frame[1]

    def close(self):
        try:
            self.ws.close(timeout=1)
        except Exception:
            pass


@pytest.fixture
def open_socket(switchboard):
    """Opens (and by default subscribes) a ChatSocket; every socket is closed after the test."""
    sockets = []

    def open_(url, subscribe=True):
        assert url.startswith(f"ws://127.0.0.1:{switchboard.port}/"), url
        sock = ChatSocket(url)
        sockets.append(sock)
        return sock.subscribe() if subscribe else sock

    yield open_
    for sock in sockets:
        sock.close()
