/* test_sd_writer_mt.c -- the SD writer thread against a running engine:
 * coalesced saves of final clips, copies that race with overdubs, clears,
 * exports on request, the last save at stop, and a card that is not there.
 * Threaded (the writer runs beside the period loop): run under TSan too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine_rig.h"
#include "sd_writer.h"
#include "session_store.h"
#include "tmp_dir.h"

struct bench {
	struct rig *r;
	struct sd_writer *w;
	char root[128], session[160], exports[160];
};

static struct bench *bench_new_on(const char *session_dir, uint32_t quiet_ms,
				  uint32_t max_delay_ms, const struct session *on_card,
				  const char *root)
{
	struct bench *b = calloc(1, sizeof(*b));
	if (root) {
		snprintf(b->root, sizeof(b->root), "%s", root);
	} else {
		assert_true(tmp_dir_make(b->root, sizeof(b->root), "test-sd-writer"));
	}
	snprintf(b->session, sizeof(b->session), "%s/session", b->root);
	snprintf(b->exports, sizeof(b->exports), "%s/exports", b->root);
	b->r = rig_new(64, 0, 120);
	assert_non_null(b->r);
	static struct session empty;
	session_init(&empty, 48000);
	struct sd_writer_config wc;
	sd_writer_config_defaults(&wc);
	wc.engine = b->r->e;
	wc.keeper = b->r->k;
	wc.session_dir = session_dir ? session_dir : b->session;
	wc.export_dir = b->exports;
	wc.export_format = EXPORT_WAV_FLOAT;
	wc.on_card = on_card ? on_card : &empty;
	wc.quiet_ms = quiet_ms;
	wc.max_delay_ms = max_delay_ms;
	wc.retry_ms = 50;
	b->w = sd_writer_create(&wc);
	assert_non_null(b->w);
	assert_int_equal(sd_writer_start(b->w), 0);
	return b;
}

static struct bench *bench_new_with(const char *session_dir, uint32_t quiet_ms,
				    uint32_t max_delay_ms)
{
	return bench_new_on(session_dir, quiet_ms, max_delay_ms, NULL, NULL);
}

static struct bench *bench_new(const char *session_dir)
{
	return bench_new_with(session_dir, 20, 200);
}

static void bench_free(struct bench *b)
{
	sd_writer_destroy(b->w);
	rig_free(b->r);
	assert_int_equal(tmp_dir_remove(b->root), 0);
	free(b);
}

/* Periods as the audio thread runs them, the keeper served between them,
 * the engine's events passed on to the writer as the supervisor does. */
static void run(struct bench *b, int64_t frames)
{
	struct rig *r = b->r;
	const struct engine_config *cfg = engine_config(r->e);
	for (int64_t done = 0; done < frames; done += r->period) {
		int64_t t0 = engine_now(r->e);
		for (uint32_t i = 0; i < r->period; i++)
			for (uint32_t c = 0; c < cfg->input_channels; c++)
				r->in[i * cfg->input_channels + c] =
				    rig_signal(t0 + i, (int)c);
		engine_process(r->e, r->in, r->pout, r->period);
		keeper_service(r->k);
		struct event ev;
		while (spsc_pop(engine_events(r->e), &ev))
			fanout_push(sd_writer_events(b->w), &ev);
		fanout_publish(sd_writer_events(b->w), engine_now(r->e));
	}
}

static void run_to(struct bench *b, int64_t f)
{
	if (f > engine_now(b->r->e))
		run(b, f - engine_now(b->r->e));
}

/* Runs on (a period per 0.2 ms) until the writer has saved `saves` times. */
static void until_saved(struct bench *b, uint64_t saves)
{
	struct sd_writer_stats st;
	for (int i = 0; i < 20000; i++) {
		sd_writer_get_stats(b->w, &st);
		if (st.saves >= saves)
			return;
		run(b, 64);
		usleep(200);
	}
	fail_msg("no save after 4 s (saves %llu, failures %llu)",
		 (unsigned long long)st.saves, (unsigned long long)st.save_failures);
}

static float *engine_copy(struct bench *b, int t, int s, int64_t *len)
{
	*len = engine_clip_length(b->r->e, t, s);
	float *buf = calloc((size_t)*len + 1, sizeof(float));
	assert_int_equal(engine_clip_read(b->r->e, t, s, 0, 0, buf, *len), *len);
	return buf;
}

/* What the card holds: the clip's audio read back from its file. */
static float *card_copy(const char *dir, int t, int s, int64_t *len)
{
	static struct session sess;
	uint64_t serial;
	char err[512];
	int rc = session_store_load(dir, &sess, &serial, err, sizeof(err));
	if (rc)
		fail_msg("load: %d %s", rc, err);
	int slot = s * GL_TRACKS + t;
	if (!sess.clips[slot].present)
		return NULL;
	assert_int_equal(
	    session_store_read_clip(dir, &sess, slot, 48000, 1, err, sizeof(err)), 0);
	*len = sess.clips[slot].frames;
	float *a = sess.clips[slot].audio[0];
	sess.clips[slot].audio[0] = NULL;
	session_free_audio(&sess);
	return a;
}

#define BAR120 96000

static void record_bar(struct bench *b, int t, int s, int bar)
{
	engine_send(b->r->e, SOURCE_SCRIPT, CMD_PRESS, t, s, 0,
		    (int64_t)bar * BAR120 - 1000);
	engine_send(b->r->e, SOURCE_SCRIPT, CMD_PRESS, t, s, 0,
		    (int64_t)bar * BAR120 + 1000);
	run_to(b, (int64_t)(bar + 1) * BAR120 + 64);
}

static void test_saves_a_finished_take(void **state)
{
	(void)state;
	struct bench *b = bench_new(NULL);
	record_bar(b, 0, 0, 1);
	until_saved(b, 1);
	int64_t n1, n2;
	float *mem = engine_copy(b, 0, 0, &n1);
	float *card = card_copy(b->session, 0, 0, &n2);
	assert_non_null(card);
	assert_int_equal(n1, BAR120);
	assert_int_equal(n2, n1);
	assert_memory_equal(mem, card, (size_t)n1 * sizeof(float));
	free(mem);
	free(card);
	/* Nothing new: the stop saves nothing and succeeds. */
	assert_int_equal(sd_writer_stop(b->w), 0);
	bench_free(b);
}

/* Overdub passes one after the other while the writer saves as often as it
 * can: whatever it saved is a whole version of the clip, and the last save
 * is the clip as it ends. */
static void test_saves_race_with_overdubs(void **state)
{
	(void)state;
	struct bench *b = bench_new_with(NULL, 0, 0); /* saves whenever it can */
	record_bar(b, 2, 3, 1);
	for (int pass = 0; pass < 12; pass++) {
		int64_t f = engine_now(b->r->e) + 100;
		engine_send(b->r->e, SOURCE_SCRIPT, CMD_OVERDUB, 2, 3, 0, f);
		engine_send(b->r->e, SOURCE_SCRIPT, CMD_OVERDUB, 2, 3, 0,
			    f + 5000 + pass * 700);
		for (int i = 0; i < 150; i++) {
			run(b, 64);
			if (i % 4 == 0)
				usleep(1000); /* the writer gets to copy mid-pass too */
		}
	}
	run(b, 2048);
	assert_int_equal(sd_writer_stop(b->w), 0);
	int64_t n1, n2;
	float *mem = engine_copy(b, 2, 3, &n1);
	float *card = card_copy(b->session, 2, 3, &n2);
	assert_non_null(card);
	assert_int_equal(n2, n1);
	assert_memory_equal(mem, card, (size_t)n1 * sizeof(float));
	struct sd_writer_stats st;
	sd_writer_get_stats(b->w, &st);
	print_message("saves %llu, clips written %llu, copies thrown away %llu\n",
		      (unsigned long long)st.saves, (unsigned long long)st.clips_written,
		      (unsigned long long)st.copies_discarded);
	assert_true(st.saves >= 2);
	free(mem);
	free(card);
	bench_free(b);
}

static int count_clip_files(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		if (!strncmp(de->d_name, "clip-", 5))
			n++;
	closedir(d);
	return n;
}

static void test_clear_export_and_last_save(void **state)
{
	(void)state;
	struct bench *b = bench_new(NULL);
	record_bar(b, 0, 0, 1);
	record_bar(b, 1, 0, 3);
	until_saved(b, 1);
	struct sd_writer_stats st;
	sd_writer_get_stats(b->w, &st);
	until_saved(b, st.saves + (st.clips_written < 2 ? 1 : 0));
	assert_int_equal(count_clip_files(b->session), 2);

	/* A clear drops the clip from the session and its file from the card. */
	engine_send(b->r->e, SOURCE_SCRIPT, CMD_CLEAR, 0, 0, 0, engine_now(b->r->e));
	sd_writer_get_stats(b->w, &st);
	until_saved(b, st.saves + 1);
	int64_t n;
	assert_null(card_copy(b->session, 0, 0, &n));
	assert_int_equal(count_clip_files(b->session), 1);

	/* An export on request: a folder, its outcome in last-export.txt. */
	engine_send(b->r->e, SOURCE_SCRIPT, CMD_REQUEST, 0, 0, REQUEST_EXPORT,
		    engine_now(b->r->e));
	char path[300], line[512] = "";
	snprintf(path, sizeof(path), "%s/%s", b->exports, SD_WRITER_LAST_EXPORT);
	for (int i = 0; i < 4000 && !line[0]; i++) {
		run(b, 64);
		usleep(500);
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = '\0';
			fclose(f);
		}
	}
	assert_true(!strncmp(line, "ok ", 3));
	line[strcspn(line, "\n")] = '\0';
	char clip[700];
	snprintf(clip, sizeof(clip), "%s/scene01_track2.wav", line + 3);
	struct stat sb;
	assert_int_equal(stat(clip, &sb), 0);
	snprintf(clip, sizeof(clip), "%s/scene01_track1.wav", line + 3);
	assert_int_not_equal(stat(clip, &sb), 0); /* cleared before the export */

	/* A take still being recorded when the audio stops is saved as far as
	 * it got. */
	int64_t f = engine_now(b->r->e);
	engine_send(b->r->e, SOURCE_SCRIPT, CMD_SET_QUANTISE, 0, 0, QUANTISE_OFF, f);
	engine_send(b->r->e, SOURCE_SCRIPT, CMD_PRESS, 4, 4, 0, f + 10);
	run(b, 30000);
	assert_int_equal(sd_writer_stop(b->w), 0);
	float *card = card_copy(b->session, 4, 4, &n);
	assert_non_null(card);
	assert_true(n > 29000 && n <= 30016); /* whole periods */
	for (int64_t i = 0; i < n; i++)
		if (card[i] != rig_signal(f + 10 + i, 0))
			fail_msg("unfinished take frame %lld differs", (long long)i);
	free(card);
	bench_free(b);
}

static void test_card_not_there(void **state)
{
	(void)state;
	struct bench *b = bench_new("/proc/gridloop-no-card/session");
	record_bar(b, 0, 0, 1);
	for (int i = 0; i < 4000 && sd_writer_status(b->w) != STORAGE_FAULT; i++) {
		run(b, 64);
		usleep(200);
	}
	assert_int_equal(sd_writer_status(b->w), STORAGE_FAULT);
	/* The audio goes on and the take is still there to be saved later. */
	run(b, BAR120);
	int64_t n;
	float *mem = engine_copy(b, 0, 0, &n);
	assert_int_equal(n, BAR120);
	free(mem);
	assert_int_equal(sd_writer_stop(b->w), -1);
	struct sd_writer_stats st;
	sd_writer_get_stats(b->w, &st);
	assert_true(st.save_failures >= 1);
	assert_int_equal(st.saves, 0);
	bench_free(b);
}

/* A saved clip whose pad was recorded on while the session loaded is not
 * restored, and not lost: it is kept under exports/not-restored/. */
static void test_clip_recorded_over_while_loading_is_kept(void **state)
{
	(void)state;
	static struct session card;
	char root[128], dir[160], err[512];
	assert_true(tmp_dir_make(root, sizeof(root), "test-sd-writer"));
	snprintf(dir, sizeof(dir), "%s/session", root);
	assert_int_equal(session_store_prepare(dir, err, sizeof(err)), 0);
	session_init(&card, 48000);
	struct session_clip *c = &card.clips[0];
	c->present = true;
	c->channels = 1;
	c->frames = 4000;
	c->audio[0] = calloc(4000, sizeof(float));
	c->audio[0][7] = 0.5f;
	uint64_t serial = 0;
	assert_int_equal(
	    session_store_write_clip(dir, &card, 0, &serial, err, sizeof(err)), 0);
	assert_int_equal(session_store_commit(dir, &card, err, sizeof(err)), 0);
	session_free_audio(&card);

	struct bench *b = bench_new_on(NULL, 20, 200, &card, root);
	/* The musician records on the pad before the saved clip arrives. */
	record_bar(b, 0, 0, 1);
	struct keeper_take *t = keeper_take_new(b->r->k, 0, 0, 4000);
	assert_non_null(t);
	keeper_offer_take(b->r->k, t);
	run(b, 256);
	until_saved(b, 1);
	assert_int_equal(sd_writer_stop(b->w), 0);
	char kept[400];
	snprintf(kept, sizeof(kept), "%s/exports/not-restored/%s", root, c->file);
	struct stat sb;
	assert_int_equal(stat(kept, &sb), 0);
	int64_t n;
	float *now = card_copy(b->session, 0, 0, &n);
	assert_int_equal(n, BAR120); /* the new take is the session's */
	free(now);
	bench_free(b);
}

/* A card that was not there at start: the session found on it later was
 * never loaded, so the first save sets it aside instead of replacing it. */
static void test_card_that_came_later_is_not_overwritten(void **state)
{
	(void)state;
	static struct session found;
	char root[128], dir[160], err[512];
	assert_true(tmp_dir_make(root, sizeof(root), "test-sd-writer"));
	snprintf(dir, sizeof(dir), "%s/session", root);
	assert_int_equal(session_store_prepare(dir, err, sizeof(err)), 0);
	session_init(&found, 48000);
	found.tempo = 99;
	assert_int_equal(session_store_commit(dir, &found, err, sizeof(err)), 0);

	static struct session empty;
	session_init(&empty, 48000);
	struct sd_writer_config wc;
	sd_writer_config_defaults(&wc);
	struct bench *b = bench_new_on(NULL, 20, 200, &empty, root);
	sd_writer_destroy(b->w); /* again, as a writer that found no card */
	wc.engine = b->r->e;
	wc.keeper = b->r->k;
	wc.session_dir = b->session;
	wc.export_dir = b->exports;
	wc.on_card = &empty;
	wc.card_unknown = true;
	wc.quiet_ms = 20;
	b->w = sd_writer_create(&wc);
	assert_int_equal(sd_writer_start(b->w), 0);
	record_bar(b, 0, 0, 1);
	until_saved(b, 1);
	assert_int_equal(sd_writer_stop(b->w), 0);
	/* The session now is the new one; the one found is kept beside it. */
	int64_t n;
	float *a = card_copy(b->session, 0, 0, &n);
	assert_non_null(a);
	free(a);
	char cmd[400];
	snprintf(cmd, sizeof(cmd),
		 "grep -q '\"tempo\":.*99' %s/session.found-*/session.json", root);
	assert_int_equal(system(cmd), 0);
	bench_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_saves_a_finished_take),
	    cmocka_unit_test(test_saves_race_with_overdubs),
	    cmocka_unit_test(test_clear_export_and_last_save),
	    cmocka_unit_test(test_card_not_there),
	    cmocka_unit_test(test_clip_recorded_over_while_loading_is_kept),
	    cmocka_unit_test(test_card_that_came_later_is_not_overwritten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
