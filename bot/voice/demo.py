"""The end of `herald demo`: a P1 that nobody acknowledges in Slack ends in a (simulated) phone call.

Mara Lindqvist is put on call for tts-inference with a voice escalation policy, the GPU alert fires again, the
summary is pre-synthesised, the escalation engine pages her by phone, and the simulated phone answers Herald's own
webhooks over HTTP and presses 1. The audio the call played is written next to the demo database and the call is
played back in the log: what was said, each step of the call, and the timeline entries it left.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rich.console import Console

from bot.clock import FakeClock
from bot.config_apply import apply
from bot.incidents import service as incidents
from bot.runtime import Runtime
from bot.voice.models import Callout, VoiceClip
from bot.voice.providers.simulated import Script, SimulatedProvider

PHONE = "+14155550117"
CONFIG = f"""
users:
  - {{email: mara.lindqvist@example.com, name: Mara Lindqvist, phone: "{PHONE}", time_zone: Europe/Stockholm}}
teams:
  - {{name: mlops, members: [mara.lindqvist@example.com]}}
escalation_policy:
  name: mlops-phone
  rules:
    - {{level: 1, user: mara.lindqvist@example.com, wait: 5m}}
services:
  - name: tts-inference
    team: mlops
    escalation_policy: mlops-phone
    routing_keys: [index-tts-2.0-prod, tts-inference]
"""
ALERT = {
    "message_type": "CRITICAL",
    "entity_id": "tts-inference/prod/gpu-framebuffer",
    "entity_display_name": "GPU framebuffer full again on tts-inference",
    "state_message": "GPU framebuffer at 100% on 3 pods of tts-inference after the rollback",
    "service": "tts-inference",
    "env": "prod",
}


def callout(runtime: Runtime, client, base_url: str, directory: Path, clock: FakeClock, console: Console) -> int:
    """Run the callout; 0 when the call acknowledged the incident and its audio is on disk."""
    voice = runtime.extras["voice"]
    provider = voice.callouts.provider
    if not isinstance(provider, SimulatedProvider):
        console.print("[yellow]callout skipped: the demo needs HERALD_TELEPHONY=simulated[/yellow]")
        return 1
    voice.links.base = base_url  # the demo server's port is known only once it listens
    provider.scripts[PHONE] = Script("press", ("1",))
    with runtime.transaction() as session:
        apply(session, clock=clock, text=CONFIG, actor="demo")
    clock.advance(timedelta(minutes=10))
    console.print(
        f"\n[bold]{clock.now():%H:%M:%S}  Voice callout[/bold]: the GPU alert fires again, nobody acks in Slack"
    )
    response = client.post("/api/v1/integrations/victorops/demo-key/index-tts-2.0-prod", json=ALERT)
    number = response.json()["incident"]
    for _ in range(6):
        voice.presynth_worker.run_once()
        runtime.extras["escalation"].engine.tick(clock.now())
        runtime.outbox.run_once()
        provider.wait()
    with runtime.sessions() as session:
        call = session.query(Callout).order_by(Callout.id.desc()).first()
        clip = session.query(VoiceClip).filter(VoiceClip.key == call.clip_key).one() if call and call.clip_key else None
        incident = incidents.get_with_timeline(session, number=number)
        if call is None or clip is None:
            console.print("[red]no call was placed[/red]")
            return 1
        audio = directory / f"callout-incident-{number}.wav"
        audio.write_bytes(clip.wav)
        console.print(f"  said ({clip.seconds:.1f} s, {'natural' if clip.natural else 'fallback'} voice): {clip.text}")
        console.print(f"  audio written to {audio}")
        played = provider.calls[-1]
        console.print("  call: " + " → ".join(played.events))
        for entry in incident.timeline:
            if entry.source == "phone" or entry.kind in ("acknowledged", "escalation_level"):
                console.print(f"  {entry.at:%H:%M:%S} {entry.kind}: {entry.message}")
        console.print(f"Incident #{number} is {incident.state} (by {incident.acknowledged_by})")
        return 0 if incident.state == "acknowledged" else 1
