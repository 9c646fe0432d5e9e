"""The URLs Herald gives a phone provider: call webhooks that expire, and signed, expiring audio URLs.

Callback URLs carry their expiry (`exp`, Unix seconds) in the query string. The provider signs the full URL with
its callback signature, so the expiry cannot be changed, and a callback arriving after it (a replay of an old,
correctly signed request) is refused as stale. Audio URLs are capabilities of their own: anyone holding one can
fetch the clip until it expires (the provider fetches it without credentials), and nobody can forge one, since the
query carries an HMAC-SHA256 of the clip key and the expiry under a key derived from Herald's API token.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from bot.clock import Clock
from bot.errors import Forbidden

SIGNATURE_HEX = 32


def derive_secret(api_token: str, purpose: str) -> str:
    """A per-purpose key from the one secret every Herald has, so rotating the token rotates these too."""
    return hmac.new(api_token.encode(), f"herald-voice:{purpose}".encode(), hashlib.sha256).hexdigest()


class Links:
    def __init__(self, *, public_url: str, secret: str, clock: Clock, audio_ttl_seconds: int) -> None:
        self.base = public_url.rstrip("/")
        self._secret = secret.encode()
        self._clock = clock
        self._audio_ttl = timedelta(seconds=audio_ttl_seconds)

    def call_url(self, token: str, action: str, expires: int) -> str:
        return f"{self.base}/voice/calls/{token}/{action}?exp={expires}"

    def audio_url(self, key: str) -> str:
        expires = int((self._clock.now() + self._audio_ttl).timestamp())
        return f"{self.base}/voice/audio/{key}.wav?exp={expires}&sig={self._audio_signature(key, expires)}"

    def check_audio(self, key: str, expires: int, signature: str) -> None:
        if not hmac.compare_digest(self._audio_signature(key, expires), signature):
            raise Forbidden("audio link signature does not match")
        self.check_fresh(expires, what="audio link")

    def check_fresh(self, expires: int, *, what: str = "callback") -> None:
        if self._clock.now().timestamp() > expires:
            raise Forbidden(f"stale {what}: it expired at {expires}")

    def _audio_signature(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()[:SIGNATURE_HEX]
