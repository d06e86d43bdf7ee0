#!/usr/bin/env bash
# scripts/install into a temporary prefix, and what it installs as a system
# uses it: the manual pages (one per command, saying what --help says), the
# shell completions, the systemd units run as systemd runs them (socket
# activation with systemd-socket-activate, an inherited TCP socket, the
# journal's log format, SIGTERM), mount(8) and /etc/fstab lines of type
# fuse.ninep through fuse3's mount.fuse3 and umount(8), and --uninstall.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
source "$(dirname "$0")/../lib/testlib.sh"

ensure_packages systemd man-db groff-base zsh fish python3 util-linux
export -f mounted mount_pid

prefix=$NINEP_TMP/prefix
etc=$NINEP_TMP/etc
say "== scripts/install --prefix $prefix"
"$NINEP_ROOT/scripts/install" --debug --prefix "$prefix" --sysconfdir "$etc" 2>"$NINEP_TMP/install.log" \
    || { cat "$NINEP_TMP/install.log" >&2; die "scripts/install failed"; }
NINEP=$prefix/bin/ninep
manifest=$prefix/share/ninep/install-manifest

say "what was installed"
check "the binary" test -x "$NINEP"
check "the manifest lists every installed file, and only those" bash -c "
    diff <(sed -n 's/^f //p' '$manifest' | sort) <(find '$prefix' -type f ! -path '$manifest' | sort)"
for f in share/bash-completion/completions/ninep share/zsh/site-functions/_ninep \
    share/fish/vendor_completions.d/ninep.fish lib/systemd/system/ninep-export@.service \
    lib/systemd/system/ninep-export@.socket lib/systemd/system/ninep-srv.service \
    lib/systemd/user/ninep-srv.service share/doc/ninep/export.conf.example share/man/man1/ninep.1; do
    check "$f" test -s "$prefix/$f"
done
check "units name the installed binary and configuration" bash -c "
    grep -qx 'ExecStart=$NINEP export \$NINEP_EXPORT_OPTIONS \${NINEP_EXPORT_DIR}' '$prefix/lib/systemd/system/ninep-export@.service' &&
    grep -qx 'EnvironmentFile=$etc/ninep/export-%i.conf' '$prefix/lib/systemd/system/ninep-export@.service' &&
    ! grep -q @ '$prefix/lib/systemd/system/ninep-srv.service'"

say "manual pages"
# Every command, as the CLI's help model names them: "ninep", "ninep srv ls"…
commands=$("$NINEP" --experimental-dump-help | python3 -c '
import json, sys
def walk(c, path):
    name = path + [c["commandName"]]
    print(" ".join(name))
    for s in c.get("subcommands", []):
        if s.get("shouldDisplay", True) and s["commandName"] != "help":
            walk(s, name)
walk(json.load(sys.stdin)["command"], [])')
check "one page per command ($(echo "$commands" | wc -l) commands)" \
    test "$(echo "$commands" | wc -l)" -eq "$(ls "$prefix/share/man/man1" | wc -l)"
while IFS= read -r command; do
    page=$prefix/share/man/man1/${command// /-}.1
    [ -f "$page" ] || { check "a page for '$command'" false; continue; }
    groff -mdoc -Tutf8 -ww -z "$page" 2>"$NINEP_TMP/groff.err" || true
    MANWIDTH=200 man -l "$page" 2>/dev/null | col -b > "$NINEP_TMP/rendered"
    # What --help lists: every long option.
    # shellcheck disable=SC2086
    help=$("$NINEP" ${command#ninep} --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u || true)
    missing=""
    for option in $help; do grep -qF -- "$option" "$NINEP_TMP/rendered" || missing+=" $option"; done
    check "${command// /-}(1) renders without warnings and lists every option of --help${missing:+ (missing:$missing)}" \
        bash -c "[ ! -s '$NINEP_TMP/groff.err' ] && [ -z '$missing' ] && grep -q '^NAME' '$NINEP_TMP/rendered'"
done <<< "$commands"
check "man finds the pages under the prefix" bash -c "MANPATH='$prefix/share/man' man -w ninep-mount | grep -qx '$prefix/share/man/man1/ninep-mount.1'"
check "ninep-mount(1) says how mount options are written" bash -c "MANWIDTH=200 man -l '$prefix/share/man/man1/ninep-mount.1' 2>/dev/null | col -b | grep -q 'reconnect_timeout'"

say "shell completions"
# bash: complete "ninep mo" and "ninep mount --reconnect-t" as the shell would.
complete_bash() {
    bash -c '
        source "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        _ninep ninep "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
        printf "%s\n" "${COMPREPLY[@]}"' _ "$prefix/share/bash-completion/completions/ninep" "$@"
}
check "bash completes subcommands" bash -c "$(declare -f complete_bash); prefix='$prefix'; complete_bash ninep mo | grep -qx mount"
check "bash completes options of ninep mount" bash -c "$(declare -f complete_bash); prefix='$prefix'; complete_bash ninep mount --reconnect-t | grep -qx -- --reconnect-timeout"
check "zsh reads _ninep" zsh -n "$prefix/share/zsh/site-functions/_ninep"
check "zsh: _ninep defines its completion function" zsh -c "fpath=('$prefix/share/zsh/site-functions' \$fpath); autoload -Uz _ninep; source '$prefix/share/zsh/site-functions/_ninep' 2>/dev/null; whence -w _ninep | grep -q function"
check "fish reads ninep.fish" fish -n "$prefix/share/fish/vendor_completions.d/ninep.fish"
check "fish completes subcommands" bash -c "fish -c \"source '$prefix/share/fish/vendor_completions.d/ninep.fish'; complete -C 'ninep mo'\" | grep -q '^mount'"

say "systemd units"
units=$NINEP_TMP/units
mkdir -p "$units"
cp "$prefix"/lib/systemd/system/* "$units/"
# Instances of the templates, as systemctl enable would make them.
cp "$units/ninep-export@.service" "$units/ninep-export@demo.service"
cp "$units/ninep-export@.socket" "$units/ninep-export@demo.socket"
mkdir -p "$etc/ninep"
check "systemd-analyze verify accepts the units" bash -c "
    cd '$units' && SYSTEMD_LOG_LEVEL=err systemd-analyze verify --man=no ./ninep-srv.service ./ninep-export@demo.service ./ninep-export@demo.socket 2>'$NINEP_TMP/verify.err' ||
    { cat '$NINEP_TMP/verify.err' >&2; false; }"

# The export of the configuration file, run as ninep-export@demo would run it.
exported=$NINEP_TMP/exported
mkdir -p "$exported"
printf 'from the export\n' > "$exported/hello.txt"
sed -e "s|^NINEP_EXPORT_DIR=.*|NINEP_EXPORT_DIR=$exported|" "$prefix/share/doc/ninep/export.conf.example" > "$etc/ninep/export-demo.conf"
exec_start=$(sed -n 's/^ExecStart=//p' "$prefix/lib/systemd/system/ninep-export@.service")
run_unit="set -a; . '$etc/ninep/export-demo.conf'; set +a; exec $exec_start"

say "socket activation: systemd-socket-activate, a unix socket (ninep-export@.socket)"
sock=$NINEP_TMP/run/export-demo.sock
mkdir -p "$(dirname "$sock")"
start_bg "$NINEP_TMP/activated.log" systemd-socket-activate -l "$sock" -E INVOCATION_ID=0123456789abcdef \
    bash -c "$run_unit"
activated=$LAST_PID
wait_for "the activation socket" 20 test -S "$sock"
check "the export serves the inherited socket" bash -c "'$NINEP' read 'unix!$sock' hello.txt | grep -qx 'from the export'"
check "with the options of the configuration file (--readonly)" bash -c "
    ! echo x | '$NINEP' create 'unix!$sock' new.txt 2>'$NINEP_TMP/ro.err' && grep -q 'read only' '$NINEP_TMP/ro.err'"
check "it says where it serves" grep -q "serving $exported (read-only) on unix!$sock" "$NINEP_TMP/activated.log"
kill -TERM "$activated"
status=0; wait "$activated" || status=$?
check "SIGTERM: exits 0" test "$status" -eq 0
check "logs in the journal's format: <priority>, no time stamp" bash -c "
    grep -qx '<5>ninep: shutting down' '$NINEP_TMP/activated.log' && ! grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}' '$NINEP_TMP/activated.log'"
# systemd-socket-activate starts the service at the first connection.
start_bg "$NINEP_TMP/bad.log" env -u INVOCATION_ID -u JOURNAL_STREAM \
    systemd-socket-activate -l "$NINEP_TMP/run/bad.sock" "$NINEP" export "$NINEP_TMP/nonexistent"
bad=$LAST_PID
wait_for "the second activation socket" 20 test -S "$NINEP_TMP/run/bad.sock"
"$NINEP" ls "unix!$NINEP_TMP/run/bad.sock" / >/dev/null 2>&1 || true
status=0; wait "$bad" || status=$?
check "an export of a missing directory fails with the reason" bash -c "
    [ $status -eq 1 ] && grep -q 'nonexistent' '$NINEP_TMP/bad.log'"

say "socket activation: an inherited TCP socket on port 0 (descriptor 3, LISTEN_FDS)"
port_file=$NINEP_TMP/port
start_bg "$NINEP_TMP/tcp-activated.log" python3 -c '
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(sys.argv[1], "w") as f:
    f.write(str(s.getsockname()[1]))
if s.fileno() == 3:
    os.set_inheritable(3, True)
else:
    os.dup2(s.fileno(), 3)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="ninep")
os.execv(sys.argv[2], sys.argv[2:])' "$port_file" "$NINEP" export "$exported"
tcp_activated=$LAST_PID
wait_for "the TCP export" 30 grep -q "serving" "$NINEP_TMP/tcp-activated.log"
port=$(cat "$port_file")
check "serves 9P on the inherited TCP socket" bash -c "'$NINEP' read 'tcp!127.0.0.1!$port' hello.txt | grep -qx 'from the export'"
check "and says so with the bound address" grep -q "on tcp!127.0.0.1!$port" "$NINEP_TMP/tcp-activated.log"
check "not in the journal's format outside systemd" bash -c "! grep -q '^<[0-9]>' '$NINEP_TMP/tcp-activated.log'"
kill -TERM "$tcp_activated"
status=0; wait "$tcp_activated" || status=$?
check "SIGTERM: exits 0" test "$status" -eq 0

say "socket activation, Accept=yes: one export per connection"
sock2=$NINEP_TMP/run/per-connection.sock
start_bg "$NINEP_TMP/accept.log" systemd-socket-activate --accept -l "$sock2" "$NINEP" export "$exported"
per_connection=$LAST_PID
wait_for "the per-connection socket" 20 test -S "$sock2"
check "a first connection is served" bash -c "'$NINEP' ls 'unix!$sock2' / | grep -qx hello.txt"
check "and a second" bash -c "'$NINEP' read 'unix!$sock2' hello.txt | grep -qx 'from the export'"
kill -TERM "$per_connection"; wait "$per_connection" 2>/dev/null || true

if ! fuse_available; then
    say "*** /dev/fuse or fusermount3 missing: SKIPPING the mount(8) and fstab checks ***"
else
say "mount(8), /etc/fstab and umount(8), through mount.fuse3"
check "mount.fuse3 is mount(8)'s helper for fuse.* types" test -x /sbin/mount.fuse
esock=$NINEP_TMP/e.sock
start_bg "$NINEP_TMP/export.log" "$NINEP" export --listen "unix!$esock" "$exported"
wait_for "the export" 30 grep -q serving "$NINEP_TMP/export.log"
mnt=$NINEP_TMP/mnt
mkdir -p "$mnt"
NINEP_MOUNTS+=("$mnt")
# exits PID: waits (up to 20 s) for PID to be gone; false for no PID.
exits() {
    local i
    [ -n "$1" ] && [ "$1" != 0 ] || return 1
    for i in $(seq 400); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
    return 1
}

# mount(8) gives its helpers the standard PATH (/usr/local/bin, /usr/bin…),
# where an install with the default prefix puts ninep. To find this test's
# prefix there, the fuse.ninep checks run in a mount namespace of their own
# with the prefix's bin bound over /usr/local/bin; in_ns runs a command in it.
start_bg "$NINEP_TMP/ns.log" unshare --mount --propagation private sleep 100000
ns=$LAST_PID
wait_for "the mount namespace" 20 bash -c "[ \"\$(readlink /proc/$ns/ns/mnt)\" != \"\$(readlink /proc/self/ns/mnt)\" ]"
in_ns() { nsenter -t "$ns" -m -- "$@"; }
export -f in_ns
export ns
in_ns mount --bind "$prefix/bin" /usr/local/bin
# serving_pid DIR: sets pid to the mount process of DIR, remembered for the cleanup.
serving_pid() { pid=$(mount_pid "$1" || true); [ -z "$pid" ] || NINEP_PIDS+=("$pid"); }

opts="_netdev,noauto,nofail,defaults,users,x-systemd.automount,x-systemd.mount-timeout=30,comment=test"
opts+=",noexec,nosuid,nodev,noatime,aname=,uname=$(id -un),msize=65536,reconnect_timeout=30,keep_alive=5,attr_timeout=0"
check "mount -t fuse.ninep with ninep's, FUSE's and mount(8)'s options" \
    in_ns mount -t fuse.ninep "unix!$esock" "$mnt" -o "$opts"
check "mounted as fuse.ninep with the kernel flags asked for" bash -c "
    in_ns grep -E '^unix!$esock $mnt fuse.ninep [^ ]*nosuid,nodev,noexec' /proc/self/mounts | grep -q noatime"
check "read and write through it" in_ns bash -c "[ \"\$(cat '$mnt/hello.txt')\" = 'from the export' ] && echo new > '$mnt/new.txt' && [ \"\$(cat '$exported/new.txt')\" = new ]"
serving_pid "$mnt"
check "the serving process is running" test -n "$pid"
check "umount unmounts" in_ns bash -c "umount '$mnt' && ! grep -q ' $mnt fuse' /proc/self/mounts"
check "and the serving process exits" exits "$pid"

fstab=$NINEP_TMP/fstab
printf '# test fstab\nunix!%s %s fuse.ninep noauto,_netdev,x-systemd.requires=network-online.target,ro,aname=,reconnect_timeout=10 0 0\n' \
    "$esock" "$mnt" > "$fstab"
check "mount --fstab FILE MOUNTPOINT with a fuse.ninep line" in_ns mount --fstab "$fstab" "$mnt"
check "read-only, as the line says" in_ns bash -c "grep ' $mnt ' /proc/self/mounts | grep -q ' fuse.ninep ro,' && ! touch '$mnt/x' 2>/dev/null && [ -f '$mnt/hello.txt' ]"
serving_pid "$mnt"
check "umount MOUNTPOINT" in_ns bash -c "umount '$mnt' && ! grep -q ' $mnt fuse' /proc/self/mounts"
check "and the serving process exits" exits "$pid"

check "mount -o drop_privileges: mount.fuse3 mounts and passes /dev/fd/N" in_ns bash -c "
    mount -t fuse.ninep 'unix!$esock' '$mnt' -o drop_privileges,aname= 2>'$NINEP_TMP/drop.err' && [ \"\$(cat '$mnt/hello.txt')\" = 'from the export' ] ||
    { cat '$NINEP_TMP/drop.err' >&2; false; }"
# Its command line names the device it was given, not the mountpoint.
serving_pid /dev/fd/4
tr '\0' '\n' < "/proc/${pid:-0}/cmdline" 2>/dev/null | grep -qx -- "unix!$esock" || pid=
check "and umount ends it" in_ns bash -c "umount '$mnt' && ! grep -q ' $mnt fuse' /proc/self/mounts"
check "and the serving process exits" exits "$pid"
check "mount(8) fails when ninep does" in_ns bash -c "! timeout 20 mount -t fuse.ninep 'unix!$esock' '$mnt' -o bogus_option 2>/dev/null && ! grep -q ' $mnt fuse' /proc/self/mounts"
kill "$ns"

# Any prefix, outside the namespace: type fuse with the program named in
# the source (PROGRAM#SOURCE, as mount.fuse3 reads it).
check "mount -t fuse 'PREFIX/bin/ninep#SOURCE'" mount -t fuse "$NINEP#unix!$esock" "$mnt" -o _netdev,noexec,aname=
check "shows as fuse.ninep, source first" bash -c "grep -q '^unix!$esock $mnt fuse.ninep rw,noexec' /proc/mounts"
serving_pid "$mnt"
check "umount, and the process exits" bash -c "umount '$mnt' && ! mounted '$mnt' && $(declare -f exits); exits '$pid'"

# The helper form by hand, in the foreground: the exit status is ours to see.
"$NINEP" "unix!$esock" "$mnt" -o defaults,_netdev,direct_io,no_reconnect -f 2>"$NINEP_TMP/fg.log" &
fg=$!
NINEP_PIDS+=($fg)
wait_for "the foreground helper-form mount" 30 mounted "$mnt"
check "ninep SOURCE DIR -o OPTS mounts" bash -c "[ \"\$(cat '$mnt/hello.txt')\" = 'from the export' ]"
umount "$mnt"
status=0; wait $fg || status=$?
check "umount: the serving process exits 0" test $status -eq 0

check "an unknown option is refused, naming it" bash -c "
    ! timeout 20 '$NINEP' 'unix!$esock' '$mnt' -o bogus_option 2>'$NINEP_TMP/bogus.err' && grep -q \"unknown mount option 'bogus_option'\" '$NINEP_TMP/bogus.err' && ! mounted '$mnt'"
check "an option without its value is refused" bash -c "
    ! timeout 20 '$NINEP' 'unix!$esock' '$mnt' -o msize 2>'$NINEP_TMP/msize.err' && grep -q \"'msize' needs a value\" '$NINEP_TMP/msize.err'"
check "and so is a bad value, as ninep mount would" bash -c "
    ! timeout 20 '$NINEP' 'unix!$esock' '$mnt' -o msize=12 2>'$NINEP_TMP/msize2.err' && grep -q 'too small' '$NINEP_TMP/msize2.err'"
fi

say "scripts/install --uninstall"
printf 'mine\n' > "$prefix/bin/not-ninep"
check "uninstall" "$NINEP_ROOT/scripts/install" --prefix "$prefix" --uninstall
check "removes every file it installed, and the manifest" bash -c "[ \"\$(find '$prefix' -type f)\" = '$prefix/bin/not-ninep' ]"
check "and the directories it made, where empty" bash -c "[ ! -e '$prefix/share' ] && [ ! -e '$prefix/lib' ] && [ -d '$prefix/bin' ]"
check "a second uninstall says there is nothing to remove" bash -c "
    ! '$NINEP_ROOT/scripts/install' --prefix '$prefix' --uninstall 2>'$NINEP_TMP/again.err' && grep -q 'nothing to uninstall' '$NINEP_TMP/again.err'"

finish
