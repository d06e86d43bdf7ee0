#!/usr/bin/env bash
# `ninep mount` as a user runs it: the background mount and its readiness,
# ninep unmount, signals, unmounting from outside, exec! transports, the
# errors a user meets. (A mount of a server nobody here wrote: interop-p9fs.sh.)
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/testlib.sh"

if ! fuse_available; then
    say "*** /dev/fuse or fusermount3 missing: SKIPPING the mount-cli checks ***"
    exit 0
fi
NINEP=${NINEP_BIN:-$(build_ninep)}


dir=$NINEP_TMP/exported
mkdir -p "$dir/sub" "$NINEP_TMP/mnt" "$NINEP_TMP/mnt2" "$NINEP_TMP/mnt3"
printf 'hello\n' > "$dir/hello.txt"
sock=$NINEP_TMP/export.sock
start_bg "$NINEP_TMP/export.log" "$NINEP" export --listen "unix!$sock" "$dir"
wait_for "the export" 30 grep -q serving "$NINEP_TMP/export.log"
mnt=$NINEP_TMP/mnt
NINEP_MOUNTS+=("$mnt" "$NINEP_TMP/mnt2" "$NINEP_TMP/mnt3")

say "background mount"
check "mount returns with the mount ready" bash -c "'$NINEP' mount 'unix!$sock' '$mnt' && grep -q ' $mnt fuse.9p ' /proc/mounts && [ \"\$(cat '$mnt/hello.txt')\" = hello ]"
check "a busy mountpoint is refused" bash -c "! '$NINEP' mount 'unix!$sock' '$mnt' 2>'$NINEP_TMP/err' && grep -qi 'busy\|already mounted' '$NINEP_TMP/err'"
pid=$(mount_pid "$mnt" || true)
check "the serving process is running" test -n "$pid"
check "ninep unmount unmounts" bash -c "'$NINEP' unmount '$mnt' && ! grep -q ' $mnt fuse' /proc/mounts"
check "and the serving process exits 0" bash -c "for i in \$(seq 200); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.05; done; exit 1"

say "signals and outside unmounts (foreground)"
"$NINEP" mount -f "unix!$sock" "$mnt" 2>"$NINEP_TMP/fg.log" &
fg=$!
NINEP_PIDS+=($fg)
wait_for "the foreground mount" 30 mounted "$mnt"
kill -TERM $fg
status=0; wait $fg || status=$?
check "SIGTERM unmounts and exits 0" bash -c "[ $status -eq 0 ] && ! grep -q ' $mnt fuse' /proc/mounts"
"$NINEP" mount -f "unix!$sock" "$mnt" 2>"$NINEP_TMP/fg2.log" &
fg=$!
NINEP_PIDS+=($fg)
wait_for "the foreground mount" 30 mounted "$mnt"
fusermount3 -u "$mnt"
status=0; wait $fg || status=$?
check "fusermount3 -u from outside: the process exits 0" test $status -eq 0
"$NINEP" mount -f "unix!$sock" "$mnt" 2>"$NINEP_TMP/fg3.log" &
fg=$!
NINEP_PIDS+=($fg)
wait_for "the foreground mount" 30 mounted "$mnt"
kill -INT $fg
status=0; wait $fg || status=$?
check "SIGINT unmounts and exits 0" bash -c "[ $status -eq 0 ] && ! grep -q ' $mnt fuse' /proc/mounts"

say "errors a user meets"
check "unreachable server" bash -c "! '$NINEP' mount 'tcp!127.0.0.1!1' '$mnt' 2>'$NINEP_TMP/e1' && grep -q 'cannot dial tcp!127.0.0.1!1: connection refused' '$NINEP_TMP/e1'"
check "missing mountpoint" bash -c "! '$NINEP' mount 'unix!$sock' '$NINEP_TMP/nowhere' 2>'$NINEP_TMP/e2' && grep -q 'does not exist' '$NINEP_TMP/e2'"
check "mountpoint that is a file" bash -c "! '$NINEP' mount 'unix!$sock' '$dir/hello.txt' 2>'$NINEP_TMP/e3' && grep -q 'not a directory' '$NINEP_TMP/e3'"
check "refused attach (no such aname)" bash -c "! '$NINEP' mount --aname /no/such/tree 'unix!$sock' '$mnt' 2>'$NINEP_TMP/e4' && grep -q 'attach' '$NINEP_TMP/e4'"
check "bad -o option" bash -c "! '$NINEP' mount -o frobnicate 'unix!$sock' '$mnt' 2>'$NINEP_TMP/e5' && grep -q 'frobnicate' '$NINEP_TMP/e5'"
check "nothing left mounted after the errors" bash -c "! grep -q ' $mnt fuse' /proc/mounts"

say "a 9P2000.L-only server (diod) is refused promptly and clearly"
# diod answers a "9P2000" Tversion with Rlerror: the first connection must
# fail at once with what it answered, not redial forever; nothing may be
# left behind holding the caller's stderr (the \$(...) must return).
ensure_packages diod
diod_dir=$NINEP_TMP/diod-export
mkdir -p "$diod_dir"
diod_port=$(free_port)
start_bg "$NINEP_TMP/diod.log" diod -f -n -l "127.0.0.1:$diod_port" -e "$diod_dir"
wait_for "diod" 20 port_open "$diod_port"
# refused FILE: the error names the server, its Rlerror and the dialect.
refused() { grep -q "tcp!127.0.0.1!$diod_port: refused version 9P2000: Rlerror errno" "$1" && grep -q '9P2000.L' "$1"; }
ls_refused() { ! timeout 15 "$NINEP" ls "tcp!127.0.0.1!$diod_port" 2>"$NINEP_TMP/d1" && refused "$NINEP_TMP/d1"; }
# as a script would run it: the $(...) returns only once nobody holds its output
mount_refused() {
    local out status=0
    out=$(timeout 15 "$NINEP" mount "tcp!127.0.0.1!$diod_port" "$mnt" 2>&1) || status=$?
    printf '%s\n' "$out" > "$NINEP_TMP/d2"
    [ $status -eq 1 ] && refused "$NINEP_TMP/d2"
}
check "ninep ls fails within 15 s, naming the server and its Rlerror" ls_refused
check "ninep mount fails within 15 s, the same way" mount_refused
no_serving_process() { ! mount_pid "$mnt"; }
check "and no serving process is left" no_serving_process
check "nor a mount" bash -c "! grep -q ' $mnt fuse' /proc/mounts"

say "exec! transport"
check "mount 'exec!ninep export DIR'" bash -c "'$NINEP' mount 'exec!$NINEP export $dir' '$NINEP_TMP/mnt2' && [ \"\$(cat '$NINEP_TMP/mnt2/hello.txt')\" = hello ] && echo via-exec > '$NINEP_TMP/mnt2/exec.txt' && [ \"\$(cat '$dir/exec.txt')\" = via-exec ]"
check "unmount the exec! mount" bash -c "'$NINEP' unmount '$NINEP_TMP/mnt2' && ! grep -q ' $NINEP_TMP/mnt2 fuse' /proc/mounts"

say "unmount while the server is down"
# The mount keeps its fids for a reconnect; once unmounted they are clunked,
# and with the server gone those clunks are answered by the client at once:
# the process must not wait out a timeout for a server that is not there.
sock2=$NINEP_TMP/export2.sock
start_bg "$NINEP_TMP/export2.log" "$NINEP" export --listen "unix!$sock2" "$dir"
export2=$LAST_PID
wait_for "the second export" 30 grep -q serving "$NINEP_TMP/export2.log"
check "mount the second export" bash -c "'$NINEP' mount 'unix!$sock2' '$mnt' && ls '$mnt/sub' >/dev/null && [ \"\$(cat '$mnt/hello.txt')\" = hello ]"
pid=$(mount_pid "$mnt" || true)
kill -KILL "$export2"; wait "$export2" 2>/dev/null || true
check "ninep unmount with the server down" bash -c "'$NINEP' unmount '$mnt' && ! grep -q ' $mnt fuse' /proc/mounts"
check "and the serving process exits within 6 s (not a 10 s clunk timeout)" bash -c "[ -n '$pid' ] && for i in \$(seq 120); do kill -0 $pid 2>/dev/null || exit 0; sleep 0.05; done; exit 1"

finish
