#!/bin/sh
# One-shot schema job (temporalio/admin-tools image): creates Temporal's databases on
# PostgreSQL and brings their schemas to the version shipped in this image, then creates the
# application's database if APP_DB is set (its tables are Alembic's job, not this one's).
#
# Safe to run on every start: `create` ignores a database that exists, `setup-schema -v 0.0`
# leaves a database already past 0.0 alone, and `update-schema` applies only the missing
# versions, which is also how a Temporal upgrade gets its schema changes (bump the
# admin-tools and server images together).
#
# Connection: SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (read by
# temporal-sql-tool itself).
set -eu

: "${SQL_PLUGIN:?}" "${SQL_HOST:?}" "${SQL_PORT:?}" "${SQL_USER:?}" "${SQL_PASSWORD:?}"
SCHEMA_DIR="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}"
TEMPORAL_DB="${TEMPORAL_DB:-temporal}"
VISIBILITY_DB="${TEMPORAL_VISIBILITY_DB:-temporal_visibility}"
APP_DB="${APP_DB:-}"

for dir in "$SCHEMA_DIR/temporal/versioned" "$SCHEMA_DIR/visibility/versioned"; do
    if [ ! -d "$dir" ]; then
        echo "setup-schema: $dir is not in this image (wrong TEMPORAL_SCHEMA_DIR?)" >&2
        exit 1
    fi
done

echo "setup-schema: waiting for $SQL_HOST:$SQL_PORT"
tries=0
until nc -z -w 2 "$SQL_HOST" "$SQL_PORT"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "setup-schema: $SQL_HOST:$SQL_PORT unreachable" >&2
        exit 1
    fi
    sleep 2
done

setup_database() {
    db=$1
    versioned=$2
    echo "setup-schema: $db <- $versioned"
    temporal-sql-tool --db "$db" create
    temporal-sql-tool --db "$db" setup-schema -v 0.0
    temporal-sql-tool --db "$db" update-schema -d "$versioned"
}

setup_database "$TEMPORAL_DB" "$SCHEMA_DIR/temporal/versioned"
setup_database "$VISIBILITY_DB" "$SCHEMA_DIR/visibility/versioned"

if [ -n "$APP_DB" ]; then
    echo "setup-schema: application database $APP_DB"
    temporal-sql-tool --db "$APP_DB" create
fi

echo "setup-schema: done"
