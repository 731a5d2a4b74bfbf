/* wake.c -- an eventfd that wakes a sleeping thread (see wake.h). */
#include "wake.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int wake_init(struct wake *w)
{
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return w->fd < 0 ? -errno : 0;
}

void wake_free(struct wake *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void wake_signal(const struct wake *w)
{
	if (!w || w->fd < 0)
		return;
	uint64_t one = 1;
	/* Fails only with EAGAIN (the counter is full: readable already). */
	if (write(w->fd, &one, sizeof(one)) < 0)
		return;
}

int wake_fd(const struct wake *w)
{
	return w->fd;
}

void wake_clear(const struct wake *w)
{
	uint64_t count;
	if (read(w->fd, &count, sizeof(count)) < 0)
		return; /* EAGAIN: nobody woke it */
}

int wake_wait(const struct wake *w, int timeout_ms)
{
	struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
	int n = poll(&pfd, 1, timeout_ms);
	if (n <= 0)
		return 0;
	wake_clear(w);
	return 1;
}
