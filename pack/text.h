/*
 * Text output (manifests and playlists) through wr_t, so one function yields
 * both the size and the bytes like the box writers.
 */
#ifndef PK_TEXT_H
#define PK_TEXT_H

#include "bytes.h"

/* Appends printf output (no NUL). */
void wr_printf(wr_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s (NUL-terminated). */
void wr_str(wr_t *w, const char *s);

/* Appends s escaped for XML text and attribute values (& < > " '). */
void wr_xml(wr_t *w, const char *s);

/* Appends a track name for use inside a URL: bytes other than RFC 3986 unreserved
 * and "!*+:@" percent-encoded. Names never hold ( ) , = ; / (the asset builder
 * refuses them) but may hold what would end or change a relative URL (blank, '#',
 * '?', '%'), what a template reads as a variable ('$' in DASH, 23009-1 5.3.9.4.4;
 * '{' '}' in Smooth) and UTF-8; a web server serving the mount decodes them back
 * to the file name. The bytes kept need no XML escaping either. */
void wr_url_name(wr_t *w, const char *s);

/* Appends the upper-case hex of n bytes. */
void wr_hex(wr_t *w, const uint8_t *p, size_t n);

/* Appends the base64 (RFC 4648, padded) of n bytes. */
void wr_base64(wr_t *w, const uint8_t *p, size_t n);

/* Appends an ISO 8601 duration "PT1H2M3.456S" for `ticks` in `timescale` (ms precision). */
void wr_iso_duration(wr_t *w, uint64_t ticks, uint32_t timescale);

#endif
