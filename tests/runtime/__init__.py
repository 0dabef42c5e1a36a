"""Settings, TLS, logging and metrics set-up."""
