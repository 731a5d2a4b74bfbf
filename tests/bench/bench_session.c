/* bench_session.c -- what the SD card's work costs: saving and restoring a
 * full grid, and whether the real-time thread notices the SD writer.
 *
 * 80 clips of 4 s (two bars at 120 BPM, mono, 48 kHz) are
 *   - written as a session (session_store_write_clip x 80, then the
 *     manifest) into a directory under TMPDIR (the figure is the machine's
 *     disk, not an SD card's);
 *   - restored: the manifest read, every file read, made into a keeper take
 *     and adopted by the engine;
 * then the engine runs 60 s of 64-frame periods with all 80 clips' tracks
 * playing, timed per period, first with the SD writer idle and then while it
 * saves the whole grid again and again on its own thread (each clip copied
 * out through keeper_clip_copy against the clip versions). The figure of
 * interest is the ratio of the two: the real-time thread must not care.
 * Figures, not assertions; ends with `key: value` lines.
 */
#include "engine.h"
#include "keeper.h"
#include "sd_writer.h"
#include "session_store.h"
#include "../tmp_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RATE	  48000
#define PERIOD	  64
#define CLIP	  (4 * RATE)
#define RUN_SEC	  60
#define BUDGET_US (1e6 * PERIOD / RATE)

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct timing {
	double mean, p99, max;
};

static float in[PERIOD * 2], out[PERIOD * 2];
static double us[RUN_SEC * RATE / PERIOD];

/* Periods of the engine with every track playing, the keeper served and
 * the events passed on to the writer (as the supervisor would). */
static struct timing run(struct engine *e, struct keeper *k, struct sd_writer *w,
			 long periods)
{
	double sum = 0;
	for (long i = 0; i < periods; i++) {
		double t0 = now_ms();
		engine_process(e, in, out, PERIOD);
		us[i] = (now_ms() - t0) * 1e3;
		sum += us[i];
		keeper_service(k);
		struct event ev;
		while (spsc_pop(engine_events(e), &ev))
			if (w)
				fanout_push(sd_writer_events(w), &ev);
		if (w)
			fanout_publish(sd_writer_events(w), engine_now(e));
		if (i % 75 == 0) {
			/* Real time has 1.3 ms a period; give the writer its share. */
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
	struct timing t = {.mean = sum / periods};
	qsort(us, (size_t)periods, sizeof(double), cmp_double);
	t.p99 = us[(long)(periods * 0.99)];
	t.max = us[periods - 1];
	return t;
}

int main(void)
{
	char root[128], dir[160], err[1024];
	if (!tmp_dir_make(root, sizeof(root), "bench-session")) {
		perror("bench_session: mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/session", root);
	if (session_store_prepare(dir, err, sizeof(err))) {
		fprintf(stderr, "bench_session: %s\n", err);
		return 1;
	}

	/* ---- save 80 clips --------------------------------------------- */
	static struct session s;
	session_init(&s, RATE);
	s.tempo = 120;
	uint64_t serial = 0;
	double t0 = now_ms();
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		struct session_clip *c = &s.clips[slot];
		c->present = true;
		c->channels = 1;
		c->frames = CLIP;
		c->bars = 2;
		c->audio[0] = malloc(CLIP * sizeof(float));
		for (int i = 0; i < CLIP; i++)
			c->audio[0][i] = 0.25f * sinf((float)(i * (slot + 1)) * 0.001f);
		if (session_store_write_clip(dir, &s, slot, &serial, err, sizeof(err))) {
			fprintf(stderr, "bench_session: %s\n", err);
			return 1;
		}
		free(c->audio[0]);
		c->audio[0] = NULL;
	}
	if (session_store_commit(dir, &s, err, sizeof(err))) {
		fprintf(stderr, "bench_session: %s\n", err);
		return 1;
	}
	double save_ms = now_ms() - t0;

	/* ---- restore them --------------------------------------------- */
	struct engine_config ec;
	engine_config_defaults(&ec, RATE);
	ec.max_period = PERIOD;
	ec.tempo = 120;
	const char *why = "";
	struct engine *e = engine_create(&ec, &why);
	struct keeper_config kc;
	keeper_config_defaults(&kc);
	kc.lock_memory = false;
	struct keeper *k = e ? keeper_create(e, &kc, &why) : NULL;
	if (!k) {
		fprintf(stderr, "bench_session: %s\n", why);
		return 1;
	}
	t0 = now_ms();
	static struct session loaded;
	if (session_store_load(dir, &loaded, &serial, err, sizeof(err))) {
		fprintf(stderr, "bench_session: %s\n", err);
		return 1;
	}
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		if (session_store_read_clip(dir, &loaded, slot, RATE, 1, err,
					    sizeof(err))) {
			fprintf(stderr, "bench_session: %s\n", err);
			return 1;
		}
		struct session_clip *c = &loaded.clips[slot];
		struct keeper_take *t =
		    keeper_take_new(k, slot % GL_TRACKS, slot / GL_TRACKS, c->frames);
		keeper_take_write(t, 0, 0, c->audio[0], c->frames);
		keeper_offer_take(k, t);
		free(c->audio[0]);
		c->audio[0] = NULL;
	}
	double read_ms = now_ms() - t0;
	keeper_service(k);
	engine_process(e, in, out, PERIOD); /* takes every offer */
	keeper_service(k);
	double restore_ms = now_ms() - t0;
	int adopted = 0;
	for (int slot = 0; slot < GL_SLOTS; slot++)
		adopted += engine_clip_state(e, slot % GL_TRACKS, slot / GL_TRACKS) ==
			   CLIP_STOPPED;

	/* ---- the real-time thread with and without the writer ---------- */
	for (int t = 0; t < GL_TRACKS; t++)
		engine_send(e, SOURCE_SCRIPT, CMD_PRESS, t, t % GL_SCENES, 0, 0);
	long periods = RUN_SEC * RATE / PERIOD;
	struct timing idle = run(e, k, NULL, periods / 2);

	struct sd_writer_config wc;
	sd_writer_config_defaults(&wc);
	wc.engine = e;
	wc.keeper = k;
	wc.session_dir = dir;
	char exports[160];
	snprintf(exports, sizeof(exports), "%s/exports", root);
	wc.export_dir = exports;
	wc.on_card = &loaded;
	wc.serial = serial;
	wc.resave_restored = true; /* every restored clip counts as new: all 80 saved */
	wc.quiet_ms = 0;
	wc.max_delay_ms = 0;
	struct sd_writer *w = sd_writer_create(&wc);
	sd_writer_start(w);
	/* Every clip dirty again: as if each had just been restored anew. */
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		struct event ev = {.type = EV_RESTORED,
				   .aux = 1,
				   .track = (uint8_t)(slot % GL_TRACKS),
				   .scene = (uint8_t)(slot / GL_TRACKS)};
		struct event st = {.type = EV_CLIP_STATE,
				   .value = CLIP_STOPPED,
				   .track = ev.track,
				   .scene = ev.scene};
		fanout_push(sd_writer_events(w), &st);
		fanout_push(sd_writer_events(w), &ev);
	}
	fanout_publish(sd_writer_events(w), engine_now(e));
	struct timing busy = run(e, k, w, periods / 2);
	sd_writer_stop(w);
	struct sd_writer_stats ws;
	sd_writer_get_stats(w, &ws);
	sd_writer_destroy(w);

	printf("%-40s %10s\n", "what", "figure");
	printf("%-40s %10.1f\n", "save 80 clips x 4 s (ms)", save_ms);
	printf("%-40s %10.1f\n", "read 80 clip files (ms)", read_ms);
	printf("%-40s %10.1f\n", "restore 80 clips, adopted (ms)", restore_ms);
	printf("%-40s %10d\n", "clips adopted", adopted);
	printf("%-40s %7.2f %7.2f %7.2f\n", "period us idle: mean p99 max", idle.mean,
	       idle.p99, idle.max);
	printf("%-40s %7.2f %7.2f %7.2f\n", "period us writer saving: mean p99 max",
	       busy.mean, busy.p99, busy.max);
	printf("%-40s %10llu\n", "clips saved meanwhile",
	       (unsigned long long)ws.clips_written);
	printf("session_save_80_clips_ms: %.1f\n", save_ms);
	printf("session_restore_80_clips_ms: %.1f\n", restore_ms);
	printf("session_restore_adopted: %d\n", adopted);
	printf("rt_mean_ratio_writer_saving_vs_idle: %.3f\n", busy.mean / idle.mean);
	printf("rt_p99_ratio_writer_saving_vs_idle: %.3f\n", busy.p99 / idle.p99);
	printf("rt_max_us_writer_saving: %.1f (budget %.0f)\n", busy.max, BUDGET_US);
	printf("sd_writer_clips_written_during_run: %llu\n",
	       (unsigned long long)ws.clips_written);

	keeper_destroy(k);
	engine_destroy(e);
	return tmp_dir_remove(root) == 0 ? 0 : 1;
}
