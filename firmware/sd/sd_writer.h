/* sd_writer.h -- the SD writer thread: keeps the session on the card up to
 * date with what the musician plays, and writes exports.
 *
 * It follows the engine's events (a copy of them, from the supervisor,
 * fanout.h): a finished recording or overdub pass, a cleared clip, a new
 * tempo or setting makes the session dirty, and it is saved once things
 * have been quiet for a moment (coalesced: never on every change), at most
 * a few seconds after the first unsaved change, on request (REQUEST_SAVE),
 * and at shutdown (sd_writer_stop). Clips are copied out of the keeper's
 * memory against the engine's clip versions (engine.h), so the real-time
 * thread never waits and a clip that changed while it was copied is simply
 * copied again when it is final. Only clips whose audio changed are written
 * (session_store.h: new files, then the manifest, power-cut safe).
 *
 * A save removes a saved clip only when the musician cleared a clip this
 * instance holds (restored or saved by it): a pad whose clip is not
 * restored yet, or was skipped by the restore (too big, a bad file), shows
 * empty, and that is no clear. A take recorded over such a clip replaces it
 * in the session only once the old file is kept as
 * EXPORT_DIR/not-restored/FILE (a hard link, or a copy); if it cannot be,
 * the old clip stays and that take is held back (said, retried). At the
 * stop every take is saved as far as it got, whatever its state (end
 * pressed and waiting for its bar line, an overdub under way).
 *
 * An export (EV_REQUEST REQUEST_EXPORT, or sd_writer_request_export from a
 * signal) saves first, then exports the saved session (export.h), and
 * writes the outcome to EXPORT_DIR/last-export.txt for `gridloop export`.
 *
 * A card that is missing, read-only or full puts the writer in a fault
 * state (STORAGE_FAULT, a message once), it keeps what it has not saved
 * dirty and tries again every few seconds: nothing recorded is lost while
 * the program runs, and audio is never touched by any of it.
 */
#ifndef GRIDLOOP_SD_WRITER_H
#define GRIDLOOP_SD_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "export.h"
#include "fanout.h"
#include "wake.h"
#include "keeper.h"
#include "session.h"

#define SD_WRITER_LAST_EXPORT "last-export.txt"

struct sd_writer_config {
	struct engine *engine;
	struct keeper *keeper;
	const char *session_dir;
	const char *export_dir;
	const char
	    *mount_point; /* the data partition, checked before each save; or NULL */
	enum export_format export_format;
	/* What is on the card now (the manifest loaded at start, clips not
	 * restored yet included), copied; its settings are what the restore
	 * sets (a tempo of 0 there: the engine's configured one). NULL: no
	 * session to restore; the new one starts from the engine's
	 * configuration (session_init_settings), as the engine plays it. */
	const struct session *on_card;
	uint64_t serial; /* session_store_load()'s: clip file names go on from it */
	/* Clips that the loader restores are saved again (the session on the
	 * card was at another rate and was moved aside). */
	bool resave_restored;
	/* The mark of a rate conversion not finished (main.c): removed only
	 * once the loader has handed over every clip of the conversion
	 * (sd_writer_restore_complete), the engine has answered each offer,
	 * and a committed save holds every clip it took (one cleared since,
	 * or refused because the pad was recorded over, counts as done: the
	 * original stays in its kept folder). Until then a power cut leaves
	 * the mark, and the next start converts what the session lacks.
	 * NULL: none. */
	const char *conversion_marker;
	/* The card could not be read at start (not mounted): a session found
	 * on it later is set aside before the first save, not overwritten. */
	bool card_unknown;
	uint32_t quiet_ms;	  /* save after this long without changes */
	uint32_t max_delay_ms;	  /* ...but no later than this after the first */
	uint32_t retry_ms;	  /* after a failed save */
	uint32_t export_shown_ms; /* STORAGE_EXPORTED shows this long */
	/* Signalled when the status changes (the supervisor passes it to the
	 * LEDs and sleeps otherwise); or NULL. */
	const struct wake *status_wake;
};

void sd_writer_config_defaults(struct sd_writer_config *cfg);

/* Not real-time safe. NULL when out of memory. */
struct sd_writer *sd_writer_create(const struct sd_writer_config *cfg);
int sd_writer_start(struct sd_writer *w); /* the thread: 0 or -errno */

/* The queue the supervisor copies the engine's events into. */
struct fanout *sd_writer_events(struct sd_writer *w);

/* From any thread (the supervisor on SIGUSR2). */
void sd_writer_request_export(struct sd_writer *w);

/* From any thread (the session loader): every clip of the conversion went
 * through, `offered` takes were handed to the keeper; the writer removes
 * cfg.conversion_marker once they are saved (see there). */
void sd_writer_restore_complete(struct sd_writer *w, int offered);

/* Stops the thread, then saves what is not saved yet. Call once the audio
 * thread has stopped, engine_settle() has run and the engine's last events
 * are passed on (the supervisor does both): then even a take still being
 * recorded is saved (as far as it got), since nothing writes the clips any
 * more. 0, or -1 when the last save failed or held a take back (the
 * message was logged). */
int sd_writer_stop(struct sd_writer *w);
void sd_writer_destroy(struct sd_writer *w);

/* The state for the LEDs (enum storage_status); it moves on its own. */
enum storage_status sd_writer_status(const struct sd_writer *w);

struct sd_writer_stats {
	uint64_t saves, save_failures;
	uint64_t clips_written, bytes_written;
	uint64_t copies_discarded; /* a clip changed while being copied */
	uint64_t exports, export_failures;
	uint64_t last_save_ms; /* how long the last save took */
};
void sd_writer_get_stats(struct sd_writer *w, struct sd_writer_stats *st);

#endif
