/*
 * Language tags for manifests. Tracks carry ISO 639-2 codes (mdhd, .ism
 * systemLanguage); DASH @lang and HLS LANGUAGE take RFC 5646 tags, which want
 * the shortest ISO 639 code (RFC 5646 §2.2.1): "fra" is written "fr", as AMS did.
 */
#ifndef PK_LANG_H
#define PK_LANG_H

/* The tag to write for `lang`: the 2-letter code of a 3-letter one that has one
 * (a pointer to static storage), else `lang` itself when it is a well-formed tag;
 * NULL for NULL, "", "und" (undetermined: better left out) or a malformed value. */
const char *pk_lang_tag(const char *lang);

#endif
