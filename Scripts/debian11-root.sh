#!/usr/bin/env bash
# Runs the C binding's tests (Tests/C/test_drmaa.c) against out/lib/libdrmaa.so on Debian 11
# "bullseye" (glibc 2.31, GCC 10's libstdc++), in a chroot: proof that the library loads and works on
# an older system than the one it was built on. Needs root, debootstrap, and `make lib` done before.
#
#   Scripts/debian11-root.sh [root]      root: where to build and keep the Debian 11 tree
#                                       (default out/debian11-root)
#
# The tree is made once with `debootstrap --variant=minbase` (the essential packages, so /bin/sh
# and coreutils' /bin/sleep, which the jobs of the tests run) plus gcc and libc6-dev, and reused
# after. The test program is compiled in the tree by Debian 11's gcc: one linked on this machine would
# itself need this machine's newer glibc (__libc_start_main@GLIBC_2.34). The mirror is the Debian
# archive this machine's apt uses (or $DEBIAN_MIRROR).
set -euo pipefail
cd "$(dirname "$0")/.."
root=${1:-out/debian11-root}
suite=bullseye
packages=gcc,libc6-dev
recipe="$suite minbase $packages"

# The first URI of an enabled apt source of this machine's Debian release (one-line or deb822 format).
apt_mirror() {
    local codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    shopt -s nullglob
    local lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list) sources=(/etc/apt/sources.list.d/*.sources)
    shopt -u nullglob
    for file in "${lists[@]}"; do
        [ -f "$file" ] || continue
        # deb [options] uri suite components...
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$file" | awk -v c="$codename" '$1 == "deb" && $3 == c { print $2; exit }'
    done
    for file in "${sources[@]}"; do
        awk -v c="$codename" '
            function flush() { if (types ~ /(^| )deb( |$)/ && enabled != "no" && (" " suites " ") ~ (" " c " ") && uri != "") { print uri; found = 1 }
                               types = suites = uri = ""; enabled = "yes" }
            BEGIN { enabled = "yes" }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            tolower($1) == "types:"   { $1 = ""; types = $0 }
            tolower($1) == "uris:"    { uri = $2 }
            tolower($1) == "suites:"  { $1 = ""; suites = $0 }
            tolower($1) == "enabled:" { enabled = tolower($2) }
            END { if (!found) flush() }' "$file"
    done
}

# 1. The Debian 11 tree, once. A half-made tree (an interrupted run) is made again from scratch.
if [ "$(cat "$root/.complete" 2>/dev/null)" != "$recipe" ]; then
    command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    mirror=${DEBIAN_MIRROR:-$(apt_mirror | head -1)}
    [ -n "$mirror" ] || { echo "no Debian mirror found in the apt configuration; set DEBIAN_MIRROR" >&2; exit 1; }
    echo "== debootstrap $suite (minbase) into $root"
    rm -rf "$root"
    start=$(date +%s)
    debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 ||
        { tail -20 "$root.log" >&2; echo "debootstrap failed; full log: $root.log" >&2; exit 1; }
    rm -rf "$root/var/cache/apt/archives/"*.deb
    echo "$recipe" > "$root/.complete"
    echo "== $root made in $(( $(date +%s) - start )) s"
fi
echo "== $root: $(chroot "$root" /usr/bin/ldd --version | head -1)"

# 2. The library, the test program (compiled in the tree) and the jobs' home directory.
[ -f out/lib/libdrmaa.so ] || { echo "out/lib/libdrmaa.so is missing: run make lib" >&2; exit 1; }
dest=$root/opt/drmaa
rm -rf "$dest"
mkdir -p "$dest/lib" "$dest/home" "$dest/src"
cp out/lib/libdrmaa.so "$dest/lib/libdrmaa.so.1"
cp out/lib/drmaad out/lib/drmaa-shepherd "$dest/lib/"   # the durable mode's, found beside the library
ln -s libdrmaa.so.1 "$dest/lib/libdrmaa.so"
cp Tests/C/test_drmaa.c Tests/C/test_hostile.c Tests/C/check.h Sources/DRMAA/include/drmaa.h "$dest/src/"
run() { chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/opt/drmaa/home "$@"; }
run gcc -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -I/opt/drmaa/src /opt/drmaa/src/test_drmaa.c \
    -L/opt/drmaa/lib -ldrmaa -Wl,-rpath,/opt/drmaa/lib -o /opt/drmaa/test_drmaa
run gcc -std=c99 -D_DEFAULT_SOURCE -Wall -Wextra -I/opt/drmaa/src /opt/drmaa/src/test_hostile.c \
    -L/opt/drmaa/lib -ldrmaa -Wl,-rpath,/opt/drmaa/lib -o /opt/drmaa/test_hostile

# 3. The tests, in the chroot with /proc mounted (pidfds and the fd fallback read it) for the duration.
mounted=
cleanup() { if [ -n "$mounted" ]; then umount "$root/proc" || umount -l "$root/proc"; fi; }
trap cleanup EXIT
trap 'exit 130' INT TERM
mountpoint -q "$root/proc" || { mount -t proc proc "$root/proc"; mounted=1; }
durable="DRMAA_LOCAL_STATE_DIR=/opt/drmaa/state DRMAA_LOCAL_IDLE_EXIT=1"
echo "== durable mode (the daemon and the shepherd are static executables)"
run $durable /opt/drmaa/test_drmaa
run $durable DRMAA_LOCAL_SLOTS=1 /opt/drmaa/test_drmaa local-configuration
run $durable DRMAA_LOCAL_SLOTS=zero /opt/drmaa/test_drmaa local-configuration
echo "== embedded mode"
run DRMAA_LOCAL_MODE=embedded /opt/drmaa/test_drmaa
run DRMAA_LOCAL_MODE=embedded DRMAA_LOCAL_SLOTS=1 /opt/drmaa/test_drmaa local-configuration
echo "== embedded again, spawning the way glibc 2.28 must (no posix_spawn chdir action)"
run DRMAA_LOCAL_MODE=embedded DRMAA_LOCAL_SPAWN_FALLBACK=1 /opt/drmaa/test_drmaa
echo "== the hostile-host modes (glibc 2.31 has no closefrom spawn action: its fallback closes each fd)"
for mode in fifo fork fork-storm fork-after-init bounds sigchld-reaper bytes categories emfile init-exit-loop; do
    run DRMAA_LOCAL_MODE=embedded /opt/drmaa/test_hostile "$mode"
done
# The daemon leaves a second after its last client: before /proc is unmounted.
for _ in 1 2 3 4 5 6 7 8 9 10; do pgrep -f "drmaad.*/opt/drmaa/state" >/dev/null || break; sleep 1; done
echo "== Debian 11 ($suite): the C tests passed"
