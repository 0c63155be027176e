/*
 * SMIL server manifest (.ism) reader: the AMS v3 encoder form (a param for
 * every property) and the older form with bare elements and no systemBitrate.
 */
#ifndef PK_ISM_H
#define PK_ISM_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "media.h"

typedef struct {
    const char *name, *value;
} pk_ism_param_t;

/* One video/audio/textstream element of <switch>. Strings are NUL-terminated,
 * in the arena; NULL when absent. */
typedef struct {
    pk_track_type_t type;       /* video, audio, or text for <textstream> */
    const char *src;            /* media file, relative to the .ism's directory */
    uint32_t system_bitrate;    /* attribute, else param systemBitrate; 0 when neither */
    const char *language;       /* attribute systemLanguage, else the param */
    const char *title;          /* attribute title */
    uint32_t track_id;          /* param trackID; 0 when absent */
    const char *track_name;     /* param trackName */
    uint32_t line;              /* line of the element in the file, for error messages */
    uint32_t param_count;
    const pk_ism_param_t *params; /* every <param>, in order */
} pk_ism_entry_t;

typedef struct {
    uint32_t entry_count;
    const pk_ism_entry_t *entries;  /* in document order */
    uint32_t meta_count;
    const pk_ism_param_t *meta;     /* <head><meta name content> */
} pk_ism_t;

/*
 * Parses the .ism text xml[0..len); `name` (the file's path) is used in error
 * messages. Everything is allocated in `a`.
 *
 * Returns 0 and sets *out, or
 *   -EBADMSG  not XML, not <smil>, no <switch>, an element without src, a src
 *             that is absolute or has a ".." component, a systemBitrate or
 *             trackID that is not a positive decimal number; the log line names
 *             the file and line;
 *   -ENOENT   a well-formed manifest with no media element;
 *   -ENOMEM.
 */
int pk_ism_parse(const char *xml, size_t len, const char *name, arena_t *a, pk_ism_t **out);

/* The value of param `name` (case-insensitive name match) of entry e, or NULL. */
const char *pk_ism_param(const pk_ism_entry_t *e, const char *name);

#endif
