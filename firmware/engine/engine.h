/* engine.h -- the real-time looping engine: an 8 x 10 grid of clips, a
 * transport, and the mix, advanced one period at a time.
 *
 * The engine is pure: no ALSA, no files, no threads, no locks, no allocation
 * after engine_create(). Whoever owns the audio device calls engine_process()
 * once per period on the real-time thread; everybody else talks to it through
 * lock-free SPSC queues (spsc.h):
 *
 *   command queues (one per producer) --> engine --> event queue
 *   engine --> memory requests --> keeper (keeper.h) --> memory replies --> engine
 *
 * Time is counted in frames since engine_create() ("engine frames"). A frame
 * number names the output frame generated at that time; an input frame that
 * arrives at time t is what the player played while hearing output frame
 * t - latency_frames (round-trip latency compensation).
 */
#ifndef GRIDLOOP_ENGINE_H
#define GRIDLOOP_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "gl_limits.h"
#include "grid.h"
#include "spsc.h"

#define GL_CMD_SOURCES 6 /* command producers: see enum command_source */
#define GL_NEVER       INT64_MAX
/* A loop follows a grid moved under it (CMD_SYNC_GRID) once it is more
 * than this far from where the grid says it should be (clip.c). */
#define GL_REPHASE_MS 5

enum clip_state {
	CLIP_EMPTY,
	CLIP_RECORD_QUEUED,
	CLIP_RECORDING,
	CLIP_PLAY_QUEUED, /* also: recording, ending at the next boundary */
	CLIP_PLAYING,
	CLIP_OVERDUBBING,
	CLIP_STOP_QUEUED,
	CLIP_STOPPED,
	CLIP_STATE_COUNT
};

/* Who sends commands. Each source has its own SPSC queue, so each has
 * exactly one producer thread. */
enum command_source {
	SOURCE_CONTROLLER, /* the sequencer thread */
	SOURCE_SCRIPT,	   /* --script lines, the demo, tests */
	SOURCE_SYSTEM,	   /* the supervisor: signals (export) */
	SOURCE_SESSION,	   /* the session loader: restored settings */
	SOURCE_OSC,	   /* the OSC server's thread (gl-osc): remote clients */
	SOURCE_SYNC,	   /* the audio thread itself: Ableton Link (link_sync.h) */
};

enum command_type {
	CMD_PRESS,	  /* track, scene: next state, session-view style */
	CMD_LAUNCH_SCENE, /* scene */
	CMD_STOP_CLIP,	  /* track, scene */
	CMD_STOP_TRACK,	  /* track */
	CMD_STOP_ALL,
	CMD_CLEAR,	   /* track, scene */
	CMD_OVERDUB,	   /* track, scene: toggle overdub on a playing clip (a
			    * replace or substitute pass is ended by any of the
			    * three; all show as CLIP_OVERDUBBING) */
	CMD_UNDO,	   /* track, scene: undo the last pass, or the clear */
	CMD_REDO,	   /* track, scene: redo the last undone level */
	CMD_TAP_TEMPO,	   /* at the command's frame */
	CMD_SET_TEMPO,	   /* value = BPM (30..300) */
	CMD_SET_METER,	   /* value = beats per bar (1..16) */
	CMD_SET_QUANTISE,  /* value = enum quantise */
	CMD_TRACK_VOLUME,  /* track, value = gain 0..2 */
	CMD_MUTE,	   /* track, value = 0/1 */
	CMD_MASTER_VOLUME, /* value = gain 0..2 */
	CMD_MONITOR,	   /* track, value = 0/1: input monitoring */
	CMD_METRONOME,	   /* value = 0/1 */
	CMD_REQUEST,	   /* value = enum user_request: passed on as EV_REQUEST,
			    * at its frame, to whoever acts on it (SD writer) */
	CMD_REPLACE,	   /* track, scene: toggle a replace pass (overwrites; the
			    * loop is silent where it is being replaced) */
	CMD_SUBSTITUTE,	   /* track, scene: toggle a substitute pass (overwrites;
			    * the old audio is heard while passing) */
	CMD_CLIP_MUTE,	   /* track, scene, value = 0/1: mute one clip, at once
			    * (glided over a fade); a clip with audio only */
	CMD_ONESHOT,	   /* track, scene: play once from the top (quantised),
			    * then stop */
	CMD_TRIGGER,	   /* track, scene: (re)start from the top (quantised) */
	CMD_REVERSE,	   /* track, scene: toggle reverse at the next boundary
			    * (a final take only; a pass under way ends there) */
	CMD_COUNTIN,	   /* value = 0/1: a take waits for one bar of click after
			    * its bar line (needs a tempo) */
	CMD_SPEED,	   /* track, scene, value = 0.5, 1 or 2: play at half or
			    * double speed from the next boundary, from the top
			    * (a final take only; a pass under way ends there) */
	CMD_UNDO_ALL,	   /* track, scene: undo every level (and a clear) */
	CMD_REDO_ALL,	   /* track, scene: redo every undone level */
	CMD_MULTIPLY,	   /* track, scene: toggle a multiply (from the next
			    * boundary): the loop grows by whole cycles while
			    * the pass overdubs repeated copies of it, ending
			    * at the cycle boundary at or after the end press */
	CMD_INSERT,	   /* track, scene: toggle an insert (from the next cycle
			    * boundary of the play position): whole cycles of
			    * new material go in there, the loop plays on after
			    * them; ends at the cycle boundary at or after the
			    * end press */
	CMD_SYNC_GRID,	   /* value = BPM (30..300), at its frame: a bar line
			    * falls there and the grid runs at that tempo from
			    * it (the bar count goes on from the next bar of
			    * the old grid). Ableton Link's session grid. The
			    * old grid's nearest bar line moved by some frames:
			    * changes queued for later move as much, and loops
			    * playing (or being recorded) follow, crossfaded,
			    * once GL_REPHASE_MS off (clip.c). */
	CMD_TYPE_COUNT
};

/* What a musician asks of the appliance beyond the loops: the engine only
 * passes these on (EV_REQUEST), so a controller chord, a script line and a
 * signal all take the same road. */
enum user_request {
	REQUEST_EXPORT = 1, /* write the clips to a new export folder */
	REQUEST_SAVE,	    /* save the session now */
};

struct command {
	int64_t frame; /* engine frame to act at; <= now means "at once" */
	float value;
	uint8_t type;  /* enum command_type */
	uint8_t track; /* 0..7 */
	uint8_t scene; /* 0..9 */
};

/* What kind of pass a clip in CLIP_OVERDUBBING runs (EV_CLIP_STATE's aux),
 * so that a client can tell a multiply from an overdub (SooperLooper's
 * state codes do). */
enum clip_pass {
	CLIP_PASS_OVERDUB,
	CLIP_PASS_REPLACE,
	CLIP_PASS_SUBSTITUTE,
	CLIP_PASS_MULTIPLY,
	CLIP_PASS_INSERT,
};

enum event_type {
	EV_CLIP_STATE,	 /* track, scene, state = enum clip_state; aux = enum
			    clip_pass while overdubbing */
	EV_RECORD_DONE,	 /* track, scene, value = length in frames: audio final */
	EV_OVERDUB_DONE, /* track, scene: an overdub pass ended (or a multiply,
			    insert, undo, redo), audio final; value = length */
	EV_TEMPO,	 /* value = BPM x 1000, aux = beats per bar */
	EV_BAR,		 /* value = bar number (from 0), at a bar's first frame */
	EV_ERROR,	 /* value = enum engine_error, track/scene where it applies */
	EV_BEAT, /* value = beat index (from 0), aux = beat within the bar (0 = downbeat),
		    at a beat's first frame: the MIDI clock out's anchor */
	EV_SETTING,	 /* aux = the command type that changed it (CMD_TRACK_VOLUME,
			    CMD_MUTE, CMD_MASTER_VOLUME, CMD_SET_QUANTISE, CMD_METRONOME,
			    CMD_MONITOR, and a clip's own: CMD_CLIP_MUTE, CMD_REVERSE),
			    track (and scene, for a clip's) where it applies,
			    value = new value x 1e6 */
	EV_RESTORED,	 /* track, scene, value = length: a restored take offered by
			    the keeper; aux = 1 taken into the empty slot, 0 refused
			    (the slot was no longer empty) */
	EV_REQUEST,	 /* value = enum user_request (CMD_REQUEST) */
	EV_STORAGE,	 /* never from the engine: the supervisor passes the SD
			    writer's state on with the engine's events, to the LEDs.
			    value = enum storage_status */
	EV_UNDO_DROPPED, /* track, scene: the clip's oldest undo level was
			    dropped to make room for a new pass, multiply or
			    insert, or for a buffer of the take's new length
			    (the levels or MB bound), or all of them for a
			    recording out of memory; value = levels still kept */
};

enum storage_status {
	STORAGE_IDLE,	       /* nothing going on; the card is fine */
	STORAGE_RESTORING,     /* the last session is loading */
	STORAGE_SAVING,	       /* a save is being written */
	STORAGE_EXPORTING,     /* an export is being written */
	STORAGE_EXPORTED,      /* the export finished (shown a few seconds) */
	STORAGE_EXPORT_FAILED, /* the export failed (shown until the next one) */
	STORAGE_FAULT,	       /* the card is missing, read-only or full: nothing
				  is saved until it is back (audio unaffected) */
};

enum engine_error {
	ERR_OUT_OF_MEMORY = 1, /* a recording stopped early: no memory */
	ERR_MEMORY_LATE,       /* the keeper did not keep up: recording stopped */
	ERR_NO_UNDO,	       /* overdub without an undo buffer */
	ERR_BAD_COMMAND,       /* out-of-range field: ignored */
	ERR_QUEUE_FULL,	       /* a memory request could not be queued */
	ERR_LOOP_TOO_SHORT,    /* a first loop shorter than one bar at the highest
				  tempo (GL_FIRST_LOOP_MIN_FRAMES): it loops as
				  it is, but sets no tempo */
	ERR_PASS_AT_SPEED,     /* an overdub, replace, substitute, multiply or
				  insert asked of a clip at half or double
				  speed: refused */
	ERR_PASS_REVERSED,     /* a multiply or insert asked of a reversed clip:
				  refused */
	ERR_PASS_BUSY,	       /* a pass asked while an undo's swap or a multiply's
				  or insert's copy is still going on (seconds
				  for an hour-long loop): refused */
};

struct event {
	int64_t frame; /* engine frame it happened at */
	int64_t value;
	int32_t aux;
	uint8_t type; /* enum event_type */
	uint8_t track;
	uint8_t scene;
	uint8_t state;
};

struct track_input {
	uint8_t first_channel; /* 0-based input channel */
	uint8_t stereo;	       /* 1: first_channel and the next one */
};

struct engine_config {
	uint32_t rate;		 /* 44100, 48000 or 96000 */
	uint32_t max_period;	 /* largest period engine_process() will get */
	uint32_t input_channels; /* interleaved channels of engine_process() input */
	struct track_input track_input[GL_TRACKS];
	uint32_t latency_frames; /* round trip, compensated when recording */
	uint32_t fade_frames;	 /* fades at loop seams, launches and stops */
	uint32_t grow_frames;	 /* recording memory increment (default 1 s) */
	double tempo;		 /* 0: unknown until the first loop sets it */
	uint32_t beats_per_bar;	 /* default 4 */
	enum quantise quantise;	 /* default bar */
	bool metronome;
	float click_volume;	 /* the metronome's own gain, 0..GL_GAIN_MAX (1) */
	uint32_t undo_levels;	 /* per clip, GL_UNDO_LEVELS_MIN..MAX */
	uint64_t undo_memory_mb; /* per clip, 0: no bound but memory */
};

/* Fills in defaults for a rate (48 kHz, 4/4, bar quantise, 1 s growth,
 * 3 ms fades, mono input channel t on track t, GL_UNDO_LEVELS_DEFAULT
 * undo levels). */
void engine_config_defaults(struct engine_config *cfg, uint32_t rate);

/* Not real-time safe: allocates the engine and its queues. NULL on a bad
 * config (message in *why) or no memory. */
struct engine *engine_create(const struct engine_config *cfg, const char **why);
void engine_destroy(struct engine *e);

/* The real-time entry point. in: frames x input_channels interleaved floats;
 * out: frames x 2 interleaved floats, overwritten. frames <= max_period. */
void engine_process(struct engine *e, const float *in, float *out, uint32_t frames);

/* Track stems, for the performance recorder: when set, every period also
 * leaves each track's contribution to the mix (after its volume and mute,
 * before the master volume and the click) in stems, frames x GL_STEM_CH
 * floats interleaved (track t's left and right at 2t, 2t + 1). The buffer
 * holds max_period frames and stays the caller's. Not real-time safe: set
 * before the audio starts. NULL: off. */
#define GL_STEM_CH (GL_TRACKS * GL_OUT_CH)
void engine_set_stems(struct engine *e, float *stems);

/* The metronome on its own outputs ([looper] click_output): when set, the
 * click (count-in included) is not in the mix but in click, max_period
 * mono frames, overwritten every period, at click_volume and without the
 * master volume. The buffer stays the caller's. Not real-time safe: set
 * before the audio starts. NULL (the default): the click is in the mix. */
void engine_set_click_out(struct engine *e, float *click);

/* Not real-time: only once the audio thread has stopped for good (before
 * the last save). Finishes what the engine spreads over periods and that
 * leaves a clip's stored audio neither the old nor the new one: an undo or
 * redo swap under way is completed (its EV_OVERDUB_DONE is queued), and so
 * are the copies of a finished multiply or insert (and the keeper's answers
 * waiting are taken), so the last save gets the take as it was asked for,
 * never half of each. */
void engine_settle(struct engine *e);

/* Queues (see the top of this file). */
struct spsc *engine_commands(struct engine *e, enum command_source src);
struct spsc *engine_events(struct engine *e);
struct spsc *engine_memory_requests(struct engine *e);
struct spsc *engine_memory_replies(struct engine *e);

/* Convenience for non-real-time producers: fill and push a command. */
bool engine_send(struct engine *e, enum command_source src, enum command_type type,
		 int track, int scene, float value, int64_t frame);

/* ---- Read-only views, for tests, the demo and the SD writer. -------------
 * Safe from the real-time thread itself, or from another thread only for a
 * clip whose EV_RECORD_DONE / EV_OVERDUB_DONE it has seen and which it has
 * not asked to change since. */
int64_t engine_now(const struct engine *e); /* first frame of the next period */
const struct engine_config *engine_config(const struct engine *e);
enum clip_state engine_clip_state(const struct engine *e, int track, int scene);
/* A state's name, as profile files ([leds] keys) and OSC's grid namespace
 * write it ("empty", "record_queued", ... "stopped"); "?" out of range. */
const char *engine_clip_state_name(enum clip_state s);
/* How often a loop playing was moved to keep its place against a grid the
 * session moved (CMD_SYNC_GRID; each one a crossfade). Any thread. */
uint64_t engine_loops_moved(const struct engine *e);
int64_t engine_clip_length(const struct engine *e, int track, int scene);
/* The frames of stored audio the clip holds now: its length, or for a take
 * still being recorded (its end pressed or not) the frames written so far.
 * What a take is "as far as it got" when the audio stops (the SD writer's
 * last save). */
int64_t engine_clip_stored_length(const struct engine *e, int track, int scene);
int engine_clip_channels(const struct engine *e, int track, int scene);
/* Copies frames [from, from+n) of one channel of a clip's stored audio out;
 * returns frames copied. Stored audio is exact: fades are applied on
 * playback, never written into it. */
int64_t engine_clip_read(const struct engine *e, int track, int scene, int channel,
			 int64_t from, float *dst, int64_t n);

/* ---- Clip versions: copying a clip out while the engine runs. ---------
 * A clip's version is even while its stored audio is final and unchanged,
 * and odd while it is empty or may be changing (recording, an overdub pass,
 * an undo or redo swap); every change makes it move. Any thread may read
 * it. To copy a clip without stopping anything (the SD writer):
 *
 *   v = engine_clip_version(e, t, s);           odd: try again later
 *   n = engine_clip_final_length(e, t, s);
 *   ... copy n frames (keeper_clip_copy: memory that cannot go away) ...
 *   keep the copy only if engine_clip_version_still(e, t, s, v)
 *
 * The real-time thread never waits for a reader; a reader that raced with
 * a change throws its copy away. */
uint32_t engine_clip_version(const struct engine *e, int track, int scene);
int64_t engine_clip_final_length(const struct engine *e, int track, int scene);
/* The final take's cycle (its length as recorded; a multiply or insert
 * makes the take whole cycles of it), read as the final length is. */
int64_t engine_clip_final_cycle(const struct engine *e, int track, int scene);
/* Its seams off the cycle lines (an insert's ends: playback fades there),
 * increasing, into out (GL_SEAMS_MAX); returns how many. */
int engine_clip_final_seams(const struct engine *e, int track, int scene, int64_t *out);
bool engine_clip_version_still(const struct engine *e, int track, int scene, uint32_t v);
double engine_tempo(const struct engine *e); /* 0 when not known yet */
uint32_t engine_beats_per_bar(const struct engine *e);
/* The first bar line at or after frame f; GL_NEVER without a tempo. On the
 * engine's thread (the audio thread's Link sync). */
int64_t engine_next_bar(const struct engine *e, int64_t f);
/* Committed recording memory not yet written, summed over recording clips. */
int64_t engine_unused_recording_bytes(const struct engine *e);
uint32_t engine_events_dropped(const struct engine *e);

#endif
