#!/usr/bin/env bash
# Catalog scale benchmark (part of bench/run.sh): a mount of 10 000 small assets and of the
# 2-hour asset. What and why: bench/README.md "Part 4: scale".
#   bench/scale.sh   environment: ISMFS (default ./ismfs), SCALE_N (default 10000 assets),
#                    RUNS (default 5), BENCH_STRICT=1 (exit 1 when a target is missed)
# Measures: mount time; first lookup of a random asset's manifest (stat through every path
# component, nothing of it parsed before); the daemon's VmRSS after mount, peak during and
# after `ls -R` of everything (cache_size=1G); long.ism's video QualityLevels listing with
# sizes (find -printf %s; ls -l beside it) on a fresh cache and mount (cold), again in the
# same mount (warm), and after a remount over the same cache (restart: from LMDB), with the
# same names listed from the local filesystem and tmpfs as the machine's floor;
# getattr+read of a cached manifest.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
. bench/lib.sh
. tests/lib/scale_catalog.sh
ISMFS=${ISMFS:-./ismfs}
N=${SCALE_N:-10000}
RUNS=${RUNS:-5}
LONG=tests/fixtures/long
LIST_COLD_MS=1000       # targets of issue 7
LIST_WARM_MS=50
RSS_MB=200

[ -x "$ISMFS" ] || bench_fail "no ismfs binary at $ISMFS (make ismfs)"
ISMFS=$(realpath "$ISMFS")
[ -c /dev/fuse ] || bench_fail "no /dev/fuse"
[ -f "$LONG/.stamp" ] || bench_fail "no $LONG (tests/make-fixtures.sh --long)"
for tool in ffmpeg python3 fusermount3; do
    command -v "$tool" >/dev/null || bench_fail "$tool not found"
done
CAT=$(scale_catalog "$N") || bench_fail "cannot make the $N-asset catalog"

tmp=$(mktemp -d /tmp/ismfs-bench.XXXXXX)
mounts=()
cleanup() {
    local m
    for m in "${mounts[@]+"${mounts[@]}"}"; do
        grep -q " $m fuse" /proc/mounts && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"; }
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

# mnt SRC MNT CACHE: the daemonizing mount (returns once mounted); prints its wall ms.
mnt() {
    mkdir -p "$2"
    local t0 t1
    t0=$(date +%s%N)
    "$ISMFS" "$1" "$2" -o "cache=$3,cache_size=1G" 2>"$tmp/err" ||
        bench_fail "mount $1: $(head -c 300 "$tmp/err")"
    t1=$(date +%s%N)
    mounts+=("$2")
    echo $(((t1 - t0) / 1000000))
}
# umnt MNT: unmounts and waits for the daemon to end (its writer commits on the way out).
umnt() {
    local p
    p=$(pid_of "$1")
    fusermount3 -u "$1" || bench_fail "cannot unmount $1"
    while [ -n "$p" ] && kill -0 "$p" 2>/dev/null; do sleep 0.05; done
}
# pid_of MNT: the daemon serving MNT.
pid_of() {
    local p
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/exe" 2>/dev/null)" = "$ISMFS" ] || continue
        tr '\0' '\n' <"$p/cmdline" 2>/dev/null | grep -qxF "$1" && { echo "${p#/proc/}"; return; }
    done
}
rss_mb() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# ---- the catalog ----------------------------------------------------------------------------
: >"$tmp/mount_ms"
for i in $(seq 3); do
    m=$tmp/m$i
    mnt "$CAT/c" "$m" "$tmp/cache$i" >>"$tmp/mount_ms"
    umnt "$m"
done
mount_ms=$(median "$tmp/mount_ms" 1)

M=$tmp/cat
mnt "$CAT/c" "$M" "$tmp/cache" >/dev/null
PID=$(pid_of "$M")
rss_mount=$(rss_mb "$PID")
# first lookups: RUNS random assets, each looked up for the first time in this mount
python3 - "$M" "$N" "$RUNS" >"$tmp/first" <<'EOF' || bench_fail "first lookups failed"
import os, random, sys, time
m, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in random.sample(range(n), runs):
    p = os.path.join(m, '%02d' % (i // 100), 'a%05d' % i, 'a%05d.ism' % i, 'manifest')
    t = time.perf_counter()
    os.stat(p)
    print('%.3f' % ((time.perf_counter() - t) * 1000))
EOF
first_ms=$(median "$tmp/first" 1)
( while kill -0 "$PID" 2>/dev/null; do rss_mb "$PID"; echo; sleep 0.2; done ) >"$tmp/rss" 2>/dev/null &
sampler=$!
t0=$(date +%s%N)
ls -R "$M" >"$tmp/lsR" 2>"$tmp/err" || bench_fail "ls -R: $(head -c 300 "$tmp/err")"
t1=$(date +%s%N)
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
lsR_s=$(calc 'int((b - a) / 1e7) / 100' a="$t0" b="$t1")
entries=$(grep -cv -e ':$' -e '^$' "$tmp/lsR")
rss_peak=$(grep -v '^$' "$tmp/rss" | sort -n | tail -1)
sleep 6                                 # the index writer lets go of LMDB's pages when idle
rss_after=$(rss_mb "$PID")
# a cached manifest: getattr + read, RUNS x 1000 times
mf="$M/00/a00000/a00000.ism/manifest(format=mpd-time-csf)"
cat "$mf" >/dev/null
python3 - "$mf" "$RUNS" >"$tmp/hit" <<'EOF'
import os, sys, time
p, runs = sys.argv[1], int(sys.argv[2])
for _ in range(runs):
    t = time.perf_counter()
    for _ in range(1000):
        os.stat(p)
        with open(p, 'rb') as f:
            f.read()
    print('%.2f' % ((time.perf_counter() - t) * 1000))    # us per getattr+open+read
EOF
hit_us=$(median "$tmp/hit" 1)
umnt "$M"

# ---- the 2-hour asset -----------------------------------------------------------------------
L=$tmp/long
mnt "$LONG" "$L" "$tmp/lprobe" >/dev/null      # the video rendition: the most entries
ql=$(cd "$L/long.ism" && for d in QualityLevels*; do echo "$(ls "$d" | wc -l) $d"; done |
     sort -n | tail -1)
nlong=${ql%% *}
ql=${ql#* }
umnt "$L"
: >"$tmp/cold"; : >"$tmp/same"; : >"$tmp/warm"; : >"$tmp/lsl"; : >"$tmp/lslwarm"
# find -printf %s: readdir + a stat of every name (what rsync and nginx's autoindex do);
# ls -l also reads an ACL xattr per name and formats dates (60 ms of its own on tmpfs here)
sizes() { find "$1" -maxdepth 1 -printf '%s %f\n'; }
for i in $(seq 3); do
    mnt "$LONG" "$L" "$tmp/lcache$i" >/dev/null
    timed "$tmp/cold" sizes "$L/long.ism/$ql"
    timed "$tmp/same" sizes "$L/long.ism/$ql"
    timed "$tmp/lsl" ls -l "$L/long.ism/$ql"
    umnt "$L"
    mnt "$LONG" "$L" "$tmp/lcache$i" >/dev/null
    timed "$tmp/warm" sizes "$L/long.ism/$ql"
    timed "$tmp/lslwarm" ls -l "$L/long.ism/$ql"
    umnt "$L"
done
cold_ms=$(median "$tmp/cold" 1)
same_ms=$(median "$tmp/same" 1)
warm_ms=$(median "$tmp/warm" 1)
lsl_ms=$(median "$tmp/lsl" 1)
lslwarm_ms=$(median "$tmp/lslwarm" 1)

# The floor of this machine: the same names and sizes as sparse files in a folder of the
# local filesystem (dentries cached), and in tmpfs.
mnt "$LONG" "$L" "$tmp/lcache1" >/dev/null
sizes "$L/long.ism/$ql" >"$tmp/names"
umnt "$L"
native() {   # native DIR: the names of $tmp/names as sparse files in DIR
    mkdir -p "$1" && (cd "$1" && while read -r sz name; do truncate -s "$sz" "./$name"; done) \
        <"$tmp/names"
}
native "$tmp/native"
shm=$(mktemp -d /dev/shm/ismfs-bench.XXXXXX) && native "$shm" || shm=
: >"$tmp/nat"; : >"$tmp/natlsl"; : >"$tmp/shm"
for i in $(seq 3); do
    sizes "$tmp/native" >/dev/null
    timed "$tmp/nat" sizes "$tmp/native"
    timed "$tmp/natlsl" ls -l "$tmp/native"
    [ -z "$shm" ] || timed "$tmp/shm" sizes "$shm"
done
[ -z "$shm" ] || rm -rf "$shm"
nat_ms=$(median "$tmp/nat" 1)
natlsl_ms=$(median "$tmp/natlsl" 1)
shm_ms=$(median "$tmp/shm" 1)

echo "== scale: $N assets (hard links of one 4 s asset), cache_size=1G; $LONG =="
printf '%-58s %12s\n' measure value
printf '%-58s %9s ms\n' "mount of $N assets (median of 3)" "$mount_ms"
printf '%-58s %9s ms\n' "first lookup of a random asset's manifest (median of $RUNS)" "$first_ms"
printf '%-58s %9s s\n' "ls -R of the whole mount ($entries entries)" "$lsR_s"
printf '%-58s %9s MB\n' "VmRSS after mount" "$rss_mount"
printf '%-58s %9s MB\n' "VmRSS peak during ls -R (0.2 s samples)" "$rss_peak"
printf '%-58s %9s MB\n' "VmRSS after ls -R, idle" "$rss_after"
printf '%-58s %9s ms\n' "long.ism/$ql ($nlong entries), names+sizes: cold" "$cold_ms"
printf '%-58s %9s ms\n' "  warm: the same mount again" "$same_ms"
printf '%-58s %9s ms\n' "  restart: remount over the same cache" "$warm_ms"
printf '%-58s %9s ms\n' "  local filesystem, the same names (dentries cached)" "$nat_ms"
printf '%-58s %9s ms\n' "  tmpfs, the same names" "$shm_ms"
printf '%-58s %9s ms\n' "  ls -l: warm / restart / local filesystem" "$lsl_ms / $lslwarm_ms / $natlsl_ms"
printf '%-58s %9s us\n' "getattr+open+read of a cached manifest" "$hit_us"
echo

is_true "c < t" c="$cold_ms" t="$LIST_COLD_MS" && v=MET || v=MISSED
verdict "$v" "2-hour QualityLevels listing cold ${cold_ms} ms < ${LIST_COLD_MS} ms"
is_true "w < t" w="$same_ms" t="$LIST_WARM_MS" && v=MET || v=MISSED
verdict "$v" "2-hour QualityLevels listing warm ${same_ms} ms < ${LIST_WARM_MS} ms"
note "(the same names on the local filesystem: ${nat_ms} ms, tmpfs ${shm_ms} ms; after a restart: ${warm_ms} ms)"
is_true "p < t" p="$rss_peak" t="$RSS_MB" && v=MET || v=MISSED
verdict "$v" "daemon VmRSS peak ${rss_peak} MB < ${RSS_MB} MB (idle after ls -R: ${rss_after} MB)"
bench_end
