"""Alert ingestion: VictorOps and Alertmanager payloads in, deduplicated and grouped into incidents."""
