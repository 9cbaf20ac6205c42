/* kpoll through its C ABI, on the backend named by -m. */
#define _GNU_SOURCE
#include "workload.h"

#include <kpoll.h>
#include <stdio.h>
#include <string.h>

#define CAPACITY 1024

static kpoll *poller;

static int setup(struct workload *w)
{
	kpoll_backend backend;
	int i, rc;

	if (strcmp(w->method, "epoll") == 0)
		backend = KPOLL_BACKEND_EPOLL;
	else if (strcmp(w->method, "poll") == 0)
		backend = KPOLL_BACKEND_POLL;
	else if (strcmp(w->method, "select") == 0)
		backend = KPOLL_BACKEND_SELECT;
	else
		return -1;
	rc = kpoll_new(backend, &poller);
	if (rc < 0) {
		fprintf(stderr, "kpoll_new: %s\n", kpoll_strerror(rc));
		return -1;
	}
	for (i = 0; i < w->pairs; i++) {
		rc = kpoll_register(poller, w->rd[i], KPOLL_READABLE,
				    (uint64_t)i);
		if (rc < 0) {
			fprintf(stderr, "kpoll_register: %s\n",
				kpoll_strerror(rc));
			return -1;
		}
	}
	return 0;
}

static void run(struct workload *w)
{
	kpoll_event evs[CAPACITY];
	int i, n;

	while (w->count != w->fired) {
		n = kpoll_wait(poller, evs, CAPACITY, -1);
		w->waits++;
		for (i = 0; i < n; i++)
			workload_on_readable(w, (int)evs[i].token);
	}
}

static void teardown(struct workload *w)
{
	(void)w;
	kpoll_free(poller);
}

int main(int argc, char **argv)
{
	static const struct loop_impl impl = {"kpoll-c", setup, run,
					      teardown};

	return workload_main(argc, argv, &impl);
}
