/* engine_ops.h -- random loop-operation sequences through the engine's
 * command path, for the libFuzzer target (tests/fuzz/fuzz_engine.c) and a
 * seeded run in make check (tests/test_multiply.c): bytes become commands
 * (every loop operation, multiply and insert included, on four clips of
 * two tracks, with waits between them), fed to a real engine and keeper
 * one period at a time, each period under the real-time guard's marks.
 * After each step the engine's state must be one it can be in; at the end,
 * with the keeper's work done, every final take reads back whole and is
 * whole cycles long. A broken invariant prints what broke and traps.
 *
 * Input: byte 0 picks the set-up (bit 0: a memory limit a few takes deep;
 * bit 1: bar quantise at 120 BPM, else quantise off; bit 2: a 300-frame
 * round trip; bit 3: fades on; bit 4: the grid is moved under the loops,
 * as Ableton Link does: after each operation whose wait byte is odd, a
 * CMD_SYNC_GRID within its wait, at 120, 120.3, 90 or 240 BPM by bits 4-5
 * of its where byte); then 3 bytes an operation:
 *   op      what (op % OPS_COUNT, below); bit 7: the keeper pauses for
 *           this wait (a slow keeper: answers come late)
 *   where   bit 0 track, bit 1 scene; bits 2-3 a value (speed 0.5|1|2,
 *           mute on/off, quantise)
 *   wait    periods of 64 frames to run before the next one, x 8 (at
 *           most OPS_PERIODS_MAX in all, so one input stays quick)
 */
#ifndef GRIDLOOP_ENGINE_OPS_H
#define GRIDLOOP_ENGINE_OPS_H

#include "engine_internal.h"
#include "keeper.h"
#include "rt_mark.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPS_PERIOD	64
#define OPS_PERIODS_MAX 40000

static const uint8_t ops_types[] = {
    CMD_PRESS,	      CMD_PRESS,	CMD_MULTIPLY, CMD_INSERT,     CMD_MULTIPLY,
    CMD_INSERT,	      CMD_OVERDUB,	CMD_REPLACE,  CMD_SUBSTITUTE, CMD_UNDO,
    CMD_REDO,	      CMD_UNDO_ALL,	CMD_REDO_ALL, CMD_CLEAR,      CMD_STOP_CLIP,
    CMD_REVERSE,      CMD_SPEED,	CMD_TRIGGER,  CMD_ONESHOT,    CMD_CLIP_MUTE,
    CMD_LAUNCH_SCENE, CMD_SET_QUANTISE, CMD_STOP_ALL,
};
#define OPS_COUNT (sizeof(ops_types) / sizeof(ops_types[0]))

/* OPS_TRACE=1 in the environment: each command and event on stderr. */
static bool ops_trace;

static void ops_fail(const char *what, int slot, int64_t a, int64_t b)
{
	fprintf(stderr, "engine_ops: %s (slot %d: %lld, %lld)\n", what, slot,
		(long long)a, (long long)b);
	__builtin_trap();
}

static void ops_check(const struct engine *e)
{
	for (int s = 0; s < GL_SLOTS; s++) {
		const struct clip *c = &e->clips[s];
		enum clip_state st = engine_clip_state(e, track_of(s), scene_of(s));
		if ((unsigned)st >= CLIP_STATE_COUNT)
			ops_fail("state out of range", s, st, 0);
		if (c->length < 0 || c->written < 0)
			ops_fail("negative length", s, c->length, c->written);
		if (c->nlv > GL_UNDO_LEVELS_MAX || c->applied > c->nlv ||
		    c->nbufs > GL_UNDO_LEVELS_MAX)
			ops_fail("undo levels out of range", s, c->nlv, c->applied);
		/* Levels: each buffer long enough for the take its level
		 * applies to, in one level only; the levels next to the
		 * cursor (the one an undo takes back, the one a redo brings)
		 * apply to the clip's take as it is. */
		for (int i = 0; i < c->nlv; i++) {
			const struct undo_level *l = &c->lv[i];
			if (l->take) {
				if (l->tk.length <= 0 || !l->tk.table[0])
					ops_fail("a take level without its take", s, i,
						 l->tk.length);
				continue;
			}
			if (l->buf >= c->nbufs || c->ubuf_frames[l->buf] < l->len ||
			    l->rg_len <= 0 || l->rg_len > l->len || l->rg_start < 0 ||
			    l->rg_start >= l->len)
				ops_fail("a level's buffer or region does not fit", s, i,
					 l->len);
			for (int j = 0; j < i; j++)
				if (!c->lv[j].take && c->lv[j].buf == l->buf)
					ops_fail("two levels share a buffer", s, j, i);
		}
		if (c->applied > 0 && c->lv[c->applied - 1].len != c->length)
			ops_fail("the level to undo is of another take", s,
				 c->lv[c->applied - 1].len, c->length);
		/* (A take level undone keeps T', of its length, and the
		 * clip's take is A.) */
		if (c->applied < c->nlv && !c->lv[c->applied].take &&
		    c->lv[c->applied].len != c->length)
			ops_fail("the level to redo is of another take", s,
				 c->lv[c->applied].len, c->length);
		if (c->applied < c->nlv && c->lv[c->applied].take &&
		    c->lv[c->applied].tk.length != c->lv[c->applied].len)
			ops_fail("an undone take level does not keep its take", s,
				 c->lv[c->applied].tk.length, c->lv[c->applied].len);
		if (c->nseams > GL_SEAMS_MAX)
			ops_fail("too many seams", s, c->nseams, 0);
		if (c->rb_read && c->table[0] != c->rb_dst[0])
			ops_fail("reading a take being built that is not the clip's", s,
				 0, 0);
		if (c->finished && !c->cleared && c->state != CLIP_EMPTY &&
		    c->length > 0 && c->cycle > 0 && c->length % c->cycle)
			ops_fail("a take not whole cycles", s, c->length, c->cycle);
	}
}

static void ops_periods(struct engine *e, struct keeper *k, float *in, float *out,
			int64_t n, bool keeper_paused)
{
	const struct engine_config *cfg = engine_config(e);
	for (int64_t p = 0; p < n; p++) {
		int64_t t0 = engine_now(e);
		for (uint32_t i = 0; i < OPS_PERIOD; i++)
			for (uint32_t c = 0; c < cfg->input_channels; c++)
				in[i * cfg->input_channels + c] =
				    (float)(((t0 + i + 1000 * c) * 7919) % 65536) /
					65536.0f -
				    0.5f;
		rt_mark_begin();
		engine_process(e, in, out, OPS_PERIOD);
		rt_mark_end();
		if (!keeper_paused)
			keeper_service(k);
		struct event ev;
		while (spsc_pop(engine_events(e), &ev))
			if (ops_trace && ev.type != EV_BAR && ev.type != EV_BEAT)
				fprintf(
				    stderr,
				    "  %8lld ev %d t%d s%d state %d value %lld aux %d\n",
				    (long long)ev.frame, ev.type, ev.track, ev.scene,
				    ev.state, (long long)ev.value, (int)ev.aux);
		ops_check(e);
	}
}

/* Runs one input; 0, or traps. */
static int ops_run(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	ops_trace = getenv("OPS_TRACE") != NULL;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = OPS_PERIOD;
	cfg.grow_frames = 4096;
	cfg.tempo = data[0] & 2 ? 120 : 0;
	cfg.quantise = data[0] & 2 ? QUANTISE_BAR : QUANTISE_OFF;
	cfg.latency_frames = data[0] & 4 ? 300 : 0;
	cfg.fade_frames = data[0] & 8 ? 64 : 0;
	cfg.undo_levels = 4;
	rt_mark_init();
	struct engine *e = engine_create(&cfg, NULL);
	if (!e)
		ops_fail("engine_create", -1, 0, 0);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	if (data[0] & 1)
		kc.memory_limit = keeper_arm_bytes(&cfg, 4096) + (2u << 20);
	struct keeper *k = keeper_create(e, &kc, NULL);
	if (!k)
		ops_fail("keeper_create", -1, 0, 0);
	float *in = calloc((size_t)OPS_PERIOD * cfg.input_channels, sizeof(float));
	float *out = calloc((size_t)OPS_PERIOD * 2, sizeof(float));
	int64_t budget = OPS_PERIODS_MAX;
	for (size_t i = 1; i + 3 <= size && i < 1 + 3 * 200 && budget > 0; i += 3) {
		uint8_t type = ops_types[(data[i] & 0x7f) % OPS_COUNT];
		int track = data[i + 1] & 1, scene = (data[i + 1] >> 1) & 1;
		int v = (data[i + 1] >> 2) & 3;
		float value = 0;
		if (type == CMD_SPEED)
			value = v == 0 ? 0.5f : v == 1 ? 1.0f : 2.0f;
		else if (type == CMD_CLIP_MUTE)
			value = (float)(v & 1);
		else if (type == CMD_SET_QUANTISE)
			value = (float)(v % 3);
		if (ops_trace)
			fprintf(stderr, "%8lld cmd %d t%d s%d value %g%s\n",
				(long long)engine_now(e), type, track, scene, value,
				data[i] & 0x80 ? " (keeper paused)" : "");
		engine_send(e, SOURCE_SCRIPT, (enum command_type)type, track, scene,
			    value, engine_now(e));
		if ((data[0] & 16) && (data[i + 2] & 1)) {
			static const float bpm[] = {120.0f, 120.3f, 90.0f, 240.0f};
			float b = bpm[(data[i + 1] >> 4) & 3];
			int64_t at =
			    engine_now(e) + (int64_t)data[i + 2] * 8 * OPS_PERIOD / 2;
			if (ops_trace)
				fprintf(stderr, "%8lld cmd sync grid %g at %lld\n",
					(long long)engine_now(e), b, (long long)at);
			engine_send(e, SOURCE_SCRIPT, CMD_SYNC_GRID, 0, 0, b, at);
		}
		int64_t wait = 1 + (int64_t)data[i + 2] * 8;
		if (wait > budget)
			wait = budget;
		budget -= wait;
		ops_periods(e, k, in, out, wait, data[i] & 0x80);
	}
	/* Everything ends: the keeper catches up, passes end, copies finish. */
	if (ops_trace)
		fprintf(stderr, "%8lld cmd stop all (the end)\n",
			(long long)engine_now(e));
	engine_send(e, SOURCE_SCRIPT, CMD_STOP_ALL, 0, 0, 0, engine_now(e));
	ops_periods(e, k, in, out, 200, false);
	/* A pass the stop ended goes on to its next cycle line: as long as
	 * the longest take, and a bar, at most. */
	int64_t longest = 0;
	for (int s = 0; s < GL_SLOTS; s++)
		if (e->clips[s].length > longest)
			longest = e->clips[s].length;
	int64_t rounds = 2000 + 2 * (longest + 96000) / OPS_PERIOD;
	for (int64_t round = 0; round < rounds; round++) {
		bool busy = false;
		for (int s = 0; s < GL_SLOTS; s++) {
			const struct clip *c = &e->clips[s];
			busy |= c->rb_mode != RB_NONE || c->swapping ||
				c->take_switching || c->od_writing || c->rec_writing;
		}
		if (!busy)
			break;
		ops_periods(e, k, in, out, 1, false);
	}
	for (int s = 0; s < GL_SLOTS; s++) {
		const struct clip *c = &e->clips[s];
		int t = track_of(s), sc = scene_of(s);
		if (c->rb_mode != RB_NONE || c->take_switching)
			ops_fail("a multiply or insert never finished", s, c->rb_mode,
				 c->take_switching);
		if (c->state == CLIP_EMPTY || c->length <= 0)
			continue;
		if (engine_clip_version(e, t, sc) & 1)
			ops_fail("a final take not settled", s, c->length, 0);
		int64_t n = engine_clip_length(e, t, sc);
		float *buf = malloc((size_t)n * sizeof(float));
		if (engine_clip_read(e, t, sc, 0, 0, buf, n) != n)
			ops_fail("a take does not read back whole", s, n, 0);
		free(buf);
		/* The keeper holds as much as the engine plays. */
		if (keeper_clip_bytes(k, t, sc) <
		    (uint64_t)n * sizeof(float) * c->channels)
			ops_fail("the keeper holds less than the take", s, n,
				 (int64_t)keeper_clip_bytes(k, t, sc));
	}
	free(in);
	free(out);
	keeper_destroy(k);
	engine_destroy(e);
	return 0;
}

#endif
