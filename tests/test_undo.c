/* test_undo.c -- multi-level undo and redo, against an independent model.
 *
 * The model is the list of the clip's audio as it was after each pass,
 * copied out when the pass ended, and a cursor: an undo moves the cursor
 * back, a redo forward, a new pass cuts what was ahead of it, the bound
 * (undo_levels) drops the oldest state, a clear hides the clip until an
 * undo. After every step the engine's stored audio must equal the state at
 * the cursor bit for bit. Seeded random sequences; every period runs under
 * the real-time guard's marks (engine_rig.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "engine_internal.h"
#include "engine_rig.h"
#include "undo_model.h"

#define LOOP	      12000 /* frames: a loop without a tempo (it sets none) */
#define BAR120_FRAMES 96000 /* a 4/4 bar at 120 BPM, 48 kHz */

static uint64_t rnd_next(uint64_t *s) /* splitmix64 */
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static int64_t rnd_in(uint64_t *s, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd_next(s) % (uint64_t)(hi - lo + 1));
}

static struct rig *undo_rig(uint32_t levels, uint64_t mb, uint32_t latency)
{
	struct engine_config cfg;
	rig_loop_config(&cfg, 32, latency);
	cfg.undo_levels = levels;
	cfg.undo_memory_mb = mb;
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	assert_non_null(r);
	return r;
}

static float *clip_now(struct rig *r)
{
	int64_t len = engine_clip_length(r->e, 0, 0);
	assert_int_equal(len, LOOP);
	return rig_clip_now(r, LOOP);
}

/* Runs until the clip's audio is final (no pass, no swap) and a little more
 * (the keeper's answers). */
static void settle(struct rig *r)
{
	rig_run(r, 640);
	for (int i = 0; i < 2000 && (engine_clip_version(r->e, 0, 0) & 1) &&
			engine_clip_state(r->e, 0, 0) != CLIP_EMPTY;
	     i++)
		rig_run(r, 64);
	rig_run(r, 640);
}

static void record_take(struct rig *r)
{
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100 + LOOP);
	rig_run_to(r, 100 + 2 * LOOP + 1000);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	settle(r);
}

/* One pass of `len` input frames, from a little after now. */
static void pass(struct rig *r, int64_t len)
{
	if (engine_clip_state(r->e, 0, 0) != CLIP_PLAYING) {
		rig_cmd(r, CMD_PRESS, 0, 0, 0, engine_now(r->e));
		rig_run(r, 64);
	}
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
	int64_t at = engine_now(r->e) + 17;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, at);
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, at + len);
	rig_run_to(r, at + len + 64);
	settle(r);
}

static void check(struct rig *r, struct undo_model *m, uint64_t seed, int step)
{
	if (m->cleared) {
		if (engine_clip_state(r->e, 0, 0) != CLIP_EMPTY ||
		    engine_clip_length(r->e, 0, 0) != 0)
			fail_msg("seed %#llx step %d: cleared, but state %d",
				 (unsigned long long)seed, step,
				 engine_clip_state(r->e, 0, 0));
		return;
	}
	if (engine_clip_version(r->e, 0, 0) & 1)
		fail_msg("seed %#llx step %d: the clip never settled",
			 (unsigned long long)seed, step);
	float *now = clip_now(r);
	if (!m->st[m->cur]) /* a pass cut by an undo, redone: now known */
		m->st[m->cur] = now;
	else if (memcmp(now, m->st[m->cur], LOOP * sizeof(float)) != 0) {
		int64_t i = 0;
		while (now[i] == m->st[m->cur][i])
			i++;
		fail_msg("seed %#llx step %d: state %d of %d differs at frame %lld",
			 (unsigned long long)seed, step, m->cur, m->n, (long long)i);
	} else
		free(now);
}

static void run_against_model(uint64_t seed, uint32_t levels, uint32_t latency, int steps)
{
	uint64_t rs = seed;
	struct rig *r = undo_rig(levels, 0, latency);
	record_take(r);
	struct undo_model m = {.levels = (int)levels};
	undo_model_push(&m, clip_now(r), LOOP);
	r->nev = 0;
	for (int step = 0; step < steps; step++) {
		int64_t pick = rnd_in(&rs, 0, 99);
		if (m.cleared && pick < 40)
			pick = 40; /* no pass on a cleared slot: undo instead */
		if (pick < 35) {
			pass(r, rnd_in(&rs, 100, LOOP + LOOP / 2));
			undo_model_push(&m, clip_now(r), LOOP);
		} else if (pick < 40) {
			/* Undo during a pass: it ends and is undone (redo brings
			 * back what it wrote, which the model learns then). */
			if (engine_clip_state(r->e, 0, 0) != CLIP_PLAYING) {
				rig_cmd(r, CMD_PRESS, 0, 0, 0, engine_now(r->e));
				rig_run(r, 64);
			}
			int64_t at = engine_now(r->e) + 5;
			rig_cmd(r, CMD_OVERDUB, 0, 0, 0, at);
			rig_cmd(r, CMD_UNDO, 0, 0, 0,
				at + latency + rnd_in(&rs, 64, LOOP));
			rig_run_to(r, at + latency + LOOP + 64);
			settle(r);
			undo_model_push(&m, NULL, LOOP);
			undo_model_undo(&m);
		} else if (pick < 62) {
			rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
			undo_model_undo(&m);
		} else if (pick < 80) {
			rig_cmd(r, CMD_REDO, 0, 0, 0, engine_now(r->e));
			undo_model_redo(&m);
		} else if (pick < 86) {
			rig_cmd(r, CMD_UNDO_ALL, 0, 0, 0, engine_now(r->e));
			while (undo_model_undo(&m))
				;
		} else if (pick < 92) {
			rig_cmd(r, CMD_REDO_ALL, 0, 0, 0, engine_now(r->e));
			while (undo_model_redo(&m))
				;
		} else if (pick < 96) {
			/* Reverse changes no stored audio; passes and undos go
			 * on in the other direction (the swap walks down). */
			rig_cmd(r, CMD_REVERSE, 0, 0, 0, engine_now(r->e));
		} else {
			rig_cmd(r, CMD_CLEAR, 0, 0, 0, engine_now(r->e));
			undo_model_clear(&m);
		}
		settle(r);
		check(r, &m, seed, step);
	}
	if (rig_count_events(r, EV_UNDO_DROPPED, -1) != m.dropped)
		fail_msg("seed %#llx: %d levels dropped, the model says %d",
			 (unsigned long long)seed,
			 rig_count_events(r, EV_UNDO_DROPPED, -1), m.dropped);
	undo_model_free(&m);
	rig_free(r);
}

static void test_undo_chains_match_the_model(void **state)
{
	(void)state;
	const char *runs_env = getenv("GL_UNDO_RUNS");
	int runs = runs_env ? atoi(runs_env) : 6;
	for (int i = 0; i < runs; i++) {
		uint64_t seed = 0x0d0e0001 + (uint64_t)i * 7919;
		uint32_t levels = i % 3 == 0 ? GL_UNDO_LEVELS_MAX : (uint32_t)(1 + i % 4);
		run_against_model(seed, levels, i % 2 ? 0 : 300, runs_env ? 300 : 100);
	}
}

/* The MB bound: each level is a copy of the clip, so a bound that holds two
 * keeps two, dropping the oldest with an event. */
static void test_undo_memory_bound(void **state)
{
	(void)state;
	struct rig *r = undo_rig(GL_UNDO_LEVELS_MAX, 1, 0);
	record_take(r);
	/* 12000 mono frames in 3072-frame chunks: 4 chunks, 48 KiB a level:
	 * 1 MB holds 21 of them, more than the 16 levels: no bound. */
	for (int i = 0; i < 18; i++)
		pass(r, 500);
	assert_int_equal(r->e->clips[0].nlv, GL_UNDO_LEVELS_MAX);
	assert_int_equal(rig_count_events(r, EV_UNDO_DROPPED, -1), 2);
	rig_free(r);

	/* A clip of 1 MB in its chunks (262144 frames at 4 bytes): 1 level. */
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.tempo = 0;
	cfg.quantise = QUANTISE_OFF;
	cfg.undo_memory_mb = 1;
	r = rig_new_with(&cfg, NULL, 64);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100 + 200000);
	rig_run_to(r, 100 + 400000);
	for (int i = 0; i < 3; i++) {
		int64_t at = engine_now(r->e) + 10;
		rig_cmd(r, CMD_OVERDUB, 0, 0, 0, at);
		rig_cmd(r, CMD_OVERDUB, 0, 0, 0, at + 1000);
		rig_run(r, 20000);
	}
	assert_int_equal(r->e->clips[0].nlv, 1);
	assert_int_equal(r->e->clips[0].nbufs, 1);
	assert_int_equal(rig_count_events(r, EV_UNDO_DROPPED, -1), 2);
	rig_free(r);
}

/* A clear is undone (the take back, bit for bit, stopped) until a record
 * is pressed on the slot; a second clear loses nothing either. */
static void test_clear_undoable_until_record(void **state)
{
	(void)state;
	struct rig *r = undo_rig(4, 0, 0);
	record_take(r);
	pass(r, 3000);
	float *dubbed = clip_now(r);
	rig_cmd(r, CMD_CLEAR, 0, 0, 0, engine_now(r->e));
	rig_cmd(r, CMD_CLEAR, 0, 0, 0, engine_now(r->e) + 64);
	settle(r);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_EMPTY);
	assert_int_equal(engine_clip_length(r->e, 0, 0), 0);
	/* Nothing plays while cleared. */
	for (int64_t f = engine_now(r->e) - 640; f < engine_now(r->e); f++)
		assert_true(r->out[2 * f] == 0);
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	settle(r);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_STOPPED);
	float *back = clip_now(r);
	assert_memory_equal(back, dubbed, LOOP * sizeof(float));
	/* ...and the pass under it is still a level. */
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	settle(r);
	float *orig = clip_now(r);
	assert_memory_not_equal(orig, dubbed, LOOP * sizeof(float));
	/* Redo all: the pass, then the clear again. */
	rig_cmd(r, CMD_REDO_ALL, 0, 0, 0, engine_now(r->e));
	settle(r);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_EMPTY);
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	settle(r);
	free(back);
	back = clip_now(r);
	assert_memory_equal(back, dubbed, LOOP * sizeof(float));
	/* Cleared, then recorded over: the old take is gone for good. */
	rig_cmd(r, CMD_CLEAR, 0, 0, 0, engine_now(r->e));
	int64_t at = engine_now(r->e) + 100;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, at);
	rig_run(r, 640);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_RECORDING);
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_RECORDING);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, at + LOOP);
	rig_run_to(r, at + 2 * LOOP + 1000);
	settle(r);
	float *fresh = clip_now(r);
	for (int64_t i = 0; i < LOOP; i++)
		assert_true(fresh[i] == rig_signal(at + i, 0));
	free(fresh);
	free(back);
	free(orig);
	free(dubbed);
	rig_free(r);
}

/* The real-time cost of undo: no period swaps more than one budget
 * (frames), whatever the loop's length and however many levels an undo_all
 * takes back; a long loop only takes more periods. */
static int64_t undo_all_periods(int64_t L, int levels, int64_t pass, int64_t *worst)
{
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.tempo = 0;
	cfg.quantise = QUANTISE_OFF;
	cfg.undo_levels = GL_UNDO_LEVELS_MAX;
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	r->discard_output = true;
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100 + L);
	rig_run_to(r, 100 + 2 * L + 2000);
	for (int i = 0; i < levels; i++) {
		int64_t at = engine_now(r->e) + 10;
		rig_cmd(r, CMD_OVERDUB, 0, 0, 0, at);
		rig_cmd(r, CMD_OVERDUB, 0, 0, 0, at + pass);
		rig_run_to(r, at + pass + 1280);
	}
	const struct clip *c = &r->e->clips[0];
	assert_int_equal(c->nlv, levels);
	rig_cmd(r, CMD_UNDO_ALL, 0, 0, 0, engine_now(r->e));
	int64_t periods = 0;
	*worst = 0;
	int lvl = c->applied;
	int64_t done = c->swap_done, len = c->rg_len;
	bool was = false;
	for (int i = 0; i < 1000000 && (c->swapping || !was); i++) {
		rig_run(r, 64);
		int64_t work;
		if (!was) /* the command's period: the first step */
			work = c->swapping ? c->swap_done : len;
		else if (c->applied == lvl)
			work = c->swap_done - done;
		else /* the last swap ended; the next waits for the next period */
			work = (len - done) + c->swap_done;
		if (work > *worst)
			*worst = work;
		was = true;
		periods += c->swapping;
		lvl = c->applied;
		done = c->swap_done;
		len = c->rg_len;
	}
	assert_int_equal(c->applied, 0);
	rig_free(r);
	return periods;
}

static void test_undo_cost_is_per_period(void **state)
{
	(void)state;
	const int64_t budget = 8192; /* clip_swap_step(): 4 periods, at least 8192 */
	int64_t worst_short, worst_long, worst_deep;
	int64_t p_short = undo_all_periods(48000, 3, 48000, &worst_short);
	int64_t p_long = undo_all_periods(20 * 48000, 3, 20 * 48000, &worst_long);
	int64_t p_deep = undo_all_periods(48000, GL_UNDO_LEVELS_MAX, 300, &worst_deep);
	print_message(
	    "undo_all, frames swapped in the worst period: 1 s loop %lld, 20 s "
	    "loop %lld, 16 small levels %lld (budget %lld); periods %lld, %lld, "
	    "%lld\n",
	    (long long)worst_short, (long long)worst_long, (long long)worst_deep,
	    (long long)budget, (long long)p_short, (long long)p_long, (long long)p_deep);
	assert_true(worst_short <= budget && worst_long <= budget &&
		    worst_deep <= budget);
	assert_true(p_long >= 3 * 20 * 48000 / budget); /* longer, not heavier */
	assert_true(p_deep >= GL_UNDO_LEVELS_MAX - 1);	/* a level a period */
}

/* A cleared take is kept only while memory allows: a take being recorded
 * that runs out of memory gets the cleared take's, and records in full. */
static void test_cleared_take_gives_way_to_a_recording(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.tempo = 0;
	cfg.quantise = QUANTISE_OFF;
	cfg.grow_frames = 4096; /* 3072-frame chunks, 12 KiB */
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	uint64_t mapped = rig_keeper_mapped(&cfg, &kc);
	kc.memory_limit = mapped + 12 * 3072 * sizeof(float);
	struct rig *r = rig_new_with(&cfg, &kc, 64);
	/* A: 8 chunks (its undo room does not fit: no level). */
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, 100 + 24000);
	rig_run_to(r, 60000);
	assert_int_equal(engine_clip_length(r->e, 0, 0), 24000);
	rig_cmd(r, CMD_CLEAR, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	/* B: 10 chunks, more than is left beside the cleared A. */
	int64_t at = engine_now(r->e) + 100;
	r->nev = 0;
	int64_t where;
	const char *why = rig_new_take_fails(r, 1, at, 30000, 0, &where);
	if (why)
		fail_msg("the new take: %s at %lld", why, (long long)where);
	/* A is gone for good: undo finds nothing. */
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 640);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_EMPTY);
	rig_free(r);
}

/* Undo levels are kept only while memory allows too: a take being
 * recorded short of memory gets the levels' memory (no cleared take to
 * let go), and the clip keeps its audio as it is. */
static void test_undo_levels_give_way_to_a_recording(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.tempo = 0;
	cfg.quantise = QUANTISE_OFF;
	cfg.grow_frames = 4096; /* 3072-frame chunks, 12 KiB */
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	uint64_t mapped = rig_keeper_mapped(&cfg, &kc);
	kc.memory_limit = mapped + 16 * 3072 * sizeof(float);
	struct rig *r = rig_new_with(&cfg, &kc, 64);
	record_take(r); /* A: 12000 frames, 4 chunks */
	pass(r, 2000);
	pass(r, 2000);
	assert_true(r->e->clips[0].nlv >= 1);
	float *a = clip_now(r);
	r->nev = 0;
	int64_t at = engine_now(r->e) + 100;
	int64_t where;
	const char *why = rig_new_take_fails(r, 1, at, 30000, 0, &where);
	if (why)
		fail_msg("the new take: %s at %lld", why, (long long)where);
	assert_int_equal(r->e->clips[0].nlv, 0);
	assert_true(rig_count_events(r, EV_UNDO_DROPPED, -1) >= 1);
	/* A is as it was; an undo has nothing to take back. */
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	settle(r);
	float *a2 = clip_now(r);
	assert_memory_equal(a2, a, LOOP * sizeof(float));
	free(a);
	free(a2);
	rig_free(r);
}

/* Every op on every clip state: a defined state after, never a crash,
 * never audio lost (a take stays its length). */
static void test_ops_on_every_state(void **state)
{
	(void)state;
	enum { OPS = 15 };
	const uint8_t ops[OPS] = {
	    CMD_UNDO,	 CMD_REDO,    CMD_UNDO_ALL,   CMD_REDO_ALL,  CMD_CLEAR,
	    CMD_OVERDUB, CMD_REPLACE, CMD_SUBSTITUTE, CMD_CLIP_MUTE, CMD_ONESHOT,
	    CMD_TRIGGER, CMD_REVERSE, CMD_SPEED,      CMD_MULTIPLY,  CMD_INSERT};
	/* Expected state after the op, per starting state (row) and op. A
	 * pass starts only on a playing clip (a stop queued stays queued:
	 * the pass ends with the stop), and any pass op ends a pass; a clip
	 * mute changes no state; one-shot and trigger queue a launch of a
	 * final take (the next bar), and leave the rest alone; a reverse
	 * waits for the bar line and changes no state, as a speed (2) does;
	 * multiply and insert wait for the bar line too (a playing clip), and
	 * end a pass (as any pass op). After them, four bars on: a whole
	 * number of the take's cycles, and undo_all gives the take back. */
	const enum clip_state E = CLIP_EMPTY, RQ = CLIP_RECORD_QUEUED, R = CLIP_RECORDING,
			      PQ = CLIP_PLAY_QUEUED, P = CLIP_PLAYING,
			      O = CLIP_OVERDUBBING, SQ = CLIP_STOP_QUEUED,
			      S = CLIP_STOPPED;
	const struct {
		enum clip_state from;
		enum clip_state after[OPS];
	} table[] = {
	    {E, {E, E, E, E, E, E, E, E, E, E, E, E, E, E, E}},
	    {RQ, {RQ, RQ, RQ, RQ, E, RQ, RQ, RQ, RQ, RQ, RQ, RQ, RQ, RQ, RQ}},
	    {R, {R, R, R, R, E, R, R, R, R, R, R, R, R, R, R}},
	    {PQ, {PQ, PQ, PQ, PQ, E, PQ, PQ, PQ, PQ, PQ, PQ, PQ, PQ, PQ, PQ}},
	    {P, {P, P, P, P, E, O, O, O, P, PQ, PQ, P, P, P, P}},
	    {O, {P, O, P, O, E, P, P, P, O, PQ, PQ, O, O, P, P}},
	    {SQ, {SQ, SQ, SQ, SQ, E, SQ, SQ, SQ, SQ, PQ, PQ, SQ, SQ, SQ, SQ}},
	    {S, {S, S, S, S, E, S, S, S, S, PQ, PQ, S, S, S, S}},
	};
	for (size_t row = 0; row < sizeof(table) / sizeof(table[0]); row++)
		for (int op = 0; op < OPS; op++) {
			struct engine_config cfg;
			engine_config_defaults(&cfg, 48000);
			cfg.max_period = 64;
			cfg.tempo = 120;
			cfg.grow_frames = 4096;
			struct rig *r = rig_new_with(&cfg, NULL, 64);
			enum clip_state from = table[row].from;
			if (from != CLIP_EMPTY) {
				rig_cmd(r, CMD_PRESS, 0, 0, 0, 10); /* at bar 1 */
				rig_run(r, 64);
			}
			if (from >= CLIP_RECORDING) {
				rig_run_to(r, BAR120_FRAMES + 100);
				if (from != CLIP_RECORDING) {
					rig_cmd(r, CMD_PRESS, 0, 0, 0, engine_now(r->e));
					rig_run(r, 64);
				}
				if (from > CLIP_PLAY_QUEUED)
					rig_run_to(r, 2 * BAR120_FRAMES + 100);
			}
			if (from == CLIP_OVERDUBBING) {
				rig_cmd(r, CMD_OVERDUB, 0, 0, 0, engine_now(r->e));
				rig_run(r, 6400);
			}
			if (from == CLIP_STOP_QUEUED || from == CLIP_STOPPED) {
				rig_cmd(r, CMD_PRESS, 0, 0, 0, engine_now(r->e));
				rig_run(r, 64);
				if (from == CLIP_STOPPED)
					rig_run_to(r, 3 * BAR120_FRAMES + 100);
			}
			if (engine_clip_state(r->e, 0, 0) != from)
				fail_msg("row %zu: set up %d, not %d", row,
					 engine_clip_state(r->e, 0, 0), from);
			int64_t len = engine_clip_length(r->e, 0, 0);
			rig_cmd(r, ops[op], 0, 0,
				ops[op] == CMD_CLIP_MUTE ? 1
				: ops[op] == CMD_SPEED	 ? 2
							 : 0,
				engine_now(r->e));
			rig_run(r, 64);
			if (engine_clip_state(r->e, 0, 0) != table[row].after[op])
				fail_msg("state %d, op %d: %d, not %d", from, ops[op],
					 engine_clip_state(r->e, 0, 0),
					 table[row].after[op]);
			if (ops[op] != CMD_CLEAR && from >= CLIP_PLAY_QUEUED)
				assert_int_equal(engine_clip_length(r->e, 0, 0), len);
			if ((ops[op] == CMD_MULTIPLY || ops[op] == CMD_INSERT) &&
			    from >= CLIP_PLAY_QUEUED) {
				rig_run(r, 4 * BAR120_FRAMES);
				rig_cmd(r, CMD_PRESS, 0, 0, 0, engine_now(r->e));
				rig_run(r, 4 * BAR120_FRAMES);
				int64_t now = engine_clip_length(r->e, 0, 0);
				if (now < len || now % len ||
				    (from == CLIP_PLAYING && now == len))
					fail_msg("state %d, op %d: length %lld of %lld",
						 from, ops[op], (long long)now,
						 (long long)len);
				rig_cmd(r, CMD_UNDO_ALL, 0, 0, 0, engine_now(r->e));
				rig_run(r, BAR120_FRAMES);
				assert_int_equal(engine_clip_length(r->e, 0, 0), len);
			}
			/* Undo after a clear of a final take: back, as long as it
			 * was (a take still recording goes at once, as before). */
			if (ops[op] == CMD_CLEAR && from >= CLIP_PLAYING) {
				rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
				rig_run(r, 64);
				assert_int_equal(engine_clip_state(r->e, 0, 0),
						 CLIP_STOPPED);
				assert_int_equal(engine_clip_length(r->e, 0, 0), len);
			}
			rig_free(r);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_undo_chains_match_the_model),
	    cmocka_unit_test(test_undo_memory_bound),
	    cmocka_unit_test(test_clear_undoable_until_record),
	    cmocka_unit_test(test_ops_on_every_state),
	    cmocka_unit_test(test_undo_cost_is_per_period),
	    cmocka_unit_test(test_cleared_take_gives_way_to_a_recording),
	    cmocka_unit_test(test_undo_levels_give_way_to_a_recording),
	};
	if (getenv("GL_TEST_FILTER"))
		cmocka_set_test_filter(getenv("GL_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
