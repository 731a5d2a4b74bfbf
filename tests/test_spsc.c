/* test_spsc.c -- single-thread tests of the SPSC queue (firmware/base/spsc.c):
 * capacity rounding, empty, full and the dropped count, FIFO order, slot
 * wrap-around and index wrap-around past SIZE_MAX, odd element sizes,
 * allocation failure. The two-thread test is test_spsc_mt.c.
 *
 * push and pop run inside rt_mark sections: with the real-time guard
 * preloaded (scripts/run-tests) an allocation, lock or system call in either
 * aborts the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "rt_mark.h"
#include "spsc.h"

/* Larger than a word, with padding-free fields of several sizes. */
struct item {
	uint64_t seq;
	double value;
	uint32_t tag;
	uint16_t small;
	uint8_t bytes[10]; /* 32 bytes, no padding */
};

_Static_assert(sizeof(struct item) == 32, "struct item has padding");

static struct item make_item(uint64_t seq)
{
	struct item it;
	memset(&it, 0, sizeof(it));
	it.seq = seq;
	it.value = (double)seq * 0.5;
	it.tag = (uint32_t)(seq * 2654435761u);
	it.small = (uint16_t)(seq ^ 0x5a5a);
	for (int i = 0; i < 10; i++)
		it.bytes[i] = (uint8_t)(seq + (uint64_t)i);
	return it;
}

static bool push(struct spsc *q, const void *e)
{
	rt_mark_begin();
	bool ok = spsc_push(q, e);
	rt_mark_end();
	return ok;
}

static bool pop(struct spsc *q, void *e)
{
	rt_mark_begin();
	bool ok = spsc_pop(q, e);
	rt_mark_end();
	return ok;
}

static void expect_item(const struct item *got, uint64_t seq)
{
	struct item want = make_item(seq);
	assert_int_equal(got->seq, seq);
	assert_memory_equal(got, &want, sizeof(want));
}

static void test_capacity_rounds_up_to_power_of_two(void **state)
{
	(void)state;
	static const size_t cases[][2] = {
	    {1, 1},   {2, 2},	 {3, 4},       {4, 4},	     {5, 8},	  {63, 64},
	    {64, 64}, {65, 128}, {1000, 1024}, {4096, 4096}, {4097, 8192}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spsc q;
		assert_int_equal(spsc_init(&q, cases[i][0], sizeof(struct item)), 0);
		assert_int_equal(spsc_capacity(&q), cases[i][1]);
		/* The rounded capacity is usable in full, and no more. */
		struct item it = make_item(0);
		for (size_t n = 0; n < cases[i][1]; n++)
			assert_true(push(&q, &it));
		assert_false(push(&q, &it));
		spsc_free(&q);
	}
}

static void test_new_queue_is_empty(void **state)
{
	(void)state;
	struct spsc q;
	assert_int_equal(spsc_init(&q, 8, sizeof(struct item)), 0);
	assert_int_equal(spsc_count(&q), 0);
	struct item it, before;
	memset(&it, 0xab, sizeof(it));
	before = it;
	assert_false(pop(&q, &it));
	/* A failed pop leaves the destination alone. */
	assert_memory_equal(&it, &before, sizeof(it));
	assert_int_equal(atomic_load(&q.dropped), 0);
	spsc_free(&q);
}

static void test_fifo_order_and_contents(void **state)
{
	(void)state;
	struct spsc q;
	assert_int_equal(spsc_init(&q, 8, sizeof(struct item)), 0);
	for (uint64_t s = 0; s < 5; s++) {
		struct item it = make_item(s);
		assert_true(push(&q, &it));
		assert_int_equal(spsc_count(&q), s + 1);
	}
	for (uint64_t s = 0; s < 5; s++) {
		struct item it;
		assert_true(pop(&q, &it));
		expect_item(&it, s);
		assert_int_equal(spsc_count(&q), 4 - s);
	}
	struct item it;
	assert_false(pop(&q, &it));
	spsc_free(&q);
}

static void test_full_refuses_and_counts_dropped(void **state)
{
	(void)state;
	struct spsc q;
	assert_int_equal(spsc_init(&q, 4, sizeof(struct item)), 0);
	uint64_t next = 0;
	for (int i = 0; i < 4; i++) {
		struct item it = make_item(next++);
		assert_true(push(&q, &it));
	}
	assert_int_equal(spsc_count(&q), 4);

	/* Refused pushes are counted and store nothing. */
	struct item refused = make_item(999);
	assert_false(push(&q, &refused));
	assert_int_equal(atomic_load(&q.dropped), 1);
	assert_false(push(&q, &refused));
	assert_int_equal(atomic_load(&q.dropped), 2);
	assert_int_equal(spsc_count(&q), 4);

	/* One out makes room for exactly one. */
	struct item it;
	assert_true(pop(&q, &it));
	expect_item(&it, 0);
	it = make_item(next++);
	assert_true(push(&q, &it));
	assert_false(push(&q, &refused));
	assert_int_equal(atomic_load(&q.dropped), 3);

	for (uint64_t s = 1; s < next; s++) {
		assert_true(pop(&q, &it));
		expect_item(&it, s);
	}
	assert_false(pop(&q, &it));
	/* Popping from an empty queue is not a drop. */
	assert_int_equal(atomic_load(&q.dropped), 3);
	spsc_free(&q);
}

static void test_slot_wrap_around(void **state)
{
	(void)state;
	struct spsc q;
	assert_int_equal(spsc_init(&q, 4, sizeof(struct item)), 0);
	uint64_t in = 0, out = 0;
	/* Batches of 1..4 against a queue of 4: every slot boundary. */
	for (int round = 0; round < 10000; round++) {
		int batch = round % 4 + 1;
		for (int i = 0; i < batch; i++) {
			struct item it = make_item(in++);
			assert_true(push(&q, &it));
		}
		assert_int_equal(spsc_count(&q), (size_t)batch);
		for (int i = 0; i < batch; i++) {
			struct item it;
			assert_true(pop(&q, &it));
			expect_item(&it, out++);
		}
		assert_int_equal(spsc_count(&q), 0);
	}
	/* Interleaved: always two waiting. */
	struct item it = make_item(in++);
	assert_true(push(&q, &it));
	for (int i = 0; i < 10000; i++) {
		it = make_item(in++);
		assert_true(push(&q, &it));
		assert_int_equal(spsc_count(&q), 2);
		assert_true(pop(&q, &it));
		expect_item(&it, out++);
	}
	assert_int_equal(atomic_load(&q.dropped), 0);
	spsc_free(&q);
}

/* head and tail count up forever; the arithmetic must survive size_t
 * wrapping around. Start both just below SIZE_MAX. */
static void test_index_wrap_past_size_max(void **state)
{
	(void)state;
	struct spsc q;
	assert_int_equal(spsc_init(&q, 8, sizeof(struct item)), 0);
	atomic_store(&q.head, SIZE_MAX - 4);
	atomic_store(&q.tail, SIZE_MAX - 4);
	assert_int_equal(spsc_count(&q), 0);

	for (uint64_t s = 0; s < 8; s++) {
		struct item it = make_item(s);
		assert_true(push(&q, &it));
		assert_int_equal(spsc_count(&q), s + 1);
	}
	assert_true(atomic_load(&q.head) < atomic_load(&q.tail)); /* wrapped */
	struct item it = make_item(8);
	assert_false(push(&q, &it));
	for (uint64_t s = 0; s < 8; s++) {
		assert_true(pop(&q, &it));
		expect_item(&it, s);
	}
	assert_false(pop(&q, &it));
	assert_int_equal(spsc_count(&q), 0);
	spsc_free(&q);
}

/* Slots must not overlap whatever the element size. */
static void test_odd_element_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = {1, 3, 7, 24, 100};
	unsigned char in[100], out[100];
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k];
		struct spsc q;
		assert_int_equal(spsc_init(&q, 16, size), 0);
		for (int lap = 0; lap < 3; lap++) {
			for (size_t n = 0; n < 16; n++) {
				for (size_t b = 0; b < size; b++)
					in[b] = (unsigned char)(n * 31 + b + (size_t)lap);
				assert_true(push(&q, in));
			}
			assert_false(push(&q, in));
			for (size_t n = 0; n < 16; n++) {
				for (size_t b = 0; b < size; b++)
					in[b] = (unsigned char)(n * 31 + b + (size_t)lap);
				memset(out, 0, sizeof(out));
				assert_true(pop(&q, out));
				assert_memory_equal(out, in, size);
			}
		}
		spsc_free(&q);
	}
}

static void test_capacity_one(void **state)
{
	(void)state;
	struct spsc q;
	assert_int_equal(spsc_init(&q, 1, sizeof(struct item)), 0);
	assert_int_equal(spsc_capacity(&q), 1);
	for (uint64_t s = 0; s < 100; s++) {
		struct item it = make_item(s);
		assert_true(push(&q, &it));
		assert_false(push(&q, &it));
		assert_int_equal(spsc_count(&q), 1);
		assert_true(pop(&q, &it));
		expect_item(&it, s);
		assert_false(pop(&q, &it));
	}
	assert_int_equal(atomic_load(&q.dropped), 100);
	spsc_free(&q);
}

/* A capacity that cannot be rounded up, or slots that cannot be allocated,
 * is an error; the queue can still be freed. */
static void test_init_failure(void **state)
{
	(void)state;
	struct spsc q;
	/* Rounding SIZE_MAX up used to loop forever: let a hang end the run
	 * (SIGALRM) instead of waiting for the runner's timeout. */
	alarm(10);
	assert_int_equal(spsc_init(&q, SIZE_MAX, 1), -1);
	spsc_free(&q);
	assert_int_equal(spsc_init(&q, SIZE_MAX / 2 + 2, 1), -1);
	spsc_free(&q);
	/* 2^63 slots of 16 bytes: the size overflows. */
	assert_int_equal(spsc_init(&q, SIZE_MAX / 2 + 1, 16), -1);
	spsc_free(&q);
	alarm(0);
}

static void test_free_is_idempotent(void **state)
{
	(void)state;
	struct spsc q;
	assert_int_equal(spsc_init(&q, 4, 8), 0);
	spsc_free(&q);
	assert_null(q.slots);
	spsc_free(&q);
}

int main(void)
{
	rt_mark_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_capacity_rounds_up_to_power_of_two),
	    cmocka_unit_test(test_new_queue_is_empty),
	    cmocka_unit_test(test_fifo_order_and_contents),
	    cmocka_unit_test(test_full_refuses_and_counts_dropped),
	    cmocka_unit_test(test_slot_wrap_around),
	    cmocka_unit_test(test_index_wrap_past_size_max),
	    cmocka_unit_test(test_odd_element_sizes),
	    cmocka_unit_test(test_capacity_one),
	    cmocka_unit_test(test_init_failure),
	    cmocka_unit_test(test_free_is_idempotent),
	};
	return cmocka_run_group_tests_name("spsc", tests, NULL, NULL);
}
