"""Socket Mode: with an app token Herald connects out to Slack's WebSocket and answers a slash command there
(here a loopback WebSocket server that `apps.connections.open` points to), with no public URL."""

from __future__ import annotations

import json
import queue
import threading
import time

from websockets.sync.server import serve as ws_serve

from tests.bot.slack.conftest import MARA, open_incident, seed, slack_settings, state_of
from tests.support.herald import running_herald


def test_socket_mode_receives_a_command_and_acks_over_the_socket(sqlite_url, tmp_path, fake) -> None:
    answers: queue.Queue[dict] = queue.Queue()
    number_box: list[int] = []
    ready = threading.Event()

    def handler(connection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1}))
        ready.wait(20)
        payload = {
            "command": "/ack",
            "text": str(number_box[0]),
            "user_id": MARA,
            "channel_id": "C07Q4M8ZK1P",
            "team_id": "T05K3H9RQ2L",
            "response_url": fake.response_url("socket"),
        }
        connection.send(
            json.dumps(
                {"envelope_id": "env-1", "type": "slash_commands", "payload": payload, "accepts_response_payload": True}
            )
        )
        for message in connection:
            answers.put(json.loads(message))

    with ws_serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        fake.socket_url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        settings = slack_settings(sqlite_url, tmp_path, fake, slack_signing_secret="", slack_app_token="xapp-test")
        with running_herald(settings) as herald:
            seed(herald)
            number_box.append(open_incident(herald))
            ready.set()
            answer = answers.get(timeout=30)
            assert answer["envelope_id"] == "env-1"
            assert f"acknowledged incident #{number_box[0]}" in answer["payload"]["text"]
            assert state_of(herald, number_box[0]) == "acknowledged"
            deadline = time.monotonic() + 10  # the connecting thread records the state just after connect()
            while herald.client.get("/healthz").json()["components"]["slack"] != "socket mode: connected":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert herald.client.post("/slack/events", content="x").status_code == 404  # no HTTP endpoint
            server.shutdown()
