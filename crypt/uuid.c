#include "uuid.h"

#include <errno.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cr_uuid_parse(const char *s, uint8_t out[16])
{
    uint8_t id[16];
    size_t n = 0;

    /* Every group has an even number of digits, so digits pair up between the dashes; the
     * first NUL fails a test, so nothing past the end of s is read. */
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return -EINVAL;
            continue;
        }
        int hi = hexval(s[i]);
        if (hi < 0)
            return -EINVAL;
        int lo = hexval(s[++i]);
        if (lo < 0)
            return -EINVAL;
        id[n++] = (uint8_t)(hi << 4 | lo);
    }
    if (s[36] != '\0')
        return -EINVAL;
    memcpy(out, id, sizeof id);
    return 0;
}

char *cr_uuid_format(const uint8_t id[16], char out[CR_UUID_STR_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = digits[id[i] >> 4];
        *p++ = digits[id[i] & 15];
    }
    *p = '\0';
    return out;
}

void cr_uuid_write(wr_t *w, const uint8_t id[16])
{
    char s[CR_UUID_STR_SIZE];
    wr_bytes(w, cr_uuid_format(id, s), CR_UUID_STR_SIZE - 1);
}

void cr_guid_swap(const uint8_t in[16], uint8_t out[16])
{
    /* [PRH] KID VALUE: "this GUID (DWORD, WORD, WORD, 8-BYTE array) value must be little
     * endian byte order"; the UUID text (and tenc/pssh) is big-endian. */
    static const uint8_t from[16] = { 3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15 };
    uint8_t t[16];
    for (int i = 0; i < 16; i++)
        t[i] = in[from[i]];
    memcpy(out, t, sizeof t);
}
