"""Phone providers behind one protocol (`base.PhoneProvider`): Twilio over its REST API, and a simulated one."""
