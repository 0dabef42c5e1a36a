#!/bin/sh
# One-shot namespace job (temporalio/admin-tools image): waits until the cluster answers
# SERVING, creates the namespace if it is missing and registers the custom search attributes.
#
#   TEMPORAL_ADDRESS              host:port of the frontend
#   TEMPORAL_NAMESPACE            namespace to create (default: default)
#   TEMPORAL_NAMESPACE_RETENTION  retention of closed workflows (default: 720h)
#   SEARCH_ATTRIBUTES             whitespace-separated Name=Type pairs, Type one of
#                                 Keyword, Text, Int, Double, Bool, Datetime, KeywordList
#
# Safe to run on every start: an attribute already registered with the same type is left
# alone; one registered with another type stops the job (the data would be misread).
set -eu

ADDRESS="${TEMPORAL_ADDRESS:?}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-720h}"
SEARCH_ATTRIBUTES="${SEARCH_ATTRIBUTES:?}"

say() { echo "create-namespace: $*"; }
die() { echo "create-namespace: $*" >&2; exit 1; }

# Dial the frontend by its IPv4 address, as Temporal's own compose samples do: the name can
# also resolve to an IPv6 address the server does not listen on.
host=${ADDRESS%:*}
port=${ADDRESS##*:}
ip=$(getent ahosts "$host" 2>/dev/null | awk '/STREAM/ && $1 ~ /^[0-9.]+$/ { print $1; exit }' || true)
if [ -n "$ip" ]; then
    ADDRESS="$ip:$port"
fi

say "waiting for $ADDRESS to be SERVING"
tries=0
until temporal operator cluster health --address "$ADDRESS" >/dev/null 2>&1; do
    tries=$((tries + 1))
    [ "$tries" -lt 90 ] || die "$ADDRESS not SERVING after 180s"
    sleep 2
done

if temporal operator namespace describe --address "$ADDRESS" --namespace "$NAMESPACE" >/dev/null 2>&1; then
    say "namespace $NAMESPACE exists"
else
    say "creating namespace $NAMESPACE (retention $RETENTION)"
    temporal operator namespace create --address "$ADDRESS" --namespace "$NAMESPACE" \
        --retention "$RETENTION"
fi

# Lower-case type name without the proto prefix: Keyword, KEYWORD and
# INDEXED_VALUE_TYPE_KEYWORD all compare equal.
norm() { echo "$1" | tr '[:upper:]' '[:lower:]' | sed 's/^indexed_value_type_//; s/_//g'; }

# Registered type of search attribute $1 in the namespace, empty when it has none.
registered_type() {
    temporal operator search-attribute list --address "$ADDRESS" --namespace "$NAMESPACE" \
        | awk -v name="$1" '$1 == name { print $2; exit }'
}

for pair in $SEARCH_ATTRIBUTES; do
    name=${pair%%=*}
    type=${pair#*=}
    [ -n "$name" ] && [ -n "$type" ] && [ "$name" != "$pair" ] || die "bad pair '$pair' (want Name=Type)"
    tries=0
    while :; do
        have=$(registered_type "$name" || true)
        if [ -n "$have" ]; then
            [ "$(norm "$have")" = "$(norm "$type")" ] \
                || die "$name is registered as $have, expected $type"
            say "$name ($type) registered"
            break
        fi
        tries=$((tries + 1))
        [ "$tries" -le 15 ] || die "could not register $name ($type)"
        # A namespace just created can take a few seconds to reach every frontend cache.
        temporal operator search-attribute create --address "$ADDRESS" --namespace "$NAMESPACE" \
            --name "$name" --type "$type" || sleep 2
    done
done

say "done"
