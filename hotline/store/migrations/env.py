"""Alembic environment: runs against the engine handed over by `Database.migrate`."""
from alembic import context
from sqlalchemy import create_engine

from hotline.store.tables import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    engine = config.attributes.get("connection_engine")
    if engine is None:  # plain `alembic` CLI use: URL from alembic.ini / -x url=
        url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no database URL: set sqlalchemy.url in alembic.ini or pass -x url=...")
        engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=conn.dialect.name == "sqlite",  # SQLite alters need batch mode
            compare_type=True,
        )
        context.run_migrations()


run()
