/* recorder.h -- the performance recorder: the master mix of a whole gig
 * streamed to the SD card.
 *
 * The audio thread pushes each period's output into a lock-free ring
 * (recorder_push: wait-free, never blocks, never allocates); a low-priority
 * disk thread drains it into a file with libsndfile. When the card cannot
 * keep up (slow, full, removed) the ring fills and the frames that do not
 * fit are counted as lost, never waited for: audio never glitches because
 * of the recorder. The file's header is kept up to date as it grows, so a
 * power cut costs at most the last moments.
 */
#ifndef GRIDLOOP_RECORDER_H
#define GRIDLOOP_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export.h"

struct recorder_config {
	const char *dir; /* where the file goes (created if missing) */
	uint32_t rate;
	int channels; /* interleaved channels pushed (2: the mix) */
	enum export_format format;
	double ring_seconds; /* how long the card may stall without loss */
	const char *prefix;  /* the file name's start: "gig" when NULL
			      * ("gig-tracks" for the track stems) */
};

struct recorder_stats {
	uint64_t frames_written; /* on the card */
	uint64_t frames_lost;	 /* did not fit in the ring */
	int error;		 /* 0, or the errno that stopped the disk thread */
	char file[512];		 /* the file being written */
};

/* The bytes recorder_create() maps and locks for the ring of that config
 * (its capacity: a power of two of frames, at least ring_seconds, pages of
 * `page` bytes), and its frames in *frames (may be NULL). 0 when the ring
 * would be more than recorder_max_ring_bytes() or the config is no ring at
 * all. Pure: for checking a config before anything is mapped. */
uint64_t recorder_ring_bytes(uint32_t rate, int channels, double ring_seconds,
			     size_t page, uint64_t *frames);
uint64_t recorder_max_ring_bytes(void); /* a ring's largest size */

/* Not real-time safe: allocates the ring and opens the file
 * ("gig-2026-11-25_2130.wav"). NULL with a message in err. */
struct recorder *recorder_create(const struct recorder_config *cfg, char *err,
				 size_t errlen);
int recorder_start(struct recorder *r); /* the disk thread: 0 or -errno */
/* Real-time safe: copies frames x channels floats into the ring; what does
 * not fit is counted as lost. */
void recorder_push(struct recorder *r, const float *interleaved, uint32_t frames);
/* Drains the ring, closes the file. */
void recorder_stop(struct recorder *r);
void recorder_destroy(struct recorder *r); /* stop first */
void recorder_get_stats(struct recorder *r, struct recorder_stats *st);

#endif
