"""Slack ChatOps: the mirrored incident message, slash commands, buttons, and Slack as a notification channel.

An edge: it calls the incident service and never the other way round. `bolt.py` builds the Bolt app; `mirror.py`
keeps each incident's message in step through the outbox; the rest are small helpers each with one job.
"""
