/* spsc.c -- lock-free single-producer/single-consumer queue (see spsc.h). */
#include "spsc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int spsc_init(struct spsc *q, size_t capacity, size_t elem_size)
{
	size_t cap = 1;
	memset(q, 0, sizeof(*q));
	/* Above the largest power of two, rounding up would overflow to 0 and
	 * loop forever. */
	if (capacity > SIZE_MAX / 2 + 1)
		return -1;
	while (cap < capacity)
		cap <<= 1;
	q->slots = calloc(cap, elem_size);
	if (!q->slots)
		return -1;
	q->mask = cap - 1;
	q->elem_size = elem_size;
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	atomic_init(&q->dropped, 0);
	return 0;
}

void spsc_free(struct spsc *q)
{
	free(q->slots);
	q->slots = NULL;
}

bool spsc_push(struct spsc *q, const void *elem)
{
	/* Our own index needs no ordering; the other side's needs acquire so
	 * that the consumer's reads of the slot happened before we reuse it. */
	size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	size_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	if (head - tail > q->mask) {
		atomic_fetch_add_explicit(&q->dropped, 1, memory_order_relaxed);
		return false;
	}
	memcpy(q->slots + (head & q->mask) * q->elem_size, elem, q->elem_size);
	/* Release: the element's bytes become visible before the new head. */
	atomic_store_explicit(&q->head, head + 1, memory_order_release);
	return true;
}

bool spsc_pop(struct spsc *q, void *elem)
{
	size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	/* Acquire pairs with the producer's release of head. */
	size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	if (head == tail)
		return false;
	memcpy(elem, q->slots + (tail & q->mask) * q->elem_size, q->elem_size);
	/* Release: our read of the slot is done before the producer may reuse it. */
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return true;
}

size_t spsc_count(struct spsc *q)
{
	/* Loading head then tail lets a third thread see tail move past the
	 * head it loaded ("head - tail" wraps to a huge count); tail then head
	 * lets it see head run more than a capacity ahead. A tail that did not
	 * change around the load of head was the tail when head was loaded, so
	 * the difference is a fill level the queue really had. For either end
	 * one index is its own: the consumer never retries, the producer at
	 * most until the consumer has emptied the queue. */
	size_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	for (;;) {
		size_t head = atomic_load_explicit(&q->head, memory_order_acquire);
		size_t again = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (again == tail)
			return head - tail;
		tail = again;
	}
}

size_t spsc_capacity(const struct spsc *q)
{
	return q->mask + 1;
}
