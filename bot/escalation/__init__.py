"""Escalation: policies, the durable step engine, notifications, SLA clocks, automation hooks and drills."""
