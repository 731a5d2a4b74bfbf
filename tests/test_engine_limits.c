/* test_engine_limits.c -- the engine never reaches a state that the SD
 * card's manifest refuses: first loops of any length, and random command
 * sequences (the adversary), checked against the manifest's writer and
 * reader after the run. Apart from test_engine.c because it links the SD
 * layer (manifest.c, cJSON): the engine's own tests link only the pure
 * archives.
 *
 * GL_ADVERSARY_RUNS=N and GL_ADVERSARY_SEED=S run the adversary longer by
 * hand; GL_TEST_FILTER=test_x runs one test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"
#include "engine_rig.h"
#include "manifest.h"
#include "transport.h"

/* A small, seeded generator (splitmix64): every run is reproducible. */
static uint64_t rnd_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static int64_t rnd_in(uint64_t *s, int64_t lo, int64_t hi) /* lo..hi */
{
	return lo + (int64_t)(rnd_next(s) % (uint64_t)(hi - lo + 1));
}
static double rnd_unit(uint64_t *s)
{
	return (double)(rnd_next(s) >> 11) / 9007199254740992.0;
}

/* The engine's tempo, meter, quantise and clips as the SD writer would save
 * them, through the manifest's writer and back through its reader: whatever
 * the engine reached, the next start must accept. */
static void assert_manifest_accepts(struct engine *e, const char *what)
{
	struct session *s = calloc(1, sizeof(*s));
	session_init(s, engine_config(e)->rate);
	s->tempo = (double)llround(engine_tempo(e) * 1000) / 1000.0; /* as EV_TEMPO */
	s->beats_per_bar = engine_beats_per_bar(e);
	s->quantise = e->quantise;
	s->metronome = e->metronome;
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		int t = slot % GL_TRACKS, sc = slot / GL_TRACKS;
		int64_t len = engine_clip_length(e, t, sc);
		if (engine_clip_state(e, t, sc) == CLIP_EMPTY || len <= 0)
			continue;
		struct session_clip *c = &s->clips[slot];
		c->present = true;
		c->channels = engine_clip_channels(e, t, sc);
		c->frames = len;
		c->bars =
		    s->tempo > 0
			? (double)len / (60.0 * s->rate * s->beats_per_bar / s->tempo)
			: 0;
		snprintf(c->file, sizeof(c->file), "t%ds%d.wav", t + 1, sc + 1);
	}
	char *text = manifest_write(s);
	assert_non_null(text);
	char err[256] = "";
	struct session *back = calloc(1, sizeof(*back));
	if (manifest_parse(text, strlen(text), back, err, sizeof(err)) != 0)
		fail_msg("%s: the manifest refuses the engine's state: %s (tempo %.6f, "
			 "%u beats)",
			 what, err, engine_tempo(e), engine_beats_per_bar(e));
	assert_int_equal(session_clip_count(back), session_clip_count(s));
	free(text);
	free(back);
	free(s);
}

/* A first loop of any length gives a tempo the manifest accepts (or none,
 * said with ERR_LOOP_TOO_SHORT), at any rate and meter, and never floods
 * the event queue; the loop stays one loop of exactly its length. */
static void test_first_loop_tempo_random_lengths(void **state)
{
	(void)state;
	uint64_t seed = 0x5eed0007;
	const uint32_t rates[] = {44100, 48000, 96000};
	/* The cases first, then random ones (log-uniform lengths). */
	struct {
		uint32_t rate, beats;
		int64_t frames;
	} cases[40] = {{48000, 4, 2400}, {48000, 1, 150 * 48000}, {48000, 4, 2}};
	int n = 3;
	for (; n < (int)(sizeof(cases) / sizeof(cases[0])); n++) {
		cases[n].rate = rates[rnd_in(&seed, 0, 2)];
		cases[n].beats = (uint32_t)rnd_in(&seed, GL_BEATS_MIN, GL_BEATS_MAX);
		cases[n].frames =
		    llround(exp(rnd_unit(&seed) * log(60.0 * cases[n].rate)));
		if (cases[n].frames < 1)
			cases[n].frames = 1;
	}
	for (int i = 0; i < n; i++) {
		struct engine_config cfg;
		engine_config_defaults(&cfg, cases[i].rate);
		cfg.max_period = 2048;
		cfg.fade_frames = 0;
		cfg.grow_frames = cases[i].rate * 4;
		cfg.beats_per_bar = cases[i].beats;
		cfg.quantise = (enum quantise)(i % 3);
		struct rig *r = rig_new_with(&cfg, NULL, 2048);
		assert_non_null(r);
		r->discard_output = true;
		const int64_t L = cases[i].frames, at = 777;
		rig_cmd(r, CMD_PRESS, 0, 0, 0, at); /* no tempo: at once */
		rig_cmd(r, CMD_PRESS, 0, 0, 0, at + L);
		rig_run_to(r, at + L + 2 * 2048 + 9600 * 4);
		char what[96];
		snprintf(what, sizeof(what),
			 "first loop of %lld frames at %u Hz, %u beats", (long long)L,
			 cases[i].rate, cases[i].beats);
		double bpm = engine_tempo(r->e);
		bool too_short =
		    (double)L < GL_FIRST_LOOP_MIN_FRAMES(cases[i].rate, cases[i].beats);
		if (too_short) {
			if (bpm != 0 ||
			    rig_count_events(r, EV_ERROR, ERR_LOOP_TOO_SHORT) != 1)
				fail_msg(
				    "%s: tempo %g, expected none and ERR_LOOP_TOO_SHORT",
				    what, bpm);
		} else if (!(bpm >= GL_TEMPO_MIN && bpm <= GL_TEMPO_MAX)) {
			fail_msg("%s: tempo %g", what, bpm);
		}
		if (engine_clip_length(r->e, 0, 0) != L)
			fail_msg("%s: the loop is %lld frames", what,
				 (long long)engine_clip_length(r->e, 0, 0));
		if (engine_events_dropped(r->e) != 0)
			fail_msg("%s: %u events dropped", what,
				 engine_events_dropped(r->e));
		assert_manifest_accepts(r->e, what);
		rig_free(r);
	}
}

/* ---- the adversary: random command sequences -------------------------- */

/* What must hold after every period, whatever was sent: only chunks the
 * keeper gave are behind what a clip holds, tempo and meter are ones the
 * manifest takes, the output is finite, the event queue keeps up. */
static void check_invariants(struct rig *r, const char *what, int events)
{
	struct engine *e = r->e;
	double bpm = engine_tempo(e);
	if (!(bpm == 0 || (bpm >= GL_TEMPO_MIN && bpm <= GL_TEMPO_MAX)))
		fail_msg("%s: tempo %g", what, bpm);
	uint32_t bpb = engine_beats_per_bar(e);
	if (bpb < GL_BEATS_MIN || bpb > GL_BEATS_MAX)
		fail_msg("%s: %u beats a bar", what, bpb);
	if (engine_events_dropped(e) != 0 || events > 256)
		fail_msg("%s: %d events in a period, %u dropped", what, events,
			 engine_events_dropped(e));
	for (uint32_t i = 0; i < 2 * r->period; i++)
		if (!isfinite(r->pout[i]))
			fail_msg("%s: output %g", what, r->pout[i]);
	for (int s = 0; s < GL_SLOTS; s++) {
		const struct clip *c = &e->clips[s];
		int64_t len = engine_clip_length(e, s % GL_TRACKS, s / GL_TRACKS);
		if (len < 0 || len > GL_CLIP_FRAMES_MAX)
			fail_msg("%s: clip %d is %lld frames", what, s, (long long)len);
		int64_t held =
		    c->written < c->length || c->length == 0 ? c->written : c->length;
		int64_t chunks = (held + e->chunk_frames - 1) / e->chunk_frames;
		if (c->state != CLIP_EMPTY && chunks > c->nchunks)
			fail_msg("%s: clip %d holds %lld chunks of %u given", what, s,
				 (long long)chunks, c->nchunks);
		for (int ch = 0; ch < c->channels && c->state != CLIP_EMPTY; ch++)
			for (int64_t k = 0; k < chunks; k++)
				if (!c->table[ch] || !c->table[ch][k])
					fail_msg("%s: clip %d chunk %lld never given",
						 what, s, (long long)k);
	}
	for (int s = 0; s < GL_SLOTS; s++) {
		/* Undo levels: within the bound, each with its own buffer, a
		 * region inside the clip; a cleared take is kept, hidden. */
		const struct clip *c = &e->clips[s];
		if (c->nlv > e->cfg.undo_levels || c->applied > c->nlv ||
		    c->nbufs > GL_UNDO_LEVELS_MAX)
			fail_msg("%s: clip %d has %d levels (%d applied, %d buffers, "
				 "bound %u)",
				 what, s, c->nlv, c->applied, c->nbufs,
				 e->cfg.undo_levels);
		for (int i = 0; i < c->nlv; i++) {
			const struct undo_level *l = &c->lv[i];
			if (l->take)
				continue; /* a multiply's or insert's: no buffer */
			if (l->buf >= c->nbufs || c->ubuf_frames[l->buf] < l->len ||
			    l->rg_len <= 0 || l->rg_len > l->len || l->rg_start < 0 ||
			    l->rg_start >= l->len)
				fail_msg("%s: clip %d level %d: buffer %d of %d, region "
					 "%lld+%lld of %lld",
					 what, s, i, l->buf, c->nbufs,
					 (long long)l->rg_start, (long long)l->rg_len,
					 (long long)c->length);
			for (int j = 0; j < i; j++)
				if (!c->lv[j].take && c->lv[j].buf == l->buf)
					fail_msg("%s: clip %d levels %d and %d share a "
						 "buffer",
						 what, s, j, i);
		}
		if (c->cleared && (c->state != CLIP_EMPTY || c->length <= 0))
			fail_msg("%s: clip %d cleared but state %d, length %lld", what, s,
				 c->state, (long long)c->length);
	}
	for (int t = 0; t < GL_TRACKS; t++) {
		const struct voice *vs[2] = {&e->tracks[t].main, &e->tracks[t].fading};
		for (int i = 0; i < 2; i++)
			if (vs[i]->slot >= 0 &&
			    (e->clips[vs[i]->slot].state == CLIP_EMPTY ||
			     track_of(vs[i]->slot) != t))
				fail_msg("%s: track %d plays slot %d (empty or another "
					 "track's)",
					 what, t, vs[i]->slot);
	}
}

static float hostile_value(uint64_t *rs, double lo, double hi)
{
	switch (rnd_in(rs, 0, 9)) {
	case 0:
		return NAN;
	case 1:
		return (float)(lo - 1);
	case 2:
		return (float)(hi + 1);
	case 3:
		return (float)lo;
	case 4:
		return (float)hi;
	default:
		return (float)(lo + rnd_unit(rs) * (hi - lo));
	}
}

static void adversary_run(uint64_t seed, double seconds)
{
	uint64_t rs = seed;
	const uint32_t rates[] = {44100, 48000, 96000};
	const uint32_t periods[] = {16, 64, 100, 256, 333, 1024, 2048};
	struct engine_config cfg;
	engine_config_defaults(&cfg, rates[rnd_in(&rs, 0, 2)]);
	const uint32_t rate = cfg.rate;
	cfg.max_period = rnd_in(&rs, 0, 3)
			     ? periods[rnd_in(&rs, 0, 6)]
			     : (uint32_t)rnd_in(&rs, GL_MIN_PERIOD, GL_MAX_PERIOD);
	const uint32_t P = cfg.max_period;
	cfg.input_channels = 3;
	for (int t = 0; t < GL_TRACKS; t++)
		cfg.track_input[t] = (struct track_input){
		    .first_channel = (uint8_t)(t % 2), .stereo = (uint8_t)(t == 1)};
	switch (rnd_in(&rs, 0, 4)) {
	case 0:
		cfg.latency_frames = 0;
		break;
	case 1:
		cfg.latency_frames = (uint32_t)rnd_in(&rs, 1, P);
		break;
	case 2:
		cfg.latency_frames = GL_LATENCY_MAX;
		break;
	default:
		cfg.latency_frames = (uint32_t)rnd_in(&rs, 0, GL_LATENCY_MAX);
	}
	int64_t grow = rnd_in(&rs, rate / 10, 2 * rate);
	cfg.grow_frames = (uint32_t)(grow < 4 * P ? 4 * P : grow);
	cfg.fade_frames = rnd_in(&rs, 0, 3) ? (uint32_t)rnd_in(&rs, 0, rate / 10) : 0;
	cfg.tempo = rnd_in(&rs, 0, 1) ? 0 : GL_TEMPO_MIN + rnd_unit(&rs) * 270;
	cfg.beats_per_bar = (uint32_t)rnd_in(&rs, GL_BEATS_MIN, GL_BEATS_MAX);
	cfg.quantise = (enum quantise)rnd_in(&rs, 0, 2);
	cfg.metronome = rnd_in(&rs, 0, 1);
	cfg.undo_levels = (uint32_t)rnd_in(&rs, GL_UNDO_LEVELS_MIN, GL_UNDO_LEVELS_MAX);
	cfg.undo_memory_mb = rnd_in(&rs, 0, 3) ? 0 : (uint64_t)rnd_in(&rs, 1, 4);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	if (rnd_in(&rs, 0, 3) == 0) {
		/* Tight memory: the armed slots and a few chunks more. */
		struct engine *probe = engine_create(&cfg, NULL);
		assert_non_null(probe);
		struct keeper *pk = keeper_create(probe, &kc, NULL);
		struct keeper_stats st;
		keeper_get_stats(pk, &st);
		keeper_destroy(pk);
		engine_destroy(probe);
		kc.memory_limit =
		    st.bytes_mapped + (uint64_t)rnd_in(&rs, 0, 12) *
					  clipmem_chunk_frames(cfg.grow_frames) *
					  sizeof(float);
	}
	struct rig *r = rig_new_with(&cfg, &kc, P);
	assert_non_null(r);
	r->discard_output = true;
	char what[160];
	snprintf(what, sizeof(what),
		 "seed %#llx (rate %u, period %u, latency %u, grow %u, fade %u, tempo "
		 "%.2f, %u beats, quantise %d, limit %llu)",
		 (unsigned long long)seed, rate, P, cfg.latency_frames, cfg.grow_frames,
		 cfg.fade_frames, cfg.tempo, cfg.beats_per_bar, cfg.quantise,
		 (unsigned long long)kc.memory_limit);
	const int64_t end = (int64_t)(seconds * rate);
	/* A few pads take most of the presses, so takes, overdubs and
	 * launches meet; now and then any slot. */
	int step = 0;
	while (engine_now(r->e) < end) {
		int ncmd = rnd_in(&rs, 0, 7) ? 0 : (int)rnd_in(&rs, 1, 3);
		for (int i = 0; i < ncmd; i++) {
			int64_t now = engine_now(r->e);
			int64_t at = rnd_in(&rs, 0, 4) ? now + rnd_in(&rs, 0, 3 * P)
						       : now - rnd_in(&rs, 0, 1000);
			int wide = rnd_in(&rs, 0, 9) == 0;
			int t = (int)rnd_in(&rs, 0, wide ? GL_TRACKS - 1 : 2);
			int sc = (int)rnd_in(&rs, 0, wide ? GL_SCENES - 1 : 2);
			int64_t pick = rnd_in(&rs, 0, 99);
			enum command_type type;
			float v = 0;
			if (pick < 40)
				type = CMD_PRESS;
			else if (pick < 46)
				type = rnd_in(&rs, 0, 2)   ? CMD_OVERDUB
				       : rnd_in(&rs, 0, 1) ? CMD_REPLACE
							   : CMD_SUBSTITUTE;
			else if (pick < 51)
				type = CMD_UNDO;
			else if (pick < 54)
				type = rnd_in(&rs, 0, 2)   ? CMD_REDO
				       : rnd_in(&rs, 0, 1) ? CMD_UNDO_ALL
							   : CMD_REDO_ALL;
			else if (pick < 58)
				type = CMD_CLEAR;
			else if (pick < 62)
				type = rnd_in(&rs, 0, 1)	? CMD_STOP_CLIP
				       : rnd_in(&rs, 0, 3) == 0 ? CMD_REVERSE
				       : rnd_in(&rs, 0, 3) == 0 ? CMD_SPEED
				       : rnd_in(&rs, 0, 2)	? CMD_CLIP_MUTE
				       : rnd_in(&rs, 0, 1)	? CMD_ONESHOT
								: CMD_TRIGGER,
				v = hostile_value(&rs, 0, 1);
			else if (pick < 64)
				type = CMD_STOP_TRACK;
			else if (pick < 65)
				type = CMD_STOP_ALL;
			else if (pick < 71)
				type = CMD_LAUNCH_SCENE;
			else if (pick < 75)
				type = CMD_TAP_TEMPO;
			else if (pick < 79)
				type = CMD_SET_TEMPO, v = hostile_value(&rs, 30, 300);
			else if (pick < 83)
				type = CMD_SET_METER, v = hostile_value(&rs, 1, 16);
			else if (pick < 88)
				type = CMD_SET_QUANTISE, v = hostile_value(&rs, 0, 2);
			else if (pick < 91)
				type = CMD_TRACK_VOLUME, v = hostile_value(&rs, 0, 2);
			else if (pick < 93)
				type = CMD_MASTER_VOLUME, v = hostile_value(&rs, 0, 2);
			else if (pick < 95)
				type = CMD_MUTE, v = (float)rnd_in(&rs, 0, 1);
			else if (pick < 97)
				type = CMD_MONITOR, v = (float)rnd_in(&rs, 0, 1);
			else if (pick < 99)
				type = rnd_in(&rs, 0, 1) ? CMD_METRONOME : CMD_COUNTIN,
				v = (float)rnd_in(&rs, 0, 1);
			else
				type = CMD_REQUEST, v = hostile_value(&rs, 0, 3);
			if (type == CMD_SPEED && rnd_in(&rs, 0, 3)) {
				const float speeds[] = {0.5f, 1.0f, 2.0f};
				v = speeds[rnd_in(&rs, 0, 2)];
			}
			if (type == CMD_SET_QUANTISE && v == v)
				v = (float)llround(v);
			rig_cmd(r, type, t, sc, v, at);
		}
		/* A slow keeper now and then, for a few periods. */
		if (rnd_in(&rs, 0, 199) == 0)
			r->keeper_paused = !r->keeper_paused;
		if (r->keeper_paused && rnd_in(&rs, 0, 9) == 0)
			r->keeper_paused = false;
		r->nev = 0;
		rig_run(r, P);
		check_invariants(r, what, r->nev);
		if (++step % 200 == 0)
			assert_manifest_accepts(r->e, what);
	}
	r->keeper_paused = false;
	rig_run(r, P);
	assert_manifest_accepts(r->e, what);
	rig_free(r);
}

/* A short run for make check; GL_ADVERSARY_RUNS=N (and GL_ADVERSARY_SEED)
 * runs more by hand. */
static void test_adversary_random_sequences(void **state)
{
	(void)state;
	const char *runs_env = getenv("GL_ADVERSARY_RUNS");
	const char *seed_env = getenv("GL_ADVERSARY_SEED");
	int runs = runs_env ? atoi(runs_env) : 24;
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0xad5e0001;
	for (int i = 0; i < runs; i++)
		adversary_run(seed + (uint64_t)i * 0x1000193, runs_env ? 30.0 : 8.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_loop_tempo_random_lengths),
	    cmocka_unit_test(test_adversary_random_sequences),
	};
	if (getenv("GL_TEST_FILTER")) /* one test by hand: GL_TEST_FILTER=test_x */
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
