"""Parsers of the vendors' published payload formats; each turns one request body into `AlertEvent`s."""
