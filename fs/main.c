/*
 * ismfs: command line. Every command reads the storage through the same code
 * the mount will use (fs/media.c, pack/, index/).
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "../pack/log.h"
#include "ctx.h"
#include "inspect.h"
#include "keys.h"
#include "mount.h"
#include "source.h"
#include "version.h"
#include "view.h"


static void usage(FILE *out)
{
    fputs("usage: ismfs SRC MNT [-f] [-d] [-o OPTIONS]   mount (ismfs SRC MNT --help: options)\n"
          "       ismfs [OPTIONS] COMMAND ...\n"
          "\n"
          "commands:\n"
          "  inspect FILE.mp4|ASSET.ism   tracks, codecs, durations, GOPs as a table\n"
          "          [--json]             ... as JSON\n"
          "          [--stats]            ... and print index use to stderr\n"
          "  cat SRC VPATH                write one file of the view of SRC to stdout (the\n"
          "                               bytes the mount serves, e.g. 'a/a.ism/manifest')\n"
          "  ls [-l] SRC [VPATH]          list a directory of the view (-l: with sizes)\n"
          "  cache stats                  what the LMDB cache holds\n"
          "  cache clear                  empty the LMDB cache\n"
          "\n"
          "options:\n"
          "  --cache=DIR                  cache directory (default /var/cache/ismfs for root,\n"
          "                               else $XDG_CACHE_HOME/ismfs)\n"
          "  -o cache=DIR,cache_size=SIZE the same as mount options (cache_size default 1G)\n"
          "  --fragment=SECONDS           target fragment duration (default 2)\n"
          "  --account-filters=FILE       AMS account filters (JSON) for filter= names\n"
          "                               (also -o account_filters=FILE)\n"
          "  --keys=DIR                   CPIX documents of protected assets, outside SRC\n"
          "                               (also -o keys=DIR)\n"
          "  --allow-clear                clear outputs of protected assets too\n"
          "                               (also -o allow_clear)\n"
          "  --playready-la-url=URL       LA_URL of built PlayReady headers\n"
          "                               (also -o playready_la_url=URL)\n"
          "  --key-uri=TEMPLATE           HLS AES-128 key URL, {kid} = the KID as a UUID\n"
          "                               (also -o key_uri=TEMPLATE)\n"
          "  --log=FILE|syslog|stderr     where log lines go (default stderr; a FILE is\n"
          "                               appended to and reopened on SIGHUP)\n"
          "                               (also -o log=...)\n"
          "  -d                           debug logging\n"
          "  --help, --version\n", out);
}

typedef struct {
    fs_options_t opt;
    char *keys;                 /* keys= as given: checked against SRC once it is known */
    int json, stats, long_list;
    const char *args[4];
    int nargs;
} cli_t;

static int set_option(cli_t *c, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = eq ? (size_t)(eq - kv) : strlen(kv);
    const char *v = eq ? eq + 1 : "";

    if (klen == 5 && strncmp(kv, "cache", 5) == 0 && *v) {
        free(c->opt.cache_dir);
        c->opt.cache_dir = strdup(v);
        return c->opt.cache_dir ? 0 : -ENOMEM;
    }
    if (klen == 15 && (strncmp(kv, "account_filters", 15) == 0 ||
                       strncmp(kv, "account-filters", 15) == 0) && *v) {
        free(c->opt.account_filters);
        /* like the mount: relative to the current directory, absolute from here on */
        if (!(c->opt.account_filters = realpath(v, NULL))) {
            fprintf(stderr, "ismfs: account_filters=%s: %s\n", v, strerror(errno));
            return -EINVAL;
        }
        return 0;
    }
    if (klen == 4 && strncmp(kv, "keys", 4) == 0 && *v) {
        free(c->keys);
        return (c->keys = strdup(v)) ? 0 : -ENOMEM;
    }
    if (klen == 11 && (strncmp(kv, "allow_clear", 11) == 0 ||
                       strncmp(kv, "allow-clear", 11) == 0) && !eq) {
        c->opt.allow_clear = 1;
        return 0;
    }
    if (klen == 16 && (strncmp(kv, "playready_la_url", 16) == 0 ||
                       strncmp(kv, "playready-la-url", 16) == 0) && *v) {
        free(c->opt.playready_la_url);
        return (c->opt.playready_la_url = strdup(v)) ? 0 : -ENOMEM;
    }
    if (klen == 7 && (strncmp(kv, "key_uri", 7) == 0 || strncmp(kv, "key-uri", 7) == 0) &&
        *v) {
        if (fs_keys_uri_check(v) < 0) {
            fprintf(stderr, "ismfs: key_uri=%s: not a URI (no blanks, quotes or control "
                            "characters)\n", v);
            return -EINVAL;
        }
        free(c->opt.key_uri);
        return (c->opt.key_uri = strdup(v)) ? 0 : -ENOMEM;
    }
    if (klen == 3 && strncmp(kv, "log", 3) == 0 && *v) {
        int rc = fs_log_open(v);
        if (rc < 0)
            fprintf(stderr, "ismfs: log=%s: %s\n", v, strerror(-rc));
        return rc;
    }
    if (klen == 10 && strncmp(kv, "cache_size", 10) == 0)
        return fs_parse_size(v, &c->opt.cache_size);
    if (klen == 8 && strncmp(kv, "fragment", 8) == 0) {
        if (fs_parse_fragment(v, &c->opt.fragment_ms) < 0) {
            fprintf(stderr, "ismfs: fragment=%s: give seconds between 0.1 and 60\n", v);
            return -EINVAL;
        }
        return 0;
    }
    fprintf(stderr, "ismfs: unknown option '%s'\n", kv);
    return -EINVAL;
}

static int set_options(cli_t *c, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    int rc = copy ? 0 : -ENOMEM;
    for (char *kv = copy ? strtok_r(copy, ",", &save) : NULL; kv && rc == 0;
         kv = strtok_r(NULL, ",", &save))
        rc = set_option(c, kv);
    free(copy);
    return rc;
}

/* Returns 0, 1 when the program should exit 0 (help, version), or -EINVAL. */
static int parse_args(cli_t *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("ismfs %s\n", ISMFS_VERSION);
            return 1;
        } else if (strcmp(a, "--json") == 0) {
            c->json = 1;
        } else if (strcmp(a, "-l") == 0) {
            c->long_list = 1;
        } else if (strcmp(a, "--stats") == 0) {
            c->stats = 1;
        } else if (strcmp(a, "-d") == 0) {
            pk_log_level = PK_LOG_DEBUG;
        } else if (strncmp(a, "--cache=", 8) == 0) {
            rc = set_option(c, a + 2);
        } else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
            rc = set_options(c, argv[++i]);
        } else if (strncmp(a, "--fragment=", 11) == 0 ||
                   strncmp(a, "--account-filters=", 18) == 0 ||
                   strncmp(a, "--keys=", 7) == 0 || strcmp(a, "--allow-clear") == 0 ||
                   strncmp(a, "--playready-la-url=", 19) == 0 ||
                   strncmp(a, "--key-uri=", 10) == 0 || strncmp(a, "--log=", 6) == 0) {
            rc = set_option(c, a + 2);
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "ismfs: unknown option '%s' (see --help)\n", a);
            return -EINVAL;
        } else if (c->nargs < 4) {
            c->args[c->nargs++] = a;
        } else {
            fprintf(stderr, "ismfs: too many arguments (see --help)\n");
            return -EINVAL;
        }
        if (rc < 0)
            return -EINVAL;
    }
    return 0;
}

static int cmd_inspect(cli_t *c)
{
    if (c->nargs != 2) {
        fprintf(stderr, "usage: ismfs inspect FILE.mp4|ASSET.ism [--json] [--stats]\n");
        return 2;
    }
    char *p1 = strdup(c->args[1]), *p2 = strdup(c->args[1]);
    fs_ctx_t ctx;
    int rc = -ENOMEM;
    if (!p1 || !p2)
        goto out;
    /* the file's directory plays SRC: the same beneath-SRC rules as the mount */
    if ((rc = fs_ctx_open(&ctx, dirname(p1), &c->opt)) < 0)
        goto out;
    rc = fs_inspect(&ctx, basename(p2), c->json, stdout);
    if (c->stats)
        fprintf(stderr, "index: parsed=%" PRIuFAST64 " index_hits=%" PRIuFAST64
                " load_ms=%.3f\n", atomic_load(&ctx.parsed), atomic_load(&ctx.index_hits),
                (double)atomic_load(&ctx.load_ns) / 1e6);
    fs_ctx_close(&ctx);
    if (rc < 0)
        fprintf(stderr, "ismfs: %s: %s\n", c->args[1],
                rc == -EBADMSG ? "malformed media (see the line above)" : strerror(-rc));
out:
    free(p1);
    free(p2);
    return rc < 0 ? 1 : 0;
}

/* The reason cat and ls print for rc: what the mount would answer (fs/mount.c kernel_err),
 * with a path that leaves SRC said as such rather than as "cross-device link". */
static const char *why(int rc)
{
    switch (rc) {
    case -EBADMSG: case -ENOTSUP: case -EFBIG: return strerror(EIO);
    case -EXDEV: case -ELOOP: return "No such file or directory (the path leaves SRC)";
    }
    return strerror(-rc);
}

/* Opens SRC for cat/ls; prints the reason on failure. */
static int open_src(cli_t *c, const char *src, fs_ctx_t *ctx)
{
    int rc;
    if (c->keys && !c->opt.keys_dir && (rc = fs_keys_dir(c->keys, src, &c->opt.keys_dir)) < 0) {
        fprintf(stderr, "ismfs: keys=%s: %s\n", c->keys,
                rc == -EINVAL ? "inside SRC (key files would be listed): put them elsewhere"
                              : strerror(-rc));
        return rc;
    }
    rc = fs_ctx_open(ctx, src, &c->opt);
    if (rc < 0)
        fprintf(stderr, "ismfs: %s: %s\n", src, strerror(-rc));
    return rc;
}

/* A path as the view takes it: no leading, trailing or doubled slashes. */
static char *clean_vpath(const char *in)
{
    char *out = malloc(strlen(in) + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = in; *p; p++)
        if (*p != '/' || (o > out && o[-1] != '/'))
            *o++ = *p;
    if (o > out && o[-1] == '/')
        o--;
    *o = '\0';
    return out;
}

static int cmd_cat(cli_t *c)
{
    fs_ctx_t ctx;
    fs_req_t req;
    fs_object_t obj;
    char *vpath;
    int rc;

    if (c->nargs != 3) {
        fprintf(stderr, "usage: ismfs cat SRC VPATH\n");
        return 2;
    }
    if (!(vpath = clean_vpath(c->args[2])) || open_src(c, c->args[1], &ctx) < 0) {
        free(vpath);
        return 1;
    }
    if ((rc = fs_req_begin(&ctx, &req)) == 0) {
        rc = fs_view_lookup(&req, vpath, FS_VIEW_CONTENT, &obj);
        if (rc == 0 && obj.is_dir)
            rc = -EISDIR;
        static char buf[1 << 20];
        for (uint64_t off = 0; rc == 0 && off < obj.size;) {
            ssize_t n = fs_source_plan_read(&obj.plan, off, buf, sizeof buf);
            if (n <= 0) {
                rc = n < 0 ? (int)n : -EIO;
                break;
            }
            if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
                rc = -errno;
            off += (uint64_t)n;
        }
        fs_req_end(&req);
    }
    fs_ctx_close(&ctx);
    if (fflush(stdout) != 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        fprintf(stderr, "ismfs: %s: %s\n", c->args[2], why(rc));
    free(vpath);
    return rc < 0 ? 1 : 0;
}

static int print_entry(void *ctx, const char *name, const fs_object_t *obj)
{
    const cli_t *c = ctx;
    if (c->long_list)
        printf("%c %12" PRIu64 " %s\n", obj->is_dir ? 'd' : '-', obj->is_dir ? 0 : obj->size,
               name);
    else
        printf("%s%s\n", name, obj->is_dir ? "/" : "");
    return 0;
}

static int cmd_ls(cli_t *c)
{
    fs_ctx_t ctx;
    fs_req_t req;
    char *vpath;
    int rc;

    if (c->nargs != 2 && c->nargs != 3) {
        fprintf(stderr, "usage: ismfs ls [-l] SRC [VPATH]\n");
        return 2;
    }
    if (!(vpath = clean_vpath(c->nargs == 3 ? c->args[2] : "")) ||
        open_src(c, c->args[1], &ctx) < 0) {
        free(vpath);
        return 1;
    }
    if ((rc = fs_req_begin(&ctx, &req)) == 0) {
        rc = fs_view_list(&req, vpath, print_entry, c);
        fs_req_end(&req);
    }
    fs_ctx_close(&ctx);
    if (rc < 0)
        fprintf(stderr, "ismfs: %s: %s\n", *vpath ? vpath : c->args[1], why(rc));
    free(vpath);
    return rc < 0 ? 1 : 0;
}

/* The summary lines of `cache stats`: totals, fill, and the lifetime counters the index
 * keeps (a mounted daemon writes its own every few seconds: see index/index.h). */
static void print_totals(const ix_stats_t *st)
{
    const ix_counts_t *l = &st->life;
    uint64_t lookups = l->hits + l->misses;
    printf("entries:        %" PRIu64 "\n"
           "bytes:          %" PRIu64 "\n"
           "used/limit:     %" PRIu64 "/%" PRIu64 " (%.1f%%)\n",
           st->media_entries + st->aux_entries + st->object_entries,
           st->media_bytes + st->aux_bytes + st->object_bytes, st->used_bytes, st->map_size,
           st->map_size ? 100.0 * (double)st->used_bytes / (double)st->map_size : 0.0);
    if (lookups)
        printf("hit ratio:      %.4f (%" PRIu64 " hits, %" PRIu64 " misses, lifetime)\n",
               (double)l->hits / (double)lookups, l->hits, l->misses);
    else
        printf("hit ratio:      - (no lookups yet)\n");
    printf("evictions:      %" PRIu64 " entries, %" PRIu64 " bytes (lifetime)\n"
           "objects stored: %" PRIu64 ", %" PRIu64 " bytes (lifetime)\n",
           l->evicted, l->evicted_bytes, l->stored, l->stored_bytes);
}

static int cmd_cache(cli_t *c)
{
    ix_t *ix;
    ix_stats_t st;
    int rc;

    if (c->nargs != 2 || (strcmp(c->args[1], "stats") && strcmp(c->args[1], "clear"))) {
        fprintf(stderr, "usage: ismfs cache stats|clear [--cache=DIR]\n");
        return 2;
    }
    if ((rc = ix_open(c->opt.cache_dir, c->opt.cache_size, &ix)) < 0) {
        fprintf(stderr, "ismfs: cache %s: %s\n", c->opt.cache_dir, strerror(-rc));
        return 1;
    }
    if (strcmp(c->args[1], "clear") == 0) {
        rc = ix_clear(ix);
        if (rc == 0)
            printf("cache %s cleared\n", c->opt.cache_dir);
    } else if ((rc = ix_stats(ix, &st)) == 0) {
        printf("cache:          %s\n"
               "media entries:  %" PRIu64 "\n"
               "media bytes:    %" PRIu64 "\n"
               "aux entries:    %" PRIu64 "\n"
               "aux bytes:      %" PRIu64 "\n"
               "object entries: %" PRIu64 "\n"
               "object bytes:   %" PRIu64 "\n"
               "used bytes:     %" PRIu64 "\n"
               "file bytes:     %" PRIu64 "\n"
               "map size:       %" PRIu64 "\n",
               c->opt.cache_dir, st.media_entries, st.media_bytes, st.aux_entries,
               st.aux_bytes, st.object_entries, st.object_bytes, st.used_bytes, st.file_bytes,
               st.map_size);
        print_totals(&st);
    }
    ix_close(ix);
    if (rc < 0)
        fprintf(stderr, "ismfs: cache %s: %s\n", c->opt.cache_dir, strerror(-rc));
    return rc < 0 ? 1 : 0;
}

/* `ismfs SRC MNT ...` mounts; anything whose first word is a command is the CLI. */
static int is_mount(int argc, char **argv)
{
    static const char *const commands[] = { "inspect", "cache", "cat", "ls" };
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] == '-')
            continue;
        for (size_t k = 0; k < sizeof commands / sizeof *commands; k++)
            if (strcmp(argv[i], commands[k]) == 0)
                return 0;
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (is_mount(argc, argv)) {
        xmlInitParser();
        int status = fs_mount_main(argc, argv);
        xmlCleanupParser();
        return status;
    }

    cli_t c = { .opt = { .cache_size = 1ull << 30, .fragment_ms = 2000 } };
    int rc = parse_args(&c, argc, argv), status = 2;

    xmlInitParser();            /* once, before any thread parses (not thread-safe in 2.9) */

    if (rc == 1)
        status = 0;
    else if (rc < 0)
        status = 2;
    else if (c.nargs == 0)
        usage(stderr);
    else if (!c.opt.cache_dir && !(c.opt.cache_dir = fs_default_cache_dir()))
        fprintf(stderr, "ismfs: no cache directory: set --cache=DIR\n");
    else if (strcmp(c.args[0], "inspect") == 0)
        status = cmd_inspect(&c);
    else if (strcmp(c.args[0], "cache") == 0)
        status = cmd_cache(&c);
    else if (strcmp(c.args[0], "cat") == 0)
        status = cmd_cat(&c);
    else if (strcmp(c.args[0], "ls") == 0)
        status = cmd_ls(&c);
    else {
        fprintf(stderr, "ismfs: unknown command '%s' (see --help)\n", c.args[0]);
    }
    free(c.opt.cache_dir);
    free(c.opt.account_filters);
    free(c.opt.keys_dir);
    free(c.opt.playready_la_url);
    free(c.opt.key_uri);
    free(c.keys);
    xmlCleanupParser();
    return status;
}
