"""Bip Pop: local mutual aid against the isolation of elderly people, one branded instance per council."""

__version__ = "0.1.0"
