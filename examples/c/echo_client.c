/*
 * The echo server's client: opens CONNECTIONS TCP connections to
 * 127.0.0.1:PORT and keeps them all open, sends a distinct line on each,
 * checks that each comes back, then closes them. Exits 0 when every echo
 * was right.
 *
 *   echo_client PORT [CONNECTIONS]      (default 10000)
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int fail(const char *what, long i)
{
    fprintf(stderr, "echo_client: connection %ld: %s: %s\n", i, what,
            errno ? strerror(errno) : "wrong echo");
    return 1;
}

/* Reads exactly len bytes; -1 on error, end of stream or timeout. */
static int read_all(int fd, char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = read(fd, buf, len);

        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long count = argc > 2 ? atol(argv[2]) : 10000, i;
    struct timeval limit = { 10, 0 };   /* no step waits longer */
    struct sockaddr_in addr;
    struct rlimit lim;
    char line[32], back[32];
    int *fds, len;

    if (argc < 2 || count <= 0) {
        fprintf(stderr, "usage: echo_client PORT [CONNECTIONS]\n");
        return 2;
    }
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    fds = (int *)calloc((size_t)count, sizeof *fds);
    if (fds == NULL)
        return fail("calloc", 0);

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((unsigned short)atoi(argv[1]));

    /* Open them all first, so that the server holds them at once. */
    for (i = 0; i < count; i++) {
        errno = 0;
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0)
            return fail("socket", i);
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        setsockopt(fds[i], SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        if (connect(fds[i], (struct sockaddr *)&addr, sizeof addr) != 0)
            return fail("connect", i);
    }

    for (i = 0; i < count; i++) {
        errno = 0;
        len = snprintf(line, sizeof line, "hello %ld\n", i);
        if (write(fds[i], line, (size_t)len) != len)
            return fail("write", i);
    }

    for (i = 0; i < count; i++) {
        errno = 0;
        len = snprintf(line, sizeof line, "hello %ld\n", i);
        if (read_all(fds[i], back, (size_t)len) != 0)
            return fail("read", i);
        if (memcmp(line, back, (size_t)len) != 0)
            return fail("compare", i);
    }

    for (i = 0; i < count; i++)
        close(fds[i]);
    free(fds);
    printf("%ld connections echoed\n", count);
    return 0;
}
