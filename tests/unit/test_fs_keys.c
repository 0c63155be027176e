/*
 * fs/keys.c: keys= checks, the CPIX cache (versions, bad documents logged once, limits),
 * canonical key paths, protected sources, the key per track, the protection of a track
 * (IVs, constant IV, pattern, pssh boxes, subsample counts from the index) and the
 * encrypt callback, judged against OpenSSL's EVP directly (AES-128 ECB/CTR/CBC as
 * 23001-7 describes the schemes), not against crypt/aes.c.
 *
 * The media are the ladder fixture's (tests/fixtures/ladder, made by make-fixtures.sh):
 * the tests that need them are skipped when they are missing.
 */
#include "test.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../fs/keys.c"

#define FIX "tests/fixtures/ladder"
#define KID "6e5a1d26-2757-47d7-8046-eaa5d1d34b5a"
#define KID2 "2b1a9e4c-55aa-4b8f-9c4c-0c1c4f8e2d11"
#define KEY_B64 "AAECAwQFBgcICQoLDA0ODw=="             /* 00 01 02 ... 0f */
#define KEY2_B64 "EBESExQVFhcYGRobHB0eHw=="            /* 10 11 12 ... 1f */
#define IV_B64 "oKGio6SlpqeoqaqrrK2urw=="              /* a0 a1 ... af */
#define WV "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
#define PR "9a04f079-9840-4286-ab92-e65be0885f95"
#define CK "e2719d58-a985-b3c9-781a-b030af78d30e"
#define FP "94ce86fb-07ff-4f43-adb8-93d2fa968ca2"

static const uint8_t KEY[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static char root[64], keys[64], cache[64];
static int have_fixtures;

/* ---- log capture ---------------------------------------------------------------- */

static int errors;              /* PK_ERROR lines seen */
static char last_error[512];
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void sink(int level, const char *func, const char *msg, void *ctx)
{
    (void)func, (void)ctx;
    if (level != PK_LOG_ERROR)
        return;
    pthread_mutex_lock(&log_lock);
    errors++;
    snprintf(last_error, sizeof last_error, "%s", msg);
    pthread_mutex_unlock(&log_lock);
}

/* ---- files ----------------------------------------------------------------------- */

static void put(const char *dir, const char *rel, const char *text, time_t mtime)
{
    char p[300], tmp[320];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
    CHECK(utimensat(AT_FDCWD, tmp, ts, 0) == 0);
    CHECK(rename(tmp, p) == 0);             /* a new inode, as an editor or rsync makes */
}

/* A CPIX 2.3 document with `body` inside. */
static void doc(const char *rel, const char *body, time_t mtime)
{
    char text[8192];
    snprintf(text, sizeof text,
             "<?xml version=\"1.0\"?>\n<cpix:CPIX xmlns:cpix=\"urn:dashif:org:cpix\" "
             "xmlns:pskc=\"urn:ietf:params:xml:ns:keyprov:pskc\" version=\"2.3\">\n%s"
             "</cpix:CPIX>\n", body);
    put(keys, rel, text, mtime);
}

#define CKEY(kid, b64, attrs) "<cpix:ContentKey kid=\"" kid "\"" attrs "><cpix:Data><pskc:Secret>" \
    "<pskc:PlainValue>" b64 "</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>\n"
#define ONE_KEY "<cpix:ContentKeyList>" CKEY(KID, KEY_B64, "") "</cpix:ContentKeyList>\n"

static void link_fixture(const char *name, const char *as)
{
    char from[200], to[200];
    snprintf(from, sizeof from, "%s/%s", FIX, name);
    snprintf(to, sizeof to, "%s/a/%s", root, as);
    if (link(from, to) < 0) {
        char cmd[500];
        snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", from, to);
        CHECK(system(cmd) == 0);
    }
}

static int setup(void **state)
{
    (void)state;
    char p[200];
    strcpy(root, "/tmp/ismfs-keys-src-XXXXXX");
    strcpy(keys, "/tmp/ismfs-keys-k-XXXXXX");
    strcpy(cache, "/tmp/ismfs-keys-c-XXXXXX");
    if (!mkdtemp(root) || !mkdtemp(keys) || !mkdtemp(cache))
        return -1;
    snprintf(p, sizeof p, "%s/a", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/a", keys);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/alias", root);
    if (symlink("a", p) < 0)
        return -1;
    put(root, "a/loose.txt", "not named by any .ism", 1000);
    have_fixtures = access(FIX "/ladder.ism", R_OK) == 0;
    if (have_fixtures) {
        static const char *const mp4[] = { "ladder_640x360.mp4", "ladder_480x270.mp4",
            "ladder_320x180.mp4", "ladder_aac_eng.mp4", "ladder_aac_fra.mp4" };
        for (size_t i = 0; i < sizeof mp4 / sizeof *mp4; i++)
            link_fixture(mp4[i], mp4[i]);
        link_fixture("ladder.ism", "a.ism");
        link_fixture("ladder_old.ism", "other.ism");
    }
    errors = 0;
    pk_log_set_sink(sink, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    pk_log_set_sink(NULL, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' '%s'", root, keys, cache);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- a context and one request on it -------------------------------------------------- */

typedef struct {
    fs_ctx_t ctx;
    fs_req_t req;
    int open;
} env_t;

static void env_open(env_t *e, int with_cache)
{
    fs_options_t opt = { .keys_dir = keys, .fragment_ms = 2000, .cache_size = 64 << 20,
                         .cache_dir = with_cache ? cache : NULL };
    CHECK(fs_ctx_open(&e->ctx, root, &opt) == 0);
    CHECK(fs_req_begin(&e->ctx, &e->req) == 0);
    e->open = 1;
}

/* Ends the request and starts another (what a new FUSE call does). */
static void env_next(env_t *e)
{
    fs_req_end(&e->req);
    CHECK(fs_req_begin(&e->ctx, &e->req) == 0);
}

static void env_close(env_t *e)
{
    fs_req_end(&e->req);
    fs_ctx_close(&e->ctx);
}

/* fs_keys_asset for `ism` with its view (view in *v when not NULL). */
static int prot(env_t *e, const char *ism, fs_prot_t **p, const pk_view_t **v)
{
    fs_asset_t *a;
    int rc = fs_asset_get(&e->ctx, ism, &a);
    if (rc < 0)
        return rc;
    CHECK(arena_defer(e->req.arena, fs_asset_release, a) == 0);
    if (v)
        *v = a->view;
    return fs_keys_asset(&e->req, ism, a->view, p);
}

static const pk_vtrack_t *track(const pk_view_t *v, pk_track_type_t type)
{
    for (uint32_t i = 0; i < v->track_count; i++)
        if (v->tracks[i].t->type == type)
            return &v->tracks[i];
    return NULL;
}

/* Sample i of vt, read from its source into the request arena. */
static uint8_t *sample(env_t *e, const pk_vtrack_t *vt, uint32_t i)
{
    const pk_sample_t *s = &vt->t->samples[i];
    uint8_t *b = arena_alloc(e->req.arena, s->size);
    assert_non_null(b);
    CHECK(vt->at->source->read(vt->at->source->ctx, b, s->size, s->pos) == 0);
    return b;
}

/* ---- OpenSSL directly: the oracle ------------------------------------------------------ */

static void evp(const EVP_CIPHER *c, int enc, const uint8_t *iv, uint8_t *buf, size_t n)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int out = 0, fin = 0;
    assert_non_null(x);
    CHECK(EVP_CipherInit_ex(x, c, NULL, KEY, iv, enc) == 1);
    EVP_CIPHER_CTX_set_padding(x, 0);
    if (n)
        CHECK(EVP_CipherUpdate(x, buf, &out, buf, (int)n) == 1);
    CHECK(EVP_CipherFinal_ex(x, buf + out, &fin) == 1);
    CHECK((size_t)(out + fin) == n);
    EVP_CIPHER_CTX_free(x);
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

/* The documented cenc IV start of a track: AES-ECB(key, "ismfs iv" || FNV-1a-64(real path
 * below SRC, NUL, size, mtime_ns, track id)), first 8 bytes. */
static uint64_t iv_start(const char *rel, uint32_t track_id)
{
    char p[300];
    struct stat st;
    uint8_t b[16] = "ismfs iv", x[8];
    uint64_t h = 0xcbf29ce484222325u;
    snprintf(p, sizeof p, "%s/%s", root, rel);
    CHECK(stat(p, &st) == 0);
    for (size_t i = 0; i <= strlen(rel); i++)
        h = (h ^ (uint8_t)rel[i]) * 0x100000001b3u;
    uint64_t f[3] = { (uint64_t)st.st_size,
                      (uint64_t)st.st_mtim.tv_sec * 1000000000 + (uint64_t)st.st_mtim.tv_nsec,
                      track_id };
    for (int k = 0; k < 3; k++) {
        be64(x, f[k]);
        for (int i = 0; i < 8; i++)
            h = (h ^ x[i]) * 0x100000001b3u;
    }
    be64(b + 8, h);
    evp(EVP_aes_128_ecb(), 1, NULL, b, 16);
    uint64_t s = 0;
    for (int i = 0; i < 8; i++)
        s = s << 8 | b[i];
    return s;
}

/* ---- keys= ------------------------------------------------------------------------------- */

static void test_keys_dir(void **state)
{
    (void)state;
    char p[200], *out = NULL;

    snprintf(p, sizeof p, "%s/a", root);
    CHECK(fs_keys_dir(p, root, &out) == -EINVAL);               /* inside SRC */
    CHECK(fs_keys_dir(root, root, &out) == -EINVAL);            /* SRC itself */
    snprintf(p, sizeof p, "%s/alias", root);
    CHECK(fs_keys_dir(p, root, &out) == -EINVAL);               /* through a symlink */
    snprintf(p, sizeof p, "%s/../%s", keys, strrchr(root, '/') + 1);
    CHECK(fs_keys_dir(p, root, &out) == -EINVAL);               /* through .. */
    CHECK(fs_keys_dir(keys, "/", &out) == -EINVAL);             /* SRC is / */
    snprintf(p, sizeof p, "%s/a/loose.txt", root);
    CHECK(fs_keys_dir(p, keys, &out) == -ENOTDIR);
    snprintf(p, sizeof p, "%s/none", keys);
    CHECK(fs_keys_dir(p, root, &out) == -ENOENT);
    CHECK(out == NULL);
    snprintf(p, sizeof p, "%s/a/../a", keys);
    CHECK(fs_keys_dir(p, root, &out) == 0);
    char want[200];
    snprintf(want, sizeof want, "%s/a", keys);
    CHECK(out && strcmp(out, want) == 0);                       /* absolute and real */
    free(out);
    /* a sibling whose name starts like SRC's is not inside it */
    snprintf(p, sizeof p, "%s-x", root);
    mkdir(p, 0755);
    CHECK(fs_keys_dir(p, root, &out) == 0);
    free(out);
    rmdir(p);
}

/* ---- the document cache ------------------------------------------------------------------ */

static void test_not_protected(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p = (fs_prot_t *)1;
    struct stat st;
    char f[200];
    if (!have_fixtures)
        skip();
    env_open(&e, 0);
    CHECK(prot(&e, "a/a.ism", &p, NULL) == 0 && p == NULL);     /* no document */
    snprintf(f, sizeof f, "%s/a/ladder_aac_eng.mp4", root);
    CHECK(stat(f, &st) == 0);
    CHECK(fs_keys_source(&e.req, "a/ladder_aac_eng.mp4", &st) == 0);
    /* without keys= nothing is looked at */
    e.ctx.opt.keys_dir = NULL;
    doc("a/a.cpix.xml", ONE_KEY, 1000);
    CHECK(prot(&e, "a/a.ism", &p, NULL) == 0 && p == NULL);
    CHECK(fs_keys_source(&e.req, "a/ladder_aac_eng.mp4", &st) == 0);
    CHECK(e.ctx.keys->loads == 0);
    CHECK(errors == 0);
    env_close(&e);
}

/* A document is read once per version; a bad version is EIO and logged once; a fixed one
 * works again; a changed scheme attribute is seen at once. */
static void test_versions(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    if (!have_fixtures)
        skip();
    env_open(&e, 0);
    doc("a/a.cpix.xml", ONE_KEY, 1000);
    for (int i = 0; i < 5; i++) {
        CHECK(prot(&e, "a/a.ism", &p, NULL) == 0 && p);
        CHECK(fs_keys_schemes(p) == (FS_KEYS_CENC | FS_KEYS_CBCS));
        env_next(&e);
    }
    CHECK(e.ctx.keys->loads == 1 && e.ctx.keys->docs.count == 1);

    doc("a/a.cpix.xml", "<cpix:ContentKeyList>" CKEY(KID, KEY_B64,
        " commonEncryptionScheme=\"cbcs\"") "</cpix:ContentKeyList>\n", 1001);
    CHECK(prot(&e, "a/a.ism", &p, NULL) == 0 && p && fs_keys_schemes(p) == FS_KEYS_CBCS);
    CHECK(e.ctx.keys->loads == 2 && e.ctx.keys->docs.count == 1);
    env_next(&e);

    errors = 0;
    doc("a/a.cpix.xml", "<cpix:ContentKeyList>" CKEY(KID, "AAEC", "")
        "</cpix:ContentKeyList>\n", 1002);                     /* a 3-byte key */
    for (int i = 0; i < 5; i++) {
        CHECK(prot(&e, "a/a.ism", &p, NULL) == -EIO);
        env_next(&e);
    }
    CHECK(errors == 1 && strstr(last_error, "a/a.cpix.xml") && strstr(last_error, KID));
    CHECK(!strstr(last_error, "AAEC"));

    doc("a/a.cpix.xml", "<cpix:ContentKeyList", 1003);         /* not XML */
    CHECK(prot(&e, "a/a.ism", &p, NULL) == -EIO);
    CHECK(prot(&e, "a/a.ism", &p, NULL) == -EIO);
    CHECK(errors == 2);

    doc("a/a.cpix.xml", ONE_KEY, 1004);                         /* fixed */
    CHECK(prot(&e, "a/a.ism", &p, NULL) == 0 && p);
    CHECK(errors == 2);

    char f[200];                                                /* gone: clear again */
    snprintf(f, sizeof f, "%s/a/a.cpix.xml", keys);
    unlink(f);
    CHECK(prot(&e, "a/a.ism", &p, NULL) == 0 && p == NULL);
    env_close(&e);
}

/* Over 1 MiB: never parsed, EIO, logged once by its size; a directory in its place too. */
static void test_limits(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    char f[200];
    if (!have_fixtures)
        skip();
    size_t n = FS_CPIX_FILE_MAX + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[n] = '\0';
    put(keys, "a/a.cpix.xml", big, 1000);
    free(big);
    env_open(&e, 0);
    for (int i = 0; i < 3; i++)
        CHECK(prot(&e, "a/a.ism", &p, NULL) == -EIO);
    CHECK(errors == 1 && strstr(last_error, "more than the 1048576 allowed"));
    snprintf(f, sizeof f, "%s/a/a.cpix.xml", keys);
    unlink(f);
    mkdir(f, 0755);
    CHECK(prot(&e, "a/a.ism", &p, NULL) == -EIO);
    CHECK(errors == 2 && strstr(last_error, "not a regular file"));
    rmdir(f);
    env_close(&e);
}

/* Every spelling of an asset's path leads to its one document. */
static void test_canonical(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    if (!have_fixtures)
        skip();
    doc("a/a.cpix.xml", ONE_KEY, 1000);
    env_open(&e, 0);
    CHECK(prot(&e, "alias/a.ism", &p, NULL) == 0 && p && p->file);
    CHECK(strcmp(p->ism, "a/a.ism") == 0);
    CHECK(prot(&e, "a/../a/a.ism", &p, NULL) == 0 && p && p->file);
    CHECK(strcmp(p->ism, "a/a.ism") == 0);
    CHECK(e.ctx.keys->loads == 1);
    env_close(&e);
}

/* The MP4s a protected .ism names are protected, through any path; so is another .ism made
 * of them (it has no keys: nothing encrypted either); other files are not. */
static void test_sources(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    const pk_view_t *v;
    pk_protect_t *pp;
    struct stat st;
    char f[200];
    if (!have_fixtures)
        skip();
    doc("a/a.cpix.xml", ONE_KEY, 1000);
    env_open(&e, 0);
    static const char *const yes[] = { "a/ladder_640x360.mp4", "a/ladder_aac_fra.mp4",
                                       "alias/ladder_320x180.mp4", "a/../a/ladder_aac_eng.mp4" };
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        snprintf(f, sizeof f, "%s/%s", root, yes[i]);
        CHECK(stat(f, &st) == 0);
        CHECK(fs_keys_source(&e.req, yes[i], &st) == 1);
    }
    snprintf(f, sizeof f, "%s/a/loose.txt", root);
    CHECK(stat(f, &st) == 0);
    CHECK(fs_keys_source(&e.req, "a/loose.txt", &st) == 0);
    CHECK(prot(&e, "a/other.ism", &p, &v) == 0 && p && !p->file && fs_keys_schemes(p) == 0);
    CHECK(fs_keys_protect(&e.req, p, &v->tracks[0], CENC, FS_PROTECT_INIT, &pp) == -ENOENT);
    const pk_drm_t *d;
    CHECK(fs_keys_drm(&e.req, p, v, CENC, &d) == -ENOENT);
    env_next(&e);
    /* without the document, nothing is protected any more */
    snprintf(f, sizeof f, "%s/a/a.cpix.xml", keys);
    unlink(f);
    snprintf(f, sizeof f, "%s/a/ladder_640x360.mp4", root);
    CHECK(stat(f, &st) == 0);
    CHECK(fs_keys_source(&e.req, "a/ladder_640x360.mp4", &st) == 0);
    CHECK(prot(&e, "a/other.ism", &p, NULL) == 0 && p == NULL);
    /* a protected .ism that cannot be built protects its whole directory */
    doc("a/a.cpix.xml", ONE_KEY, 1001);
    put(root, "a/a.ism", "<smil>not a manifest", 1000);
    env_close(&e);              /* a new context: the asset cache re-checks once a second */
    env_open(&e, 0);
    snprintf(f, sizeof f, "%s/a/loose.txt", root);
    CHECK(stat(f, &st) == 0);
    CHECK(fs_keys_source(&e.req, "a/loose.txt", &st) == 1);
    env_close(&e);
}

/* A track without a key makes the asset EIO, logged once per document version. */
static void test_no_key_logged_once(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    if (!have_fixtures)
        skip();
    doc("a/a.cpix.xml", ONE_KEY "<cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid=\""
        KID "\"><cpix:VideoFilter/></cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList>\n",
        1000);
    env_open(&e, 0);
    for (int i = 0; i < 5; i++) {
        CHECK(prot(&e, "a/a.ism", &p, NULL) == -EIO);
        env_next(&e);
    }
    CHECK(errors == 1 && strstr(last_error, "no content key for audio"));
    doc("a/a.cpix.xml", ONE_KEY "<cpix:ContentKeyUsageRuleList><cpix:ContentKeyUsageRule kid=\""
        KID "\"><cpix:AudioFilter/></cpix:ContentKeyUsageRule></cpix:ContentKeyUsageRuleList>\n",
        1001);
    CHECK(prot(&e, "a/a.ism", &p, NULL) == -EIO);
    CHECK(errors == 2 && strstr(last_error, "no content key for video"));
    env_close(&e);
}

/* ---- protection ------------------------------------------------------------------------- */

/* cenc audio: 8-byte IVs start + i (the documented derivation), whole-sample AES-CTR. */
static void test_cenc_audio(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    const pk_view_t *v;
    pk_protect_t *pp;
    uint8_t entry[64];
    if (!have_fixtures)
        skip();
    doc("a/a.cpix.xml", ONE_KEY, 1000);
    env_open(&e, 0);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0 && p);
    const pk_vtrack_t *vt = track(v, PK_TRACK_AUDIO);
    assert_non_null(vt);
    CHECK(fs_keys_protect(&e.req, p, vt, CENC, FS_PROTECT_CONTENT, &pp) == 0);
    uint8_t kid[16];
    CHECK(cr_uuid_parse(KID, kid) == 0 && memcmp(pp->kid, kid, 16) == 0);
    CHECK(pp->scheme == CENC && pp->iv_size == 8 && !pp->subsample_counts);
    CHECK(pk_protect_senc_entry_size(pp, 3) == 8);
    uint64_t s0 = iv_start("a/ladder_aac_eng.mp4", vt->t->id);
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t n = vt->t->samples[i].size;
        uint8_t *clear = sample(&e, vt, i), *buf = arena_alloc(e.req.arena, n);
        memcpy(buf, clear, n);
        wr_t c = wr_counter();
        CHECK(pp->encrypt(pp->ctx, i, NULL, n, &c) == 0 && c.pos == 8);
        wr_t w = wr_init(entry, sizeof entry);
        CHECK(pp->encrypt(pp->ctx, i, buf, n, &w) == 0 && w.pos == 8);
        uint8_t iv[16] = { 0 };
        be64(iv, s0 + i);
        CHECK(memcmp(entry, iv, 8) == 0);
        CHECK(memcmp(buf, clear, n) != 0);
        evp(EVP_aes_128_ctr(), 1, iv, buf, n);                  /* CTR: its own inverse */
        CHECK(memcmp(buf, clear, n) == 0);
    }
    /* the same bytes in another request (another context): deterministic */
    env_next(&e);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0);
    vt = track(v, PK_TRACK_AUDIO);
    CHECK(fs_keys_protect(&e.req, p, vt, CENC, FS_PROTECT_CONTENT, &pp) == 0);
    uint8_t *b = sample(&e, vt, 2);
    wr_t w = wr_init(entry, sizeof entry);
    CHECK(pp->encrypt(pp->ctx, 2, b, vt->t->samples[2].size, &w) == 0);
    uint8_t iv[8];
    be64(iv, s0 + 2);
    CHECK(memcmp(entry, iv, 8) == 0);
    /* another track under the same key starts elsewhere */
    const pk_vtrack_t *fra = NULL;
    for (uint32_t i = 0; i < v->track_count; i++)
        if (v->tracks[i].t->type == PK_TRACK_AUDIO && &v->tracks[i] != vt)
            fra = &v->tracks[i];
    assert_non_null(fra);
    CHECK(iv_start("a/ladder_aac_fra.mp4", fra->t->id) != s0);
    env_close(&e);
}

/* Gathers the protected ranges of buf (subsamples in entry after an IV of iv_size bytes),
 * or for cbcs the pattern's encrypted blocks, into out; returns their bytes. scatter=1
 * puts them back. */
static size_t ranges(uint8_t *buf, const uint8_t *entry, size_t iv_size, int cbcs,
                     unsigned crypt, unsigned skip, uint8_t *out, int scatter, size_t len)
{
    rd_t r = rd_init(entry + iv_size, 4096);
    uint16_t n = rd_u16(&r);
    size_t pos = 0, got = 0, total = 0;
    for (uint16_t k = 0; k < n; k++) {
        uint32_t clear = rd_u16(&r), prot = rd_u32(&r);
        pos += clear;
        for (size_t b = 0; b + 16 <= (cbcs ? prot : ((prot + 15) / 16) * 16); b += 16) {
            size_t take = cbcs ? 16 : (prot - b < 16 ? prot - b : 16);
            if (cbcs && (b / 16) % (crypt + skip) >= crypt)
                continue;                                       /* a skipped block */
            if (scatter)
                memcpy(buf + pos + b, out + got, take);
            else
                memcpy(out + got, buf + pos + b, take);
            got += take;
        }
        pos += prot;
        total += clear + prot;
    }
    CHECK(total == len);                                        /* they cover the sample */
    return got;
}

/* cenc and cbcs video: subsamples cover the sample, protected counts a multiple of 16
 * (cenc), the cipher text is AES-CTR over the protected bytes as one stream (cenc) or the
 * 1:9 pattern restarted at the constant IV in every subsample (cbcs); count mode gives the
 * entry size the index promised. */
static void test_video(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    const pk_view_t *v;
    pk_protect_t *pp;
    static uint8_t entry[4096];
    if (!have_fixtures)
        skip();
    doc("a/a.cpix.xml", ONE_KEY, 1000);
    env_open(&e, 0);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0 && p);
    const pk_vtrack_t *vt = track(v, PK_TRACK_VIDEO);
    uint64_t s0 = iv_start(vt->at->source->name, vt->t->id);
    for (int cbcs = 0; cbcs < 2; cbcs++) {
        CHECK(fs_keys_protect(&e.req, p, vt, cbcs ? CBCS : CENC, FS_PROTECT_CONTENT, &pp) == 0);
        assert_non_null(pp->subsample_counts);
        CHECK(pp->iv_size == (cbcs ? 0 : 8));
        CHECK(pp->crypt_blocks == (cbcs ? 1 : 0) && pp->skip_blocks == (cbcs ? 9 : 0));
        uint8_t civ[16] = "ismfs cbcs civ";
        evp(EVP_aes_128_ecb(), 1, NULL, civ, 16);
        if (cbcs)
            CHECK(memcmp(pp->constant_iv, civ, 16) == 0);
        for (uint32_t i = 0; i < 12; i++) {
            uint32_t n = vt->t->samples[i].size;
            uint8_t *clear = sample(&e, vt, i), *buf = arena_alloc(e.req.arena, n);
            uint8_t *gather = arena_alloc(e.req.arena, n);
            memcpy(buf, clear, n);
            wr_t c = wr_counter(), w = wr_init(entry, sizeof entry);
            CHECK(pp->encrypt(pp->ctx, i, NULL, n, &c) == 0);
            CHECK(pp->encrypt(pp->ctx, i, buf, n, &w) == 0);
            CHECK(c.pos == w.pos && w.pos == pk_protect_senc_entry_size(pp, i));
            if (!cbcs) {
                uint8_t iv[16] = { 0 };
                be64(iv, s0 + i);
                CHECK(memcmp(entry, iv, 8) == 0);
            }
            rd_t r = rd_init(entry + pp->iv_size, w.pos - pp->iv_size);
            uint16_t ns = rd_u16(&r);
            CHECK(ns == pp->subsample_counts[i] && ns >= 1);
            for (uint16_t k = 0; k < ns; k++) {
                rd_u16(&r);
                uint32_t prot_bytes = rd_u32(&r);
                if (!cbcs)
                    CHECK(prot_bytes % 16 == 0);
            }
            size_t g = ranges(buf, entry, pp->iv_size, cbcs, 1, 9, gather, 0, n);
            CHECK(g > 0);
            if (cbcs) {
                /* each subsample restarts the chain: decrypt range by range */
                rd_t q = rd_init(entry, w.pos);
                uint16_t m = rd_u16(&q);
                size_t pos = 0;
                for (uint16_t k = 0; k < m; k++) {
                    uint32_t cl = rd_u16(&q), pr = rd_u32(&q);
                    pos += cl;
                    size_t nb = 0;
                    uint8_t *blk = arena_alloc(e.req.arena, pr + 16);
                    for (size_t b = 0; b + 16 <= pr; b += 16)
                        if ((b / 16) % 10 == 0)
                            memcpy(blk + 16 * nb++, buf + pos + b, 16);
                    evp(EVP_aes_128_cbc(), 0, civ, blk, 16 * nb);
                    nb = 0;
                    for (size_t b = 0; b + 16 <= pr; b += 16)
                        if ((b / 16) % 10 == 0)
                            memcpy(buf + pos + b, blk + 16 * nb++, 16);
                    pos += pr;
                }
            } else {
                uint8_t iv[16] = { 0 };
                be64(iv, s0 + i);
                evp(EVP_aes_128_ctr(), 1, iv, gather, g);
                ranges(buf, entry, 8, 0, 0, 0, gather, 1, n);
            }
            CHECK(memcmp(buf, clear, n) == 0);
        }
    }
    env_close(&e);
}

/* cbcs audio: every whole block CBC from the constant IV (explicitIV when the CPIX has one),
 * the tail clear, no senc bytes at all. */
static void test_cbcs_audio_explicit_iv(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    const pk_view_t *v;
    pk_protect_t *pp;
    uint8_t entry[16];
    static const uint8_t civ[16] = { 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9,
                                     0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };
    if (!have_fixtures)
        skip();
    doc("a/a.cpix.xml", "<cpix:ContentKeyList>" CKEY(KID, KEY_B64, " explicitIV=\"" IV_B64 "\"")
        "</cpix:ContentKeyList>\n", 1000);
    env_open(&e, 0);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0 && p);
    const pk_vtrack_t *vt = track(v, PK_TRACK_AUDIO);
    CHECK(fs_keys_protect(&e.req, p, vt, CBCS, FS_PROTECT_CONTENT, &pp) == 0);
    CHECK(memcmp(pp->constant_iv, civ, 16) == 0);
    CHECK(pp->crypt_blocks == 0 && pp->skip_blocks == 0 && pp->iv_size == 0);
    CHECK(pk_protect_senc_entry_size(pp, 0) == 0);
    for (uint32_t i = 0; i < 5; i++) {
        uint32_t n = vt->t->samples[i].size;
        uint8_t *clear = sample(&e, vt, i), *buf = arena_alloc(e.req.arena, n);
        memcpy(buf, clear, n);
        wr_t w = wr_init(entry, sizeof entry);
        CHECK(pp->encrypt(pp->ctx, i, buf, n, &w) == 0 && w.pos == 0);
        CHECK(memcmp(buf + n / 16 * 16, clear + n / 16 * 16, n % 16) == 0);     /* tail */
        evp(EVP_aes_128_cbc(), 0, civ, buf, n / 16 * 16);
        CHECK(memcmp(buf, clear, n) == 0);
    }
    env_close(&e);
}

/* Subsample counts: computed once per (file, track, scheme class), then from the index:
 * a blob put there by hand is what the next request gets. */
static void test_counts_from_index(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    const pk_view_t *v;
    pk_protect_t *pp;
    ix_stats_t st;
    if (!have_fixtures)
        skip();
    doc("a/a.cpix.xml", ONE_KEY, 1000);
    env_open(&e, 1);
    assert_non_null(e.ctx.ix);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0 && p);
    const pk_vtrack_t *vt = track(v, PK_TRACK_VIDEO), *au = track(v, PK_TRACK_AUDIO);
    CHECK(fs_keys_protect(&e.req, p, vt, CENC, FS_PROTECT_SIZE, &pp) == 0);
    CHECK(pp->subsample_counts && pp->subsample_counts[0] >= 1);
    CHECK(pp->encrypt == NULL);                                 /* sizes only */
    uint16_t first = pp->subsample_counts[0];
    CHECK(fs_keys_protect(&e.req, p, au, CENC, FS_PROTECT_SIZE, &pp) == 0);
    CHECK(pp->subsample_counts == NULL);
    CHECK(ix_stats(e.ctx.ix, &st) == 0 && st.aux_entries == 1);
    CHECK(fs_keys_protect(&e.req, p, vt, CBCS, FS_PROTECT_SIZE, &pp) == 0);
    CHECK(ix_stats(e.ctx.ix, &st) == 0 && st.aux_entries == 2);  /* the cbcs class apart */

    /* the index is what is used */
    ix_file_key_t id;
    CHECK(keys_source_id(&e.req, vt->at->source, &id) == 0);
    CHECK(strcmp(id.path, "a/ladder_640x360.mp4") == 0);
    id.path = "a/ladder_640x360.mp4";           /* the request's copy goes with it */
    size_t n = vt->t->sample_count;
    uint16_t *fake = calloc(n, 2);
    for (size_t i = 0; i < n; i++)
        fake[i] = 7;
    char tag[40];
    snprintf(tag, sizeof tag, "sub/cenc/%u", vt->t->id);
    CHECK(ix_aux_put(e.ctx.ix, &id, tag, fake, 2 * n) == 0);
    free(fake);
    /* while the document is cached, its requests take the counts kept with it (no index
     * read, no copy: fs/keys.c struct kept) */
    env_next(&e);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0);
    vt = track(v, PK_TRACK_VIDEO);
    CHECK(fs_keys_protect(&e.req, p, vt, CENC, FS_PROTECT_CONTENT, &pp) == 0);
    CHECK(first != 7 && pp->subsample_counts[0] == first);
    /* a new mount over the same cache reads them from the index */
    env_close(&e);
    env_open(&e, 1);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0);
    vt = track(v, PK_TRACK_VIDEO);
    CHECK(fs_keys_protect(&e.req, p, vt, CENC, FS_PROTECT_CONTENT, &pp) == 0);
    CHECK(pp->subsample_counts[0] == 7 && pp->subsample_counts[n - 1] == 7);
    /* ... so a layout that disagrees with it is an error, logged, not a wrong senc */
    uint32_t len = vt->t->samples[0].size;
    uint8_t *buf = sample(&e, vt, 0);
    static uint8_t entry[4096];
    wr_t w = wr_init(entry, sizeof entry);
    errors = 0;
    CHECK(pp->encrypt(pp->ctx, 0, buf, len, &w) == -EIO);
    CHECK(errors == 1 && strstr(last_error, "when counted"));
    /* a blob of the wrong size is not used: computed again */
    CHECK(ix_aux_put(e.ctx.ix, &id, tag, "xx", 2) == 0);
    env_close(&e);
    env_open(&e, 1);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0);
    vt = track(v, PK_TRACK_VIDEO);
    CHECK(fs_keys_protect(&e.req, p, vt, CENC, FS_PROTECT_SIZE, &pp) == 0);
    CHECK(pp->subsample_counts[0] == first);
    env_close(&e);
}

/* The signalling: the systems the CPIX names, built pssh boxes when it gives none, its own
 * when it does, the W3C common box in the init segment always, FairPlay left out. */
static void test_signalling(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    const pk_view_t *v;
    pk_protect_t *pp;
    const pk_drm_t *d;
    uint8_t kid[16];
    if (!have_fixtures)
        skip();
    CHECK(cr_uuid_parse(KID, kid) == 0);
    doc("a/a.cpix.xml", ONE_KEY "<cpix:DRMSystemList>"
        "<cpix:DRMSystem kid=\"" KID "\" systemId=\"" WV "\"/>"
        "<cpix:DRMSystem kid=\"" KID "\" systemId=\"" PR "\"/>"
        "<cpix:DRMSystem kid=\"" KID "\" systemId=\"" FP "\"/>"
        "<cpix:DRMSystem kid=\"" KID "\" systemId=\"" CK "\"><cpix:URIExtXKey>"
        "aHR0cHM6Ly9rZXlzLmV4YW1wbGUvY2s=</cpix:URIExtXKey></cpix:DRMSystem>"
        "</cpix:DRMSystemList>\n", 1000);
    env_open(&e, 0);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0 && p);
    CHECK(fs_keys_drm(&e.req, p, v, CENC, &d) == 0);
    CHECK(d->track_count == v->track_count);
    const pk_track_drm_t *t = d->tracks[0];
    CHECK(t->scheme == CENC && memcmp(t->kid, kid, 16) == 0 && t->system_count == 3);
    CHECK(memcmp(t->systems[0].system_id, cr_pssh_widevine_id, 16) == 0);
    CHECK(t->systems[0].pssh.len > 32 && memcmp(t->systems[0].pssh.data + 4, "pssh", 4) == 0);
    CHECK(memcmp(t->systems[0].pssh.data + 12, cr_pssh_widevine_id, 16) == 0);
    CHECK(memcmp(t->systems[1].system_id, cr_pssh_playready_id, 16) == 0);
    CHECK(t->systems[1].pro.len > 10 && t->systems[1].pssh.len > t->systems[1].pro.len);
    /* the PRO is the PlayReady box's data */
    pk_bytes_t pro = pssh_data(t->systems[1].pssh.data, t->systems[1].pssh.len);
    CHECK(pro.len == t->systems[1].pro.len &&
          memcmp(pro.data, t->systems[1].pro.data, pro.len) == 0);
    CHECK(t->systems[2].la_url && strcmp(t->systems[2].la_url, "https://keys.example/ck") == 0);
    CHECK(t->systems[2].pssh.len == 0);
    for (uint32_t i = 1; i < d->track_count; i++)
        CHECK(d->tracks[i] == t);                               /* one key: built once */

    CHECK(fs_keys_protect(&e.req, p, &v->tracks[0], CENC, FS_PROTECT_INIT, &pp) == 0);
    CHECK(pp->pssh_count == 3);
    CHECK(memcmp(pp->pssh[2].data + 12, cr_pssh_common_id, 16) == 0);
    CHECK(pp->pssh[2].data[8] == 1);                            /* v1: the KID in the box */
    CHECK(memcmp(pp->pssh[2].data + 32, kid, 16) == 0);
    CHECK(pp->encrypt == NULL && pp->subsample_counts == NULL);

    /* a PSSH in the CPIX is used as it is; no common box added when the CPIX has one */
    static const char wv_box[] = "AAAAJ3Bzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAAAAdpc21mcy0x";
    static const char common_box[] =
        "AAAANHBzc2gBAAAAEHfv7MCyTQKs4zweUuL7SwAAAAFuWh0mJ1dH14BG6qXR00taAAAAAA==";
    char body[2048];
    snprintf(body, sizeof body, "%s<cpix:DRMSystemList>"
             "<cpix:DRMSystem kid=\"" KID "\" systemId=\"" WV "\"><cpix:PSSH>%s</cpix:PSSH>"
             "</cpix:DRMSystem><cpix:DRMSystem kid=\"" KID "\" systemId=\"1077efec-c0b2-4d02-"
             "ace3-3c1e52e2fb4b\"><cpix:PSSH>%s</cpix:PSSH></cpix:DRMSystem>"
             "</cpix:DRMSystemList>\n", ONE_KEY, wv_box, common_box);
    doc("a/a.cpix.xml", body, 1001);
    env_next(&e);
    errors = 0;
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0 && p);
    CHECK(errors == 0);
    CHECK(fs_keys_protect(&e.req, p, &v->tracks[0], CBCS, FS_PROTECT_INIT, &pp) == 0);
    CHECK(pp->pssh_count == 2);
    CHECK(pp->pssh[0].len == 39 && memcmp(pp->pssh[0].data + 32, "ismfs-1", 7) == 0);
    CHECK(pp->pssh[1].len == 52 && memcmp(pp->pssh[1].data + 32, kid, 16) == 0);
    env_close(&e);
}

/* A commonEncryptionScheme the URL does not ask for is ENOENT, per track and for the MPD;
 * separate keys per track type. */
static void test_schemes_and_rules(void **state)
{
    (void)state;
    env_t e;
    fs_prot_t *p;
    const pk_view_t *v;
    pk_protect_t *pp;
    const pk_drm_t *d;
    uint8_t kv[16], ka[16];
    if (!have_fixtures)
        skip();
    CHECK(cr_uuid_parse(KID, kv) == 0 && cr_uuid_parse(KID2, ka) == 0);
    doc("a/a.cpix.xml", "<cpix:ContentKeyList>" CKEY(KID, KEY_B64, "")
        CKEY(KID2, KEY2_B64, " commonEncryptionScheme=\"cenc\"") "</cpix:ContentKeyList>"
        "<cpix:ContentKeyUsageRuleList>"
        "<cpix:ContentKeyUsageRule kid=\"" KID "\"><cpix:VideoFilter/></cpix:ContentKeyUsageRule>"
        "<cpix:ContentKeyUsageRule kid=\"" KID2 "\"><cpix:AudioFilter/></cpix:ContentKeyUsageRule>"
        "</cpix:ContentKeyUsageRuleList>\n", 1000);
    env_open(&e, 0);
    CHECK(prot(&e, "a/a.ism", &p, &v) == 0 && p);
    CHECK(fs_keys_schemes(p) == FS_KEYS_CENC);
    const pk_vtrack_t *vt = track(v, PK_TRACK_VIDEO), *au = track(v, PK_TRACK_AUDIO);
    CHECK(fs_keys_protect(&e.req, p, vt, CBCS, FS_PROTECT_INIT, &pp) == 0);   /* any scheme */
    CHECK(memcmp(pp->kid, kv, 16) == 0);
    CHECK(fs_keys_protect(&e.req, p, au, CBCS, FS_PROTECT_INIT, &pp) == -ENOENT);
    CHECK(fs_keys_protect(&e.req, p, au, CENC, FS_PROTECT_INIT, &pp) == 0);
    CHECK(memcmp(pp->kid, ka, 16) == 0);
    CHECK(fs_keys_protect(&e.req, p, au, FOURCC('c', 'e', 'n', 's'), FS_PROTECT_INIT, &pp) ==
          -ENOENT);
    CHECK(fs_keys_drm(&e.req, p, v, CBCS, &d) == -ENOENT);
    CHECK(fs_keys_drm(&e.req, p, v, CENC, &d) == 0);
    for (uint32_t i = 0; i < v->track_count; i++)
        CHECK(memcmp(d->tracks[i]->kid, v->tracks[i].t->type == PK_TRACK_VIDEO ? kv : ka, 16)
              == 0);
    env_close(&e);
}

/* Requests in threads while the document changes version: no crash, each bad version
 * logged at most once. */
typedef struct {
    fs_ctx_t *ctx;
    int rounds, bad;
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < w->rounds; i++) {
        fs_req_t req;
        fs_asset_t *a;
        fs_prot_t *p;
        if (fs_req_begin(w->ctx, &req) < 0 || fs_asset_get(w->ctx, "a/a.ism", &a) < 0)
            return (void *)1;
        int rc = fs_keys_asset(&req, "a/a.ism", a->view, &p);
        if (rc != 0 && rc != -EIO)
            w->bad++;
        fs_asset_release(a);
        fs_req_end(&req);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    env_t e;
    pthread_t t[4];
    if (!have_fixtures)
        skip();
    doc("a/a.cpix.xml", ONE_KEY, 1000);
    env_open(&e, 0);
    worker_t w = { &e.ctx, 200, 0 };
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, worker, &w) == 0);
    for (int v = 0; v < 20; v++)
        doc("a/a.cpix.xml", v % 2 ? ONE_KEY : "<cpix:ContentKeyList/>", 2000 + v);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        CHECK(rc == NULL);
    }
    CHECK(w.bad == 0);
    CHECK(errors <= 10);        /* the 10 bad versions, each at most once */
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keys_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_protected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canonical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_key_logged_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cenc_audio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_video, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cbcs_audio_explicit_iv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_from_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signalling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schemes_and_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
