"""Engines, sessions and declarative bases; migrations live in ``migrations/{platform,tenant}``."""
