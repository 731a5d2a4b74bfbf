/* test_seq_alsa_mt.c -- the sequencer thread (firmware/os/seq_alsa.c) where
 * there is no sequencer, as on this development machine and on a board
 * whose snd-seq module is missing: it says so in one line, however often it
 * looks again; it keeps taking the engine's events from the fan-out (so the
 * LEDs are right when controllers come); it sends no commands; and it stops
 * when asked, though it sleeps in poll(). The "_mt" suffix runs it under
 * ThreadSanitizer too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "seq_alsa.h"
#include "profile_files.h"

#define NO_SEQUENCER "gridloop_test_no_such_sequencer"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

struct rig {
	struct fanout events;
	struct spsc commands;
	struct audio_thread *audio;
	struct seq_alsa *seq;
	struct profile profile;
};

static void test_runs_on_without_a_sequencer(void **state)
{
	(void)state;
	static struct rig r;
	char err[256];
	assert_int_equal(
	    profile_load(&r.profile, "board/profiles/apc40.profile", err, sizeof(err)),
	    0);
	assert_int_equal(fanout_init(&r.events, 256), 0);
	assert_int_equal(spsc_init(&r.commands, 64, sizeof(struct command)), 0);
	struct audio_thread_config ac = {
	    .rate = 48000, .period = 64, .input_channels = 2, .priority = 80};
	r.audio = audio_thread_create(&ac);
	assert_non_null(r.audio);
	int64_t ns, frame;
	assert_false(audio_thread_clock(r.audio, &ns, &frame)); /* no period yet */

	struct seq_alsa_config cfg = {
	    .commands = &r.commands,
	    .events = &r.events,
	    .audio = r.audio,
	    .hub = {.profiles = &r.profile,
		    .nprofiles = 1,
		    .fallback_profile = 0,
		    .rate = 48000,
		    .period = 64,
		    .tempo = 120,
		    .beats_per_bar = 4,
		    .clock_out = true},
	    .device = NO_SEQUENCER,
	    .retry_ms = 20,
	};
	r.seq = seq_alsa_create(&cfg);
	assert_non_null(r.seq);
	assert_int_equal(seq_alsa_start(r.seq), 0);

	/* The supervisor's side: events of a few periods, then their horizon. */
	for (int i = 0; i < 100; i++) {
		struct event ev = {.type = EV_BEAT, .frame = i * 24000, .value = i};
		assert_true(fanout_push(&r.events, &ev));
		if (i % 10 == 9)
			fanout_publish(&r.events, (i + 1) * 24000);
	}
	struct seq_alsa_stats st = {0};
	int64_t until = now_ms() + 5000;
	while (now_ms() < until) {
		seq_alsa_get_stats(r.seq, &st);
		if (st.events == 100)
			break;
		sleep_ms(5);
	}
	assert_int_equal(st.events, 100);
	sleep_ms(300); /* many more attempts to open it */

	char text[256];
	int said = 0;
	while (seq_alsa_pop_report(r.seq, text, sizeof(text))) {
		print_message("report: %s\n", text);
		if (strstr(text, "no ALSA sequencer ('" NO_SEQUENCER "'") &&
		    strstr(text, "running without controllers"))
			said++;
		else
			fail_msg("unexpected report: %s", text);
	}
	assert_int_equal(said, 1);
	seq_alsa_get_stats(r.seq, &st);
	assert_false(st.open);
	assert_int_equal(st.controllers, 0);
	assert_int_equal(st.sent, 0);
	assert_int_equal(st.events_dropped, 0);
	struct command c;
	assert_false(spsc_pop(&r.commands, &c));

	int64_t t0 = now_ms();
	seq_alsa_stop(r.seq);
	assert_true(now_ms() - t0 < 1000);
	seq_alsa_destroy(r.seq);
	audio_thread_destroy(r.audio);
	spsc_free(&r.commands);
	fanout_free(&r.events);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_on_without_a_sequencer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
