#!/usr/bin/env bash
# MPEG-2 TS output (pack/ts.c through pack/hls.c's playlists) of the ladder fixture, judged by
# ffmpeg/ffprobe 5.1. The m3u8-aapl and m3u8-aapl-v3 presentations are written out following
# their playlists (tests/lib/fetch_presentation.py); then for each media playlist its
# segments, concatenated in playlist order (what a player feeds its demuxer):
#   - ffprobe -show_packets: per stream, DTS strictly increasing, PTS >= DTS, PTS all distinct,
#     no packet without timestamps; as many packets as the source track has samples;
#   - no continuity-counter error across the segment boundaries: ffmpeg 5.1's mpegts demuxer
#     reports one only at debug level ("Continuity check failed for pid N expected X got Y",
#     libavformat/mpegts.c), so the decode runs with -v debug and the log is grepped. A copy
#     with one CC bit flipped must be caught (control: the grep can fail);
#   - m3u8-aapl-v3: the muxed segments hold both streams, video and the default audio;
#   - I-frame playlists (type=keyframes): each EXT-X-BYTERANGE range of a TS segment, cut out
#     with dd, decodes to exactly one video frame, a key frame, with no error.
# shellcheck source=tests/lib/package_lib.sh
source "$(dirname "$0")/../lib/package_lib.sh"
need ffmpeg ffprobe python3 dd

tracks "$LADDER" >"$TMP/tracks.tsv"
[ -s "$TMP/tracks.tsv" ] || bail "$LADDER: no tracks"
# samples BITRATE NAME: the source track's sample count
samples() { awk -F'\t' -v b="$1" -v n="$2" '$2 == b && $3 == n { print $4; exit }' "$TMP/tracks.tsv"; }
default_audio=$(awk -F'\t' '$1 == "audio" { print $2 "\t" $3; exit }' "$TMP/tracks.tsv")

# The URI lines of a playlist (segments, or variants of a master).
uri_lines() { grep -v '^#' "$1" | grep .; }

# concat PLAYLIST OUT: its segments, in order, into OUT (paths relative to the playlist).
concat() {
    local dir f
    dir=$(dirname "$1")
    : >"$2"
    while IFS= read -r f; do
        f=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$f")
        cat "$dir/$f" >>"$2" || return 1
    done < <(uri_lines "$1")
}

# check_packets LABEL TS WANT...: WANT is "codec_type:count" per stream ffprobe must find, in
# any order. Prints the TAP lines.
check_packets() {
    local label=$1 ts=$2; shift 2
    if ! ffprobe -v error -show_entries packet=stream_index,pts,dts:stream=index,codec_type \
            -of json "$ts" >"$TMP/packets.json" 2>"$TMP/probe.err" || [ -s "$TMP/probe.err" ]; then
        not_ok "$label: ffprobe: $(head -3 "$TMP/probe.err" | tr '\n' ' ')"
        return
    fi
    python3 - "$TMP/packets.json" "$label" "$@" <<'EOF'
import collections, json, sys
j = json.load(open(sys.argv[1]))
label, want = sys.argv[2], sorted(sys.argv[3:])
types = {s["index"]: s["codec_type"] for s in j.get("streams", [])}
per = collections.defaultdict(list)
for p in j.get("packets", []):
    per[p["stream_index"]].append(p)
got = sorted("%s:%d" % (types[i], len(per[i])) for i in types)
if got == want:
    print("ok - %s: streams and packet counts %s, as the source" % (label, " ".join(got)))
else:
    print("not ok - %s: streams:packets %s, the source has %s" % (label, got, want))
for i in sorted(types):
    bad, last = None, None
    for k, p in enumerate(per[i]):
        if "pts" not in p or "dts" not in p:
            bad = "packet %d has no PTS or DTS" % k
            break
        if p["dts"] > p["pts"]:
            bad = "packet %d: DTS %d > PTS %d" % (k, p["dts"], p["pts"])
            break
        if last is not None and p["dts"] <= last:
            bad = "packet %d: DTS %d after %d" % (k, p["dts"], last)
            break
        last = p["dts"]
    pts = [p.get("pts") for p in per[i]]
    if not bad and len(set(pts)) != len(pts):
        bad = "two packets with the same PTS"
    if not per[i]:
        bad = "no packets"
    if bad:
        print("not ok - %s: %s stream %d: %s" % (label, types[i], i, bad))
    else:
        print("ok - %s: %s stream %d: DTS increasing, PTS >= DTS, PTS distinct (%d packets)"
              % (label, types[i], i, len(per[i])))
EOF
}

# cc_errors TS: how many continuity-counter errors ffmpeg's mpegts demuxer reports
cc_errors() {
    ffmpeg -nostdin -v debug -i "$1" -map 0 -f null - 2>&1 | grep -c 'Continuity check failed'
}

# check_cc LABEL TS
check_cc() {
    local n
    n=$(cc_errors "$2")
    if [ "$n" -eq 0 ]; then
        ok "$1: no continuity-counter error across its segments"
    else
        not_ok "$1: $n continuity-counter errors" \
               "($(ffmpeg -nostdin -v debug -i "$2" -map 0 -f null - 2>&1 |
                   grep -m1 'Continuity check failed'))"
    fi
}

for fmt in m3u8-aapl m3u8-aapl-v3; do
    out=$TMP/$fmt
    master="manifest(format=$fmt)"
    if ! python3 tests/lib/fetch_presentation.py "$ISMFS" "$CACHE" "$FIX" "$LADDER" "$master" \
            "$out" >/dev/null 2>"$TMP/fetch.err"; then
        not_ok "$fmt: writing out the presentation: $(head -c 400 "$TMP/fetch.err")"
        continue
    fi
    # media playlists: variant URI lines and EXT-X-MEDIA URIs, once each (the audio-only
    # variant is the same playlist as its rendition)
    { uri_lines "$out/$master"; grep '^#EXT-X-MEDIA:' "$out/$master" |
          sed -n 's/.*URI="\([^"]*\)".*/\1/p'; } | sort -u >"$TMP/playlists"
    [ -s "$TMP/playlists" ] || { not_ok "$fmt: the master names no media playlist"; continue; }
    while IFS= read -r pl; do
        br=$(sed -n 's/^QualityLevels(\([0-9]*\))\/.*/\1/p' <<<"$pl")
        name=$(sed -n 's/.*\/Manifest(\([^,]*\),.*/\1/p' <<<"$pl")
        n=$(samples "$br" "$name")
        [ -n "$n" ] || { not_ok "$fmt: $pl names no track of the source"; continue; }
        label="$fmt $name $br"
        ts=$TMP/all.ts
        concat "$out/$pl" "$ts" || { not_ok "$label: a segment of $pl is missing"; continue; }
        want=("$(awk -F'\t' -v b="$br" -v n="$name" '$2 == b && $3 == n { print $1 }' \
                 "$TMP/tracks.tsv"):$n")
        if [ "$fmt" = m3u8-aapl-v3 ]; then
            mux=$(sed -n 's/.*,audiotrack=\([^,)]*\).*/\1/p' <<<"$pl")
            [ "$mux" = "$(cut -f2 <<<"$default_audio")" ] ||
                not_ok "$label: muxes audio '$mux', not the default '$(cut -f2 <<<"$default_audio")'"
            want+=("audio:$(samples "$(cut -f1 <<<"$default_audio")" "$mux")")
        fi
        check_packets "$label ($(uri_lines "$out/$pl" | wc -l) segments)" "$ts" "${want[@]}"
        check_cc "$label" "$ts"
        if [ ! -e "$TMP/cc_control" ]; then
            # control, once: flip bit 2 of the CC of the packet in the middle (bit 0 could
            # make it equal the previous CC, which the demuxer takes for a duplicate packet)
            touch "$TMP/cc_control"
            cp "$ts" "$TMP/bad.ts"
            mid=$(( $(stat -c %s "$ts") / 188 / 2 * 188 + 3 ))
            python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1)[0]
f.seek(int(sys.argv[2])); f.write(bytes([b ^ 0x04]))' "$TMP/bad.ts" "$mid"
            if [ "$(cc_errors "$TMP/bad.ts")" -gt 0 ]; then
                ok "control: one flipped CC bit in a copy of $label is reported"
            else
                not_ok "control: a flipped CC bit in $label is not reported: the CC check is blind"
            fi
        fi
    done <"$TMP/playlists"

    # I-frame playlists (v4 only: v3 has none)
    while IFS= read -r pl; do
        dir=$out/$(dirname "$pl")
        entries=0 good=0 bad=
        while read -r len off seg; do
            entries=$((entries + 1))
            seg=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]))' "$seg")
            if [ $((off % 188)) -ne 0 ] || [ $((len % 188)) -ne 0 ]; then
                bad="range $len@$off of $seg is not whole TS packets"; break
            fi
            dd if="$dir/$seg" of="$TMP/range.ts" iflag=skip_bytes,count_bytes skip="$off" \
               count="$len" bs=65536 status=none || { bad="dd $seg"; break; }
            # one "key_frame,pict_type" line per decoded video frame
            frames=$(ffprobe -v error -select_streams v -show_entries frame=key_frame,pict_type \
                     -of flat "$TMP/range.ts" 2>"$TMP/err" |
                     sed -n -e 's/^frames\.frame\.[0-9]*\.key_frame=\(.*\)/\1/p' \
                            -e 's/^frames\.frame\.[0-9]*\.pict_type="\(.*\)"/,\1/p' |
                     paste -d '' - -)
            if [ -s "$TMP/err" ]; then bad="range $len@$off of $seg: $(head -2 "$TMP/err" | tr '\n' ' ')"; break; fi
            if [ "$frames" != "1,I" ]; then
                bad="range $len@$off of $seg decodes to [$(tr '\n' ' ' <<<"$frames")], not one key frame"
                break
            fi
            good=$((good + 1))
        done < <(awk -F'[:@]' '/^#EXT-X-BYTERANGE:/ { len = $2; off = $3; next }
                               /^[^#]/ && len != "" {
                                   # no @o: the range follows the previous one (RFC 8216 4.3.2.2)
                                   if (off == "") off = end[$0] + 0
                                   end[$0] = off + len
                                   print len, off, $0; len = "" }' "$out/$pl")
        if [ -n "$bad" ]; then
            not_ok "$fmt: $pl: $bad"
        elif [ "$entries" -gt 0 ] && [ "$entries" -eq "$(grep -c '^#EXTINF' "$out/$pl")" ]; then
            ok "$fmt: $pl: each of its $entries byte ranges decodes to exactly one key frame"
        else
            not_ok "$fmt: $pl: $entries byte ranges for $(grep -c '^#EXTINF' "$out/$pl") entries"
        fi
    done < <(sed -n 's/^#EXT-X-I-FRAME-STREAM-INF:.*URI="\([^"]*\)".*/\1/p' "$out/$master")
done
exit "$fail"
