"""Everything that leaves Herald: the durable outbox, delivery channels and throttles."""
