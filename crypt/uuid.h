/*
 * UUIDs as CENC, CPIX and DASH write them: 16 bytes in RFC 4122 (big-endian) order,
 * text "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a"; and Microsoft's GUID byte order.
 */
#ifndef CR_UUID_H
#define CR_UUID_H

#include <stdint.h>

#include "../pack/bytes.h"

#define CR_UUID_STR_SIZE 37     /* 36 characters + NUL */

/* Parses exactly "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex digits of either case; no
 * braces, "urn:uuid:", blanks or anything after) into out[16]. Returns 0, or -EINVAL with
 * out untouched. Does not log: the caller knows where the text came from. */
int cr_uuid_parse(const char *s, uint8_t out[16]);

/* Formats id as lower-case UUID text into out (NUL-terminated); returns out. */
char *cr_uuid_format(const uint8_t id[16], char out[CR_UUID_STR_SIZE]);

/* Appends the lower-case UUID text of id (the DASH cenc:default_KID value). */
void cr_uuid_write(wr_t *w, const uint8_t id[16]);

/* UUID order <-> Microsoft GUID order (Data1 u32, Data2 u16, Data3 u16 byte-swapped, the
 * last 8 bytes as they are); its own inverse. in and out may be the same array. */
void cr_guid_swap(const uint8_t in[16], uint8_t out[16]);

#endif
