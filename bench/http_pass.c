/*
 * http_pass: GET every path of a list exactly once over N keep-alive
 * connections and time the whole pass. bench/serve.sh uses it for the cold
 * pass of a fresh mount, where wrk does not fit (wrk runs for a fixed time; a
 * cold pass is one read of each file).
 *
 *   http_pass HOST PORT LISTFILE [CONNECTIONS]     (default 4 connections)
 *
 * Paths are taken in list order by whichever connection is free. The clock runs
 * from the moment every connection is established to the last byte of the last
 * response. Prints one line:
 *   requests=N bytes=B body_bytes=BB wall_ms=W status_errors=E
 * (bytes: headers + bodies; status_errors: answers other than 200). Exits 1 on a
 * transport error or a malformed answer (HTTP/1.1 with Content-Length only).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char **paths;
static size_t npaths;
static atomic_size_t next_path;
static atomic_uint_fast64_t total_bytes, body_bytes, requests, status_errors;
static atomic_int failed;
static pthread_barrier_t ready;
static const char *host;
static struct sockaddr_in addr;

static int read_lines(const char *file)
{
    FILE *f = fopen(file, "r");
    char *line = NULL;
    size_t cap = 0, have = 0;
    ssize_t n;
    if (!f)
        return -1;
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (npaths == have) {
            have = have ? have * 2 : 64;
            char **p = realloc(paths, have * sizeof *p);
            if (!p)
                return -1;
            paths = p;
        }
        if (!(paths[npaths++] = strdup(line)))
            return -1;
    }
    free(line);
    fclose(f);
    return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One request on fd: returns 0 or -1 (transport error or malformed answer). */
static int get(int fd, const char *path, char *buf, size_t cap)
{
    char req[8192];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    if (n < 0 || (size_t)n >= sizeof req || send_all(fd, req, (size_t)n) < 0)
        return -1;
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have + 1 >= cap)
            return -1;
        ssize_t k = recv(fd, buf + have, cap - 1 - have, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        have += (size_t)k;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head = (size_t)(end + 4 - buf);
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    long long len = -1;
    for (char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n"))
        if (strncasecmp(l + 2, "Content-Length:", 15) == 0)
            len = atoll(l + 17);
    if (len < 0)
        return -1;
    uint64_t body = have - head;
    while (body < (uint64_t)len) {
        ssize_t k = recv(fd, buf, cap, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        body += (uint64_t)k;
    }
    if (body != (uint64_t)len)
        return -1;              /* more than announced: we never pipeline */
    atomic_fetch_add(&total_bytes, head + body);
    atomic_fetch_add(&body_bytes, body);
    atomic_fetch_add(&requests, 1);
    if (status != 200)
        atomic_fetch_add(&status_errors, 1);
    return 0;
}

static void *worker(void *arg)
{
    static _Thread_local char buf[1 << 16];
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    (void)arg;
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("http_pass: connect");
        atomic_store(&failed, 1);
    } else {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    pthread_barrier_wait(&ready);
    for (size_t i; !atomic_load(&failed) && (i = atomic_fetch_add(&next_path, 1)) < npaths;) {
        if (get(fd, paths[i], buf, sizeof buf) < 0) {
            fprintf(stderr, "http_pass: %s: transport error or malformed answer\n", paths[i]);
            atomic_store(&failed, 1);
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: http_pass HOST PORT LISTFILE [CONNECTIONS]\n");
        return 2;
    }
    host = argv[1];
    int conns = argc == 5 ? atoi(argv[4]) : 4;
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    if (conns < 1 || conns > 256 || inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "http_pass: give an IPv4 address and 1..256 connections\n");
        return 2;
    }
    if (read_lines(argv[3]) < 0 || npaths == 0) {
        fprintf(stderr, "http_pass: %s: no paths\n", argv[3]);
        return 2;
    }
    pthread_t *t = calloc((size_t)conns, sizeof *t);
    if (!t || pthread_barrier_init(&ready, NULL, (unsigned)conns + 1) != 0)
        return 1;
    for (int i = 0; i < conns; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0)
            return 1;
    pthread_barrier_wait(&ready);
    double start = now_ms();
    for (int i = 0; i < conns; i++)
        pthread_join(t[i], NULL);
    double wall = now_ms() - start;
    if (atomic_load(&failed))
        return 1;
    printf("requests=%" PRIuFAST64 " bytes=%" PRIuFAST64 " body_bytes=%" PRIuFAST64
           " wall_ms=%.3f status_errors=%" PRIuFAST64 "\n", atomic_load(&requests),
           atomic_load(&total_bytes), atomic_load(&body_bytes), wall,
           atomic_load(&status_errors));
    return 0;
}
