"""The co-operative's console and its staff."""
