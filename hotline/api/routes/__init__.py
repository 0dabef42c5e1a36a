"""One APIRouter per resource, included by `hotline.api.app.create_app`:

ops (health probes), orders (intake, read, list), actions (department and hotline actions, and
the `act` path the console shares), merges (并单), routing, admin (units and their ledgers),
kpi, calendar, codec (the Temporal UI's codec server), track (the citizens' lookup).
Open311 has its own package, hotline/api/open311/.
"""
