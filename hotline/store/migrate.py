"""`python -m hotline.store.migrate`: bring the database named by DATABASE_URL to the latest schema."""
from __future__ import annotations

import sys

from hotline.runtime.settings import SettingsError, load_settings
from hotline.store import Database


def main() -> int:
    try:
        settings = load_settings()
        db = Database(settings.database_url)
        db.check()
        db.migrate()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"database migrated: {db.engine.url.render_as_string(hide_password=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
