/* link_sync.h -- what gridloop and an Ableton Link session say to each other
 * once per period: pure arithmetic and a small state machine, so that the
 * audio thread only reads Link (link.h), calls link_sync_period(), and does
 * what it answers (a command for the engine, a change for Link).
 *
 * Pure: no Link, no clock, no allocation. All times are engine frames; the
 * caller gives Link's beat at the time the period's first output frame is
 * heard (the output latency already added), so the grid it maps onto
 * frames is the one the session hears. Quantum = the meter's beats per bar.
 */
#ifndef GRIDLOOP_LINK_SYNC_H
#define GRIDLOOP_LINK_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINK_SYNC_BPM_TOLERANCE 0.005 /* BPM: closer is the same tempo */
#define LINK_SYNC_PHASE_MS	1.0   /* a bar line off by more is re-aligned */

/* The frame of the first bar line (Link phase 0 at quantum) at or after
 * `frame`, where `beat` is Link's beat at `frame` and bpm its tempo. */
int64_t link_sync_bar_frame(int64_t frame, double beat, double bpm, uint32_t quantum,
			    uint32_t rate);

/* The beat (0 <= beat < quantum) that gridloop's grid is at on `frame`,
 * given its next bar line's frame (>= frame): what it asks Link for. */
double link_sync_engine_beat(int64_t frame, int64_t next_bar, double bpm,
			     uint32_t quantum, uint32_t rate);

/* How far apart two bar grids of bar_frames are, in frames (0 .. bar/2). */
int64_t link_sync_bar_offset(int64_t bar_a, int64_t bar_b, double bar_frames);

struct link_sync_in {
	int64_t frame; /* the period's first engine frame */
	uint32_t rate;
	double link_bpm;
	double link_beat; /* Link's beat (quantum = beats_per_bar) at `frame` */
	bool link_playing;
	size_t peers;
	double engine_bpm;	 /* 0: no tempo yet */
	int64_t engine_next_bar; /* the engine's next bar line >= frame */
	uint32_t beats_per_bar;
	bool engine_active; /* a clip queued, recording or playing */
};

struct link_sync_out {
	bool propose; /* set Link's tempo and ask for this beat at `frame` */
	double propose_bpm;
	double propose_beat;
	bool align; /* the engine: this tempo, a bar line at align_frame */
	double align_bpm;
	int64_t align_frame;
	bool set_playing; /* Link's start/stop state */
	bool playing;
	bool start; /* the session started: start gridloop (launch a scene) */
	bool stop;  /* the session stopped: stop gridloop's clips */
};

struct link_sync {
	bool link_leads; /* false: MIDI clock in leads; never follow Link */
	bool start_stop; /* start/stop sync */
	bool primed;
	double expected_bpm; /* the engine's tempo as this module last left it */
	int64_t align_due;   /* an alignment queued for this frame: wait */
	double before_bpm;   /* the engine's tempo when it was queued */
	bool link_playing, engine_active;
	uint64_t aligns, proposals; /* counted */
	/* The largest distance (frames) seen between the engine's next bar
	 * line and the session's while both ran at the same tempo, the
	 * period before was in phase and no alignment was on its way:
	 * gridloop's steady-state phase error at its output
	 * against the session, measured every period with peers. */
	int64_t worst_offset;
	bool in_phase; /* the last period's grid was within the tolerance */
};

void link_sync_init(struct link_sync *s, bool link_leads, bool start_stop);

/* One period: what to change where (out is overwritten). */
void link_sync_period(struct link_sync *s, const struct link_sync_in *in,
		      struct link_sync_out *out);

/* The session's peer count, watched off the real-time path (the supervisor,
 * a few times a second): when it changed (to be logged), and when to leave
 * and rejoin the network session. Ableton Link 3.0.6 can stay split from
 * the session for good after its own sends failed (sendto refused locally,
 * e.g. by a firewall rule): its network gateway is torn down and rebuilt
 * while it measures the session, that measurement never answers, and the
 * session, still listed as "being measured", is never measured again; its
 * peers are heard but never joined (0 peers). Leaving and rejoining resets
 * that (Link's own enable), and joins the session as a newcomer does.
 * So: after the peers were lost (there were some, now none) for
 * LINK_WATCH_FIRST_MS, rejoin; while still none, again after twice the
 * wait, up to LINK_WATCH_MAX_MS between tries. Any peer resets it. */
#define LINK_WATCH_FIRST_MS 8000
#define LINK_WATCH_MAX_MS   60000
/* What link_watch_step() answers: the count is new (differs from the last,
 * or is the first), and/or leave and rejoin the network session now. */
#define LINK_WATCH_CHANGED 1u
#define LINK_WATCH_REJOIN  2u

struct link_watch {
	bool seen;	    /* a count was given */
	bool had_peers;	    /* some peer since the start */
	size_t peers;	    /* the last count */
	int64_t zero_since; /* ms: when the peers were lost (0: not lost) */
	int64_t next_try;   /* ms: the next rejoin while none came back */
	int64_t wait;	    /* ms: what the last wait was */
	uint64_t rejoins;   /* counted */
};

/* Zero-initialised is the start. `now_ms` must not go back; `peers` is
 * Link's count now. Returns LINK_WATCH_ flags. */
unsigned link_watch_step(struct link_watch *w, int64_t now_ms, size_t peers);

/* ---- When a period is heard: the output clock ---------------------------
 * The time (Link's clock, us) the first frame of a period is heard: what
 * the audio thread gives Link as the period's time. A reading is the
 * playback stream's delay (frames queued before the next written frame,
 * the period's first) and the clock then, taken between the capture read
 * and the playback write (the audio thread takes two: after the read, and
 * before the write). clock + delay - frame (in us) is the offset of the
 * device's clock from the engine's frames; a wake-up late, or a delay
 * counted only once a device cycle, only ever makes a reading larger,
 * never smaller. On alsa-lib's jack plugin (capture and playback two JACK
 * clients, their callbacks in either order) a reading taken after this
 * cycle's capture but before its playback is a whole period larger, and
 * in scripts/test-link four readings in five were: the smaller ones came
 * at most 2.4 s apart. So the estimate is the smallest reading of the last
 * LINK_HEARD_WINDOW_MS (in LINK_HEARD_BLOCKS blocks of frames: a fixed
 * size whatever the period): a real step of the latency down is taken at
 * once, one up after at most the window. A reading that failed (the
 * device has no delay, an error) is left out; with none in the window,
 * the period is heard at the clock now plus the nominal latency (the
 * buffer less one period), as before the readings. An xrun, a restart or
 * another device: link_heard_reset(), the old readings say nothing of the
 * new queue. */
#define LINK_HEARD_WINDOW_MS 3000
#define LINK_HEARD_BLOCKS    16

struct link_heard {
	uint32_t rate;
	int64_t nominal_us;   /* from a reading to the sound, when no delay */
	int64_t block_frames; /* LINK_HEARD_WINDOW_MS / LINK_HEARD_BLOCKS */
	int64_t max_delay;    /* frames: a larger delay is not believed */
	struct {
		int64_t block; /* frame / block_frames; INT64_MIN: empty */
		double offset; /* us: the smallest reading in that block */
	} b[LINK_HEARD_BLOCKS];
	uint64_t readings, failed; /* counted */
	double last_latency_us;	   /* of the last period: heard - clock */
};

/* rate (> 0) frames a second, nominal_us the fallback latency, max_delay
 * the largest delay (frames) taken as a reading. Starts empty. */
void link_heard_init(struct link_heard *h, uint32_t rate, int64_t nominal_us,
		     int64_t max_delay);
/* Forgets every reading (an xrun, a restart). */
void link_heard_reset(struct link_heard *h);
/* A reading for the period whose first frame is `frame` (never less than a
 * frame given before, since the last reset): `ok` a delay was read, of
 * delay_frames at clock_us (Link's clock); not ok: counted, left out. */
void link_heard_read(struct link_heard *h, int64_t frame, int64_t clock_us, bool ok,
		     int64_t delay_frames);
/* link_heard_read(), then the time (Link's clock, us) `frame` is heard;
 * not ok: clock_us is the clock now. */
int64_t link_heard_period(struct link_heard *h, int64_t frame, int64_t clock_us, bool ok,
			  int64_t delay_frames);

#endif
