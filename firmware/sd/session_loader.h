/* session_loader.h -- brings the last session back at start, in the
 * background: audio and the controller work from the first period, and each
 * clip lights up as it becomes playable.
 *
 * The manifest is read before (session_store_load: small and quick); this
 * thread sets the session's tempo, meter and mix through the engine's
 * SOURCE_SESSION queue, then reads the clip files one by one (top scene
 * first, as a controller shows them), converts them to the engine's rate
 * when needed, and hands each to the keeper as a take (keeper.h), which the
 * engine adopts only into a slot that is still empty. A missing or corrupt
 * clip file is skipped with a message naming it; the rest plays.
 */
#ifndef GRIDLOOP_SESSION_LOADER_H
#define GRIDLOOP_SESSION_LOADER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "keeper.h"
#include "sd_writer.h"
#include "session.h"

struct session_loader_config {
	struct engine *engine;
	struct keeper *keeper;
	const char *dir;		/* where the manifest's files are */
	const struct session *manifest; /* copied */
	int64_t start_ns; /* CLOCK_MONOTONIC at program start: for the figures */
	/* The audio thread's frame counter: in the background, the loader
	 * waits (a moment at most) for the first period, so that on one core
	 * reading the clips does not hold up the start of the audio. NULL: no
	 * waiting. */
	const atomic_int_least64_t *audio_now;
	/* An earlier rate conversion cut short: its original's directory and
	 * manifest (copied), whose clips are restored (converted) into the
	 * slots `manifest` leaves empty. NULL: none. */
	const char *more_dir;
	const struct session *more;
	/* A rate conversion not finished yet (its marker is the writer's):
	 * told once every clip went through, none skipped, not stopped
	 * (sd_writer_restore_complete), so that the marker goes only after
	 * the save that holds them. NULL: no conversion. */
	struct sd_writer *conversion_writer;
};

struct session_loader_stats {
	int clips;   /* in the manifest */
	int offered; /* read and handed to the keeper */
	int skipped; /* missing, corrupt, no memory */
	bool done;
	int64_t done_ms; /* after program start */
};

struct session_loader *session_loader_create(const struct session_loader_config *cfg);
/* In the background (a low-priority thread): 0 or -errno. */
int session_loader_start(struct session_loader *l);
/* All of it in the calling thread (offline runs, before the audio starts,
 * so that the run is the same every time). */
void session_loader_run(struct session_loader *l);
/* Stops early (shutdown) and waits for the thread: never for ever. A
 * thread stuck in a file call is cancelled there; one that still does not
 * end is left (and the loader never freed). */
void session_loader_stop(struct session_loader *l);
void session_loader_destroy(struct session_loader *l);
void session_loader_get_stats(struct session_loader *l, struct session_loader_stats *st);

#endif
