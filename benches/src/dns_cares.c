/*
 * The c-ares column of the DNS group: c-ares driven the way C programs
 * drive it, in the calling thread, with no helper thread: ares_query for
 * each lookup, and a loop of ares_getsock + poll + ares_process_fd.
 *
 * tern_cares_run() asks `count` A queries for host{first + i}.bench.test,
 * `inflight` at a time (each finished query starts the next one from its
 * callback), and writes each lookup's latency in microseconds to lat[i].
 * It returns 0, or -1 with a message in `err`.
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct run {
    ares_channel channel;
    uint64_t first;   /* number of the first name */
    size_t count;     /* lookups to make */
    size_t started;   /* lookups started so far */
    size_t done;      /* lookups finished so far */
    double *lat;      /* latencies, one per lookup, in finishing order */
    int failed;       /* a lookup failed: stop */
    char *err;
    size_t errlen;
};

struct slot {
    struct run *run;
    struct timespec start;
};

static double elapsed_us(const struct timespec *from) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - from->tv_sec) * 1e6 +
           (double)(now.tv_nsec - from->tv_nsec) / 1e3;
}

static void start_next(struct slot *slot);

static void on_reply(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    struct slot *slot = arg;
    struct run *run = slot->run;
    (void)timeouts;
    if (status == ARES_EDESTRUCTION) {
        return;
    }
    double us = elapsed_us(&slot->start);
    if (status != ARES_SUCCESS) {
        snprintf(run->err, run->errlen, "c-ares lookup: %s", ares_strerror(status));
        run->failed = 1;
        return;
    }
    /* Decode the reply, as every resolver in the table does. */
    struct ares_addrttl addrs[4];
    int naddrs = 4;
    int rc = ares_parse_a_reply(abuf, alen, NULL, addrs, &naddrs);
    if (rc != ARES_SUCCESS || naddrs != 1) {
        snprintf(run->err, run->errlen, "c-ares reply: %s, %d addresses",
                 ares_strerror(rc), naddrs);
        run->failed = 1;
        return;
    }
    run->lat[run->done++] = us;
    start_next(slot);
}

static void start_next(struct slot *slot) {
    struct run *run = slot->run;
    if (run->failed || run->started >= run->count) {
        return;
    }
    char name[64];
    snprintf(name, sizeof name, "host%llu.bench.test.",
             (unsigned long long)(run->first + run->started));
    run->started++;
    clock_gettime(CLOCK_MONOTONIC, &slot->start);
    ares_query(run->channel, name, ns_c_in, ns_t_a, on_reply, slot);
}

int tern_cares_run(const char *server, int inflight, size_t count, uint64_t first,
                   int timeout_ms, int edns, double *lat, char *err, size_t errlen) {
    struct run run = {0};
    run.first = first;
    run.count = count;
    run.lat = lat;
    run.err = err;
    run.errlen = errlen;
    err[0] = 0;

    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "ares_library_init: %s", ares_strerror(rc));
        return -1;
    }
    struct ares_options opts;
    memset(&opts, 0, sizeof opts);
    opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | (edns ? ARES_FLAG_EDNS : 0);
    opts.timeout = timeout_ms;
    opts.tries = 2;
    opts.ednspsz = 1232;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ;
    rc = ares_init_options(&run.channel, &opts, mask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "ares_init_options: %s", ares_strerror(rc));
        ares_library_cleanup();
        return -1;
    }
    rc = ares_set_servers_ports_csv(run.channel, server);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "ares_set_servers_ports_csv(%s): %s", server, ares_strerror(rc));
        ares_destroy(run.channel);
        ares_library_cleanup();
        return -1;
    }

    struct slot *slots = calloc((size_t)inflight, sizeof *slots);
    if (slots == NULL) {
        snprintf(err, errlen, "out of memory");
        ares_destroy(run.channel);
        ares_library_cleanup();
        return -1;
    }
    for (int i = 0; i < inflight; i++) {
        slots[i].run = &run;
        start_next(&slots[i]);
    }

    while (run.done < run.count && !run.failed) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        int bits = ares_getsock(run.channel, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd pfd[ARES_GETSOCK_MAXNUM];
        nfds_t n = 0;
        for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            short events = 0;
            if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
            if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
            if (events == 0) continue;
            pfd[n].fd = socks[i];
            pfd[n].events = events;
            pfd[n].revents = 0;
            n++;
        }
        if (n == 0) {
            snprintf(err, errlen, "c-ares has lookups in flight but no sockets");
            run.failed = 1;
            break;
        }
        struct timeval tv, *tvp = ares_timeout(run.channel, NULL, &tv);
        int wait_ms = tvp ? (int)(tvp->tv_sec * 1000 + tvp->tv_usec / 1000) : -1;
        int ready = poll(pfd, n, wait_ms);
        if (ready < 0) {
            snprintf(err, errlen, "poll failed");
            run.failed = 1;
            break;
        }
        if (ready == 0) {
            ares_process_fd(run.channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (nfds_t i = 0; i < n; i++) {
            if (pfd[i].revents == 0) continue;
            ares_socket_t r = (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) ? pfd[i].fd
                                                                              : ARES_SOCKET_BAD;
            ares_socket_t w = (pfd[i].revents & POLLOUT) ? pfd[i].fd : ARES_SOCKET_BAD;
            ares_process_fd(run.channel, r, w);
        }
    }

    ares_destroy(run.channel);
    ares_library_cleanup();
    free(slots);
    if (run.failed) {
        return -1;
    }
    return 0;
}
