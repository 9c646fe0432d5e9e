"""One module per network of IndexTTS-2 (plus shared blocks in ``layers``), each with its config dataclass."""
