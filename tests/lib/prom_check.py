#!/usr/bin/env python3
"""Checks a file against the Prometheus text exposition format (0.0.4) and prints its samples.

    prom_check.py FILE            -> one line per sample: 'name{k="v",...} value' (labels
                                     sorted), exit 0; or 'error: line N: why', exit 1

Written from the format's description (prometheus.io/docs/instrumenting/exposition_formats),
independently of ismfs: metric and label names, escaping in label values, at most one HELP
and TYPE per family and before its samples, samples of one family together, no duplicate
series, histograms with a cumulative `le` series ending in +Inf equal to _count, and a _sum.
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(r"^(%s)(\{(.*)\})?[ \t]+(\S+)([ \t]+-?\d+)?$" % NAME)
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(n, why):
    print("error: line %d: %s" % (n, why))
    sys.exit(1)


def parse_labels(n, text):
    labels, i = {}, 0
    while i < len(text):
        m = re.match(r"\s*(%s)\s*=\s*\"" % LABEL, text[i:])
        if not m:
            fail(n, "bad label at %r" % text[i:])
        name, i, value = m.group(1), i + m.end(), ""
        while True:
            if i >= len(text):
                fail(n, "unterminated label value")
            c = text[i]
            if c == "\\":
                if i + 1 >= len(text) or text[i + 1] not in '\\"n':
                    fail(n, "bad escape in label value")
                value += {"n": "\n"}.get(text[i + 1], text[i + 1])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                fail(n, "newline in label value")
            else:
                value += c
                i += 1
        if name in labels:
            fail(n, "label %s twice" % name)
        labels[name] = value
        m = re.match(r"\s*(,|$)", text[i:])
        if not m:
            fail(n, "expected ',' after label %s" % name)
        i += m.end()
    return labels


def value(n, s):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        return float(s)
    except ValueError:
        fail(n, "bad value %r" % s)


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ("histogram", "summary"):
            return base
    return name


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    if text and not text.endswith("\n"):
        fail(text.count("\n") + 1, "no newline at the end")
    types, helps, seen_samples, closed, series = {}, set(), set(), set(), {}
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(NAME, name):
                    fail(n, "bad metric name %r" % name)
                if name in seen_samples:
                    fail(n, "%s for %s after its samples" % (parts[1], name))
                if parts[1] == "TYPE":
                    if name in types:
                        fail(n, "second TYPE for %s" % name)
                    if len(parts) < 4 or parts[3] not in TYPES:
                        fail(n, "bad type for %s" % name)
                    types[name] = parts[3]
                else:
                    if name in helps:
                        fail(n, "second HELP for %s" % name)
                    helps.add(name)
            continue
        m = SAMPLE.match(line)
        if not m:
            fail(n, "not a sample: %r" % line)
        name, labels = m.group(1), parse_labels(n, m.group(3) or "")
        fam = family_of(name, types)
        if fam != current:
            if fam in closed:
                fail(n, "samples of %s are not together" % fam)
            if current:
                closed.add(current)
            current = fam
        seen_samples.add(fam)
        v = value(n, m.group(4))
        if types.get(fam) == "counter" and not (v >= 0):
            fail(n, "counter %s is %s" % (name, v))
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            fail(n, "series %s%s twice" % key)
        series[key] = v
    # histograms: per label set (without le) cumulative buckets, +Inf == _count, a _sum
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for (name, labels), v in series.items():
            if name == fam + "_bucket":
                d = dict(labels)
                if "le" not in d:
                    fail(0, "%s bucket without le" % fam)
                le = value(0, d.pop("le"))
                groups.setdefault(tuple(sorted(d.items())), []).append((le, v))
        for g, buckets in groups.items():
            buckets.sort()
            if buckets[-1][0] != math.inf:
                fail(0, "%s%s has no +Inf bucket" % (fam, g))
            if any(b[1] < a[1] for a, b in zip(buckets, buckets[1:])):
                fail(0, "%s%s buckets are not cumulative" % (fam, g))
            if series.get((fam + "_count", g)) != buckets[-1][1]:
                fail(0, "%s%s: _count is not the +Inf bucket" % (fam, g))
            if (fam + "_sum", g) not in series:
                fail(0, "%s%s has no _sum" % (fam, g))
    for (name, labels), v in sorted(series.items()):
        lab = ",".join('%s="%s"' % kv for kv in labels)
        print("%s%s %s" % (name, "{%s}" % lab if lab else "", repr(v) if v != int(v) else int(v)))


main()
