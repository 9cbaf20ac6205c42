#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <unistd.h>

#include <kpoll.h>

int main(void)
{
    kpoll *poller;
    kpoll_event events[8];
    int fds[2], rc, n, i;

    rc = kpoll_new(KPOLL_BACKEND_AUTO, &poller);
    if (rc != 0) {
        fprintf(stderr, "kpoll_new: %s\n", kpoll_strerror(rc));
        return 1;
    }
    printf("kpoll %s on %s\n", kpoll_version_string(),
           kpoll_backend_name(kpoll_backend_of(poller)));

    /* Watch the read end of a pipe; its events carry the token 42. */
    if (pipe(fds) != 0)
        return 1;
    rc = kpoll_register(poller, fds[0], KPOLL_READABLE, 42);
    if (rc != 0) {
        fprintf(stderr, "kpoll_register: %s\n", kpoll_strerror(rc));
        return 1;
    }

    /* Make it readable, then wait for it (one second at most). */
    if (write(fds[1], "hi", 2) != 2)
        return 1;
    n = kpoll_wait(poller, events, 8, 1000);
    if (n < 0) {
        fprintf(stderr, "kpoll_wait: %s\n", kpoll_strerror(n));
        return 1;
    }
    for (i = 0; i < n; i++) {
        printf("fd %d, token %llu:%s%s\n", events[i].fd,
               (unsigned long long)events[i].token,
               events[i].events & KPOLL_READABLE ? " readable" : "",
               events[i].events & KPOLL_HANGUP ? " hangup" : "");
    }

    kpoll_deregister(poller, fds[0]);
    close(fds[0]);
    close(fds[1]);
    kpoll_free(poller);
    return n == 1 ? 0 : 1;
}
