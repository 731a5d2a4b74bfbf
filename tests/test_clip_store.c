/* test_clip_store.c -- the engine and the keeper's side of the SD card:
 * clip versions (copying a clip out while the engine runs, keeper_clip_copy)
 * and restored takes offered to empty slots (keeper_take_*, MEM_ADOPT).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "engine_internal.h"
#include "engine_rig.h"

#define BAR120 96000 /* frames per 4/4 bar at 120 BPM, 48 kHz */

static float restored_signal(int64_t i, int ch)
{
	return (float)((i * 31 + ch * 7) % 1000) / 1000.0f - 0.25f;
}

static struct event *find_event(struct rig *r, uint8_t type, int track, int scene)
{
	for (int i = r->nev - 1; i >= 0; i--)
		if (r->ev[i].type == type && r->ev[i].track == track &&
		    r->ev[i].scene == scene)
			return &r->ev[i];
	return NULL;
}

/* A copy through the keeper, kept only if the version says it is final. */
static float *copy_final(struct rig *r, int t, int s, int ch, int64_t *len)
{
	uint32_t v = engine_clip_version(r->e, t, s);
	if (v & 1)
		return NULL;
	*len = engine_clip_final_length(r->e, t, s);
	float *buf = calloc((size_t)*len + 1, sizeof(float));
	assert_int_equal(keeper_clip_copy(r->k, t, s, ch, 0, buf, *len), *len);
	if (!engine_clip_version_still(r->e, t, s, v)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static struct keeper_take *make_take(struct rig *r, int t, int s, int64_t frames)
{
	struct keeper_take *take = keeper_take_new(r->k, t, s, frames);
	assert_non_null(take);
	float *buf = malloc((size_t)frames * sizeof(float));
	for (int ch = 0; ch < keeper_take_channels(take); ch++) {
		for (int64_t i = 0; i < frames; i++)
			buf[i] = restored_signal(i, ch);
		/* In two pieces, across a chunk boundary. */
		keeper_take_write(take, ch, 0, buf, 1000);
		keeper_take_write(take, ch, 1000, buf + 1000, frames - 1000);
	}
	free(buf);
	return take;
}

static void test_versions_follow_every_change(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 120);
	assert_true(engine_clip_version(r->e, 0, 0) & 1); /* empty: nothing final */
	rig_cmd(r, CMD_PRESS, 0, 0, 0, BAR120 - 1000);
	rig_cmd(r, CMD_PRESS, 0, 0, 0, BAR120 + 1000);
	rig_run_to(r, BAR120 + 500);
	assert_true(engine_clip_version(r->e, 0, 0) & 1); /* recording */
	rig_run_to(r, 2 * BAR120 + 64);
	assert_non_null(find_event(r, EV_RECORD_DONE, 0, 0));
	uint32_t v1 = engine_clip_version(r->e, 0, 0);
	assert_false(v1 & 1);
	assert_int_equal(engine_clip_final_length(r->e, 0, 0), BAR120);

	/* The keeper's copy is the engine's audio, frame for frame. */
	int64_t len = 0;
	float *copy = copy_final(r, 0, 0, 0, &len);
	assert_non_null(copy);
	assert_int_equal(len, BAR120);
	for (int64_t i = 0; i < len; i++)
		if (copy[i] != rig_signal(BAR120 + i, 0))
			fail_msg("frame %lld differs", (long long)i);
	free(copy);

	/* An overdub pass: odd while it writes, even and new after. */
	int64_t od = engine_now(r->e) + 100;
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od);
	rig_run_to(r, od + 1000);
	assert_true(engine_clip_version(r->e, 0, 0) & 1);
	assert_false(engine_clip_version_still(r->e, 0, 0, v1));
	rig_cmd(r, CMD_OVERDUB, 0, 0, 0, od + 20000);
	rig_run_to(r, od + 20000 + 128);
	uint32_t v2 = engine_clip_version(r->e, 0, 0);
	assert_false(v2 & 1);
	assert_true(v2 > v1);

	/* Undo: odd while the swap runs, even when it is done. */
	rig_cmd(r, CMD_UNDO, 0, 0, 0, engine_now(r->e));
	rig_run(r, 64);
	uint32_t v3 = engine_clip_version(r->e, 0, 0);
	if (v3 & 1) {
		rig_run(r, BAR120);
		v3 = engine_clip_version(r->e, 0, 0);
	}
	assert_false(v3 & 1);
	assert_true(v3 > v2);
	copy = copy_final(r, 0, 0, 0, &len);
	assert_non_null(copy);
	for (int64_t i = 0; i < len; i++)
		if (copy[i] != rig_signal(BAR120 + i, 0))
			fail_msg("undone frame %lld differs", (long long)i);
	free(copy);

	/* A clear: odd, and a copy begun before it is thrown away. */
	uint32_t before = engine_clip_version(r->e, 0, 0);
	rig_cmd(r, CMD_CLEAR, 0, 0, 0, engine_now(r->e));
	rig_run(r, 64);
	assert_true(engine_clip_version(r->e, 0, 0) & 1);
	assert_false(engine_clip_version_still(r->e, 0, 0, before));
	rig_free(r);
}

static void test_copy_never_reads_past_mapped_memory(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	rig_cmd(r, CMD_PRESS, 1, 2, 0, 0);
	rig_cmd(r, CMD_PRESS, 1, 2, 0, 5000);
	rig_run_to(r, 6000);
	int64_t len = engine_clip_final_length(r->e, 1, 2);
	assert_int_equal(len, 5000);
	/* Asked for more than there is, it stops at what is mapped (ASan
	 * would see a read past it). */
	float *buf = calloc(100000, sizeof(float));
	int64_t got = keeper_clip_copy(r->k, 1, 2, 0, 0, buf, 100000);
	assert_true(got >= 5000 && got < 100000);
	assert_int_equal(keeper_clip_copy(r->k, 1, 2, 0, got, buf, 10), 0);
	assert_int_equal(keeper_clip_copy(r->k, 1, 2, 1, 0, buf, 10), 0); /* mono */
	assert_int_equal(keeper_clip_copy(r->k, 8, 0, 0, 0, buf, 10), 0);
	free(buf);
	rig_free(r);
}

static void test_restored_take_plays_overdubs_and_clears(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, 0);
	const int64_t L = 10000; /* 768-frame chunks: 14 of them */
	keeper_offer_take(r->k, make_take(r, 3, 4, L));
	rig_run(r, 128);
	struct event *ev = find_event(r, EV_RESTORED, 3, 4);
	assert_non_null(ev);
	assert_int_equal(ev->aux, 1);
	assert_int_equal(ev->value, L);
	assert_int_equal(rig_state(r, 3, 4), CLIP_STOPPED);
	assert_int_equal(engine_clip_length(r->e, 3, 4), L);
	assert_false(engine_clip_version(r->e, 3, 4) & 1);
	assert_int_equal(engine_clip_final_length(r->e, 3, 4), L);
	struct keeper_stats ks;
	keeper_get_stats(r->k, &ks);
	assert_int_equal(ks.takes_offered, 1);
	assert_int_equal(ks.takes_adopted, 1);

	/* It plays exactly what was loaded. */
	int64_t p = engine_now(r->e) + 7;
	rig_cmd(r, CMD_PRESS, 3, 4, 0, p);
	rig_run_to(r, p + 2 * L + 64);
	for (int64_t f = p; f < p + 2 * L; f++)
		if (r->out[2 * f] != restored_signal((f - p) % L, 0))
			fail_msg("output frame %lld differs", (long long)f);

	/* The keeper gave it undo room: an overdub pass can be undone. */
	int64_t od = engine_now(r->e) + 3;
	rig_cmd(r, CMD_OVERDUB, 3, 4, 0, od);
	rig_cmd(r, CMD_OVERDUB, 3, 4, 0, od + 3000);
	rig_run_to(r, od + 3000 + 128);
	rig_cmd(r, CMD_UNDO, 3, 4, 0, engine_now(r->e));
	rig_run(r, 4 * L);
	float *buf = calloc((size_t)L, sizeof(float));
	assert_int_equal(engine_clip_read(r->e, 3, 4, 0, 0, buf, L), L);
	for (int64_t i = 0; i < L; i++)
		if (buf[i] != restored_signal(i, 0))
			fail_msg("after undo, frame %lld differs", (long long)i);
	for (int i = 0; i < r->nev; i++)
		if (r->ev[i].type == EV_ERROR)
			fail_msg("engine error %lld", (long long)r->ev[i].value);

	/* Cleared and recorded again, the slot works as any other. */
	rig_cmd(r, CMD_CLEAR, 3, 4, 0, engine_now(r->e));
	rig_run(r, 256);
	int64_t r0 = engine_now(r->e) + 5;
	rig_cmd(r, CMD_PRESS, 3, 4, 0, r0);
	rig_cmd(r, CMD_PRESS, 3, 4, 0, r0 + 4000);
	rig_run_to(r, r0 + 4000 + 128);
	assert_int_equal(engine_clip_length(r->e, 3, 4), 4000);
	assert_int_equal(engine_clip_read(r->e, 3, 4, 0, 0, buf, 4000), 4000);
	for (int64_t i = 0; i < 4000; i++)
		if (buf[i] != rig_signal(r0 + i, 0))
			fail_msg("new take frame %lld differs", (long long)i);
	free(buf);
	rig_free(r);
}

/* A take restored muted (its manifest's "muted") is muted in the engine,
 * and says so (EV_SETTING), so the next save keeps it. */
static void test_restored_take_keeps_its_mute(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	struct keeper_take *take = make_take(r, 2, 1, 5000);
	keeper_take_set_flags(take,
			      CLIP_FLAG_MUTED | CLIP_FLAG_REVERSE | CLIP_FLAG_HALF_SPEED);
	keeper_offer_take(r->k, take);
	keeper_offer_take(r->k, make_take(r, 2, 2, 5000));
	rig_run(r, 256);
	assert_int_equal(rig_state(r, 2, 1), CLIP_STOPPED);
	assert_true(r->e->clips[1 * GL_TRACKS + 2].muted);
	assert_true(r->e->clips[1 * GL_TRACKS + 2].reverse);
	assert_false(r->e->clips[2 * GL_TRACKS + 2].reverse);
	assert_int_equal(r->e->clips[1 * GL_TRACKS + 2].speed_mul, 1);
	assert_int_equal(r->e->clips[2 * GL_TRACKS + 2].speed_mul, 0);
	assert_false(r->e->clips[2 * GL_TRACKS + 2].muted);
	int settings = 0;
	for (int i = 0; i < r->nev; i++)
		if (r->ev[i].type == EV_SETTING && r->ev[i].aux == CMD_CLIP_MUTE) {
			assert_int_equal(r->ev[i].track, 2);
			assert_int_equal(r->ev[i].scene, 1);
			settings++;
		}
	assert_int_equal(settings, 1);
	int reverses = 0;
	for (int i = 0; i < r->nev; i++)
		reverses += r->ev[i].type == EV_SETTING && r->ev[i].aux == CMD_REVERSE;
	assert_int_equal(reverses, 1);
	rig_free(r);
}

static void test_stereo_take(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.fade_frames = 0;
	cfg.grow_frames = 1024;
	cfg.track_input[2] = (struct track_input){.first_channel = 0, .stereo = 1};
	struct rig *r = rig_new_with(&cfg, NULL, 64);
	struct keeper_take *t = make_take(r, 2, 0, 3000);
	assert_int_equal(keeper_take_channels(t), 2);
	keeper_offer_take(r->k, t);
	rig_run(r, 128);
	int64_t len = 0;
	for (int ch = 0; ch < 2; ch++) {
		float *c = copy_final(r, 2, 0, ch, &len);
		assert_non_null(c);
		assert_int_equal(len, 3000);
		for (int64_t i = 0; i < len; i++)
			assert_true(c[i] == restored_signal(i, ch));
		free(c);
	}
	rig_free(r);
}

/* A musician who records into the slot first keeps the new take; the
 * offered one is freed. */
static void test_take_refused_when_slot_in_use(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	struct keeper_stats before;
	keeper_get_stats(r->k, &before);
	rig_cmd(r, CMD_PRESS, 0, 1, 0, 0);
	rig_run(r, 128);
	assert_int_equal(rig_state(r, 0, 1), CLIP_RECORDING);
	keeper_offer_take(r->k, make_take(r, 0, 1, 20000));
	rig_run(r, 256);
	struct event *ev = find_event(r, EV_RESTORED, 0, 1);
	assert_non_null(ev);
	assert_int_equal(ev->aux, 0);
	rig_cmd(r, CMD_PRESS, 0, 1, 0, 3000);
	rig_run_to(r, 3200);
	assert_int_equal(engine_clip_length(r->e, 0, 1), 3000);
	float buf[3000];
	assert_int_equal(engine_clip_read(r->e, 0, 1, 0, 0, buf, 3000), 3000);
	for (int i = 0; i < 3000; i++)
		assert_true(buf[i] == rig_signal(i, 0));
	struct keeper_stats ks;
	keeper_get_stats(r->k, &ks);
	assert_int_equal(ks.takes_refused, 1);
	assert_int_equal(ks.takes_adopted, 0);
	rig_free(r);
}

/* The offer crosses a clear's release in the queues: the take is adopted,
 * and the stale table the release's answer carries is not. */
static void test_take_crossing_a_release(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 0, 0);
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, 0);
	rig_cmd(r, CMD_PRESS, 5, 5, 0, 0);
	rig_cmd(r, CMD_PRESS, 5, 5, 0, 9000);
	rig_run_to(r, 9200);
	r->keeper_paused = true;
	rig_cmd(r, CMD_CLEAR, 5, 5, 0, engine_now(r->e));
	rig_run(r, 64); /* MEM_RELEASE waits in the queue */
	keeper_offer_take(r->k, make_take(r, 5, 5, 7000));
	/* The keeper sends the offer first, then serves the release. */
	keeper_service(r->k);
	r->keeper_paused = false;
	rig_run(r, 256);
	struct event *ev = find_event(r, EV_RESTORED, 5, 5);
	assert_non_null(ev);
	assert_int_equal(ev->aux, 1);
	float *buf = calloc(7000, sizeof(float));
	rig_run(r, 1024);
	assert_int_equal(engine_clip_read(r->e, 5, 5, 0, 0, buf, 7000), 7000);
	for (int64_t i = 0; i < 7000; i++)
		if (buf[i] != restored_signal(i, 0))
			fail_msg("frame %lld differs", (long long)i);
	/* And the slot records again after a clear. */
	rig_cmd(r, CMD_CLEAR, 5, 5, 0, engine_now(r->e));
	rig_run(r, 256);
	int64_t r0 = engine_now(r->e) + 1;
	rig_cmd(r, CMD_PRESS, 5, 5, 0, r0);
	rig_cmd(r, CMD_PRESS, 5, 5, 0, r0 + 6000);
	rig_run_to(r, r0 + 6200);
	assert_int_equal(engine_clip_read(r->e, 5, 5, 0, 0, buf, 6000), 6000);
	for (int64_t i = 0; i < 6000; i++)
		if (buf[i] != rig_signal(r0 + i, 0))
			fail_msg("new take frame %lld differs", (long long)i);
	free(buf);
	rig_free(r);
}

static void test_take_limit_and_settings_events(void **state)
{
	(void)state;
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	cfg.max_period = 64;
	cfg.grow_frames = 1024;
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	kc.memory_limit = 4u << 20; /* 80 armed chunks take ~0.3 MB */
	struct rig *r = rig_new_with(&cfg, &kc, 64);
	assert_null(keeper_take_new(r->k, 0, 0, 48000 * 60)); /* 11 MB */
	assert_null(keeper_take_new(r->k, 8, 0, 1000));
	assert_null(keeper_take_new(r->k, 0, 0, 0));

	/* Settings and requests come back as events. */
	rig_cmd(r, CMD_TRACK_VOLUME, 2, 0, 0.5f, 10);
	rig_cmd(r, CMD_MUTE, 3, 0, 1, 10);
	rig_cmd(r, CMD_REQUEST, 0, 0, REQUEST_EXPORT, 20);
	rig_run(r, 64);
	int vol = 0, mute = 0, req = 0;
	for (int i = 0; i < r->nev; i++) {
		const struct event *ev = &r->ev[i];
		if (ev->type == EV_SETTING && ev->aux == CMD_TRACK_VOLUME &&
		    ev->track == 2 && ev->value == 500000)
			vol++;
		if (ev->type == EV_SETTING && ev->aux == CMD_MUTE && ev->track == 3 &&
		    ev->value == 1000000)
			mute++;
		if (ev->type == EV_REQUEST && ev->value == REQUEST_EXPORT &&
		    ev->frame == 20)
			req++;
	}
	assert_int_equal(vol, 1);
	assert_int_equal(mute, 1);
	assert_int_equal(req, 1);
	rig_free(r);
}

/* Track stems: each track's part of the mix, which sum to it. */
static void test_stems_sum_to_the_mix(void **state)
{
	(void)state;
	struct rig *r = rig_new(64, 64, 0);
	float *stems = calloc((size_t)64 * GL_STEM_CH, sizeof(float));
	engine_set_stems(r->e, stems);
	rig_cmd(r, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, 0);
	keeper_offer_take(r->k, make_take(r, 1, 0, 5000));
	keeper_offer_take(r->k, make_take(r, 6, 2, 3000));
	rig_run(r, 128);
	rig_cmd(r, CMD_PRESS, 1, 0, 0, 200);
	rig_cmd(r, CMD_PRESS, 6, 2, 0, 300);
	rig_cmd(r, CMD_TRACK_VOLUME, 6, 0, 0.5f, 300);
	rig_cmd(r, CMD_MONITOR, 3, 0, 1, 400); /* a live input is a track's too */
	rig_run_to(r, 10000);
	int64_t checked = 0, busy[GL_TRACKS] = {0};
	for (int p = 0; p < 50; p++) {
		int64_t f0 = engine_now(r->e);
		rig_run(r, 64);
		for (int i = 0; i < 64; i++) {
			float l = 0, rr = 0;
			for (int t = 0; t < GL_TRACKS; t++) {
				l += stems[i * GL_STEM_CH + 2 * t];
				rr += stems[i * GL_STEM_CH + 2 * t + 1];
				busy[t] += stems[i * GL_STEM_CH + 2 * t] != 0;
			}
			assert_float_equal(l, r->out[2 * (f0 + i)], 1e-6);
			assert_float_equal(rr, r->out[2 * (f0 + i) + 1], 1e-6);
			checked++;
		}
	}
	assert_int_equal(checked, 50 * 64);
	assert_true(busy[1] > 0 && busy[6] > 0 && busy[3] > 0);
	assert_int_equal(busy[0] + busy[2] + busy[4] + busy[5] + busy[7], 0);
	rig_free(r);
	free(stems);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_versions_follow_every_change),
	    cmocka_unit_test(test_copy_never_reads_past_mapped_memory),
	    cmocka_unit_test(test_restored_take_plays_overdubs_and_clears),
	    cmocka_unit_test(test_stereo_take),
	    cmocka_unit_test(test_restored_take_keeps_its_mute),
	    cmocka_unit_test(test_take_refused_when_slot_in_use),
	    cmocka_unit_test(test_take_crossing_a_release),
	    cmocka_unit_test(test_take_limit_and_settings_events),
	    cmocka_unit_test(test_stems_sum_to_the_mix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
