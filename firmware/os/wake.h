/* wake.h -- one thread wakes another that sleeps until there is work.
 *
 * An eventfd: the waker adds 1 with one non-blocking write(2) of 8 bytes,
 * which never waits (when the counter is about to overflow the write fails
 * with EAGAIN, and the descriptor is readable already). That one call is
 * the only system call the real-time audio thread makes outside the PCM's,
 * as PipeWire's data loop and JACK wake their non-real-time sides, and the
 * real-time guard (tests/rtguard) allows exactly it: an 8-byte write to a
 * non-blocking eventfd. The sleeper polls the descriptor (POLLIN), then
 * clears it before looking at the queues, so no wake-up is lost.
 * Any number of threads may wake the same sleeper.
 */
#ifndef GRIDLOOP_WAKE_H
#define GRIDLOOP_WAKE_H

struct wake {
	int fd; /* eventfd; -1 before wake_init */
};

/* 0, or -errno (no descriptors left). Not real-time safe. */
int wake_init(struct wake *w);
void wake_free(struct wake *w);

/* Makes the sleeper's poll() return. Real-time safe (see above); does
 * nothing when w is NULL or not set up. */
void wake_signal(const struct wake *w);

/* The descriptor to poll for POLLIN. */
int wake_fd(const struct wake *w);

/* Sleeper: resets the counter (non-blocking; fine when nobody woke it). */
void wake_clear(const struct wake *w);

/* Sleeper: waits until woken or timeout_ms pass (-1: no timeout), then
 * clears. 1 when woken, 0 on timeout (or a signal). */
int wake_wait(const struct wake *w, int timeout_ms);

#endif
