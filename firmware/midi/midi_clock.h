/* midi_clock.h -- MIDI timing: event time to engine frames, MIDI clock out
 * (24 ticks per quarter note, start/stop, song position) placed on exact
 * engine frames, and MIDI clock in (follow an external tempo).
 *
 * Pure code for the sequencer thread: no ALSA, no threads, no allocation.
 * The sequencer thread feeds it timestamped bytes and engine events and
 * schedules the messages it lists. Also home of the two small types every
 * MIDI module here shares: struct time_map and struct command_sink.
 */
#ifndef GRIDLOOP_MIDI_CLOCK_H
#define GRIDLOOP_MIDI_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ---- shared types ------------------------------------------------------- */

/* Event time (microseconds, any clock) to engine frames: the caller keeps
 * ref_us/ref_frame current (e.g. the time at which the audio thread started
 * a period, and that period's first frame), so a press lands on the frame at
 * which it was played. */
struct time_map {
	int64_t ref_us;
	int64_t ref_frame;
	uint32_t rate; /* frames per second */
};

int64_t time_map_frame(const struct time_map *m, int64_t us);
int64_t time_map_us(const struct time_map *m, int64_t frame);

/* Where engine commands go (e.g. a push onto the controller's SPSC queue).
 * push returns false when the command was refused (queue full). */
struct command_sink {
	bool (*push)(void *ctx, const struct command *cmd);
	void *ctx;
};

/* ---- clock out ---------------------------------------------------------- */

/* One message to send at an engine frame: 0xF8 tick, 0xFA start, 0xFB
 * continue, 0xFC stop, or 0xF2 song position (2 data bytes). */
struct midi_clock_msg {
	int64_t frame;
	uint8_t bytes[3];
	uint8_t len;
};

#define MIDI_CLOCK_TIMELINE 32

/* Frame-exact clock from the engine's beat grid. Tick k after a beat that
 * the engine reported at frame A (EV_BEAT) lands at
 * A + llround(k * frames_per_beat / 24); every beat re-anchors, so ticks never
 * drift from the engine's beats and 24 ticks fall between two beats. */
struct midi_clock_out {
	uint32_t rate;
	/* Beats and tempo changes not yet walked past, in frame order. */
	struct clock_mark {
		int64_t frame;
		int64_t value; /* beat index, or BPM x 1000 */
		int32_t aux;   /* beat within the bar */
		uint8_t type;  /* EV_BEAT or EV_TEMPO */
	} timeline[MIDI_CLOCK_TIMELINE];
	int tl_head, tl_count;
	double frames_per_beat; /* 0: no tempo yet */
	bool anchored;
	int64_t anchor_frame; /* the last beat walked past */
	int64_t anchor_beat;
	int anchor_in_bar;	/* its beat within the bar (EV_BEAT's aux) */
	int beats_per_bar;	/* from EV_TEMPO; 0: not told (a config tempo) */
	int ticks_since_anchor; /* ticks listed since that beat */
	int64_t last_frame;	/* of the last message listed */
	int64_t listed_until;	/* end of the last period listed in full */
	/* Transport. */
	bool running;
	bool start_pending; /* at the first downbeat at or after start_after */
	int64_t start_after;
	bool stop_pending;
	int64_t stop_frame;
	bool song_position;  /* start with Song Position + Continue, not Start */
	bool auto_transport; /* start/stop from the clip states (default) */
	uint8_t clip_state[GL_SLOTS];
	int active_clips;	     /* clips neither empty nor stopped */
	uint32_t ticks_skipped;	     /* the caller skipped frames: ticks dropped */
	uint32_t timeline_overflows; /* marks applied unwalked: queue full */
};

void midi_clock_out_init(struct midi_clock_out *c, uint32_t rate);

/* Feed every engine event (EV_TEMPO, EV_BEAT, EV_CLIP_STATE are used) in the
 * order the engine emitted them. */
void midi_clock_out_event(struct midi_clock_out *c, const struct event *ev);

/* Start at the first downbeat at or after frame (a Start, or with
 * song_position a Song Position Pointer of that beat and a Continue), stop at
 * frame. With auto_transport these follow the clips: start when a clip
 * becomes active (queued, recording, playing) with none active before, stop
 * when the last one stops or empties. */
void midi_clock_out_start(struct midi_clock_out *c, int64_t frame);
void midi_clock_out_stop(struct midi_clock_out *c, int64_t frame);

/* The frame of the next tick, or INT64_MAX while the clock does not tick
 * (no tempo yet). */
int64_t midi_clock_out_next_tick(const struct midi_clock_out *c);

/* How far past the horizon (the frame below which every engine event is
 * known) ticks may be listed now, so that the sequencer thread wakes a few
 * times a second instead of at every tick: while the clock ticks with the
 * transport at rest (not running, no Start or Stop pending), up to
 * horizon + ahead, but never onto the next downbeat (the next beat when the
 * bars are not known), since a Start may have to go out there before its
 * tick. Otherwise (running: a Stop may come at any frame) the horizon
 * itself. *capped tells whether the downbeat was the limit. A tempo change
 * arriving later leaves at most `ahead` frames of ticks at the old tempo. */
int64_t midi_clock_out_reach(const struct midi_clock_out *c, int64_t horizon,
			     int64_t ahead, bool *capped);

/* The frame after which the listing must go on (the sequencer thread asks
 * the audio thread to wake it past it), given the last listing's horizon
 * and reach (midi_clock_out_reach): the next tick; most of the way through a
 * listing ahead (three quarters of it); INT64_MAX while nothing ticks. Never below
 * horizon. */
int64_t midi_clock_out_wake_frame(const struct midi_clock_out *c, int64_t horizon,
				  int64_t reach, bool capped);

/* Lists the messages with frames in [f0, f0 + n), in frame order, up to max;
 * returns how many. Call for consecutive periods, after feeding the engine's
 * events with frames below f0 + n (then every tick is exact; without them
 * ticks are predicted from the last beat and the tempo, and re-anchored when
 * the beat arrives). max >= 2 (a start may be two messages); a call that
 * returns max continues where it stopped when called again. */
int midi_clock_out_period(struct midi_clock_out *c, int64_t f0, uint32_t n,
			  struct midi_clock_msg *out, int max);

/* ---- clock in ----------------------------------------------------------- */

#define MIDI_CLOCK_IN_WINDOW 192 /* ticks: eight beats */
#define MIDI_CLOCK_IN_MIN    24	 /* ticks before a tempo is trusted */

/* Follows an external clock: the tempo is the slope of a least-squares
 * line through the last (up to) 192 tick times, which averages away jitter
 * (+-1 ms of jitter leaves about 0.004 BPM of noise at 120 BPM). Six ticks
 * in a row that miss the line the same way by 2 ms on average are a tempo
 * change: the window restarts from them, and a new tempo is sent once 24
 * ticks (a beat) agree. A move is sent when it exceeds 0.05 BPM and three
 * standard errors of the fit, and never while the newest ticks drift off
 * the line, so jitter and the first ticks of a change send nothing. */
struct midi_clock_in {
	struct time_map time;
	int64_t ticks[MIDI_CLOCK_IN_WINDOW]; /* ring of tick times, us */
	int head, count;
	double us_per_tick;	  /* fitted; 0: unknown */
	double us_per_tick_error; /* its standard error */
	double sent_bpm;	  /* last CMD_SET_TEMPO value; 0: none */
	bool running;
	int start_scene; /* scene launched on Start/Continue; -1: none */
	uint32_t ticks_seen, restarts, out_of_order, commands, commands_refused;
};

void midi_clock_in_init(struct midi_clock_in *c, const struct time_map *time);

/* One real-time message (0xF8, 0xFA, 0xFB, 0xFC; others are ignored) at a
 * time in microseconds. Sends CMD_SET_TEMPO when the fitted tempo moves by
 * more than 0.05 BPM; Start/Continue send the tempo and launch start_scene;
 * Stop sends CMD_STOP_ALL. */
void midi_clock_in_message(struct midi_clock_in *c, uint8_t status, int64_t us,
			   const struct command_sink *sink);

/* The real-time bytes among raw MIDI bytes (they may sit anywhere). */
void midi_clock_in_bytes(struct midi_clock_in *c, const uint8_t *bytes, size_t len,
			 int64_t us, const struct command_sink *sink);

/* The fitted tempo in BPM; 0 while unknown. */
double midi_clock_in_bpm(const struct midi_clock_in *c);

#endif
