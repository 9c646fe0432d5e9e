"""The Bolt app and how Herald serves it: `/slack/events` on Herald's own HTTP server, or Socket Mode.

`build_bolt_app(settings, runtime)` is called by `app.create_app`, never at import. Request signature verification
(signing secret, Slack's 5-minute window) stays on, and `ReplayGuard` refuses a signature seen before, which the
window alone would let through for five minutes. Herald's services are synchronous (SQLAlchemy), so the endpoint
is Bolt's ASGI adapter with its `dispatch` moved to a worker thread: a slow handler never blocks the event loop.
Without credentials nothing here runs and `/healthz` says `"slack": "not configured"`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import anyio
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.adapter.asgi import SlackRequestHandler
from slack_bolt.adapter.asgi.http_request import AsgiHttpRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.errors import InvalidInput
from bot.escalation.permissions import on_call_lookup
from bot.notify.outbox import Handler
from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack import actions, blocks, commands, mirror, oncall, postmortem, speech
from bot.slack.channel import SlackChannelPost, SlackDirectMessage
from bot.slack.ops import Reply, SlackOps
from bot.slack.users import SlackDirectory

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
REPLAY_WINDOW_SECONDS = 300


def make_client(settings: Settings) -> WebClient:
    """The Web API client: 429s wait out Retry-After, dropped connections and 5xx are retried by slack_sdk."""
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=3),
            ConnectionErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def install(runtime: Runtime, handlers: dict[str, Handler]) -> SlackOps | None:
    """Subscribe the mirror to incident events and register its outbox handler (when Slack is configured)."""
    settings = runtime.settings
    if not settings.slack_configured:
        runtime.health["slack"] = "not configured"
        log.info("Slack not configured (HERALD_SLACK_BOT_TOKEN is empty): incidents are not mirrored to Slack")
        return None
    client = make_client(settings)
    directory = SlackDirectory(runtime, client)
    ops = SlackOps(
        runtime=runtime,
        client=client,
        directory=directory,
        mirror=mirror.SlackMirror(runtime, client, directory),
        on_call=on_call_lookup(runtime.clock),
    )
    runtime.events.subscribe(mirror.make_subscriber(runtime))
    handlers[mirror.KIND] = ops.mirror.deliver
    runtime.channels.register(SlackDirectMessage(client))
    runtime.channels.register(SlackChannelPost(client))
    runtime.extras["slack"] = ops
    if settings.slack_app_token.get_secret_value():
        runtime.health["slack"] = "socket mode"
    elif settings.slack_signing_secret.get_secret_value():
        runtime.health["slack"] = f"events at {EVENTS_PATH}"
    else:
        runtime.health["slack"] = "mirroring only: set HERALD_SLACK_SIGNING_SECRET or HERALD_SLACK_APP_TOKEN"
        log.warning("Slack commands and buttons are off: neither a signing secret nor an app token is set")
    return ops


class ReplayGuard(Middleware):
    """Bolt middleware: a correctly signed request is accepted once (signatures remembered for the window)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def process(self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]) -> BoltResponse:
        if req.mode == "socket_mode":
            return next()
        signature = req.headers.get("x-slack-signature", [""])[0]
        stamp = int(req.headers.get("x-slack-request-timestamp", ["0"])[0] or 0)
        with self._lock:
            if signature in self._seen:
                log.warning("refused a replayed Slack request (timestamp %s)", stamp)
                return BoltResponse(status=401, body={"error": "replayed request"})
            newest = max([stamp, *self._seen.values()])
            self._seen = {s: t for s, t in self._seen.items() if t > newest - REPLAY_WINDOW_SECONDS}
            self._seen[signature] = stamp
        return next()


def build_bolt_app(settings: Settings, runtime: Runtime) -> App:
    ops: SlackOps = runtime.extras["slack"]
    app = App(
        client=ops.client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        token_verification_enabled=False,  # no network at start: Herald must start while Slack is down
        process_before_response=False,
        raise_error_for_unhandled_request=False,
        logger=logging.getLogger("bot.slack.bolt.app"),
    )
    app.use(ReplayGuard())
    for name, handler in commands.COMMANDS.items():
        if name != "/incident":
            app.command(name)(_command_listener(ops, name, handler))
    app.command("/incident")(
        ack=_command_listener(ops, "/incident", commands.incident),
        lazy=[_lazy(ops, postmortem.upload_after_ack, "postmortem_upload")],
    )
    app.command("/oncall")(_command_listener(ops, "/oncall", oncall.oncall))
    app.command("/tts")(ack=_tts_ack, lazy=[_lazy(ops, speech.tts_after_ack, "tts_speak")])
    for action_id, handler in actions.BUTTONS.items():
        app.action(action_id)(_button_listener(ops, handler))
    app.action(blocks.VOICE)(ack=_plain_ack, lazy=[_lazy(ops, speech.summary_after_ack, "voice_summary")])
    app.event("app_mention")(_mention_listener(ops))
    return app


def _command_listener(ops: SlackOps, name: str, handler: commands.Handler) -> Callable[..., None]:
    def listener(ack: Any, body: dict[str, Any]) -> None:
        if body.get("text", "").strip().lower() in commands.HELP_WORDS:
            ack(**Reply(f"Usage: {commands.USAGE[name]}").ack_args())
            return
        ack(**ops.answer(handler, body).ack_args())

    listener.__name__ = f"command_{name.strip('/')}"
    return listener


def _button_listener(ops: SlackOps, handler: commands.Handler) -> Callable[..., None]:
    def listener(ack: Any, body: dict[str, Any], respond: Any) -> None:
        reply = ops.answer(handler, body)  # the state change happens before the ack, so an acked click is kept
        ack()
        if actions.is_ephemeral(body):
            respond(text=reply.text, blocks=reply.blocks, replace_original=True)
        elif not reply.ok or handler is actions.escalate:
            respond(text=reply.text, response_type="ephemeral", replace_original=False)

    listener.__name__ = f"button_{handler.__name__}"
    return listener


def _mention_listener(ops: SlackOps) -> Callable[..., None]:
    def listener(body: dict[str, Any], client: WebClient) -> None:
        event = body["event"]
        reply = ops.answer(actions.mention, body)
        client.chat_postEphemeral(
            channel=event["channel"], user=event["user"], thread_ts=event.get("thread_ts"), text=reply.text
        )

    listener.__name__ = "mention"
    return listener


def _tts_ack(ack: Any, body: dict[str, Any]) -> None:
    text = body.get("text", "")
    if text.strip().lower() in commands.HELP_WORDS:
        ack(**Reply(f"Usage: {commands.USAGE['/tts']}").ack_args())
        return
    try:
        commands.parse_tts(text)
    except InvalidInput as exc:
        ack(**Reply(f":no_entry_sign: {exc.reason}").ack_args())
        return
    ack(**Reply(":speaking_head_in_silhouette: Synthesizing; the audio will appear here in a moment.").ack_args())


def _plain_ack(ack: Any) -> None:
    ack()


def _lazy(ops: SlackOps, work: Callable[[SlackOps, dict[str, Any], Any], None], name: str) -> Callable[..., None]:
    def lazy(body: dict[str, Any], respond: Any) -> None:
        work(ops, body, respond)

    lazy.__name__ = name  # Bolt tells lazy functions apart by name
    return lazy


class BoltEndpoint(SlackRequestHandler):
    """Bolt's ASGI adapter with `dispatch` on a worker thread (the sync adapter would run it on the event loop)."""

    async def dispatch(self, request: AsgiHttpRequest) -> BoltResponse:
        bolt_request = BoltRequest(
            body=await request.get_raw_body(), query=request.query_string, headers=request.get_headers()
        )
        return await anyio.to_thread.run_sync(self.app.dispatch, bolt_request)


class SocketMode:
    """Socket Mode for installs without a public URL; connects in the background and keeps retrying."""

    def __init__(self, app: App, settings: Settings, runtime: Runtime) -> None:
        self._handler = SocketModeHandler(app, app_token=settings.slack_app_token.get_secret_value())
        self._runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._connect, name="slack-socket-mode", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._handler.close()
        self._thread.join(timeout=10)

    def _connect(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                self._handler.connect()
            except Exception as exc:  # Slack down or a bad token: report and retry, never crash Herald
                self._runtime.health["slack"] = f"socket mode: not connected ({type(exc).__name__})"
                log.warning("Slack Socket Mode connection failed, retrying in %.0fs: %s", delay, exc)
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)
                continue
            self._runtime.health["slack"] = "socket mode: connected"
            return


def mount(app: Any, runtime: Runtime) -> SocketMode | None:
    """Add `/slack/events` to the FastAPI app (signing secret set) and return Socket Mode to run (app token set)."""
    settings = runtime.settings
    if "slack" not in runtime.extras:
        return None
    bolt_app = build_bolt_app(settings, runtime)
    if settings.slack_signing_secret.get_secret_value():
        app.add_route(EVENTS_PATH, BoltEndpoint(bolt_app, path=EVENTS_PATH), methods=["POST"], include_in_schema=False)
    if settings.slack_app_token.get_secret_value():
        return SocketMode(bolt_app, settings, runtime)
    return None
