/* test_fanout.c -- the engine events' way from the supervisor to the
 * sequencer thread (firmware/os/fanout.c), on one thread: order, the horizon,
 * wake-ups only when something is new, and a full queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <poll.h>

#include "fanout.h"

static bool woken(const struct fanout *f)
{
	struct pollfd p = {.fd = fanout_fd(f), .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static struct event beat(int64_t frame, int64_t value)
{
	return (struct event){.type = EV_BEAT, .frame = frame, .value = value};
}

static void test_events_in_order_with_their_horizon(void **state)
{
	(void)state;
	struct fanout f;
	assert_int_equal(fanout_init(&f, 16), 0);
	assert_false(woken(&f));
	assert_true(fanout_horizon(&f) == 0);
	for (int i = 0; i < 5; i++) {
		struct event ev = beat(100 * i, i);
		assert_true(fanout_push(&f, &ev));
	}
	fanout_publish(&f, 480);
	assert_true(woken(&f));
	fanout_clear(&f);
	assert_false(woken(&f));
	assert_true(fanout_horizon(&f) == 480);
	struct event ev;
	for (int i = 0; i < 5; i++) {
		assert_true(fanout_pop(&f, &ev));
		assert_true(ev.frame == 100 * i);
		assert_true(ev.value == i);
	}
	assert_false(fanout_pop(&f, &ev));
	fanout_free(&f);
}

/* A publish with nothing new lets the consumer sleep; new events or a
 * later horizon wake it; the horizon never goes back. */
static void test_wakes_only_for_news(void **state)
{
	(void)state;
	struct fanout f;
	assert_int_equal(fanout_init(&f, 16), 0);
	fanout_publish(&f, 64);
	assert_true(woken(&f));
	fanout_clear(&f);
	fanout_publish(&f, 64);
	assert_false(woken(&f));
	fanout_publish(&f, 32);
	assert_false(woken(&f));
	assert_true(fanout_horizon(&f) == 64);
	struct event ev = beat(40, 0);
	fanout_push(&f, &ev);
	fanout_publish(&f, 64);
	assert_true(woken(&f));
	fanout_clear(&f);
	fanout_publish(&f, 128);
	assert_true(woken(&f));
	fanout_clear(&f);
	/* Anybody may wake it (to stop it). */
	fanout_wake(&f);
	assert_true(woken(&f));
	fanout_free(&f);
}

static void test_full_queue_counts_drops(void **state)
{
	(void)state;
	struct fanout f;
	assert_int_equal(fanout_init(&f, 4), 0);
	struct event ev = beat(0, 0);
	for (int i = 0; i < 4; i++)
		assert_true(fanout_push(&f, &ev));
	assert_false(fanout_push(&f, &ev));
	assert_false(fanout_push(&f, &ev));
	assert_int_equal(fanout_dropped(&f), 2);
	assert_true(fanout_pop(&f, &ev));
	assert_true(fanout_push(&f, &ev));
	assert_int_equal(fanout_dropped(&f), 2);
	fanout_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events_in_order_with_their_horizon),
	    cmocka_unit_test(test_wakes_only_for_news),
	    cmocka_unit_test(test_full_queue_counts_drops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
