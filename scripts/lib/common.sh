# Shared by the scripts in scripts/: locate the repository, make sure the
# toolchain and the system packages ninep needs are present, and build.
# Sourced, not run.

NINEP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PATH="$PATH:/opt/swift/usr/bin"

say() { printf '%s\n' "$*" >&2; }
die() { say "$(basename "$0"): $*"; exit 1; }

# ensure_packages PKG...: install the Debian packages that are missing.
ensure_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        die "missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
    fi
    say "installing ${missing[*]} ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
}

# ensure_fuse: libfuse3 for building and fusermount3 for mounting.
ensure_fuse() {
    ensure_packages fuse3 libfuse3-dev pkg-config
}

# build_ninep [CONFIG]: builds the ninep binary (debug unless told) and
# prints its path.
build_ninep() {
    local config=${1:-debug}
    command -v swift >/dev/null || die "swift is not on PATH (expected under /opt/swift/usr/bin)"
    (cd "$NINEP_ROOT" && swift build -c "$config" --product ninep >&2) || die "build failed"
    echo "$NINEP_ROOT/.build/$config/ninep"
}

# fuse_available: whether this machine can mount FUSE file systems.
fuse_available() {
    [ -c /dev/fuse ] && command -v fusermount3 >/dev/null
}
