"""Local development helpers: the embedded MongoDB-compatible server used by tests and the demo."""
