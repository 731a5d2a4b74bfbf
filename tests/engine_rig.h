/* engine_rig.h -- a test bench for the engine: feeds it a known input one
 * period at a time, keeps every output frame, serves the keeper between
 * periods (an ideally quick keeper), and collects the engine's events.
 *
 * engine_process() runs inside rt_mark_begin()/rt_mark_end(), so under the
 * real-time guard (LD_PRELOAD, scripts/run-tests) any allocation, lock,
 * sleep or file call inside the engine aborts the test.
 */
#ifndef GRIDLOOP_ENGINE_RIG_H
#define GRIDLOOP_ENGINE_RIG_H

#include "engine.h"
#include "keeper.h"
#include "rt_mark.h"

#include <stdlib.h>
#include <string.h>

/* Input channel c at frame t: exact in float, different at every frame of a
 * test, and different per channel. */
static inline float rig_signal(int64_t t, int c)
{
	return (float)(((t + 1000 * c) * 7919) % 65536) / 65536.0f - 0.5f;
}

struct rig {
	struct engine *e;
	struct keeper *k;
	uint32_t period;
	int64_t frames; /* output frames kept */
	float *out;	/* stereo, every frame since 0 */
	int64_t cap;
	float *in, *pout;
	struct event ev[4096];
	int nev;
	bool keeper_paused;  /* leave requests waiting (a slow keeper) */
	bool discard_output; /* long runs: keep no output (out stays NULL) */
	float (*input)(int64_t t, int c);
};

static inline struct rig *rig_new_with(const struct engine_config *cfg,
				       const struct keeper_config *kc, uint32_t period)
{
	struct rig *r = calloc(1, sizeof(*r));
	const char *why = NULL;
	rt_mark_init();
	r->e = engine_create(cfg, &why);
	if (!r->e) {
		free(r);
		return NULL;
	}
	struct keeper_config kdef;
	keeper_config_defaults(&kdef);
	kdef.lock_memory = false; /* tests run without RLIMIT_MEMLOCK room */
	r->k = keeper_create(r->e, kc ? kc : &kdef, &why);
	if (!r->k) {
		engine_destroy(r->e);
		free(r);
		return NULL;
	}
	r->period = period;
	r->in = calloc((size_t)period * cfg->input_channels, sizeof(float));
	r->pout = calloc((size_t)period * 2, sizeof(float));
	r->input = rig_signal;
	return r;
}

static inline struct rig *rig_new(uint32_t period, uint32_t fade, double tempo)
{
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = period;
	cfg.fade_frames = fade;
	cfg.tempo = tempo;
	cfg.grow_frames = period * 4 > 1024 ? period * 4 : 1024;
	return rig_new_with(&cfg, NULL, period);
}

static inline void rig_free(struct rig *r)
{
	if (!r)
		return;
	keeper_stop(r->k);
	keeper_destroy(r->k);
	engine_destroy(r->e);
	free(r->out);
	free(r->in);
	free(r->pout);
	free(r);
}

static inline void rig_drain_events(struct rig *r)
{
	struct event ev;
	while (spsc_pop(engine_events(r->e), &ev))
		if (r->nev < (int)(sizeof(r->ev) / sizeof(r->ev[0])))
			r->ev[r->nev++] = ev;
}

/* Runs whole periods until at least `frames` more frames are out. */
static inline void rig_run(struct rig *r, int64_t frames)
{
	const struct engine_config *cfg = engine_config(r->e);
	int64_t until = r->frames + frames;
	while (r->frames < until) {
		int64_t t0 = engine_now(r->e);
		for (uint32_t i = 0; i < r->period; i++)
			for (uint32_t c = 0; c < cfg->input_channels; c++)
				r->in[i * cfg->input_channels + c] =
				    r->input(t0 + i, (int)c);
		rt_mark_begin();
		engine_process(r->e, r->in, r->pout, r->period);
		rt_mark_end();
		if (!r->discard_output) {
			if (r->frames + r->period > r->cap) {
				r->cap = r->cap ? r->cap * 2 : 1 << 16;
				r->out =
				    realloc(r->out, (size_t)r->cap * 2 * sizeof(float));
			}
			memcpy(r->out + r->frames * 2, r->pout,
			       (size_t)r->period * 2 * sizeof(float));
		}
		r->frames += r->period;
		if (!r->keeper_paused)
			keeper_service(r->k);
		rig_drain_events(r);
	}
}

/* Runs until engine_now() reaches frame f (whole periods). */
static inline void rig_run_to(struct rig *r, int64_t f)
{
	if (f > engine_now(r->e))
		rig_run(r, f - engine_now(r->e));
}

static inline void rig_cmd(struct rig *r, enum command_type type, int track, int scene,
			   float value, int64_t frame)
{
	engine_send(r->e, SOURCE_SCRIPT, type, track, scene, value, frame);
}

static inline enum clip_state rig_state(struct rig *r, int track, int scene)
{
	return engine_clip_state(r->e, track, scene);
}

static inline int rig_count_events(struct rig *r, uint8_t type, int64_t value)
{
	int n = 0;
	for (int i = 0; i < r->nev; i++)
		if (r->ev[i].type == type && (value < 0 || r->ev[i].value == value))
			n++;
	return n;
}

/* Records a take of len frames on track's scene 0 (pressed at frame at and
 * at + len) and runs 40000 frames past its end; then checks it: no
 * out-of-memory error on the way, len frames long, and each frame the
 * input of frame at + latency + i. NULL when it holds, else what failed,
 * with the frame in *where. */
static inline const char *rig_new_take_fails(struct rig *r, int track, int64_t at,
					     int64_t len, int64_t latency, int64_t *where)
{
	rig_cmd(r, CMD_PRESS, track, 0, 0, at);
	rig_cmd(r, CMD_PRESS, track, 0, 0, at + len);
	rig_run_to(r, at + len + 40000);
	for (int i = 0; i < r->nev; i++)
		if (r->ev[i].type == EV_ERROR && r->ev[i].value == ERR_OUT_OF_MEMORY) {
			*where = r->ev[i].frame;
			return "out of memory";
		}
	*where = engine_clip_length(r->e, track, 0);
	if (*where != len)
		return "a length other than the one recorded";
	float *b = calloc((size_t)len, sizeof(float));
	if (!b || engine_clip_read(r->e, track, 0, 0, 0, b, len) != len) {
		free(b);
		*where = 0;
		return "unreadable";
	}
	const char *why = NULL;
	for (int64_t i = 0; i < len && !why; i++)
		if (b[i] != rig_signal(at + latency + i, 0)) {
			*where = i;
			why = "audio other than the input";
		}
	free(b);
	return why;
}

/* The bytes a keeper maps for cfg's engine before any recording (the armed
 * slots): a memory_limit of this plus N chunks leaves room for N chunks. */
static inline uint64_t rig_keeper_mapped(const struct engine_config *cfg,
					 const struct keeper_config *kc)
{
	struct engine *probe = engine_create(cfg, NULL);
	if (!probe)
		abort();
	struct keeper *pk = keeper_create(probe, kc, NULL);
	if (!pk)
		abort();
	struct keeper_stats st;
	keeper_get_stats(pk, &st);
	keeper_destroy(pk);
	engine_destroy(probe);
	return st.bytes_mapped;
}

/* ---- one-clip tests (the loop operations) ---------------------------------
 * A free-running engine for one clip at a time: 48 kHz, 64-frame periods,
 * no tempo set, quantise off, 4096-frame grow,
 * the given fade and round trip. */
static inline void rig_loop_config(struct engine_config *cfg, uint32_t fade,
				   uint32_t latency)
{
	engine_config_defaults(cfg, 48000);
	cfg->max_period = 64;
	cfg->fade_frames = fade;
	cfg->tempo = 0;
	cfg->quantise = QUANTISE_OFF;
	cfg->grow_frames = 4096;
	cfg->latency_frames = latency;
}

/* Records a take of len frames on track 0 scene 0 from frame start and
 * plays it, up to 2000 frames into its second pass (it plays then). */
static inline void rig_record_loop(struct rig *r, int64_t start, int64_t len)
{
	rig_cmd(r, CMD_PRESS, 0, 0, 0, start);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, start + len);
	rig_run_to(r, start + 2 * len + 2000);
	assert_int_equal(engine_clip_state(r->e, 0, 0), CLIP_PLAYING);
}

/* The first len frames of channel 0 of track 0 scene 0, calloc'd. */
static inline float *rig_clip_now(struct rig *r, int64_t len)
{
	float *buf = calloc((size_t)len, sizeof(float));
	assert_int_equal(engine_clip_read(r->e, 0, 0, 0, 0, buf, len), len);
	return buf;
}

#endif
