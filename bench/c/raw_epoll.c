/* The floor for epoll: epoll_wait and the callback, nothing else. */
#define _GNU_SOURCE
#include "workload.h"

#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CAPACITY 1024

static int epfd = -1;

static int setup(struct workload *w)
{
	struct epoll_event ev;
	int i;

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("epoll_create1");
		return -1;
	}
	for (i = 0; i < w->pairs; i++) {
		ev.events = EPOLLIN;
		ev.data.u64 = (uint64_t)i;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->rd[i], &ev) < 0) {
			perror("epoll_ctl");
			return -1;
		}
	}
	return 0;
}

static void run(struct workload *w)
{
	struct epoll_event evs[CAPACITY];
	int i, n;

	while (w->count != w->fired) {
		n = epoll_wait(epfd, evs, CAPACITY, -1);
		w->waits++;
		for (i = 0; i < n; i++)
			workload_on_readable(w, (int)evs[i].data.u64);
	}
}

static void teardown(struct workload *w)
{
	(void)w;
	close(epfd);
}

int main(int argc, char **argv)
{
	static const struct loop_impl impl = {"raw", setup, run, teardown};

	return workload_main(argc, argv, &impl);
}
