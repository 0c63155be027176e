#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wr_printf(wr_t *w, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        w->err = -EINVAL;
        return;
    }
    if ((size_t)n < sizeof small) {
        wr_bytes(w, small, (size_t)n);
        return;
    }
    /* long output: format straight into the buffer (one extra byte for the NUL) */
    uint8_t *p = wr_reserve(w, (size_t)n);
    if (!p)
        return;
    va_start(ap, fmt);
    if ((size_t)(w->cap - (size_t)(p - w->buf)) > (size_t)n)
        vsnprintf((char *)p, (size_t)n + 1, fmt, ap);
    else {
        /* exactly at the end: no room for the NUL, so format in two steps */
        char *heap = malloc((size_t)n + 1);
        if (heap) {
            vsnprintf(heap, (size_t)n + 1, fmt, ap);
            memcpy(p, heap, (size_t)n);
            free(heap);
        } else {
            w->err = -ENOMEM;
        }
    }
    va_end(ap);
}

void wr_str(wr_t *w, const char *s)
{
    wr_bytes(w, s, strlen(s));
}

void wr_xml(wr_t *w, const char *s)
{
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&': wr_str(w, "&amp;"); break;
        case '<': wr_str(w, "&lt;"); break;
        case '>': wr_str(w, "&gt;"); break;
        case '"': wr_str(w, "&quot;"); break;
        case '\'': wr_str(w, "&apos;"); break;
        default: wr_u8(w, (uint8_t)*p);
        }
    }
}

void wr_url_name(wr_t *w, const char *s)
{
    static const char keep[] = "-._~!*+:@";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr(keep, *p))
            wr_u8(w, *p);
        else
            wr_printf(w, "%%%02X", *p);
    }
}

void wr_hex(wr_t *w, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        wr_u8(w, (uint8_t)digits[p[i] >> 4]);
        wr_u8(w, (uint8_t)digits[p[i] & 15]);
    }
}

void wr_base64(wr_t *w, const uint8_t *p, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        wr_u8(w, (uint8_t)tab[v >> 18 & 63]);
        wr_u8(w, (uint8_t)tab[v >> 12 & 63]);
        wr_u8(w, i + 1 < n ? (uint8_t)tab[v >> 6 & 63] : '=');
        wr_u8(w, i + 2 < n ? (uint8_t)tab[v & 63] : '=');
    }
}

void wr_iso_duration(wr_t *w, uint64_t ticks, uint32_t timescale)
{
    uint64_t ms = timescale ? (ticks * 1000 + timescale / 2) / timescale : 0;
    uint64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    wr_str(w, "PT");
    if (h)
        wr_printf(w, "%lluH", (unsigned long long)h);
    if (m)
        wr_printf(w, "%lluM", (unsigned long long)m);
    if (frac)
        wr_printf(w, "%llu.%03lluS", (unsigned long long)s, (unsigned long long)frac);
    else if (s || (!h && !m))
        wr_printf(w, "%lluS", (unsigned long long)s);
}
