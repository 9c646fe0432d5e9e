"""``python -m tts_engine.conformance``: see :mod:`tts_engine.conformance.cli`."""

from tts_engine.conformance.cli import main

raise SystemExit(main())
