#!/usr/bin/env bash
# moto (AWS emulator) for the pipeline tests, with the project's Python tools in the ignored
# .venv/ folder, and the test routing shim (tests/pipeline/shim.py) in front of it.
#
#   scripts/moto.sh tools   # create .venv/ and install the pinned Python tools (once)
#   scripts/moto.sh start   # start moto and the shim; prints two lines:
#                           #   BAK2PG_TEST_MOTO=http://127.0.0.1:Q        (moto itself)
#                           #   BAK2PG_TEST_MOTO_SHIM=http://127.0.0.1:P   (the shim)
#   scripts/moto.sh stop
#
# moto's Step Functions calls every service at localhost:$MOTO_PORT. moto is started with
# MOTO_PORT set to the shim's port, so the real state machine's Lambda invocations and SSM
# commands pass the shim, which routes them to the real handlers (`cargo lambda watch`) and
# the real agent on this machine (see tests/pipeline/shim.py); all else goes on to moto.
# Both listen on 127.0.0.1 only. Installs python3-venv with apt when venv is missing.

_moto_main() {
    local repo dir cmd py
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    dir="$repo/.moto"
    cmd="${1:-start}"
    py="$repo/.venv/bin/python"
    _log() { echo "moto.sh: $*" >&2; }

    _tools() {
        if [ ! -x "$py" ]; then
            if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
                _log "installing python3-venv"
                DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >&2 || return 1
            fi
            python3 -m venv "$repo/.venv" >&2 || return 1
        fi
        if ! cmp -s "$repo/scripts/requirements-ci.txt" "$repo/.venv/.installed" 2>/dev/null; then
            _log "installing the Python tools (scripts/requirements-ci.txt) into .venv/"
            "$py" -m pip install -q --upgrade pip >&2 || return 1
            "$py" -m pip install -q -r "$repo/scripts/requirements-ci.txt" >&2 || return 1
            cp "$repo/scripts/requirements-ci.txt" "$repo/.venv/.installed"
        fi
    }

    _free_port() {
        "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    }

    _wait_http() {
        local url="$1" i
        for i in $(seq 1 150); do
            if "$py" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$url" >/dev/null 2>&1; then
                return 0
            fi
            sleep 0.2
        done
        return 1
    }

    case "$cmd" in
    tools)
        _tools
        ;;
    start)
        _tools || return 1
        _moto_main stop >/dev/null 2>&1
        mkdir -p "$dir"
        local q p
        q="$(_free_port)"; p="$(_free_port)"
        while [ "$p" = "$q" ]; do p="$(_free_port)"; done
        MOTO_PORT="$p" AWS_DEFAULT_REGION=us-east-1 setsid "$repo/.venv/bin/moto_server" -H 127.0.0.1 -p "$q" >"$dir/moto.log" 2>&1 &
        echo $! >"$dir/moto.pid"
        MOTO_UPSTREAM="http://127.0.0.1:$q" setsid "$py" "$repo/tests/pipeline/shim.py" "$p" >"$dir/shim.log" 2>&1 &
        echo $! >"$dir/shim.pid"
        _wait_http "http://127.0.0.1:$q/moto-api/" || { _log "moto did not start"; tail -n 20 "$dir/moto.log" >&2; return 1; }
        _wait_http "http://127.0.0.1:$p/_shim/health" || { _log "the shim did not start"; tail -n 20 "$dir/shim.log" >&2; return 1; }
        # Lambda without Docker; Step Functions executes the ASL for real.
        "$py" - "http://127.0.0.1:$q" <<'PY' || return 1
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/moto-api/config", method="POST",
    data=json.dumps({"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}).encode(),
    headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
PY
        echo "$q $p" >"$dir/ports"
        _log "moto $("$repo/.venv/bin/python" -c 'import moto; print(moto.__version__)') on 127.0.0.1:$q, shim on 127.0.0.1:$p (logs in .moto/)"
        echo "BAK2PG_TEST_MOTO=http://127.0.0.1:$q"
        echo "BAK2PG_TEST_MOTO_SHIM=http://127.0.0.1:$p"
        ;;
    stop)
        local f
        for f in shim moto; do
            if [ -f "$dir/$f.pid" ]; then
                kill "$(cat "$dir/$f.pid")" 2>/dev/null || true
                rm -f "$dir/$f.pid"
            fi
        done
        rm -f "$dir/ports"
        ;;
    *)
        _log "usage: scripts/moto.sh tools|start|stop"; return 2
        ;;
    esac
}

set -u
_moto_main "$@"
