# Helpers for the integration scripts: temporary directories, processes
# started by these scripts and stopped by PID, mounts undone on exit, and
# waiting on conditions with a deadline. Sourced, not run.

NINEP_TMP=$(mktemp -d /tmp/ninep-it-XXXXXX)
# A generous first-connection deadline for every ninep these scripts run
# (the default of --connect-timeout): none of them tests the deadline, and a
# loaded machine's slow dial must not read as a server that never answered.
export NINEP_CONNECT_TIMEOUT=${NINEP_CONNECT_TIMEOUT:-120}
NINEP_PIDS=()
NINEP_MOUNTS=()

# Runs on exit: keeps the script's own exit status (under set -e a failing
# command here would otherwise replace it, e.g. wait's 143 for a server we
# stopped with SIGTERM).
cleanup_all() {
    local status=$? m p
    set +e
    for m in "${NINEP_MOUNTS[@]}"; do
        grep -q " $m fuse" /proc/mounts 2>/dev/null && fusermount3 -u "$m" 2>/dev/null
    done
    for p in "${NINEP_PIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    rm -rf "$NINEP_TMP"
    exit "$status"
}
trap cleanup_all EXIT

# start_bg LOGFILE CMD...: start a process in the background, remember its PID.
start_bg() {
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    NINEP_PIDS+=($!)
    LAST_PID=$!
}

# wait_for DESCRIPTION SECONDS CMD...: run CMD until it succeeds, or fail
# after SECONDS. The short pause between tries is a poll, not a guess: the
# condition itself is what is waited for.
wait_for() {
    local what=$1 secs=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            say "timed out after ${secs}s waiting for $what"
            return 1
        fi
        sleep 0.05
    done
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# port_open PORT: whether something accepts on 127.0.0.1:PORT.
port_open() {
    python3 -c 'import socket,sys; s=socket.socket(); s.settimeout(0.5); s.connect(("127.0.0.1",int(sys.argv[1])))' "$1"
}

# mounted DIR: whether a FUSE file system is mounted on DIR.
mounted() { grep -q " $1 fuse" /proc/mounts; }

# mount_pid DIR: the PID of the background `ninep mount` process serving
# mountpoint DIR (a ninep whose command line has DIR and --ready-fd).
mount_pid() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(cat "$p/comm" 2>/dev/null)" = ninep ] || continue
        tr '\0' '\n' < "$p/cmdline" 2>/dev/null | grep -qx -- "$1" && tr '\0' '\n' < "$p/cmdline" | grep -qx -- --ready-fd && { echo "${p#/proc/}"; return 0; }
    done
    return 1
}

# check NAME CMD...: run a check, print ok or FAIL, count failures.
CHECKS_PASSED=0
CHECKS_FAILED=0
check() {
    local name=$1; shift
    if "$@"; then
        CHECKS_PASSED=$((CHECKS_PASSED + 1)); say "  ok    $name"
    else
        CHECKS_FAILED=$((CHECKS_FAILED + 1)); say "  FAIL  $name"
    fi
}

# unavailable WHAT: a dependency that could not be had. Said loudly; under
# CI (CI=true) it counts as a failure, so a missing dependency never passes
# silently there.
unavailable() {
    say "************************************************************"
    say "* $1 is not available: ITS CHECKS DID NOT RUN"
    say "************************************************************"
    if [ "${CI:-}" = true ]; then
        CHECKS_FAILED=$((CHECKS_FAILED + 1)); say "  FAIL  $1 is needed under CI"
    fi
}

# finish: print the closing line and exit non-zero on any failure.
finish() {
    echo "$(basename "$0" .sh): $CHECKS_PASSED passed, $CHECKS_FAILED failed"
    [ "$CHECKS_FAILED" -eq 0 ]
}
