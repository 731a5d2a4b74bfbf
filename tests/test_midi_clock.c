/* test_midi_clock.c -- MIDI timing: the time map; clock out ticks exactly
 * anchor + llround(k * frames_per_beat / 24) at several tempi and rates, fed
 * by the transport's beat grid and by the real engine's EV_BEAT events, with
 * 24 ticks between beats through tempo changes, when predicted ahead, and
 * when listed a few at a time; start/stop/song position; clock in following
 * jittered ticks and tempo changes to within 0.1 BPM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_rig.h"
#include "midi_clock.h"
#include "transport.h"

#define MAXMSG 64

static void test_time_map(void **state)
{
	(void)state;
	struct time_map m = {.ref_us = 1000000, .ref_frame = 5000, .rate = 48000};
	/* At 48 kHz, 1 s = frame 5000: a time and its frame, both ways where
	 * the frame is exact. */
	static const struct {
		int64_t us, frame;
		bool both_ways;
	} at48k[] = {
	    {1000000, 5000, false}, {1001000, 5048, true},
	    {999000, 4952, true},   {1000010, 5000, false}, /* 0.48 frame */
	    {1000011, 5001, false},			    /* 0.528 */
	};
	for (size_t i = 0; i < sizeof(at48k) / sizeof(at48k[0]); i++) {
		assert_int_equal(time_map_frame(&m, at48k[i].us), at48k[i].frame);
		if (at48k[i].both_ways)
			assert_int_equal(time_map_us(&m, at48k[i].frame), at48k[i].us);
	}
	m.rate = 44100;
	assert_int_equal(time_map_frame(&m, 2000000), 5000 + 44100);
	/* Absurd timestamps are clamped, not overflowed. */
	assert_true(time_map_frame(&m, INT64_MAX) > 0);
	assert_true(time_map_frame(&m, INT64_MIN) < 0);
}

/* ---- clock out ------------------------------------------------------------ */

struct ticks {
	int64_t frame[20000];
	int n;
	uint8_t other[64][3]; /* start/stop/song position, in order */
	int64_t other_frame[64];
	int nother;
};

static void collect(struct ticks *t, const struct midi_clock_msg *m, int n)
{
	for (int i = 0; i < n; i++) {
		if (m[i].bytes[0] == 0xF8) {
			assert_true(t->n < 20000);
			t->frame[t->n++] = m[i].frame;
		} else {
			assert_true(t->nother < 64);
			memcpy(t->other[t->nother], m[i].bytes, 3);
			t->other_frame[t->nother++] = m[i].frame;
		}
	}
}

static struct event beat_event(const struct transport *tr, int64_t k)
{
	return (struct event){.type = EV_BEAT,
			      .frame = transport_beat_frame(tr, k),
			      .value = k,
			      .aux = (int32_t)(k % tr->beats_per_bar)};
}

static struct event tempo_event(const struct transport *tr, int64_t f)
{
	return (struct event){.type = EV_TEMPO,
			      .frame = f,
			      .value = llround(tr->bpm * 1000),
			      .aux = (int32_t)tr->beats_per_bar};
}

/* Drives a clock from a transport's beat grid period by period, giving it
 * each beat before the period that contains it is listed. */
static int64_t beat_frames[4096]; /* as run_clock reported them */

static void run_clock(struct midi_clock_out *c, const struct transport *tr,
		      int64_t *next_beat, int64_t from, int64_t to, uint32_t period,
		      struct ticks *t)
{
	struct midi_clock_msg msg[MAXMSG];
	for (int64_t f0 = from; f0 < to; f0 += period) {
		while (transport_beat_frame(tr, *next_beat) < f0 + period) {
			struct event ev = beat_event(tr, *next_beat);
			if (*next_beat >= 0 && *next_beat < 4096)
				beat_frames[*next_beat] = ev.frame;
			midi_clock_out_event(c, &ev);
			++*next_beat;
		}
		int got = midi_clock_out_period(c, f0, period, msg, MAXMSG);
		collect(t, msg, got);
	}
}

static void check_tempo(uint32_t rate, double bpm, uint32_t period)
{
	struct transport tr;
	transport_init(&tr, rate, bpm, 4);
	struct midi_clock_out c;
	midi_clock_out_init(&c, rate);
	struct event ev = tempo_event(&tr, 0);
	midi_clock_out_event(&c, &ev);
	static struct ticks t;
	memset(&t, 0, sizeof(t));
	int64_t next_beat = 0;
	const int beats = 40;
	run_clock(&c, &tr, &next_beat, 0, transport_beat_frame(&tr, beats), period, &t);
	/* The last period may reach into beat 40. */
	assert_true(t.n >= 24 * beats && t.n <= 24 * beats + 24);
	double fpb = 60.0 * rate / ((double)llround(bpm * 1000) / 1000.0);
	for (int g = 0; g < t.n; g++) {
		int64_t anchor = transport_beat_frame(&tr, g / 24);
		int64_t expected = anchor + llround((g % 24) * fpb / 24.0);
		if (t.frame[g] != expected)
			fail_msg("%g BPM at %u Hz: tick %d at %lld, expected %lld", bpm,
				 rate, g, (long long)t.frame[g], (long long)expected);
	}
	assert_int_equal(t.nother, 0); /* no clips: no start */
	assert_int_equal(c.ticks_skipped, 0);
}

static void test_clock_out_exact_at_several_tempi(void **state)
{
	(void)state;
	static const double tempi[] = {120, 137.3, 61, 300, 30};
	static const uint32_t rates[] = {44100, 48000, 96000};
	for (size_t i = 0; i < sizeof(tempi) / sizeof(tempi[0]); i++)
		for (size_t k = 0; k < sizeof(rates) / sizeof(rates[0]); k++) {
			check_tempo(rates[k], tempi[i], 64);
			check_tempo(rates[k], tempi[i], 1000);
		}
	/* 120 BPM at 48 kHz: a tick every 1000 frames exactly. */
	check_tempo(48000, 120, 256);
}

/* The same through the real engine: a tempo command, EV_TEMPO and EV_BEAT
 * from engine_process, the clock listing each period after it ran. */
static void test_clock_out_from_the_engine(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	assert_non_null(r);
	struct midi_clock_out c;
	midi_clock_out_init(&c, 48000);
	rig_cmd(r, CMD_SET_TEMPO, 0, 0, 137.3f, 1000);
	static struct ticks t;
	memset(&t, 0, sizeof(t));
	int64_t beats[64];
	int nbeats = 0, seen = 0;
	double fpb = 0;
	struct midi_clock_msg msg[MAXMSG];
	while (nbeats < 20) {
		int64_t f0 = engine_now(r->e);
		rig_run(r, 64);
		for (; seen < r->nev; seen++) {
			const struct event *ev = &r->ev[seen];
			if (ev->type == EV_BEAT)
				beats[nbeats++] = ev->frame;
			if (ev->type == EV_TEMPO)
				fpb = 60.0 * 48000 / ((double)ev->value / 1000.0);
			midi_clock_out_event(&c, ev);
		}
		int got = midi_clock_out_period(&c, f0, 64, msg, MAXMSG);
		collect(&t, msg, got);
	}
	assert_int_equal(beats[0], 1000); /* the tempo command's frame starts the grid */
	assert_true(t.n >= 24 * (nbeats - 1));
	for (int g = 0; g < 24 * (nbeats - 1); g++) {
		int64_t expected = beats[g / 24] + llround((g % 24) * fpb / 24.0);
		assert_int_equal(t.frame[g], expected);
	}
	rig_free(r);
}

/* Ticks listed ahead of the beats (no EV_BEAT for the period yet): within
 * a frame of the exact place, 24 a beat, in order. */
static void test_clock_out_predicted_ahead(void **state)
{
	(void)state;
	struct transport tr;
	transport_init(&tr, 44100, 137.3, 4);
	struct midi_clock_out c;
	midi_clock_out_init(&c, 44100);
	struct event ev = tempo_event(&tr, 0);
	midi_clock_out_event(&c, &ev);
	ev = beat_event(&tr, 0);
	midi_clock_out_event(&c, &ev);
	static struct ticks t;
	memset(&t, 0, sizeof(t));
	struct midi_clock_msg msg[MAXMSG];
	int64_t next_beat = 1;
	const uint32_t period = 128;
	for (int64_t f0 = 0; f0 < transport_beat_frame(&tr, 30); f0 += period) {
		int got = midi_clock_out_period(&c, f0, period, msg, MAXMSG);
		collect(&t, msg, got);
		/* The engine reports the beats of a period after listing it. */
		while (transport_beat_frame(&tr, next_beat) < f0 + period) {
			ev = beat_event(&tr, next_beat++);
			midi_clock_out_event(&c, &ev);
		}
	}
	double fpb = 60.0 * 44100 / 137.3;
	assert_true(t.n >= 24 * 29);
	for (int g = 0; g < 24 * 29; g++) {
		int64_t exact =
		    transport_beat_frame(&tr, g / 24) + llround((g % 24) * fpb / 24.0);
		assert_true(llabs(t.frame[g] - exact) <= 1);
		if (g > 0)
			assert_true(t.frame[g] > t.frame[g - 1]);
	}
}

/* A tempo change inside a beat: the engine re-anchors at that beat's start
 * (and may skip the beat the change jumps over). Every beat the engine
 * reports still gets tick 24 x (beats since the first) on its frame. */
static void check_tempo_change(double from, double to)
{
	struct transport tr;
	transport_init(&tr, 48000, from, 4);
	struct midi_clock_out c;
	midi_clock_out_init(&c, 48000);
	struct event ev = tempo_event(&tr, 0);
	midi_clock_out_event(&c, &ev);
	static struct ticks t;
	memset(&t, 0, sizeof(t));
	int64_t next_beat = 0;
	/* Eight beats, then the change three quarters into beat 8. */
	int64_t change = transport_beat_frame(&tr, 8) +
			 (int64_t)(0.75 * (double)(transport_beat_frame(&tr, 9) -
						   transport_beat_frame(&tr, 8)));
	change -= change % 64;
	run_clock(&c, &tr, &next_beat, 0, change, 64, &t);
	transport_set_tempo(&tr, to, change);
	ev = tempo_event(&tr, change);
	midi_clock_out_event(&c, &ev);
	next_beat = transport_beat_at(&tr, change) + 1;
	if (transport_beat_frame(&tr, next_beat) < change)
		next_beat++; /* passed already: the engine never reports it */
	int64_t first_after = next_beat;
	run_clock(&c, &tr, &next_beat, change,
		  transport_beat_frame(&tr, next_beat + 12) + 1, 64, &t);
	for (int g = 1; g < t.n; g++)
		assert_true(t.frame[g] >= t.frame[g - 1]);
	for (int64_t k = 0; k < next_beat; k++) {
		if (k > 8 && k < first_after)
			continue;
		int64_t g = 24 * k;
		assert_true(g < t.n);
		if (t.frame[g] != beat_frames[k])
			fail_msg("%g -> %g BPM: tick %lld at %lld, beat %lld at %lld",
				 from, to, (long long)g, (long long)t.frame[g],
				 (long long)k, (long long)beat_frames[k]);
	}
}

static void test_clock_out_tempo_changes(void **state)
{
	(void)state;
	static const struct {
		double from, to;
	} changes[] = {
	    {120, 90},
	    {120, 180}, /* the next beat is already past */
	    {61, 137.3},
	    {137.3, 61},
	};
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++)
		check_tempo_change(changes[i].from, changes[i].to);
}

/* Listing a period a message at a time gives the same as all at once. */
static void test_clock_out_resumes_when_full(void **state)
{
	(void)state;
	struct transport tr;
	transport_init(&tr, 48000, 300, 4);
	struct midi_clock_out a, b;
	midi_clock_out_init(&a, 48000);
	midi_clock_out_init(&b, 48000);
	a.song_position = b.song_position = true;
	struct event ev = tempo_event(&tr, 0);
	midi_clock_out_event(&a, &ev);
	midi_clock_out_event(&b, &ev);
	ev =
	    (struct event){.type = EV_CLIP_STATE, .state = CLIP_PLAY_QUEUED, .frame = 10};
	midi_clock_out_event(&a, &ev);
	midi_clock_out_event(&b, &ev);
	for (int k = 0; k < 8; k++) {
		ev = beat_event(&tr, k);
		midi_clock_out_event(&a, &ev);
		midi_clock_out_event(&b, &ev);
	}
	struct midi_clock_msg all[256], two[256];
	int n = midi_clock_out_period(&a, 0, 48000, all, 256);
	int m = 0, got;
	while (m < 255 && (got = midi_clock_out_period(&b, 0, 48000, two + m, 2)) > 0)
		m += got;
	/* Beats 0..4 at 300 BPM, and Song Position + Continue at beat 4. */
	assert_int_equal(n, 24 * 5 + 2);
	assert_int_equal(m, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(all[i].frame, two[i].frame);
		assert_int_equal(all[i].len, two[i].len);
		assert_memory_equal(all[i].bytes, two[i].bytes, all[i].len);
	}
	assert_int_equal(all[24 * 4].bytes[0], 0xF2);
	assert_int_equal(all[24 * 4].bytes[1], 16);
	assert_int_equal(all[24 * 4 + 1].bytes[0], 0xFB);
	assert_int_equal(all[24 * 4 + 2].frame, 4 * 9600);
}

static void test_clock_out_start_stop(void **state)
{
	(void)state;
	struct transport tr;
	transport_init(&tr, 48000, 120, 4); /* a beat is 24000 frames */
	struct midi_clock_out c;
	midi_clock_out_init(&c, 48000);
	struct event ev = tempo_event(&tr, 0);
	midi_clock_out_event(&c, &ev);
	static struct ticks t;
	memset(&t, 0, sizeof(t));
	int64_t next_beat = 0;
	/* A clip is queued in beat 1: Start on the next downbeat (bar 1,
	 * frame 96000), before that beat's tick. */
	ev = (struct event){.type = EV_CLIP_STATE,
			    .track = 2,
			    .scene = 3,
			    .state = CLIP_PLAY_QUEUED,
			    .frame = 30000};
	midi_clock_out_event(&c, &ev);
	run_clock(&c, &tr, &next_beat, 0, 120000, 500, &t);
	assert_int_equal(t.nother, 1);
	assert_int_equal(t.other[0][0], 0xFA);
	assert_int_equal(t.other_frame[0], 96000);
	assert_true(c.running);
	/* Another clip, then both stop: Stop when the last one does. */
	ev.track = 3;
	ev.state = CLIP_PLAYING;
	midi_clock_out_event(&c, &ev);
	ev = (struct event){.type = EV_CLIP_STATE,
			    .track = 2,
			    .scene = 3,
			    .state = CLIP_STOPPED,
			    .frame = 130000};
	midi_clock_out_event(&c, &ev);
	ev = (struct event){.type = EV_CLIP_STATE,
			    .track = 3,
			    .scene = 3,
			    .state = CLIP_EMPTY,
			    .frame = 150500};
	midi_clock_out_event(&c, &ev);
	run_clock(&c, &tr, &next_beat, 120000, 200000, 500, &t);
	assert_int_equal(t.nother, 2);
	assert_int_equal(t.other[1][0], 0xFC);
	assert_int_equal(t.other_frame[1], 150500);
	assert_false(c.running);
	/* Ticks go on while stopped; 24 a beat throughout. */
	assert_int_equal(t.n, 24 * 8 + 8);

	/* With song position: SPP of the downbeat (beat 12 = 48 sixteenths)
	 * and Continue. A start cancelled before its downbeat sends nothing. */
	c.song_position = true;
	midi_clock_out_start(&c, 200000);
	midi_clock_out_stop(&c, 201000);
	run_clock(&c, &tr, &next_beat, 200000, 210000, 500, &t);
	assert_int_equal(t.nother, 2);
	midi_clock_out_start(&c, 210000);
	run_clock(&c, &tr, &next_beat, 210000, 300000, 500, &t);
	assert_int_equal(t.nother, 4);
	assert_memory_equal(t.other[2], ((uint8_t[]){0xF2, 48, 0}), 3);
	assert_int_equal(t.other_frame[2], 288000);
	assert_int_equal(t.other[3][0], 0xFB);
	assert_int_equal(t.other_frame[3], 288000);
}

/* The sequencer thread's loop, simulated: it wakes at an engine event (a
 * beat, a clip) or once the horizon passes the frame it asked for; each
 * wake lists to the horizon, then ahead (midi_clock_out_reach), then asks
 * (midi_clock_out_wake_frame). clip_at: a clip is queued there (-1: none). */
static int run_like_the_seq_thread(struct midi_clock_out *c, const struct transport *tr,
				   int64_t *next_beat, int64_t from, int64_t to,
				   uint32_t period, int64_t clip_at, struct ticks *t)
{
	struct midi_clock_msg msg[MAXMSG];
	const int64_t ahead = (int64_t)tr->rate / 5;
	int64_t ask = from, listed = from;
	int wakes = 0;
	for (int64_t f0 = from; f0 < to; f0 += period) {
		int64_t horizon = f0 + period;
		bool woke = horizon > ask;
		while (transport_beat_frame(tr, *next_beat) < horizon) {
			struct event ev = beat_event(tr, *next_beat);
			midi_clock_out_event(c, &ev);
			++*next_beat;
			woke = true;
		}
		if (clip_at >= f0 && clip_at < horizon) {
			struct event ev = {.type = EV_CLIP_STATE,
					   .track = 1,
					   .scene = 1,
					   .state = CLIP_RECORD_QUEUED,
					   .frame = clip_at};
			midi_clock_out_event(c, &ev);
			woke = true;
		}
		if (!woke)
			continue;
		wakes++;
		for (int round = 0; round < 2; round++) {
			bool capped = false;
			int64_t until =
			    round == 0 ? horizon
				       : midi_clock_out_reach(c, horizon, ahead, &capped);
			if (until > listed) {
				int got = midi_clock_out_period(
				    c, listed, (uint32_t)(until - listed), msg, MAXMSG);
				assert_true(got < MAXMSG);
				collect(t, msg, got);
				listed = until;
			}
			if (round == 1)
				ask =
				    midi_clock_out_wake_frame(c, horizon, until, capped);
		}
	}
	return wakes;
}

/* Listed ahead while the transport rests: the same ticks as listed period by
 * period (to within the frame of a tick predicted past a beat), with about 7 wake-ups a
 * second plus the beats instead of one a tick; a clip queued meanwhile still gets its
 * Start on the downbeat, before that downbeat's tick, and from then on ticks wait for the
 * events (a Stop may come at any frame). */
static void test_clock_out_listed_ahead_at_rest(void **state)
{
	(void)state;
	static const double tempi[] = {120, 137.3, 61, 300};
	for (size_t i = 0; i < sizeof(tempi) / sizeof(tempi[0]); i++) {
		struct transport tr;
		transport_init(&tr, 48000, tempi[i], 3);
		struct midi_clock_out c;
		midi_clock_out_init(&c, 48000);
		struct event ev = tempo_event(&tr, 0);
		midi_clock_out_event(&c, &ev);
		static struct ticks t;
		memset(&t, 0, sizeof(t));
		int64_t next_beat = 0;
		const int64_t seconds = 20, to = 48000 * seconds;
		int wakes =
		    run_like_the_seq_thread(&c, &tr, &next_beat, 0, to, 256, -1, &t);
		double fpb = 60.0 * 48000 / ((double)llround(tempi[i] * 1000) / 1000.0);
		int beats = (int)(to / fpb);
		assert_true(t.n >= 24 * beats);
		for (int g = 0; g < 24 * beats; g++) {
			int64_t expected = transport_beat_frame(&tr, g / 24) +
					   llround((g % 24) * fpb / 24.0);
			/* Predicted past a beat not known yet: within a frame
			 * (test_clock_out_predicted_ahead), never drifting. */
			if (llabs(t.frame[g] - expected) > 1)
				fail_msg("%g BPM: tick %d at %lld, expected %lld",
					 tempi[i], g, (long long)t.frame[g],
					 (long long)expected);
		}
		assert_int_equal(t.nother, 0);
		/* 1 / 150 ms for the listing, one a beat for its event and
		 * one a bar for the downbeat's tick. */
		double bars = beats / 3.0;
		if (wakes > 7 * seconds + beats + bars + 2)
			fail_msg("%g BPM: %d wake-ups in %lld s (%d beats)", tempi[i],
				 wakes, (long long)seconds, beats);
		assert_true(wakes < 24 * beats / 2); /* far from one a tick */
	}
	/* A clip queued just before a downbeat, inside the listing ahead:
	 * Start at the downbeat, before its tick, none of its ticks early. */
	for (int64_t clip_at = 70000; clip_at < 72000; clip_at += 333) {
		struct transport tr;
		transport_init(&tr, 48000, 120, 3); /* bar: 72000 frames */
		struct midi_clock_out c;
		midi_clock_out_init(&c, 48000);
		struct event ev = tempo_event(&tr, 0);
		midi_clock_out_event(&c, &ev);
		static struct ticks t;
		memset(&t, 0, sizeof(t));
		int64_t next_beat = 0;
		run_like_the_seq_thread(&c, &tr, &next_beat, 0, 100000, 256, clip_at, &t);
		assert_int_equal(t.nother, 1);
		assert_int_equal(t.other[0][0], 0xFA);
		assert_int_equal(t.other_frame[0], 72000);
		assert_true(c.running);
		/* Ticks stay exact through the start, 72 before the downbeat. */
		for (int g = 0; g < t.n; g++)
			assert_int_equal(t.frame[g], g * 1000);
		/* running: no listing ahead any more */
		bool capped;
		assert_true(midi_clock_out_reach(&c, 100000, 9600, &capped) == 100000);
	}
}

static void test_clock_out_tempo_from_beats_alone(void **state)
{
	(void)state;
	/* No EV_TEMPO (a tempo from the config): the beats' spacing gives it. */
	struct transport tr;
	transport_init(&tr, 48000, 100, 4);
	struct midi_clock_out c;
	midi_clock_out_init(&c, 48000);
	static struct ticks t;
	memset(&t, 0, sizeof(t));
	int64_t next_beat = 0;
	run_clock(&c, &tr, &next_beat, 0, transport_beat_frame(&tr, 10), 64, &t);
	assert_int_equal(t.n, 24 * 9); /* from the second beat on */
	assert_int_equal(t.frame[0], transport_beat_frame(&tr, 1));
	assert_int_equal(t.frame[1], transport_beat_frame(&tr, 1) + 1200);
	/* Skipped frames: their ticks are dropped, the rest stay in place. */
	struct midi_clock_msg msg[MAXMSG];
	int64_t f0 = transport_beat_frame(&tr, 10) + 10000;
	struct event ev = beat_event(&tr, 10);
	midi_clock_out_event(&c, &ev);
	int n = midi_clock_out_period(&c, f0, 64, msg, MAXMSG);
	assert_true(c.ticks_skipped > 0);
	for (int i = 0; i < n; i++)
		assert_true(msg[i].frame >= f0);
}

/* ---- clock in ------------------------------------------------------------- */

struct sink_log {
	struct command cmd[512];
	int n;
};

static bool log_push(void *ctx, const struct command *cmd)
{
	struct sink_log *l = ctx;
	if (l->n == 512)
		return false;
	l->cmd[l->n++] = *cmd;
	return true;
}

static uint32_t rng = 12345;

/* Uniform in [-1000, 1000] microseconds. */
static int64_t jitter(void)
{
	rng = rng * 1103515245u + 12345u;
	return (int64_t)((rng >> 8) % 2001) - 1000;
}

/* Feeds `beats` beats of ticks at bpm from *t (exact times, each delivered
 * with jitter) and returns the last CMD_SET_TEMPO value sent meanwhile, or
 * 0. */
static double feed(struct midi_clock_in *c, const struct command_sink *sink,
		   struct sink_log *log, double *t, double bpm, int beats)
{
	double us_per_tick = 60e6 / (bpm * 24);
	double last = 0;
	for (int i = 0; i < beats * 24; i++) {
		int before = log->n;
		midi_clock_in_message(c, 0xF8, llround(*t) + jitter(), sink);
		for (int k = before; k < log->n; k++)
			if (log->cmd[k].type == CMD_SET_TEMPO)
				last = log->cmd[k].value;
		*t += us_per_tick;
	}
	return last;
}

static void test_clock_in_follows_jittered_ticks(void **state)
{
	(void)state;
	struct time_map tm = {.ref_us = 0, .ref_frame = 0, .rate = 48000};
	struct midi_clock_in c;
	midi_clock_in_init(&c, &tm);
	static struct sink_log log;
	memset(&log, 0, sizeof(log));
	struct command_sink sink = {.push = log_push, .ctx = &log};
	double t = 1e6;

	static const double tempi[] = {120, 137.3, 61, 180, 120.5, 121.5, 121.4};
	for (size_t i = 0; i < sizeof(tempi) / sizeof(tempi[0]); i++) {
		double bpm = tempi[i];
		feed(&c, &sink, &log, &t, bpm, 4); /* follows within four beats */
		if (fabs(midi_clock_in_bpm(&c) - bpm) >= 0.1)
			fail_msg("after 4 beats at %g BPM the clock says %f", bpm,
				 midi_clock_in_bpm(&c));
		assert_true(fabs(c.sent_bpm - bpm) < 0.1);
		/* Steady: within 0.05, and at most a couple of corrections. */
		int before = log.n;
		feed(&c, &sink, &log, &t, bpm, 8);
		assert_true(fabs(midi_clock_in_bpm(&c) - bpm) < 0.05);
		if (log.n - before > 2)
			fail_msg("%d corrections in 8 steady beats at %g BPM",
				 log.n - before, bpm);
	}
	assert_int_equal(c.commands, log.n);
	assert_int_equal(c.commands_refused, 0);
	for (int k = 0; k < log.n; k++) {
		assert_int_equal(log.cmd[k].type, CMD_SET_TEMPO);
		assert_true(log.cmd[k].frame > 0);
	}
}

static void test_clock_in_transport_and_gaps(void **state)
{
	(void)state;
	struct time_map tm = {.ref_us = 0, .ref_frame = 0, .rate = 48000};
	struct midi_clock_in c;
	midi_clock_in_init(&c, &tm);
	c.start_scene = 2;
	static struct sink_log log;
	memset(&log, 0, sizeof(log));
	struct command_sink sink = {.push = log_push, .ctx = &log};

	/* Start before any tick: no tempo to send, the scene launches. */
	midi_clock_in_message(&c, 0xFA, 1000000, &sink);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.cmd[0].type, CMD_LAUNCH_SCENE);
	assert_int_equal(log.cmd[0].scene, 2);
	assert_int_equal(log.cmd[0].frame, 48000);
	assert_true(c.running);

	double t = 2e6;
	feed(&c, &sink, &log, &t, 125, 4);
	log.n = 0;
	midi_clock_in_message(&c, 0xFC, 5000000, &sink);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.cmd[0].type, CMD_STOP_ALL);
	assert_int_equal(log.cmd[0].frame, 240000);
	assert_false(c.running);
	/* Continue: the tempo (now known) and the scene. */
	midi_clock_in_message(&c, 0xFB, 6000000, &sink);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.cmd[1].type, CMD_SET_TEMPO);
	assert_true(fabs(log.cmd[1].value - 125) < 0.1);
	assert_int_equal(log.cmd[2].type, CMD_LAUNCH_SCENE);

	/* A tick from the past is ignored; a long gap restarts the window. */
	uint32_t restarts = c.restarts;
	midi_clock_in_message(&c, 0xF8, 1000, &sink);
	assert_int_equal(c.out_of_order, 1);
	t += 10e6;
	feed(&c, &sink, &log, &t, 90, 4);
	assert_int_equal(c.restarts, restarts + 1);
	assert_true(fabs(midi_clock_in_bpm(&c) - 90) < 0.1);

	/* Raw bytes: only the real-time ones count, wherever they are. */
	log.n = 0;
	const uint8_t bytes[] = {0x90, 0xFC, 53, 127, 0xFE, 0xF0, 0x01, 0xF7};
	midi_clock_in_bytes(&c, bytes, sizeof(bytes), 30000000, &sink);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.cmd[0].type, CMD_STOP_ALL);
	/* No sink: counted as refused, nothing breaks. */
	midi_clock_in_message(&c, 0xFC, 30000000, NULL);
	assert_int_equal(c.commands_refused, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_time_map),
	    cmocka_unit_test(test_clock_out_exact_at_several_tempi),
	    cmocka_unit_test(test_clock_out_from_the_engine),
	    cmocka_unit_test(test_clock_out_predicted_ahead),
	    cmocka_unit_test(test_clock_out_tempo_changes),
	    cmocka_unit_test(test_clock_out_resumes_when_full),
	    cmocka_unit_test(test_clock_out_start_stop),
	    cmocka_unit_test(test_clock_out_listed_ahead_at_rest),
	    cmocka_unit_test(test_clock_out_tempo_from_beats_alone),
	    cmocka_unit_test(test_clock_in_follows_jittered_ticks),
	    cmocka_unit_test(test_clock_in_transport_and_gaps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
