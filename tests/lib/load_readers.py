#!/usr/bin/env python3
"""Parallel random readers of a mounted ismfs, for tests/integration/mount_load.sh.

    load_readers.py --mnt MNT --list LIST --ref REF --pid PID --out OUT
                    [--readers 50] [--seconds 20] [--seed 1]

LIST: one "SIZE<TAB>PATH" line per file of the mount (PATH relative to MNT, SIZE as stat gave
it before any read). REF/PATH, when it exists, holds the expected bytes (ismfs cat); an entry
without one is only checked for its size (whole reads give SIZE bytes, a range read at OFF
gives min(LEN, SIZE - OFF) bytes).

Forks --readers processes; reader i draws from random.Random(seed * 1000 + i) until --seconds
have passed: an entry (uniformly), O_DIRECT or page-cached (half each; O_DIRECT reaches the
daemon on every read), then either a whole read in chunks of a random size compared by sha256
(70 %), or os.pread of a random offset and length (through and past the end of file too)
compared with the same range of REF/PATH. Meanwhile the parent samples the daemon PID once a
second: VmRSS (kB) and the number of its open file descriptors.

Writes OUT/samples.tsv ("SECOND<TAB>RSS_KB<TAB>FDS", -1 when PID is gone) and prints one
summary in shell syntax (key=value lines): readers reads whole ranges direct bytes errors
wrong seconds (wall time of the readers), first_error, first_wrong (shell-quoted).
"""
import argparse
import hashlib
import json
import os
import random
import shlex
import sys
import time

CHUNKS = (4095, 4096, 65536, 65539, 131072, 1 << 20)


def load_entries(list_path, ref_dir):
    entries = []
    with open(list_path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            size, path = line.split("\t", 1)
            ref = os.path.join(ref_dir, path)
            digest = None
            if os.path.isfile(ref):
                with open(ref, "rb") as r:
                    digest = hashlib.sha256(r.read()).hexdigest()
            entries.append((path, int(size), ref if digest else None, digest))
    return entries


def read_whole(fd, chunk):
    h = hashlib.sha256()
    n = 0
    while True:
        b = os.read(fd, chunk)
        if not b:
            return h.hexdigest(), n
        h.update(b)
        n += len(b)


def reader(idx, args, entries, deadline):
    rng = random.Random(args.seed * 1000 + idx)
    st = {"reads": 0, "whole": 0, "ranges": 0, "direct": 0, "bytes": 0, "errors": 0,
          "wrong": 0, "first_error": "", "first_wrong": ""}
    ref_fds = {}
    while time.monotonic() < deadline:
        path, size, ref, digest = entries[rng.randrange(len(entries))]
        direct = rng.random() < 0.5
        whole = rng.random() < 0.7
        if whole:
            chunk = rng.choice(CHUNKS)
            what = "%s (whole, %s, chunk %d)" % (path, "O_DIRECT" if direct else "cached", chunk)
        else:
            # offsets anywhere in the file, a few at and past its end
            off = rng.randrange(size + 2) if rng.random() < 0.9 else size + rng.randrange(1, 5000)
            length = rng.choice((1, 7, 188, 4096, 65536, 65539, 300000, 1 << 20))
            what = "%s (pread off %d len %d, %s)" % (path, off, length, "O_DIRECT" if direct else "cached")
        st["reads"] += 1
        st["direct"] += direct
        try:
            fd = os.open(os.path.join(args.mnt, path), os.O_RDONLY | (os.O_DIRECT if direct else 0))
            try:
                if whole:
                    st["whole"] += 1
                    got, n = read_whole(fd, chunk)
                    bad = n != size or (digest is not None and got != digest)
                    detail = "%d bytes (want %d)%s" % (n, size, ", sha256 differs" if digest and got != digest else "")
                else:
                    st["ranges"] += 1
                    b = os.pread(fd, length, off)
                    n = len(b)
                    if ref is not None:
                        if ref not in ref_fds:
                            ref_fds[ref] = os.open(ref, os.O_RDONLY)
                        want = os.pread(ref_fds[ref], length, off)
                        bad = b != want
                        detail = "%d bytes (want %d)%s" % (n, len(want), ", content differs" if n == len(want) and bad else "")
                    else:
                        want_n = max(0, min(length, size - off))
                        bad = n != want_n
                        detail = "%d bytes (want %d)" % (n, want_n)
            finally:
                os.close(fd)
        except OSError as e:
            st["errors"] += 1
            if not st["first_error"]:
                st["first_error"] = "%s: %s" % (what, e)
            continue
        st["bytes"] += n
        if bad:
            st["wrong"] += 1
            if not st["first_wrong"]:
                st["first_wrong"] = "%s: %s" % (what, detail)
    return st


def sample(pid):
    try:
        rss = -1
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds
    except (OSError, ValueError):
        return -1, -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnt", required=True)
    ap.add_argument("--list", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--readers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    entries = load_entries(args.list, args.ref)
    if not entries:
        sys.exit("no entries in %s" % args.list)
    os.makedirs(args.out, exist_ok=True)
    samples = open(os.path.join(args.out, "samples.tsv"), "w")
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    kids = {}
    for i in range(args.readers):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                st = reader(i, args, entries, deadline)
                with open(os.path.join(args.out, "reader.%d.json" % i), "w") as f:
                    json.dump(st, f)
                code = 0
            finally:
                os._exit(code)
        kids[pid] = i
    k = 0
    while True:
        rss, fds = sample(args.pid)
        samples.write("%d\t%d\t%d\n" % (k, rss, fds))
        samples.flush()
        k += 1
        if time.monotonic() >= deadline:
            break
        time.sleep(max(0.0, t0 + k - time.monotonic()))
    # readers end at the deadline, or after their read in progress (a hung read: the caller's
    # timeout ends everything)
    failed = []
    for pid in list(kids):
        _, status = os.waitpid(pid, 0)
        if status != 0:
            failed.append(kids[pid])
    wall = time.monotonic() - t0
    rss, fds = sample(args.pid)
    samples.write("%d\t%d\t%d\n" % (k, rss, fds))
    samples.close()
    tot = {"reads": 0, "whole": 0, "ranges": 0, "direct": 0, "bytes": 0, "errors": 0, "wrong": 0,
           "first_error": "", "first_wrong": ""}
    for i in range(args.readers):
        if i in failed:
            continue
        with open(os.path.join(args.out, "reader.%d.json" % i)) as f:
            st = json.load(f)
        for key, v in st.items():
            if isinstance(v, int):
                tot[key] += v
            elif v and not tot[key]:
                tot[key] = v
    tot["readers"] = args.readers - len(failed)
    tot["seconds"] = "%.1f" % wall
    for key, v in tot.items():
        print("%s=%s" % (key, shlex.quote(str(v))))


if __name__ == "__main__":
    main()
