"""The web console: incidents, on call, reports and post-mortems in the browser, served by Herald's own HTTP app.

Server-rendered jinja2 pages with a little vendored JavaScript (live updates, SLA clocks, the viewer's time zone);
every read and write goes through the domains' service functions, like Slack and the HTTP API.
"""
