"""The unit registry in the database: import a validated catalogue, read units back.

An import replaces the whole registry in one transaction: a file is validated first
(hotline.domain.catalogue) and nothing changes unless all of it is valid.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from sqlalchemy import delete, func, select

from hotline.domain.catalogue import Catalogue, CatalogueError, ResponsibilityEntry, Unit
from hotline.store import Database
from hotline.store.tables import EntryRow, UnitRow


def units_loaded(db: Database) -> bool:
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(UnitRow)) or 0) > 0


def unsigned_webhooks(cat: Catalogue, secrets: dict[str, str | None],
                      env: Mapping[str, str] | None = None) -> list[str]:
    """A problem line for each unit given a `webhook_url` with no secret to sign its deliveries:
    nothing would ever be sent to it (and there is no built-in secret to fall back on)."""
    environ: Mapping[str, str] = os.environ if env is None else env
    if environ.get("HOTLINE_WEBHOOK_SECRET"):
        return []  # the deployment's secret signs every unit without its own
    return [f"unit {u.code}: webhook_url {u.webhook_url} has no signing secret; import the unit without "
            f"webhook_url, set its secret with POST /api/v1/units/{u.code}/webhook-secret, then import it "
            f"with webhook_url (or set HOTLINE_WEBHOOK_SECRET for the whole hotline)"
            for u in cat.units if u.webhook_url and not secrets.get(u.code)]


def import_catalogue(db: Database, cat: Catalogue) -> int:
    """Replace the registry with `cat`. Units keep their webhook secrets (re-sealed with the
    ring's newest key); a unit with a webhook URL and no secret refuses the whole import."""
    with db.session() as s:
        secrets = {u.code: u.webhook_secret for u in s.scalars(select(UnitRow))}
        problems = unsigned_webhooks(cat, secrets)
        if problems:
            raise CatalogueError(problems)
        s.execute(delete(EntryRow))
        s.execute(delete(UnitRow))
        s.flush()
        for u in cat.units:
            s.add(UnitRow(code=u.code, name=u.name, type=u.type,
                          districts=list(u.districts), webhook_url=u.webhook_url, places=list(u.places),
                          webhook_secret=secrets.get(u.code)))
            s.flush()
            for e in u.responsibilities:
                s.add(EntryRow(unit_code=u.code, matter=e.matter, keywords=list(e.keywords),
                               categories=[getattr(c, "value", c) for c in e.categories],
                               districts=list(e.districts or []), basis=e.basis, places=list(e.places)))
    return len(cat.units)


def catalogue_from_db(db: Database) -> Catalogue:
    with db.session() as s:
        units = []
        for u in s.scalars(select(UnitRow).order_by(UnitRow.code)):
            entries = s.scalars(select(EntryRow).where(EntryRow.unit_code == u.code).order_by(EntryRow.id)).all()
            units.append(Unit(code=u.code, name=u.name, type=u.type, districts=u.districts,
                              webhook_url=u.webhook_url, places=u.places or [],
                              responsibilities=[ResponsibilityEntry(matter=e.matter, keywords=e.keywords,
                                                                    categories=e.categories,
                                                                    districts=e.districts or None, basis=e.basis,
                                                                    places=e.places or [])
                                                for e in entries]))
    return Catalogue(units=units)


def catalogue_in_force(db: Database | None) -> Catalogue:
    """The catalogue routing uses: the registry in the database once the hotline office has one
    there, else the shipped Sanya file (also with no database at all)."""
    if db is not None and units_loaded(db):
        return catalogue_from_db(db)
    from hotline.domain.catalogue import default_catalogue_path, load_catalogue
    return load_catalogue(default_catalogue_path())


def unit_codes(db: Database) -> set[str]:
    with db.session() as s:
        return set(s.scalars(select(UnitRow.code)))


def ensure_catalogue(db: Database) -> None:
    """A new database gets the shipped Sanya catalogue; an existing registry is left alone."""
    if not units_loaded(db):
        from hotline.domain.catalogue import default_catalogue_path, load_catalogue
        import_catalogue(db, load_catalogue(default_catalogue_path()))
