"""Post-mortems and reports: an incident's facts exported as Markdown, HTML and JSON with a timeline chart, and
MTTA/MTTR/SLA/pages figures over a date range. Reads incidents, their timeline and the escalation domain's
notifications; writes nothing."""
