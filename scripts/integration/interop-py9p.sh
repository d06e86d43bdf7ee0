#!/usr/bin/env bash
# Interoperability with py9p (PyPI): a 9P2000 implementation in Python that
# nobody here wrote.
#   1. our client (the ninep CLI) against py9p's 9pfs server;
#   2. py9p's client library against `ninep export` and `ninep ramfs`.
# py9p needs Python 2; the machine's pyenv has 2.7.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/testlib.sh"

PY2=${NINEP_PYTHON2:-$(ls -d /root/.pyenv/versions/2.7*/bin/python 2>/dev/null | head -1)}
[ -x "$PY2" ] || PY2=$(command -v python2 || true)
[ -n "$PY2" ] && [ -x "$PY2" ] || die "Python 2 is needed for py9p (set NINEP_PYTHON2)"
if ! "$PY2" -c 'import py9p' 2>/dev/null; then
    say "installing py9p from PyPI ..."
    "$PY2" -m pip install -q py9p >/dev/null 2>&1 || die "cannot install py9p with $PY2 -m pip"
fi
PY9PFS=$(dirname "$PY2")/9pfs
[ -f "$PY9PFS" ] || die "py9p installed no 9pfs script next to $PY2"

NINEP=${NINEP_BIN:-$(build_ninep)}

# --- 1. our client, their server ---------------------------------------------
theirs=$NINEP_TMP/theirs
mkdir -p "$theirs/sub"
printf 'hello from py9p\n' > "$theirs/hello.txt"
head -c 300000 /dev/urandom > "$theirs/sub/blob"
port=$(free_port)
start_bg "$NINEP_TMP/9pfs.log" "$PY2" "$PY9PFS" -w -a 127.0.0.1 -p "$port" -r "$theirs" "$(id -un)"
wait_for "py9p 9pfs on port $port" 20 port_open "$port"
addr="tcp!127.0.0.1!$port"
say "our client against py9p 9pfs at $addr"

check "ls /" bash -c "'$NINEP' ls '$addr' / | grep -qx hello.txt"
check "ls -l shows the size" bash -c "'$NINEP' ls -l '$addr' / | grep -q ' 16 .* hello.txt\$'"
check "read a file" bash -c "[ \"\$('$NINEP' read '$addr' hello.txt)\" = 'hello from py9p' ]"
check "read 300 kB across many Treads" bash -c "'$NINEP' read '$addr' sub/blob | cmp - '$theirs/sub/blob'"
check "stat" bash -c "'$NINEP' stat '$addr' sub | grep -q '^mode *d'"
check "create and write" bash -c "echo written by ninep | '$NINEP' create '$addr' new.txt && [ \"\$(cat '$theirs/new.txt')\" = 'written by ninep' ]"
check "write replaces contents" bash -c "echo again | '$NINEP' write '$addr' new.txt && [ \"\$(cat '$theirs/new.txt')\" = again ]"
check "mkdir" bash -c "'$NINEP' mkdir '$addr' made && [ -d '$theirs/made' ]"
check "rm" bash -c "'$NINEP' rm '$addr' new.txt made && [ ! -e '$theirs/new.txt' ] && [ ! -e '$theirs/made' ]"
check "missing file: server's error, exit 1" bash -c "! '$NINEP' read '$addr' nope 2>'$NINEP_TMP/err' && grep -q 'nope' '$NINEP_TMP/err'"

# --- 2. their client, our servers ----------------------------------------------
ours=$NINEP_TMP/ours
mkdir -p "$ours/dir"
printf 'served by ninep\n' > "$ours/greeting"
for i in $(seq 1 40); do : > "$ours/dir/entry-$i"; done

cat > "$NINEP_TMP/client.py" <<'PY'
# py9p's client library against a ninep server: version, attach, walk,
# open, read, directory read, create, write, stat, remove.
import socket, sys
from py9p import py9p
host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sock = socket.create_connection((host, port))
c = py9p.Client(sock, py9p.Credentials(user="glenda"), msize=65536)
def check(cond, what):
    if not cond:
        print("FAIL " + what)
        sys.exit(1)
if mode == "export":
    c.open("greeting")
    got = c.read(1000)
    check(got == "served by ninep\n", "read greeting: %r" % got)
    c.close()
    c.open("dir")
    names = sorted(d.name for d in c.lsdir())
    c.close()
    check(names == sorted("entry-%d" % i for i in range(1, 41)), "directory read: %r" % names)
st = c.stat("/")
check(st is not None and len(st) == 1, "stat /")
c.create("fromclient", 0644, py9p.OWRITE)
c.write("py9p wrote this")
c.close()
c.open("fromclient")
check(c.read(100) == "py9p wrote this", "read back")
c.close()
c.rm("fromclient")
try:
    c.walk("fromclient")
    check(False, "walk after rm must fail")
except py9p.RpcError as e:
    check(True, "")
print("ok")
PY

serve_and_run() {  # NAME ARGS...: start a ninep server on port 0, run client.py against it
    local name=$1; shift
    local log=$NINEP_TMP/$name.log
    start_bg "$log" "$NINEP" "$@" --listen 'tcp!127.0.0.1!0'
    local pid=$LAST_PID
    wait_for "ninep $name to listen" 30 grep -q 'serving .* on tcp!' "$log"
    local p=$(sed -n 's/.*serving .* on tcp!127\.0\.0\.1!\([0-9]*\).*/\1/p' "$log" | head -1)
    "$PY2" "$NINEP_TMP/client.py" 127.0.0.1 "$p" "$name" > "$NINEP_TMP/$name.out" 2>&1
    local rc=$?
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    [ $rc -eq 0 ] || { cat "$NINEP_TMP/$name.out" >&2; cat "$log" >&2; }
    return $rc
}
say "py9p's client against ninep servers"
check "py9p client against ninep export" serve_and_run export export "$ours"
check "py9p client against ninep ramfs" serve_and_run ramfs ramfs

finish
