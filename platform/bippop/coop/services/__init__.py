"""The co-op console's use cases: what its pages read and do (the handlers parse, call one, render)."""
