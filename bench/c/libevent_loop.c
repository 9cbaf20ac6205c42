/* libevent on the method named by -m, forced by avoiding the others. */
#define _GNU_SOURCE
#include "workload.h"

#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct event_base *base;
static struct event **evs;
static struct workload *current;

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	workload_on_readable(current, (int)(intptr_t)arg);
}

static int setup(struct workload *w)
{
	static const char *const methods[] = {"epoll", "poll", "select"};
	struct event_config *cfg = event_config_new();
	size_t m;
	int i;

	current = w;
	for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++)
		if (strcmp(methods[m], w->method) != 0)
			event_config_avoid_method(cfg, methods[m]);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (!base || strcmp(event_base_get_method(base), w->method) != 0) {
		fprintf(stderr, "libevent: no %s method\n", w->method);
		return -1;
	}

	evs = calloc((size_t)w->pairs, sizeof(*evs));
	if (!evs)
		return -1;
	for (i = 0; i < w->pairs; i++) {
		evs[i] = event_new(base, w->rd[i], EV_READ | EV_PERSIST,
				   on_read, (void *)(intptr_t)i);
		if (!evs[i] || event_add(evs[i], NULL) < 0)
			return -1;
	}
	return 0;
}

static void run(struct workload *w)
{
	while (w->count != w->fired) {
		event_base_loop(base, EVLOOP_ONCE);
		w->waits++;
	}
}

static void teardown(struct workload *w)
{
	int i;

	for (i = 0; i < w->pairs; i++)
		event_free(evs[i]);
	free(evs);
	event_base_free(base);
}

int main(int argc, char **argv)
{
	static const struct loop_impl impl = {"libevent", setup, run,
					      teardown};

	return workload_main(argc, argv, &impl);
}
