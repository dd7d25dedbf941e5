"""Transports beside the pipeline (edged.pipeline): each turns its wire
format into requests and outcomes into its own messages (DESIGN.md,
"Transports"; docs/architecture.md says how to add one).

- `mqtt`: the broker connection, edged's utterance/result contract, device
  commands and state, discovery; `_paho` holds what it does with paho's
  and aiomqtt's internals.
- `hermes`: Rhasspy/Snips queries, a route on the MQTT connection.
- `wyoming`: a TCP service for Home Assistant's Assist.
"""
