#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for the tests, in the repo's ignored .pg/ folder.
#
#   scripts/pg.sh start   # init (once) and start; prints the URL on stdout
#   scripts/pg.sh url     # prints the URL of the running cluster
#   scripts/pg.sh stop    # stops it (fast shutdown)
#   scripts/pg.sh restart # restarts it (fast: every session is cut), same port
#   source scripts/pg.sh start   # same as start, and exports BAK2PG_TEST_PG
#
# Installs Debian's postgresql package when no server binaries are found under
# /usr/lib/postgresql/*/bin, and PostGIS for that server's major version
# (postgresql-<major>-postgis-3, for the spatial tests) when its extension files are
# missing; both only when missing, so a second start installs nothing. Without root, or
# if the PostGIS install fails, it says so and the PostGIS tests fail, saying why.
# PostgreSQL refuses to run as root, so as root the cluster belongs to the postgres OS
# user and commands run through runuser.
# Trust authentication, 127.0.0.1 only, a free port: for tests, never for data.

_pg_main() {
    local repo pgdir cmd bindir port
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    pgdir="$repo/.pg"
    cmd="${1:-start}"
    # As root the cluster belongs to the postgres user, who may not be able to traverse
    # the folders above the repository (a clone under /root): then the cluster lives in a
    # folder of its own under /tmp, remembered in .pg-location.
    [ -f "$repo/.pg-location" ] && pgdir="$(cat "$repo/.pg-location")"
    _pg_locate() {
        if [ "$(id -u)" = 0 ] && [ "$pgdir" = "$repo/.pg" ] && ! runuser -u postgres -- test -x "$repo"; then
            pgdir="$(mktemp -d /tmp/bak2pg-pg.XXXXXX)"
            chown postgres: "$pgdir"
            echo "$pgdir" >"$repo/.pg-location"
        fi
    }

    _pg_log() { echo "pg.sh: $*" >&2; }

    _pg_bindir() {
        local d
        d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
        if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
        fi
    }

    _pg_postgis() {
        # Debian's PostGIS for the server's major version $1, when its extension is missing.
        local major="$1" pkg
        [ -f "/usr/share/postgresql/$major/extension/postgis.control" ] && return 0
        pkg="postgresql-$major-postgis-3"
        if [ "$(id -u)" != 0 ]; then
            _pg_log "no PostGIS for PostgreSQL $major (root is needed to apt-get install $pkg): the PostGIS tests will fail"
            return 0
        fi
        _pg_log "installing Debian's $pkg (PostGIS, for the spatial tests)"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 \
                && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2 \
                || _pg_log "could not install $pkg: the PostGIS tests will fail"
        fi
    }

    _pg_as() {
        # Runs a command as the cluster's owner.
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$@"
        else
            "$@"
        fi
    }

    _pg_free_port() {
        local p tries=0
        p=$(( 20000 + (RANDOM % 20000) ))
        while [ $tries -lt 200 ]; do
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                echo "$p"
                return 0
            fi
            p=$(( p + 1 )); tries=$(( tries + 1 ))
        done
        return 1
    }

    _pg_url() {
        [ -f "$pgdir/port" ] || { _pg_log "no cluster: run scripts/pg.sh start"; return 1; }
        echo "postgres://postgres@127.0.0.1:$(cat "$pgdir/port")/postgres"
    }

    case "$cmd" in
    start)
        bindir="$(_pg_bindir)"
        if [ -z "$bindir" ]; then
            _pg_log "no PostgreSQL server binaries; installing Debian's postgresql"
            if [ "$(id -u)" != 0 ]; then
                _pg_log "need root to apt-get install postgresql"; return 1
            fi
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || return 1
            bindir="$(_pg_bindir)"
            [ -n "$bindir" ] || { _pg_log "postgresql installed but no binaries under /usr/lib/postgresql"; return 1; }
        fi
        _pg_postgis "$(basename "$(dirname "$bindir")")"
        if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
            useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres || return 1
        fi
        _pg_locate
        mkdir -p "$pgdir"
        if [ "$(id -u)" = 0 ]; then
            chown postgres: "$pgdir"
            if ! runuser -u postgres -- test -w "$pgdir"; then
                _pg_log "the postgres user cannot write $pgdir (a parent folder is not traversable)"; return 1
            fi
        fi
        if [ -f "$pgdir/data/postmaster.pid" ] && _pg_as "$bindir/pg_ctl" -D "$pgdir/data" status >/dev/null 2>&1; then
            _pg_url
            return 0
        fi
        # A cluster of another major version (the binaries changed): it is throwaway, re-create it.
        if [ -f "$pgdir/data/PG_VERSION" ] && [ "$(cat "$pgdir/data/PG_VERSION")" != "$(basename "$(dirname "$bindir")")" ]; then
            _pg_log "cluster in $pgdir/data is PostgreSQL $(cat "$pgdir/data/PG_VERSION"), binaries are $(basename "$(dirname "$bindir")"): re-creating it"
            rm -rf "$pgdir/data"
        fi
        if [ ! -f "$pgdir/data/PG_VERSION" ]; then
            rm -rf "$pgdir/data"
            _pg_as "$bindir/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$pgdir/initdb.log" 2>&1 \
                || { cat "$pgdir/initdb.log" >&2; return 1; }
        fi
        mkdir -p "$pgdir/sock"
        [ "$(id -u)" = 0 ] && chown postgres: "$pgdir/sock"
        local attempt
        for attempt in 1 2 3 4 5; do
            port="$(_pg_free_port)" || { _pg_log "no free port"; return 1; }
            if _pg_as "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -t 60 \
                -o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir/sock -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
                start >/dev/null 2>&1; then
                echo "$port" >"$pgdir/port"
                _pg_log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port (data in $pgdir/data)"
                _pg_url
                return 0
            fi
            _pg_log "start on port $port failed (attempt $attempt)"
        done
        tail -n 20 "$pgdir/server.log" >&2
        return 1
        ;;
    stop)
        bindir="$(_pg_bindir)"
        if [ -n "$bindir" ] && [ -f "$pgdir/data/postmaster.pid" ]; then
            _pg_as "$bindir/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
            _pg_log "stopped"
        fi
        rm -f "$pgdir/port"
        ;;
    restart)
        # `pg_ctl restart -m fast`: every session is cut, the same options and port (the
        # fault tests use it).
        bindir="$(_pg_bindir)"
        [ -f "$pgdir/data/postmaster.pid" ] || { _pg_log "no running cluster"; return 1; }
        _pg_as "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -m fast -w -t 60 restart >/dev/null 2>&1 \
            || { tail -n 20 "$pgdir/server.log" >&2; return 1; }
        _pg_log "restarted"
        ;;
    url)
        _pg_url
        ;;
    *)
        _pg_log "usage: scripts/pg.sh start|stop|restart|url"; return 2
        ;;
    esac
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: run, and export the URL after a start.
    if _pg_url_out="$(_pg_main "${1:-start}")"; then
        if [ -n "$_pg_url_out" ]; then
            export BAK2PG_TEST_PG="$_pg_url_out"
            echo "BAK2PG_TEST_PG=$BAK2PG_TEST_PG"
        fi
    fi
    unset _pg_url_out
else
    set -u
    _pg_main "$@"
fi
