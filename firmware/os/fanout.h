/* fanout.h -- the engine's events passed on from their one consumer, the
 * supervisor, to the sequencer thread (LEDs, MIDI clock).
 *
 * The engine's event queue is single-consumer, so the supervisor stays its
 * only reader and copies each event into this second SPSC queue
 * (supervisor -> sequencer). With the events it publishes a horizon: the
 * engine frame below which every event has been passed on (the audio
 * thread's frame counter, read before the engine's queue is drained), so
 * that the sequencer thread lists MIDI clock ticks only where the beats are
 * known and every tick lands on its exact frame. The consumer sleeps in
 * poll() on an eventfd the producer writes when there is something new: no
 * busy waiting, no lock.
 */
#ifndef GRIDLOOP_FANOUT_H
#define GRIDLOOP_FANOUT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "spsc.h"

struct fanout {
	struct spsc queue; /* struct event */
	atomic_int_least64_t horizon;
	int wake_fd;	   /* eventfd: readable when woken */
	int64_t published; /* producer's: the last horizon published */
	bool pushed;	   /* producer's: events since the last wake */
};

/* 0, or -errno (no memory, no eventfd). Not real-time safe. */
int fanout_init(struct fanout *f, size_t capacity);
void fanout_free(struct fanout *f);

/* ---- the producer (one thread: the supervisor) ---- */

/* Passes one event on; false when the queue is full (counted in dropped). */
bool fanout_push(struct fanout *f, const struct event *ev);

/* Every event below frame horizon has been pushed: publish it and wake the
 * consumer if anything is new. */
void fanout_publish(struct fanout *f, int64_t horizon);

/* ---- either side ---- */

/* Makes the consumer's poll() return (e.g. to stop it). */
void fanout_wake(struct fanout *f);

/* ---- the consumer (one thread: the sequencer thread) ---- */

/* Read the horizon before popping: then every event below it is among
 * those popped. */
int64_t fanout_horizon(const struct fanout *f);
bool fanout_pop(struct fanout *f, struct event *ev);

/* The descriptor to poll (POLLIN) and, once woken, to clear. */
int fanout_fd(const struct fanout *f);
void fanout_clear(struct fanout *f);

/* Events the queue had no room for. */
uint32_t fanout_dropped(const struct fanout *f);

#endif
