"""The HTTP gateway (FastAPI): intake, department and admin API, Open311."""
