/* manifest.h -- a session's manifest: its settings and its list of clip
 * files, as a small JSON document (cJSON) next to the clip files.
 *
 * The reader is strict about what it needs and forgiving about what it does
 * not: every field it uses is checked (type and range), an error names the
 * field ("clips[3].frames: must be a whole number > 0"), and fields it does
 * not know are ignored, so a newer gridloop's additions do not stop an older
 * one. Format versions: see MANIFEST_VERSION below. File names must be plain
 * names inside the session directory (manifest_name_ok): a manifest can never
 * make gridloop read or write elsewhere.
 */
#ifndef GRIDLOOP_MANIFEST_H
#define GRIDLOOP_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "session.h"

#define MANIFEST_FILE	 "session.json"
#define MANIFEST_FORMAT	 "gridloop-session" /* the "format" field */
#define MANIFEST_VERSION 1		    /* what this build writes */
/* "compatible" is the oldest reader version that can read the file: a
 * reader loads any version whose "compatible" is at most MANIFEST_VERSION
 * (ignoring what it does not know), and refuses the rest with a message
 * that says a newer gridloop wrote it. */
#define MANIFEST_MAX_SIZE (1024 * 1024)

/* Parses text (len bytes, need not be NUL-terminated) into s: settings and
 * clip list, audio pointers NULL. 0, or -1 with a message naming the field
 * in err ("clips[0].file: ..."; array indexes 0-based as in the JSON, track
 * and scene 1-based). s is left initialised (session_init(s, 0)) on
 * failure. s is overwritten, not freed: session_free_audio() it first if it
 * holds audio. Fields left out get session_init's defaults; a clip without
 * "bars" gets them from the tempo and meter (0 with no tempo). Two clips may
 * not name one file, compared ignoring case (the card may be FAT). */
int manifest_parse(const char *text, size_t len, struct session *s, char *err,
		   size_t errlen);

/* The manifest of s as JSON text (malloc'ed, NUL-terminated, ending in a
 * newline; the caller frees it), or NULL when out of memory. Only present
 * clips are listed. Numbers are written so they read back exactly. */
char *manifest_write(const struct session *s);

/* A clip file name a manifest may use: 1..SESSION_NAME_MAX-1 characters of
 * [A-Za-z0-9._-], not starting with '.', so never a path, "." or "..". */
bool manifest_name_ok(const char *name);

#endif
