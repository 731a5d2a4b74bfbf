/* fanout.c -- engine events from the supervisor to the sequencer thread,
 * with the horizon up to which they are complete (see fanout.h). */
#include "fanout.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

int fanout_init(struct fanout *f, size_t capacity)
{
	f->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->wake_fd < 0)
		return -errno;
	if (spsc_init(&f->queue, capacity, sizeof(struct event))) {
		close(f->wake_fd);
		f->wake_fd = -1;
		return -ENOMEM;
	}
	atomic_init(&f->horizon, 0);
	f->published = 0;
	f->pushed = false;
	return 0;
}

void fanout_free(struct fanout *f)
{
	spsc_free(&f->queue);
	if (f->wake_fd >= 0)
		close(f->wake_fd);
	f->wake_fd = -1;
}

bool fanout_push(struct fanout *f, const struct event *ev)
{
	if (!spsc_push(&f->queue, ev))
		return false;
	f->pushed = true;
	return true;
}

void fanout_wake(struct fanout *f)
{
	uint64_t one = 1;
	/* Only fails when the counter is about to overflow (EAGAIN): then
	 * it is readable already. */
	if (write(f->wake_fd, &one, sizeof(one)) < 0)
		return;
}

void fanout_publish(struct fanout *f, int64_t horizon)
{
	/* Release: the events pushed before are visible to whoever sees the
	 * new horizon. */
	if (horizon > f->published) {
		atomic_store_explicit(&f->horizon, horizon, memory_order_release);
		f->published = horizon;
	} else if (!f->pushed) {
		return; /* nothing new: let the consumer sleep */
	}
	f->pushed = false;
	fanout_wake(f);
}

int64_t fanout_horizon(const struct fanout *f)
{
	return atomic_load_explicit(&f->horizon, memory_order_acquire);
}

bool fanout_pop(struct fanout *f, struct event *ev)
{
	return spsc_pop(&f->queue, ev);
}

int fanout_fd(const struct fanout *f)
{
	return f->wake_fd;
}

void fanout_clear(struct fanout *f)
{
	uint64_t count;
	/* Nonblocking: EAGAIN when it was not woken, which is fine. */
	if (read(f->wake_fd, &count, sizeof(count)) < 0)
		return;
}

uint32_t fanout_dropped(const struct fanout *f)
{
	return atomic_load_explicit(&f->queue.dropped, memory_order_relaxed);
}
