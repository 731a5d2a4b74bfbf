/* export.h -- a session's clips as files a musician takes home: a new folder
 * per export under the export directory, human-named files in the chosen
 * format (libsndfile), and a text file that says the tempo, meter and bars
 * of each clip, so they can be dropped into a DAW and line up.
 *
 *   EXPORT_DIR/2026-11-25_2130/scene03_track5.wav
 *   EXPORT_DIR/2026-11-25_2130/export.txt
 *
 * The folder is written as ".2026-11-25_2130.partial" and renamed when
 * complete: a folder with the plain name is always a whole export.
 */
#ifndef GRIDLOOP_EXPORT_H
#define GRIDLOOP_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "session.h"

enum export_format {
	EXPORT_WAV16,
	EXPORT_WAV24,
	EXPORT_WAV_FLOAT,
	EXPORT_FLAC16,
	EXPORT_FLAC24,
};

/* "wav16", "wav24", "wavfloat", "flac16", "flac24" (also "wav" = wav24,
 * "flac" = flac24). 0 or -1. */
int export_format_parse(const char *text, enum export_format *f);
const char *export_format_name(enum export_format f);
const char *export_format_extension(enum export_format f); /* "wav", "flac" */

/* "2026-11-25_2130" for time t (local time). */
void export_folder_name(time_t t, char *out, size_t len);
/* "scene03_track5.wav": track and scene are the engine's (from 0), the name
 * counts from 1, as a musician does. */
void export_clip_name(int track, int scene, enum export_format f, char *out, size_t len);

/* Exports every present clip of s. A clip's audio is taken from memory when
 * set, else read from session_dir (its `file`). The folder gets
 * export_folder_name(when), or "_2", "_3"... after it when that exists; its
 * path goes to folder (may be NULL). 0, or -errno with a message in err (the
 * partial folder is removed); -ENODATA when s has no clips.
 *
 * A clip whose file in session_dir is missing or unreadable does not fail
 * the export: it is skipped, the rest are exported, and it is named in
 * export.txt ("skipped") and in err (which is "" only when every clip was
 * exported, so check err[0] after a 0) and logged on stderr. A gig's other
 * takes matter more than one lost file. Failing to write is always fatal. */
int export_session(const char *export_dir, const struct session *s,
		   const char *session_dir, enum export_format f, time_t when,
		   char *folder, size_t folderlen, char *err, size_t errlen);

/* Removes the partial folders (".NAME.partial") a power cut left in
 * export_dir. Only for the holder of the session's instance lock
 * (session_store_lock, exclusively): any other export may be running. */
void export_sweep_partials(const char *export_dir);

#endif
