/*
 * The floor columns of the DNS group: what the kernel alone costs per
 * lookup, with no resolver on top. A loop in the calling thread sends
 * ready-made A queries for host{first + i}.bench.test. (EDNS, payload
 * 1232, as tern and c-ares ask) with a random ID each, waits with epoll,
 * and counts a datagram as the reply when it comes from the server's
 * address and port and carries the ID of the query in flight on that
 * socket with QR set; nothing else is decoded.
 *
 * fresh = 0: one socket carries every query (c-ares' default).
 * fresh = 1: one socket per query in flight, and a fresh random source
 *            port per query: the first sendto of an unbound socket binds it
 *            to a random ephemeral port, and after the reply
 *            connect(AF_UNSPEC) gives the port back (tern's default).
 *
 * tern_floor_run() makes `count` lookups, `inflight` at a time, writes each
 * lookup's latency in microseconds to lat[i] (finishing order) and returns
 * 0, or -1 with a message in `err`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct query {
    int fd;                 /* its socket (fresh) or the shared one */
    int busy;               /* a query is in flight in this slot */
    uint16_t id;
    struct timespec start;
};

struct floor {
    struct sockaddr_storage server;
    socklen_t server_len;
    uint64_t first, started;
    size_t count, done;
    int fresh;
    uint64_t rng;
    double *lat;
};

static double elapsed_us(const struct timespec *from) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - from->tv_sec) * 1e6 +
           (double)(now.tv_nsec - from->tv_nsec) / 1e3;
}

static uint16_t next_id(struct floor *f) {
    f->rng ^= f->rng << 13;
    f->rng ^= f->rng >> 7;
    f->rng ^= f->rng << 17;
    return (uint16_t)(f->rng >> 24);
}

/* The query for name number n into buf; its length. */
static size_t encode(uint8_t *buf, uint16_t id, uint64_t n) {
    size_t p = 0;
    const uint8_t head[12] = {id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1};
    memcpy(buf, head, sizeof head);
    p = sizeof head;
    char label[32];
    int len = snprintf(label, sizeof label, "host%llu", (unsigned long long)n);
    buf[p++] = (uint8_t)len;
    memcpy(buf + p, label, (size_t)len);
    p += (size_t)len;
    const uint8_t tail[] = {5, 'b', 'e', 'n', 'c', 'h', 4, 't', 'e', 's', 't', 0,
                            0, 1, 0, 1, /* A, IN */
                            0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0 /* OPT 1232 */};
    memcpy(buf + p, tail, sizeof tail);
    return p + sizeof tail;
}

static int send_next(struct floor *f, struct query *q, char *err, size_t errlen) {
    if (f->started >= f->count) {
        q->busy = 0;
        return 0;
    }
    uint8_t buf[128];
    q->id = next_id(f);
    size_t len = encode(buf, q->id, f->first + f->started);
    f->started++;
    q->busy = 1;
    clock_gettime(CLOCK_MONOTONIC, &q->start);
    if (sendto(q->fd, buf, len, 0, (struct sockaddr *)&f->server, f->server_len) < 0) {
        snprintf(err, errlen, "floor sendto: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int same_server(const struct floor *f, const struct sockaddr_storage *from) {
    if (from->ss_family != f->server.ss_family) return 0;
    if (from->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)from, *b = (const void *)&f->server;
        return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *a = (const void *)from, *b = (const void *)&f->server;
    return a->sin6_port == b->sin6_port &&
           memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
}

int tern_floor_run(const char *ip, int port, int inflight, size_t count, uint64_t first,
                   int fresh, int timeout_ms, double *lat, char *err, size_t errlen) {
    struct floor f;
    memset(&f, 0, sizeof f);
    err[0] = 0;
    struct sockaddr_in *v4 = (void *)&f.server;
    struct sockaddr_in6 *v6 = (void *)&f.server;
    if (inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        f.server_len = sizeof *v4;
    } else if (inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        f.server_len = sizeof *v6;
    } else {
        snprintf(err, errlen, "floor: bad server address %s", ip);
        return -1;
    }
    f.first = first;
    f.count = count;
    f.fresh = fresh;
    f.lat = lat;
    if (getrandom(&f.rng, sizeof f.rng, 0) != sizeof f.rng || f.rng == 0) f.rng = 0x9e3779b97f4a7c15ull;

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct query *qs = calloc((size_t)inflight, sizeof *qs);
    int nsocks = fresh ? inflight : 1;
    int rc = -1;
    if (ep < 0 || qs == NULL) {
        snprintf(err, errlen, "floor: setup failed");
        goto out;
    }
    for (int i = 0; i < inflight; i++) qs[i].fd = -1;
    for (int i = 0; i < nsocks; i++) {
        int fd = socket(f.server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = (uint32_t)i};
        if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            snprintf(err, errlen, "floor socket: %s", strerror(errno));
            if (fd >= 0) close(fd);
            goto out;
        }
        qs[i].fd = fd;
    }
    for (int i = 0; i < inflight; i++) {
        if (!fresh) qs[i].fd = qs[0].fd;
        if (send_next(&f, &qs[i], err, errlen) < 0) goto out;
    }
    struct epoll_event evs[64];
    uint8_t buf[4096];
    while (f.done < f.count) {
        int n = epoll_wait(ep, evs, 64, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            snprintf(err, errlen, "floor: no reply within %d ms", timeout_ms);
            goto out;
        }
        for (int e = 0; e < n; e++) {
            int fd = qs[evs[e].data.u32].fd;
            for (;;) {
                struct sockaddr_storage from;
                socklen_t from_len = sizeof from;
                ssize_t k = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &from_len);
                if (k < 0) break;
                if (k < 12 || !same_server(&f, &from) || !(buf[2] & 0x80)) continue;
                uint16_t id = (uint16_t)(buf[0] << 8 | buf[1]);
                /* Fresh: the socket's own query; shared: find it by ID. */
                struct query *q = NULL;
                if (fresh) {
                    q = &qs[evs[e].data.u32];
                    if (!q->busy || q->id != id) q = NULL;
                } else {
                    for (int i = 0; i < inflight && q == NULL; i++)
                        if (qs[i].busy && qs[i].id == id) q = &qs[i];
                }
                if (q == NULL) continue;
                f.lat[f.done++] = elapsed_us(&q->start);
                if (fresh) {
                    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
                    if (connect(fd, &unspec, sizeof unspec) < 0) {
                        snprintf(err, errlen, "floor connect(AF_UNSPEC): %s", strerror(errno));
                        goto out;
                    }
                }
                if (send_next(&f, q, err, errlen) < 0) goto out;
                /* A fresh socket's one reply is in: the next is for the
                 * next port, announced by its own edge. */
                if (fresh) break;
            }
        }
    }
    rc = 0;
out:
    if (qs != NULL) {
        for (int i = 0; i < nsocks; i++)
            if (qs[i].fd >= 0) close(qs[i].fd);
        free(qs);
    }
    if (ep >= 0) close(ep);
    return rc;
}
