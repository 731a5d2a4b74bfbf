/* session.h -- a looping session as it is kept on the SD card: the
 * settings that make the clips sound as they did, and each clip's audio.
 *
 * This is plain data, shared by the manifest (manifest.h: the settings and
 * the list of clip files, as JSON), the session store (session_store.h: the
 * directory on the card, written power-cut safe), the exporter (export.h)
 * and the SD writer thread that fills it from the running engine. Nothing
 * here touches the engine: the engine's clips are copied into a session,
 * and a loaded session is handed to the engine through the keeper.
 */
#ifndef GRIDLOOP_SESSION_H
#define GRIDLOOP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "gl_limits.h"
#include "grid.h"

struct engine_config; /* engine.h */

#define SESSION_NAME_MAX 96 /* a clip file's name, without directory */

struct session_track {
	float volume; /* 0..2 */
	bool mute;
};

struct session_clip {
	bool present;	/* false: the slot is empty */
	int channels;	/* 1 or 2 */
	int64_t frames; /* loop length at the session's rate */
	double bars; /* frames in bars at the session's tempo and meter (0: no tempo) */
	char file[SESSION_NAME_MAX]; /* file name inside the session directory */
	bool muted;    /* the clip's own mute (CMD_CLIP_MUTE); default false */
	bool reversed; /* plays backwards (CMD_REVERSE); default false */
	double speed;  /* 0.5 or 2 (CMD_SPEED); 1, or 0 (unset), as recorded */
	int64_t cycle; /* a multiplied or inserted take's cycle (its length as
			  recorded: frames is whole cycles); 0: frames */
	int64_t seams[GL_SEAMS_MAX]; /* an insert's seams, increasing, 0 < x < frames */
	int nseams;
	/* The audio, channels separate (non-interleaved), frames each; NULL in
	 * a manifest that was only parsed (the files not read yet); audio[1]
	 * is NULL for mono. Each is its own malloc'ed block, owned by the
	 * session (session_free_audio frees both). */
	float *audio[2];
};

struct session {
	uint32_t rate;		/* Hz */
	double tempo;		/* BPM; 0: not known yet */
	uint32_t beats_per_bar; /* 1..16 */
	enum quantise quantise;
	bool metronome;
	float master_volume; /* 0..2 */
	struct session_track tracks[GL_TRACKS];
	struct session_clip
	    clips[GL_SLOTS]; /* [scene * GL_TRACKS + track], as the engine */
	char saved_at[32];   /* UTC, ISO 8601, e.g. 2026-11-25T21:30:00Z; may be "" */
};

/* Defaults: no clips, 4/4, bar quantise, unity gains, no tempo. */
void session_init(struct session *s, uint32_t rate);
/* A new session as an engine set up with ec plays it: no clips, ec's rate,
 * tempo, meter, quantise and metronome, unity gains. What the SD writer
 * saves when there is no session to restore. */
void session_init_settings(struct session *s, const struct engine_config *ec);
/* Frees every clip's audio (the settings stay). */
void session_free_audio(struct session *s);
/* Clip bookkeeping: count of present clips. */
int session_clip_count(const struct session *s);

#endif
