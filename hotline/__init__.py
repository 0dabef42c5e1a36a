"""12345 hotline domain: rules, models, store and HTTP app. Knows nothing of Temporal."""
