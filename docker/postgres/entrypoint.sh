#!/bin/sh
# Give a new data directory (PGDATA) the official image's superuser POSTGRES_USER, with the
# password POSTGRES_PASSWORD, and the database POSTGRES_DB; then run the command, the
# server's as the postgres user.
#
# Two ways to a cluster, both with no server listening meanwhile (single-user mode opens
# no socket at all), so that a login over TCP always reaches the final server:
# - the cluster the build made in the default PGDATA (--prepare-template), marked as not
#   yet handed out, is given its user, password and database (~0.1 s, where initdb and
#   CREATE DATABASE cost ~3 s here);
# - an empty PGDATA (another path, a bind mount, or POSTGRES_INITDB_ARGS set) gets a new
#   cluster from initdb (~2 s of CPU).
set -eu

: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${POSTGRES_INITDB_ARGS:=}"
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
# Present while the build's cluster has no user, password or database of a container's.
unclaimed="$PGDATA/stackyard-unclaimed"
# The build's cluster has this database besides "postgres", to be renamed POSTGRES_DB:
# renaming is instant, creating one copies a template (~1 s here).
spare=stackyard_spare
uid=$(id -u)

# The server refuses to run as root.
as_postgres() {
    if [ "$uid" = 0 ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups "$@"
    else
        "$@"
    fi
}

# SQL spellings of a value ('it''s') and of a name ("my ""db""").
sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
sql_name() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }

# Run the statements on stdin (each ends with ";" and an empty line) in single-user mode.
# Statements are not logged: they may hold the password.
single_user() {
    as_postgres postgres --single -j -D "$PGDATA" \
        -c exit_on_error=on -c log_min_error_statement=panic -c log_checkpoints=off \
        postgres >/dev/null
}

# Settings shared by both ways: listen on every address, since clients come from outside
# the container; ask them for a password (SCRAM), and trust the socket inside.
configure() {
    printf "\n# Set by the entrypoint.\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    printf '%s\n' "local all all trust" "host all all all scram-sha-256" >"$PGDATA/pg_hba.conf"
}

# Small write-ahead log segments (1 MB, not 16): the first write to one copies it out of
# the image's layer. C.UTF-8: the one UTF-8 locale of a slim Debian.
initdb_options="--encoding=UTF8 --locale=C.UTF-8 --wal-segsize=1 --no-instructions"

require_password() {
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "postgres-entrypoint: POSTGRES_PASSWORD must be set: the password of POSTGRES_USER ($POSTGRES_USER)" >&2
        exit 1
    fi
}

# Hand the build's cluster out: its superuser, made as "postgres", is renamed if need be.
# ALTER ROLE cannot rename it here (it is the single-user session's own role), but its
# catalog row can be; nothing else refers to a role by name.
claim() {
    {
        if [ "$POSTGRES_USER" != postgres ]; then
            printf "UPDATE pg_authid SET rolname = %s WHERE rolname = 'postgres';\n\n" \
                "$(sql_string "$POSTGRES_USER")"
        fi
        printf 'ALTER ROLE %s PASSWORD %s;\n\n' \
            "$(sql_name "$POSTGRES_USER")" "$(sql_string "$POSTGRES_PASSWORD")"
        case "$POSTGRES_DB" in
        postgres) printf 'DROP DATABASE %s;\n\n' "$spare" ;;
        "$spare") ;;
        *) printf 'ALTER DATABASE %s RENAME TO %s;\n\n' "$spare" "$(sql_name "$POSTGRES_DB")" ;;
        esac
    } | single_user
    rm "$unclaimed"
}

# A new cluster from initdb. The password goes through a file only its owner can read,
# removed at once (initdb as postgres cannot reopen root's pipe as /dev/stdin).
initialise() {
    pwfile=$(mktemp)
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    if [ "$uid" = 0 ]; then
        chown postgres "$pwfile"
    fi
    # shellcheck disable=SC2086  # the option lists are split into words on purpose
    as_postgres initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 $initdb_options $POSTGRES_INITDB_ARGS
    rm -f "$pwfile"
    trap - EXIT
    configure
    if [ "$POSTGRES_DB" != postgres ]; then
        printf 'CREATE DATABASE %s;\n\n' "$(sql_name "$POSTGRES_DB")" | single_user
    fi
}

if [ "${1:-}" = --prepare-template ]; then
    # At build time: the cluster to claim. Its superuser has no password yet, which
    # initdb accepts only with trust; pg_hba.conf is rewritten anyway.
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    # shellcheck disable=SC2086
    as_postgres initdb --username=postgres --auth=trust $initdb_options >/dev/null
    configure
    printf 'CREATE DATABASE %s;\n\n' "$spare" | single_user
    touch "$unclaimed"
    exit 0
fi

# Options alone are the server's, as with the official image.
case "${1:-}" in
-*) set -- postgres "$@" ;;
esac

if [ "${1:-}" = postgres ]; then
    if [ "$uid" = 0 ]; then
        mkdir -p "$PGDATA"
        chown postgres:postgres "$PGDATA"
        chmod 0700 "$PGDATA"
    fi
    if [ -e "$unclaimed" ] && [ -n "$POSTGRES_INITDB_ARGS" ]; then
        # The build's cluster was made without these options.
        find "$PGDATA" -mindepth 1 -delete
    fi
    if [ -e "$unclaimed" ]; then
        require_password
        claim
    elif [ ! -s "$PGDATA/PG_VERSION" ]; then
        require_password
        initialise
    fi
    if [ "$uid" = 0 ]; then
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
    fi
fi
exec "$@"
