"""VictorOps (Splunk On-Call) edge: the public API client, the outgoing-webhook mirror and the two-way sync."""
