"""Process infrastructure shared by every entry point: settings from the environment,
JSON logging, tracing, mTLS to Temporal and the development certificates, the payload
key ring, Prometheus counters, rate limits and the crash-test fault points. Imports only
hotline.domain (codes for log fields, masking for the log filter, policies for settings).
"""
