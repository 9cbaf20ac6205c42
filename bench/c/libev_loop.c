/* libev on the backend named by -m (EVBACKEND_EPOLL or EVBACKEND_POLL). */
#define _GNU_SOURCE
#include "workload.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pair_watcher {
	ev_io io;
	int idx;
};

static struct ev_loop *loop;
static struct pair_watcher *watchers;
static struct workload *current;

static void on_read(struct ev_loop *l, ev_io *io, int revents)
{
	(void)l;
	(void)revents;
	workload_on_readable(current, ((struct pair_watcher *)io)->idx);
}

static int setup(struct workload *w)
{
	unsigned int flags;
	int i;

	current = w;
	if (strcmp(w->method, "epoll") == 0)
		flags = EVBACKEND_EPOLL;
	else if (strcmp(w->method, "poll") == 0)
		flags = EVBACKEND_POLL;
	else if (strcmp(w->method, "select") == 0)
		flags = EVBACKEND_SELECT;
	else
		return -1;
	loop = ev_loop_new(flags | EVFLAG_NOENV);
	if (!loop || ev_backend(loop) != flags) {
		fprintf(stderr, "libev: no %s backend\n", w->method);
		return -1;
	}

	watchers = calloc((size_t)w->pairs, sizeof(*watchers));
	if (!watchers)
		return -1;
	for (i = 0; i < w->pairs; i++) {
		watchers[i].idx = i;
		ev_io_init(&watchers[i].io, on_read, w->rd[i], EV_READ);
		ev_io_start(loop, &watchers[i].io);
	}
	return 0;
}

static void run(struct workload *w)
{
	while (w->count != w->fired) {
		ev_run(loop, EVRUN_ONCE);
		w->waits++;
	}
}

static void teardown(struct workload *w)
{
	int i;

	for (i = 0; i < w->pairs; i++)
		ev_io_stop(loop, &watchers[i].io);
	free(watchers);
	ev_loop_destroy(loop);
}

int main(int argc, char **argv)
{
	static const struct loop_impl impl = {"libev", setup, run, teardown};

	return workload_main(argc, argv, &impl);
}
