/* test_fanout_mt.c -- the fan-out (firmware/os/fanout.c) between two threads,
 * as the supervisor and the sequencer thread use it: the producer passes on
 * one "period" of events at a time and then publishes the period's end as
 * the horizon; the consumer sleeps in poll() on the wake descriptor, reads
 * the horizon, then pops. Checked: order, no loss, and the horizon's
 * promise (every event below it is among those popped after reading it).
 * The "_mt" suffix runs it under ThreadSanitizer too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>

#include "fanout.h"

#define PERIODS	      4000
#define PERIOD	      64
#define EVENTS_PERIOD 4 /* at frames 0, 16, 32, 48 of each period */

struct run {
	struct fanout f;
	uint64_t retries; /* producer: pushes that found the queue full */
	/* consumer */
	int64_t received;
	int64_t broken_promises; /* an event below a horizon not there in time */
	int64_t out_of_order;
	int64_t wakes;
};

static void *producer(void *arg)
{
	struct run *r = arg;
	int64_t seq = 0;
	for (int64_t p = 0; p < PERIODS; p++) {
		for (int k = 0; k < EVENTS_PERIOD; k++) {
			struct event ev = {.type = EV_BEAT,
					   .frame =
					       p * PERIOD + k * (PERIOD / EVENTS_PERIOD),
					   .value = seq};
			while (!fanout_push(&r->f, &ev)) {
				r->retries++;
				sched_yield();
			}
			seq++;
		}
		fanout_publish(&r->f, (p + 1) * PERIOD);
		if (p % 64 == 0)
			sched_yield();
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	const int64_t total = (int64_t)PERIODS * EVENTS_PERIOD;
	int64_t last_frame = -1;
	while (r->received < total) {
		struct pollfd p = {.fd = fanout_fd(&r->f), .events = POLLIN};
		if (poll(&p, 1, 1000) == 1)
			r->wakes++;
		fanout_clear(&r->f);
		int64_t horizon = fanout_horizon(&r->f);
		struct event ev;
		while (fanout_pop(&r->f, &ev)) {
			if (ev.value != r->received || ev.frame < last_frame)
				r->out_of_order++;
			last_frame = ev.frame;
			r->received++;
		}
		/* Events below the horizon: all of them popped by now. */
		int64_t below = horizon / PERIOD * EVENTS_PERIOD;
		if (r->received < below)
			r->broken_promises++;
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	(void)state;
	static struct run r;
	assert_int_equal(fanout_init(&r.f, 64), 0);
	pthread_t tp, tc;
	assert_int_equal(pthread_create(&tc, NULL, consumer, &r), 0);
	assert_int_equal(pthread_create(&tp, NULL, producer, &r), 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	assert_int_equal(r.received, (int64_t)PERIODS * EVENTS_PERIOD);
	assert_int_equal(r.out_of_order, 0);
	assert_int_equal(r.broken_promises, 0);
	assert_true(fanout_horizon(&r.f) == (int64_t)PERIODS * PERIOD);
	assert_true(r.wakes > 0);
	print_message("%lld wake-ups, %llu full-queue retries\n", (long long)r.wakes,
		      (unsigned long long)r.retries);
	fanout_free(&r.f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
