"""Chorus Pro: the portal export and the API client."""
