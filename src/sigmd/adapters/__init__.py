"""Inbound and outbound translation between outside formats and the core's case model."""
