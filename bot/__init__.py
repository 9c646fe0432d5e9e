"""Herald: incident-management ChatOps bot that speaks."""

__version__ = "0.1.0"
