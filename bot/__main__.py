"""`python -m bot` runs the Herald command line."""

from bot.cli import main

raise SystemExit(main())
