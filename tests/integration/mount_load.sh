#!/usr/bin/env bash
# Load (issue 4: "50 parallel readers of random entries for 20 s: all bytes right, no error,
# daemon alive, RSS bounded"). One mount of tests/fixtures (mount_lib's farm: long/ left out):
#   1. the expected bytes of every file of the mount are those of `ismfs cat` (a deterministic
#      sample, every k-th file, when there are more than LOAD_SAMPLE_MAX; the others are only
#      checked for their stat size);
#   2. tests/lib/load_readers.py: LOAD_READERS (50) processes for LOAD_SECONDS (20), each with
#      its own seed, pick random files and read them through the mount, half O_DIRECT (every
#      read reaches the daemon), half page-cached; 70 % whole (random chunk sizes, sha256
#      compared), 30 % os.pread of a random offset and length (through and past EOF too,
#      compared with the same range of `ismfs cat`);
#   3. checks: every reader finished, no read failed, no byte wrong; the daemon is alive and
#      the mount still answers; its VmRSS (sampled every second) grows by at most 50 % (+16 MB
#      of noise) between the 5th second and the end, and stays under LOAD_RSS_MAX_MB (512 MB,
#      1536 MB for an ASan binary: seen about 50 MB and 150 MB); its open file descriptors stay
#      flat after the warm-up and under LOAD_FD_MAX (512). Throughput is printed as a comment.
# Under ASan the daemon runs with quarantine_size_mb=64 (default 256): the quarantine of freed
# blocks then fills within the warm-up, so growth after it means memory kept, not quarantine
# filling up. A leak of unreachable memory is LeakSanitizer's report at unmount (mount_lib).
# Runtime: about 25 s (the ASan binary; 20 s of it the load).
# shellcheck source=tests/lib/mount_lib.sh
source "$(dirname "$0")/../lib/mount_lib.sh"
need find sort awk xargs
READERS=${LOAD_READERS:-50}
DURATION=${LOAD_SECONDS:-20}
WARM=5                                  # seconds of warm-up: the RSS and fd baselines
SAMPLE_MAX=${LOAD_SAMPLE_MAX:-2000}
FD_MAX=${LOAD_FD_MAX:-512}               # seen: about 55 under load
if grep -qa __asan_init "$ISMFS"; then
    asan=1 RSS_MAX_MB=${LOAD_RSS_MAX_MB:-1536}
    export ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=64"
else
    asan=0 RSS_MAX_MB=${LOAD_RSS_MAX_MB:-512}
fi
SRC=$TMP/src MNT=$TMP/mnt
farm "$SRC"
mount_fg "$SRC" "$MNT" "cache=$TMP/cache" || exit 1
PID=$(daemon_pid "$MNT") || bail "no ismfs process serving $MNT"

# ---- 1. the files and their expected bytes ------------------------------------------------
(cd "$MNT" && find . -type f -printf '%s\t%P\n') | sort -t "$(printf '\t')" -k2 >"$TMP/list.tsv"
n=$(wc -l <"$TMP/list.tsv")
[ "$n" -gt 100 ] || bail "find in the mount lists only $n files"
step=$(((n + SAMPLE_MAX - 1) / SAMPLE_MAX))
awk -F '\t' -v s="$step" '(NR - 1) % s == 0 { print $2 }' "$TMP/list.tsv" >"$TMP/sample.txt"
export ISMFS TMP SRC
# shellcheck disable=SC2016
tr '\n' '\0' <"$TMP/sample.txt" | timeout 600 xargs -0 -n 30 -P 2 bash -c '
    for r; do
        d=$TMP/ref/$r; mkdir -p "${d%/*}"
        "$ISMFS" --cache="$TMP/cat-cache" cat "$SRC" "$r" >"$TMP/ref/$r" 2>"$TMP/err.$$" ||
            { printf "%s: %s\n" "$r" "$(head -c 200 "$TMP/err.$$")"; rm -f "$TMP/ref/$r"; }
    done; rm -f "$TMP/err.$$"' _ >"$TMP/cat.err" 2>&1
ns=$(wc -l <"$TMP/sample.txt")
if [ -s "$TMP/cat.err" ]; then
    not_ok "ismfs cat failed for $(wc -l <"$TMP/cat.err") of $ns files (left out of the load): $(head -2 "$TMP/cat.err" | tr '\n' ' ')"
    # a file without its expected bytes is read for its size only
fi

# ---- 2. the load ----------------------------------------------------------------------------
echo "# $READERS readers for $DURATION s over $n files ($ns of them with their bytes from ismfs cat), daemon pid $PID, asan=$asan"
timeout -k 5 $((DURATION + 120)) python3 "$ROOT/tests/lib/load_readers.py" --mnt "$MNT" \
    --list "$TMP/list.tsv" --ref "$TMP/ref" --pid "$PID" --out "$TMP/load" \
    --readers "$READERS" --seconds "$DURATION" --seed 1 >"$TMP/summary.sh" 2>"$TMP/load.err"
rc=$?
reads=0 whole=0 ranges=0 direct=0 bytes=0 errors=0 wrong=0 readers=0 seconds=1 first_error='' first_wrong=''
# shellcheck disable=SC1091
[ -s "$TMP/summary.sh" ] && source "$TMP/summary.sh"
if [ "$rc" -ne 0 ] || [ "$readers" -ne "$READERS" ]; then
    not_ok "the load: load_readers.py exited $rc, $readers of $READERS readers finished: $(head -c 300 "$TMP/load.err" | tr '\n' ' ')"
else
    ok "$READERS readers ran $seconds s: $reads reads ($whole whole, $ranges ranges, $direct O_DIRECT)"
fi
minreads=$((READERS * DURATION / 2))     # 1 read per 2 s per reader: only a stuck daemon is slower
if [ "$reads" -ge "$minreads" ]; then
    ok "the readers made progress: $reads reads (at least $minreads)"
else
    not_ok "only $reads reads in $seconds s by $READERS readers (a hung or very slow daemon?)"
fi
if [ "$errors" -eq 0 ]; then
    ok "no read failed ($reads reads)"
else
    not_ok "$errors of $reads reads failed; first: $first_error"
fi
if [ "$wrong" -eq 0 ]; then
    ok "every read gave the right bytes ($((bytes / 1000000)) MB: whole files by sha256, ranges byte for byte)"
else
    not_ok "$wrong of $reads reads gave wrong bytes; first: $first_wrong"
fi
awk -v r="$reads" -v b="$bytes" -v s="$seconds" -v d="$direct" \
    'BEGIN { printf "# throughput: %.0f reads/s, %.1f MB/s (%.0f%% O_DIRECT)\n", r / s, b / s / 1e6, r ? 100 * d / r : 0 }'

# ---- 3. the daemon afterwards ----------------------------------------------------------------
check "the daemon (pid $PID) is alive after the load" kill -0 "$PID"
man=$LADDER/'manifest(format=mpd-time-csf)'
if [ -f "$TMP/ref/$man" ] && timeout 20 cat "$MNT/$man" >"$TMP/after" 2>"$TMP/err" &&
        cmp -s "$TMP/after" "$TMP/ref/$man" && timeout 20 stat "$MNT/$LADDER" >/dev/null 2>&1; then
    ok "the mount still answers after the load (stat, and $man equals ismfs cat)"
else
    not_ok "the mount does not answer after the load: $(head -c 200 "$TMP/err")"
fi
# samples.tsv: second, VmRSS kB, open fds (-1: the process was gone); the last line is taken
# once every reader has ended
samples=$TMP/load/samples.tsv
if [ ! -s "$samples" ]; then
    not_ok "no RSS samples of the daemon"
else
    echo "# VmRSS MB by second: $(awk -F '\t' '{ printf "%s%.0f", (NR > 1 ? " " : ""), $2 / 1024 }' "$samples")"
    echo "# open fds by second: $(cut -f3 "$samples" | tr '\n' ' ')"
    read -r rss_warm rss_end rss_max gone < <(awk -F '\t' -v w="$WARM" '
        $2 < 0 { gone++ }
        $1 == w { warm = $2 }
        { end = $2; if ($2 > max) max = $2 }
        END { if (warm == "") warm = end; print warm, end, max, gone + 0 }' "$samples")
    lim=$((rss_warm * 3 / 2 + 16384))
    if [ "$gone" -eq 0 ] && [ "$rss_end" -le "$lim" ]; then
        ok "daemon RSS flat after the warm-up: $((rss_warm / 1024)) MB at ${WARM} s, $((rss_end / 1024)) MB at the end (limit $((lim / 1024)) MB), max $((rss_max / 1024)) MB"
    else
        not_ok "daemon RSS grows: $((rss_warm / 1024)) MB at ${WARM} s, $((rss_end / 1024)) MB at the end (limit +50 % +16 MB = $((lim / 1024)) MB), max $((rss_max / 1024)) MB, $gone samples without the process"
    fi
    if [ "$gone" -eq 0 ] && [ "$rss_max" -le $((RSS_MAX_MB * 1024)) ]; then
        ok "daemon RSS max $((rss_max / 1024)) MB is under $RSS_MAX_MB MB"
    else
        not_ok "daemon RSS max $((rss_max / 1024)) MB exceeds $RSS_MAX_MB MB (or the process was gone in $gone samples)"
    fi
    # warm-up: libfuse starts its worker threads (each with a splice pipe: 2 fds) and the
    # assets open their sources; after it the count must stay flat, and under FD_MAX (an fd
    # kept per open file would pass it within a second)
    read -r fd_warm fd_max fd_end < <(awk -F '\t' -v w="$WARM" '
        $1 >= 1 && $1 <= w { if ($3 > warm) warm = $3 }
        $1 >= w { if ($3 > max) max = $3 }
        { end = $3 }
        END { print warm + 0, max + 0, end + 0 }' "$samples")
    if [ "$fd_end" -ge 0 ] && [ "$fd_max" -le $((fd_warm + 16)) ] && [ "$fd_end" -le "$fd_warm" ] &&
            [ "$fd_max" -le "$FD_MAX" ]; then
        ok "daemon fds flat: at most $fd_warm in the warm-up, at most $fd_max after it (limit $((fd_warm + 16)), $FD_MAX), $fd_end once the readers ended"
    else
        not_ok "daemon fds grow: at most $fd_warm in the warm-up, up to $fd_max after it (limit $((fd_warm + 16)), $FD_MAX), $fd_end once the readers ended"
    fi
fi

sanitizer_check
unmount "$MNT" || not_ok "fusermount3 -u failed"
grep -v '^$' "$MNT.log" | head -5 | sed 's/^/# mount log: /'
exit "$fail"
