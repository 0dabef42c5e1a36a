"""The HTTP gateway (FastAPI): intake, department and admin API, Open311.

`app.create_app` builds the application from its dependencies; `routes/` holds one router per
resource, `open311/` the GeoReport v2 endpoint, `deps.py` what routes read from `app.state`.
The production wiring to Temporal is the top-level gateway.py.
"""
