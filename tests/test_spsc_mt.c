/* test_spsc_mt.c -- the SPSC queue (firmware/base/spsc.c) between two threads.
 *
 * A producer thread pushes millions of sequenced elements larger than a word
 * (spinning while the queue is full), a consumer thread pops them (spinning
 * while it is empty) and checks every one: order, no loss, no duplicate, no
 * torn element. A third thread (the test's own) samples spsc_count(), which
 * must always be a possible fill level. The "_mt" suffix makes
 * scripts/run-tests run it under ThreadSanitizer too, which checks the
 * memory ordering.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "rt_mark.h"
#include "spsc.h"

/* 32 bytes, no padding: the check word covers all of it. */
struct msg {
	uint64_t seq;
	uint64_t mixed; /* a function of seq: a torn element shows up here */
	uint32_t low;
	uint16_t parity;
	uint8_t bytes[10];
};
_Static_assert(sizeof(struct msg) == 32, "struct msg has padding");

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static void fill(struct msg *m, uint64_t seq)
{
	m->seq = seq;
	m->mixed = mix(seq);
	m->low = (uint32_t)seq;
	m->parity = (uint16_t)(seq * 7);
	for (int i = 0; i < 10; i++)
		m->bytes[i] = (uint8_t)(m->mixed >> (i * 6));
}

struct run {
	struct spsc q;
	uint64_t n; /* elements to send */
	/* producer */
	uint64_t push_failures;
	/* consumer */
	uint64_t received;
	uint64_t bad; /* elements out of order, lost, duplicated or torn */
	uint64_t first_bad_expected, first_bad_got;
	atomic_bool consumer_done;
};

/* Spinning, with a yield now and then: the test machine may have fewer
 * cores than runnable threads. */
static void spin(uint64_t *spins)
{
	if ((++*spins & 63) == 0)
		sched_yield();
}

static void *producer(void *arg)
{
	struct run *r = arg;
	struct msg m;
	uint64_t spins = 0;
	for (uint64_t seq = 0; seq < r->n; seq++) {
		fill(&m, seq);
		for (;;) {
			rt_mark_begin();
			bool ok = spsc_push(&r->q, &m);
			rt_mark_end();
			if (ok)
				break;
			r->push_failures++;
			spin(&spins);
		}
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *r = arg;
	struct msg got, want;
	uint64_t spins = 0;
	for (uint64_t seq = 0; seq < r->n; seq++) {
		for (;;) {
			rt_mark_begin();
			bool ok = spsc_pop(&r->q, &got);
			rt_mark_end();
			if (ok)
				break;
			spin(&spins);
		}
		r->received++;
		fill(&want, seq);
		if (memcmp(&got, &want, sizeof(got)) != 0) {
			if (r->bad++ == 0) {
				r->first_bad_expected = seq;
				r->first_bad_got = got.seq;
			}
		}
	}
	atomic_store(&r->consumer_done, true);
	return NULL;
}

static void run_pair(size_t capacity, uint64_t n)
{
	static struct run r; /* static: struct spsc wants 64-byte alignment */
	memset(&r, 0, sizeof(r));
	r.n = n;
	assert_int_equal(spsc_init(&r.q, capacity, sizeof(struct msg)), 0);

	pthread_t prod, cons;
	assert_int_equal(pthread_create(&cons, NULL, consumer, &r), 0);
	assert_int_equal(pthread_create(&prod, NULL, producer, &r), 0);

	/* Observe from a third thread: a snapshot is a possible fill level. */
	uint64_t samples = 0, impossible = 0;
	size_t worst = 0;
	while (!atomic_load(&r.consumer_done)) {
		size_t c = spsc_count(&r.q);
		if (c > spsc_capacity(&r.q)) {
			impossible++;
			worst = c;
		}
		samples++;
		sched_yield();
	}
	assert_int_equal(pthread_join(prod, NULL), 0);
	assert_int_equal(pthread_join(cons, NULL), 0);

	if (r.bad)
		print_error("first bad element: expected seq %llu, got seq %llu\n",
			    (unsigned long long)r.first_bad_expected,
			    (unsigned long long)r.first_bad_got);
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.received, n);
	if (impossible)
		print_error("spsc_count() returned %zu with capacity %zu (%llu of %llu "
			    "samples)\n",
			    worst, spsc_capacity(&r.q), (unsigned long long)impossible,
			    (unsigned long long)samples);
	assert_int_equal(impossible, 0);
	/* Only the producer's refused pushes count as dropped. */
	assert_int_equal(atomic_load(&r.q.dropped), (unsigned)r.push_failures);
	assert_int_equal(spsc_count(&r.q), 0);
	struct msg m;
	assert_false(spsc_pop(&r.q, &m));
	print_message(
	    "%llu elements, %llu pushes refused while full, %llu count samples\n",
	    (unsigned long long)n, (unsigned long long)r.push_failures,
	    (unsigned long long)samples);
	spsc_free(&r.q);
}

static void test_two_threads_small_queue(void **state)
{
	(void)state;
	run_pair(64, 2000000);
}

/* Capacity 1: every element is a full/empty hand-over. */
static void test_two_threads_capacity_one(void **state)
{
	(void)state;
	run_pair(1, 200000);
}

int main(void)
{
	rt_mark_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_two_threads_small_queue),
	    cmocka_unit_test(test_two_threads_capacity_one),
	};
	return cmocka_run_group_tests_name("spsc_mt", tests, NULL, NULL);
}
