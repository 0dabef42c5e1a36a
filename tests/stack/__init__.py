"""Real-stack tests: the Temporal dev server, worker and gateway as processes."""
