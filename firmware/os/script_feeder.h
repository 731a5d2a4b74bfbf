/* script_feeder.h -- a --script file read from the card or the tree, and
 * the feeder thread that hands its commands to the engine (the language and
 * its parser: midi/script.h).
 */
#ifndef GRIDLOOP_SCRIPT_FEEDER_H
#define GRIDLOOP_SCRIPT_FEEDER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "script.h"
#include "spsc.h"

/* Reads and parses a whole script file before anything runs. 0, or -1 with a message that
 * names the file and line in err (and s empty). midi may be NULL when there
 * is no profile. Refused: a directory, an empty file, more than
 * GL_SCRIPT_BYTES_MAX bytes (a FIFO or device is read up to that), a NUL
 * byte, more than GL_SCRIPT_COMMANDS_MAX commands, stamps past
 * GL_SCRIPT_FRAME_MAX; open() never blocks. */
int script_parse_file(struct script *s, const char *path, const struct script_midi *midi,
		      char *err, size_t errlen);

/* ---- The feeder ----------------------------------------------------------
 * Pushes the script's commands into the engine's SOURCE_SCRIPT queue ahead
 * of time, as many as the queue has room for, in order: the engine holds
 * commands whose frame has not come yet, so a command pushed early still
 * acts at its exact frame. It never pushes into a full queue (a refused push
 * would count as a dropped command). */
struct script_feeder;

/* now: the engine frame the audio thread has reached (read to spot commands
 * pushed too late to act at their frame). NULL when out of memory or
 * descriptors. */
struct script_feeder *script_feeder_create(const struct script *s, struct spsc *queue,
					   const atomic_int_least64_t *now);
void script_feeder_destroy(struct script_feeder *f); /* stops it first */

/* Pushes what fits now; returns the number of commands still to push.
 * Called once before the audio starts, so short scripts are queued whole. */
size_t script_feeder_fill(struct script_feeder *f);

/* A thread that keeps filling until everything is pushed, sleeping until
 * it is poked in between (no timed poll). 0 or -errno. */
int script_feeder_start(struct script_feeder *f);

/* The audio thread, after a period: wakes the feeder when the queue has
 * fallen to half (or at once when now is true: an offline period waits
 * for it). Real-time safe: at most one wake_signal (wake.h), only when the
 * feeder sleeps. */
void script_feeder_poke(struct script_feeder *f, bool now);

/* Offline, off the real-time marks: sleeps until the feeder has filled the
 * queue again, or timeout_ms pass. 1 when it did, 0 on timeout. */
int script_feeder_wait(struct script_feeder *f, int timeout_ms);
void script_feeder_stop(struct script_feeder *f);

/* Every command whose frame is before this one is in the queue (GL_NEVER
 * once all are): the offline gate of audio_thread.h waits on it. */
const atomic_int_least64_t *script_feeder_horizon(const struct script_feeder *f);

/* Commands pushed after their frame had already been processed. */
uint64_t script_feeder_late(const struct script_feeder *f);

#endif
