"""People and services: users, teams and the services alerts are routed to."""
