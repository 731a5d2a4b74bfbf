/* spsc.h -- lock-free single-producer/single-consumer queue of fixed-size
 * elements.
 *
 * The only way threads talk to the real-time thread. One thread pushes, one
 * thread pops; neither ever blocks, allocates or makes a system call, so both
 * ends are safe on the real-time thread. Memory ordering follows JACK2's
 * ringbuffer.c and PipeWire's spa/utils/ringbuffer.h, spelled out with C11
 * atomics:
 *
 *   producer: write element, then store head with release
 *   consumer: load head with acquire, read element, then store tail with release
 *   producer: load tail with acquire before reusing a slot
 *
 * so an element's bytes are visible before the index that publishes them, and
 * a slot is not overwritten before the consumer is done with it. Head and tail
 * count up without wrapping back (size_t); capacity is a power of two, so
 * "head - tail" is the fill level and "index & mask" the slot.
 */
#ifndef GRIDLOOP_SPSC_H
#define GRIDLOOP_SPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct spsc {
	/* Each index on its own cache line: the two threads write one each. */
	_Alignas(64) atomic_size_t head; /* next slot to write; producer owns */
	_Alignas(64) atomic_size_t tail; /* next slot to read; consumer owns */
	_Alignas(64) size_t mask;	 /* capacity - 1 */
	size_t elem_size;
	unsigned char *slots;
	atomic_uint dropped; /* pushes refused because the queue was full */
};

/* Allocates the slots (not real-time safe). capacity is rounded up to a power
 * of two. Returns 0, or -1 on allocation failure. */
int spsc_init(struct spsc *q, size_t capacity, size_t elem_size);
void spsc_free(struct spsc *q);

/* Copies one element in. False when full (the push is counted in dropped). */
bool spsc_push(struct spsc *q, const void *elem);

/* Copies one element out. False when empty. */
bool spsc_pop(struct spsc *q, void *elem);

/* Elements waiting; exact for either end, a snapshot for anyone else. */
size_t spsc_count(struct spsc *q);
size_t spsc_capacity(const struct spsc *q);

#endif
