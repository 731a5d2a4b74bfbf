/* test_options.c -- the settings: defaults, the config file (every key, and
 * every error naming file, line and key), the command line over it, and the
 * example board/gridloop.conf documenting every key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

#define NO_FILE "/nonexistent/gridloop.conf"
#define END	((char *)NULL) /* ends parse()'s argument list */

struct fixture {
	struct options o;
	char path[64]; /* a temporary config file */
	char err[512];
	char out[4096]; /* what --help / --version printed */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	options_defaults(&f->o);
	/* Never the host's /etc/gridloop.conf. */
	free(f->o.config_path);
	f->o.config_path = strdup(NO_FILE);
	strcpy(f->path, "/tmp/test_options.XXXXXX");
	int fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unlink(f->path);
	options_free(&f->o);
	free(f);
	return 0;
}

static void write_config(struct fixture *f, const char *text)
{
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* argv from a NULL-terminated list, "gridloop" first. */
static enum options_result parse(struct fixture *f, ...)
{
	char *argv[32] = {"gridloop"};
	int argc = 1;
	va_list ap;
	va_start(ap, f);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	FILE *out = fmemopen(f->out, sizeof(f->out) - 1, "w");
	f->err[0] = '\0';
	enum options_result r =
	    options_parse(&f->o, argc, argv, out, f->err, sizeof(f->err));
	fclose(out);
	return r;
}

static void assert_error(struct fixture *f, enum options_result r, const char *expected)
{
	assert_int_equal(r, OPTIONS_ERROR);
	if (!strstr(f->err, expected))
		fail_msg("error '%s' does not contain '%s'", f->err, expected);
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(parse(f, END), OPTIONS_RUN);
	assert_string_equal(f->o.capture_device, "default");
	assert_string_equal(f->o.playback_device, "default");
	assert_int_equal(f->o.rate, 48000);
	assert_int_equal(f->o.period, 128);
	assert_int_equal(f->o.periods, 2);
	assert_int_equal(f->o.priority, 80);
	assert_false(f->o.require_rt);
	assert_int_equal(options_latency_frames(&f->o), 256);
	assert_null(f->o.profile_dir); /* installed, else the source tree's */
	assert_int_equal(f->o.nports, 0);
	assert_string_equal(f->o.port_profile, "APC40 mk1");
	assert_string_equal(f->o.script_profile, "APC40 mk1");
	assert_false(f->o.clock_external);
	assert_null(f->o.clock_in_port);
	assert_null(f->o.clock_out_port);
	assert_false(f->o.song_position);
	/* Unlisted tracks take the two inputs in turn, mono. */
	for (int t = 0; t < GL_TRACKS; t++) {
		assert_int_equal(f->o.track_input[t].first_channel, t % 2);
		assert_int_equal(f->o.track_input[t].stereo, 0);
	}
}

static void test_config_file_sets_every_key(void **state)
{
	struct fixture *f = *state;
	write_config(f, "; a comment\n"
			"[audio]\n"
			"capture_device = cap\n"
			"playback_device = play\n"
			"alsa_config = /tmp/alsa.conf\n"
			"rate = 96000\n"
			"period = 64\n"
			"periods = 3\n"
			"input_channels = 4\n"
			"output_channels = 6\n"
			"format = s24_3le\n"
			"latency_frames = 300\n"
			"wait_for_device = yes\n"
			"[realtime]\n"
			"priority = 70\n"
			"require_rt = true\n"
			"lock_memory = off\n"
			"[looper]\n"
			"fade_ms = 0\n"
			"grow_seconds = 2.5\n"
			"tempo = 120\n"
			"beats_per_bar = 3\n"
			"quantise = beat\n"
			"metronome = on\n"
			"memory_limit_mb = 512\n"
			"[controller]\n"
			"profiles = /opt/profiles\n"
			"ports = first,second\n"
			"ports =  Virtual Raw MIDI 1-0 , *pedal* ,x\n"
			"port_profile = APC mini mk1\n"
			"script_profile = APC40 mkII\n"
			"[sync]\n"
			"clock = External\n"
			"clock_in_port = Midi Through*\n"
			"clock_out_port = USB*\n"
			"song_position = yes\n"
			"[track3]\n"
			"input = 3\n"
			"stereo = yes\n");
	assert_int_equal(parse(f, "--config", f->path, END), OPTIONS_RUN);
	struct options *o = &f->o;
	assert_string_equal(o->capture_device, "cap");
	assert_string_equal(o->playback_device, "play");
	assert_string_equal(o->alsa_config, "/tmp/alsa.conf");
	assert_int_equal(o->rate, 96000);
	assert_int_equal(o->period, 64);
	assert_int_equal(o->periods, 3);
	assert_int_equal(o->input_channels, 4);
	assert_int_equal(o->output_channels, 6);
	assert_int_equal(o->format, SAMPLE_S24_3LE);
	assert_int_equal(options_latency_frames(o), 300);
	assert_true(o->wait_for_device);
	assert_int_equal(o->priority, 70);
	assert_true(o->require_rt);
	assert_false(o->lock_memory);
	assert_true(o->tempo == 120.0);
	assert_int_equal(o->beats_per_bar, 3);
	assert_int_equal(o->quantise, QUANTISE_BEAT);
	assert_true(o->metronome);
	assert_int_equal(o->memory_limit_mb, 512);
	assert_string_equal(o->profile_dir, "/opt/profiles");
	/* A list set again replaces the one before; blanks around go. */
	assert_int_equal(o->nports, 3);
	assert_string_equal(o->ports[0], "Virtual Raw MIDI 1-0");
	assert_string_equal(o->ports[1], "*pedal*");
	assert_string_equal(o->ports[2], "x");
	assert_string_equal(o->port_profile, "APC mini mk1");
	assert_string_equal(o->script_profile, "APC40 mkII");
	assert_true(o->clock_external);
	assert_string_equal(o->clock_in_port, "Midi Through*");
	assert_string_equal(o->clock_out_port, "USB*");
	assert_true(o->song_position);
	assert_int_equal(o->track_input[2].first_channel, 2);
	assert_int_equal(o->track_input[2].stereo, 1);
	/* The others, unlisted, take the four inputs in turn. */
	assert_int_equal(o->track_input[5].first_channel, 1);

	struct engine_config ec;
	options_engine_config(o, &ec);
	assert_int_equal(ec.rate, 96000);
	assert_int_equal(ec.max_period, 64);
	assert_int_equal(ec.input_channels, 4);
	assert_int_equal(ec.latency_frames, 300);
	assert_int_equal(ec.fade_frames, 0);
	assert_int_equal(ec.grow_frames, 240000);
	assert_int_equal(ec.beats_per_bar, 3);
	assert_int_equal(ec.quantise, QUANTISE_BEAT);
	assert_true(ec.metronome);
	assert_int_equal(ec.track_input[2].stereo, 1);

	struct keeper_config kc;
	options_keeper_config(o, &kc);
	assert_int_equal(kc.memory_limit, 512ull << 20);
	assert_false(kc.lock_memory);

	struct audio_alsa_params ap;
	options_audio_params(o, &ap);
	assert_string_equal(ap.capture_device, "cap");
	assert_int_equal(ap.capture_channels, 4);
	assert_int_equal(ap.playback_channels, 6);
	assert_int_equal(ap.format, SAMPLE_S24_3LE);
}

static void test_command_line_wins(void **state)
{
	struct fixture *f = *state;
	write_config(f, "[audio]\nrate = 44100\nperiod = 512\ndevice = fromfile\n");
	assert_int_equal(parse(f, "-r", "96000", "--config", f->path, "--capture", "c2",
			       "--priority=90", "--require-rt", "-w", "-F", "4800", "-s",
			       "set.txt", "--memory-limit", "64", "-l", "auto", "-v",
			       "--profiles", "here", "--clock", "external", END),
			 OPTIONS_RUN);
	assert_int_equal(f->o.rate, 96000); /* command line */
	assert_int_equal(f->o.period, 512); /* file */
	assert_string_equal(f->o.capture_device, "c2");
	assert_string_equal(f->o.playback_device, "fromfile");
	assert_int_equal(f->o.priority, 90);
	assert_true(f->o.require_rt);
	assert_true(f->o.wait_for_device);
	assert_int_equal(f->o.frames, 4800);
	assert_string_equal(f->o.script_path, "set.txt");
	assert_int_equal(f->o.memory_limit_mb, 64);
	assert_int_equal(options_latency_frames(&f->o), 1024);
	assert_true(f->o.verbose);
	assert_string_equal(f->o.profile_dir, "here");
	assert_true(f->o.clock_external);
}

static void test_bad_value_names_file_line_and_key(void **state)
{
	struct fixture *f = *state;
	write_config(f, "[audio]\n\nperiod = 64\nrate = 4410\n");
	char want[128];
	snprintf(want, sizeof(want),
		 "%s:4: [audio] rate: '4410' is not 44100, 48000 or 96000", f->path);
	assert_error(f, parse(f, "-c", f->path, END), want);
}

static void test_bad_values(void **state)
{
	struct fixture *f = *state;
	static const char *const cases[][2] = {
	    {"[audio]\nperiod = 8\n", ":2: [audio] period: '8' is not a whole number"},
	    {"[audio]\nperiods = 5\n", ":2: [audio] periods:"},
	    {"[audio]\nformat = U8\n", ":2: [audio] format: 'U8' is not auto"},
	    {"[audio]\nlatency_frames = -1\n", ":2: [audio] latency_frames:"},
	    {"[audio]\nwait_for_device = maybe\n", "'maybe' is not yes or no"},
	    {"[audio]\ndevice =\n", ":2: [audio] device: must not be empty"},
	    {"[realtime]\npriority = 100\n", ":2: [realtime] priority:"},
	    {"[looper]\ntempo = 20\n", ":2: [looper] tempo: '20' is not 0"},
	    {"[looper]\nquantise = half\n", "'half' is not off, beat or bar"},
	    {"[looper]\nfade_ms = nan\n", ":2: [looper] fade_ms:"},
	    {"[looper]\nbeats_per_bar = 17\n", ":2: [looper] beats_per_bar:"},
	    {"[track2]\ninput = 0\n", ":2: [track2] input:"},
	    {"[audio]\nrate = 48000x\n", "'48000x'"},
	    {"[sync]\nclock = midi\n",
	     ":2: [sync] clock: 'midi' is not internal or external"},
	    {"[sync]\nsong_position = 2\n", ":2: [sync] song_position: '2' is not yes"},
	    {"[controller]\nports = a,,b\n",
	     ":2: [controller] ports: an empty port pattern in 'a,,b'"},
	    {"[controller]\nports = a,\n",
	     ":2: [controller] ports: an empty port pattern"},
	    {"[controller]\nports = 1,2,3,4,5,6,7,8,9\n",
	     ":2: [controller] ports: more than 8 port patterns"},
	    {"[controller]\nports = "
	     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	     "xxxxxx"
	     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
	     ":2: [controller] ports: a port pattern longer than 127 characters"},
	    {"[controller]\nscript_profile =\n",
	     ":2: [controller] script_profile: must not be empty"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		options_free(&f->o);
		options_defaults(&f->o);
		write_config(f, cases[i][0]);
		assert_error(f, parse(f, "-c", f->path, END), cases[i][1]);
	}
}

static void test_unknown_keys_and_sections(void **state)
{
	struct fixture *f = *state;
	write_config(f, "[audio]\nrate = 48000\n[looper]\nrate = 48000\n");
	assert_error(f, parse(f, "-c", f->path, END),
		     ":4: [looper] rate: unknown key (it belongs in [audio])");
	write_config(f, "[audio]\nsample_rate = 48000\n");
	assert_error(f, parse(f, "-c", f->path, END),
		     ":2: [audio] sample_rate: unknown key");
	write_config(f, "rate = 48000\n");
	assert_error(f, parse(f, "-c", f->path, END),
		     ":1: key 'rate' is outside any [section]");
	write_config(f, "[track9]\ninput = 1\n");
	assert_error(f, parse(f, "-c", f->path, END), ":2: unknown section [track9]");
	write_config(f, "[audio]\ninput = 1\n");
	assert_error(f, parse(f, "-c", f->path, END), "(it belongs in [trackN])");
}

static void test_syntax_error_line(void **state)
{
	struct fixture *f = *state;
	write_config(f,
		     "[audio]\nrate = 48000\nthis line has no equals sign\nperiod = 9\n");
	assert_error(f, parse(f, "-c", f->path, END), ":3: syntax error");
	/* The first error is the one reported, whatever its kind. */
	write_config(f, "[audio]\nperiod = 9\nno equals\n");
	assert_error(f, parse(f, "-c", f->path, END), ":2: [audio] period:");
}

static void test_track_input_beyond_the_channels(void **state)
{
	struct fixture *f = *state;
	write_config(f,
		     "[audio]\ninput_channels = 4\n[track2]\nstereo = yes\ninput = 4\n");
	char want[128];
	snprintf(want, sizeof(want),
		 "%s:5: [track2] input 4 (stereo: and the next) is beyond", f->path);
	assert_error(f, parse(f, "-c", f->path, END), want);
	/* The command line can take channels away from under the file. */
	options_free(&f->o);
	options_defaults(&f->o);
	write_config(f, "[track1]\ninput = 2\n");
	assert_error(f, parse(f, "-c", f->path, "--input-channels", "1", END),
		     ":2: [track1] input 2 is beyond the 1 input channels");
}

static void test_config_file_missing(void **state)
{
	struct fixture *f = *state;
	/* The default file may be absent ... */
	assert_int_equal(parse(f, END), OPTIONS_RUN);
	/* ... a named one may not. */
	assert_error(f, parse(f, "--config", NO_FILE, END),
		     NO_FILE ": cannot read the config file: No such file or directory");
}

static void test_command_line_errors(void **state)
{
	struct fixture *f = *state;
	assert_error(f, parse(f, "--rate", "1", END), "option --rate: '1' is not 44100");
	assert_error(f, parse(f, "-p", "x", END),
		     "option --period: 'x' is not a whole number");
	assert_error(f, parse(f, "--frames", "0", END), "option --frames:");
	assert_error(f, parse(f, "--bogus", END), "unknown option '--bogus'");
	assert_error(f, parse(f, "-Z", END), "unknown option -Z");
	assert_error(f, parse(f, "--rate", END), "option --rate needs an argument");
	assert_error(f, parse(f, "stray", END), "unexpected argument 'stray'");
}

static void test_help_and_version(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(parse(f, "--rate", "1", "--help", END), OPTIONS_DONE);
	assert_non_null(strstr(f->out, "Usage: gridloop"));
	assert_non_null(strstr(f->out, "--config FILE"));
	assert_non_null(strstr(f->out, "--require-rt"));
	assert_int_equal(parse(f, "-V", END), OPTIONS_DONE);
	assert_string_equal(f->out, "gridloop " GRIDLOOP_VERSION "\n");
}

/* The example config is valid, and shows (set or commented out) every key. */
static void test_example_config_documents_every_key(void **state)
{
	struct fixture *f = *state;
	/* The tests run from the top of the repository (scripts/run-tests). */
	const char *path = "board/gridloop.conf";
	assert_int_equal(options_load_file(&f->o, path, true, f->err, sizeof(f->err)), 0);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	const char *section;
	size_t count = 0;
	for (const char *key; (key = options_config_key(count, &section)); count++) {
		char line[96];
		snprintf(line, sizeof(line), "\n%s = ", key);
		char commented[96];
		snprintf(commented, sizeof(commented), "\n# %s = ", key);
		if (!strstr(text, line) && !strstr(text, commented))
			fail_msg("board/gridloop.conf does not show key '%s' of [%s]",
				 key, section);
	}
	assert_true(count >= 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_file_sets_every_key, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_command_line_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_value_names_file_line_and_key, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_keys_and_sections, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_syntax_error_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_track_input_beyond_the_channels, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_config_file_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_command_line_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_help_and_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_example_config_documents_every_key,
					    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
