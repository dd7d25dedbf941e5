"""Transports beside the pipeline: each turns its wire format into utterances
and outcomes into its own messages (DESIGN.md, "Transports"). So far only
Wyoming lives here; MQTT and Hermes are still in edged.daemon and edged.hermes."""
