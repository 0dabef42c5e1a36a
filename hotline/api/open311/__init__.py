"""Open311 GeoReport v2 at /open311/v2/ (SPEC §8): `routes` (the endpoints), `models` (the
GeoReport documents and the service list from the catalogue), `render` (JSON or XML after the
path's suffix, also for errors).

Nothing is imported here: hotline/api/errors.py renders GeoReport errors with `render`, and
the routes depend on errors.py, so importing the routes from this package would close a circle.
"""
