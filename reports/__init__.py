"""The Jinja templates of the report, installed as package data `abmq.reports`."""
