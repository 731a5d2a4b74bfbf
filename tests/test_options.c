/* test_options.c -- the settings: defaults, the config file (every key, and
 * every error naming file, line and key), the command line over it, and the
 * example board/gridloop.conf documenting every key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "gl_limits.h"
#include "keeper.h"
#include "options.h"
#include "recorder.h"
#include "tmp_dir.h"

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

/* A fresh start for the next case of a table. */
static void reset(struct fixture *f)
{
	options_free(&f->o);
	options_defaults(&f->o);
	free(f->o.config_path);
	f->o.config_path = strdup(NO_FILE);
}

/* The keys no other test reads back reach their own field, from the file
 * and from the command line: each key of the table writes where it says. */
static void test_every_key_reaches_its_field(void **state)
{
	struct fixture *f = *state;
	write_config(f, "[audio]\nalsa_config = /etc/a.conf\nformat = FLOAT_LE\n"
			"output_channels = 7\n"
			"[looper]\nfade_ms = 12.5\ngrow_seconds = 0.75\n"
			"[session]\ndir = /s/session\nrestore = no\nmount_point = /s\n"
			"resample = no\nsave_quiet_ms = 2500\n"
			"[export]\ndir = /e\nformat = flac16\n"
			"[recorder]\nenabled = yes\ndir = /r\nformat = wav\n"
			"ring_seconds = 12.25\ntracks = yes\n"
			"[track7]\nstereo = yes\ninput = 5\n"
			"[audio]\ninput_channels = 6\n");
	assert_int_equal(parse(f, "-c", f->path, "--pid-file", "/p.pid", "--script",
			       "s.txt", "--session", "/cl/session", "--export-format",
			       "wavfloat", END),
			 OPTIONS_RUN);
	struct options *o = &f->o;
	assert_string_equal(o->alsa_config, "/etc/a.conf");
	assert_int_equal(o->format, SAMPLE_FLOAT);
	assert_int_equal(o->output_channels, 7);
	assert_int_equal(o->input_channels, 6);
	assert_true(o->fade_ms == 12.5);
	assert_true(o->grow_seconds == 0.75);
	assert_string_equal(o->session_dir, "/cl/session"); /* the command line */
	assert_false(o->restore);
	assert_string_equal(o->mount_point, "/s");
	assert_false(o->resample);
	assert_int_equal(o->save_quiet_ms, 2500);
	assert_string_equal(o->export_dir, "/e");
	assert_int_equal(o->export_format, EXPORT_WAV_FLOAT); /* the command line */
	assert_true(o->recorder);
	assert_string_equal(o->recorder_dir, "/r");
	assert_int_equal(o->recorder_format, EXPORT_WAV24); /* "wav" */
	assert_true(o->recorder_seconds == 12.25);
	assert_true(o->recorder_tracks);
	assert_int_equal(o->track_input[6].first_channel, 4);
	assert_int_equal(o->track_input[6].stereo, 1);
	assert_int_equal(o->track_input[5].stereo, 0);
	assert_string_equal(o->pid_file, "/p.pid");
	assert_string_equal(o->script_path, "s.txt");
	assert_true(o->config_explicit);
	assert_string_equal(o->config_path, f->path);
	/* The defaults of the same keys, untouched by a run without them. */
	reset(f);
	assert_int_equal(parse(f, END), OPTIONS_RUN);
	assert_false(f->o.config_explicit);
	assert_int_equal(f->o.format, SAMPLE_AUTO);
	assert_int_equal(f->o.export_format, EXPORT_WAV24);
	assert_int_equal(f->o.save_quiet_ms, 1500);
	assert_true(f->o.recorder_seconds == 10.0);
	assert_true(f->o.restore && f->o.resample && !f->o.recorder);
	/* The export formats are case-sensitive and take "flac"; the sample
	 * formats take any case. */
	reset(f);
	assert_error(f, parse(f, "--export-format", "WAV16", END),
		     "option --export-format: 'WAV16' is not wav16, wav24, wavfloat, "
		     "flac16 or flac24");
	reset(f);
	assert_int_equal(parse(f, "--export-format", "flac", "-f", "s16_le", END),
			 OPTIONS_RUN);
	assert_int_equal(f->o.export_format, EXPORT_FLAC24);
	assert_int_equal(f->o.format, SAMPLE_S16);
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Issue 9, item 14: a track's default input follows the track, mono or
 * stereo; a pair beyond the inputs is refused with file:line and range. */
static void test_track_default_inputs(void **state)
{
	struct fixture *f = *state;
	/* [track2] stereo without input: inputs 2 and 3, not 1 and 2. */
	write_config(f, "[audio]\ninput_channels = 4\n[track2]\nstereo = yes\n"
			"[track4]\nstereo = no\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
	assert_int_equal(f->o.track_input[1].first_channel, 1);
	assert_int_equal(f->o.track_input[1].stereo, 1);
	assert_int_equal(f->o.track_input[3].first_channel, 3);
	/* Track 6 of 4 inputs wraps around: input 2. */
	assert_int_equal(f->o.track_input[5].first_channel, 1);
	/* With 2 inputs, track 2's pair is 2+3: refused. */
	reset(f);
	write_config(f, "[track2]\nstereo = yes\n");
	char want[256];
	snprintf(want, sizeof(want),
		 "%s:2: [track2] input 2 (its default; stereo: and the next) is beyond "
		 "the 2 input channels (input_channels, the default): input 1..1 with "
		 "stereo = yes",
		 f->path);
	assert_error(f, parse(f, "-c", f->path, END), want);
	/* ... and accepted with an input that leaves room for the pair. */
	reset(f);
	write_config(f, "[track2]\nstereo = yes\ninput = 1\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
	assert_int_equal(f->o.track_input[1].first_channel, 0);
	/* A mono input beyond, with the range; input_channels from the
	 * command line is named as such. */
	reset(f);
	write_config(f, "[track1]\ninput = 3\n");
	assert_error(f, parse(f, "-c", f->path, "-i", "2", END),
		     ":2: [track1] input 3 is beyond the 2 input channels "
		     "(input_channels, option --input-channels): input 1..2");
	reset(f);
	write_config(f, "[track8]\nstereo = on\n");
	assert_error(f, parse(f, "-c", f->path, "-i", "1", END),
		     ":2: [track8] input 1 (its default; stereo: and the next) is beyond "
		     "the 1 input channels (input_channels, option --input-channels): no "
		     "stereo pair with 1 input channel");
	/* What options accept, the engine accepts (its input check). */
	reset(f);
	write_config(f, "[audio]\ninput_channels = 3\n[track2]\nstereo = yes\n"
			"[track5]\nstereo = yes\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
	assert_int_equal(f->o.track_input[4].first_channel, 1); /* 5 of 3: 2+3 */
	struct engine_config ec;
	options_engine_config(&f->o, &ec);
	const char *why = NULL;
	struct engine *e = engine_create(&ec, &why);
	assert_non_null(e);
	engine_destroy(e);
	reset(f);
	write_config(f, "[audio]\ninput_channels = 3\n[track3]\nstereo = yes\n");
	assert_error(
	    f, parse(f, "-c", f->path, END),
	    ":4: [track3] input 3 (its default; stereo: and the next) is beyond");
}

/* Issue 9, item 17: the limits the engine and the keeper enforce across
 * keys are refused after the whole config and command line, naming both
 * keys with where they were set, and the range. */
static void test_limits_across_keys(void **state)
{
	struct fixture *f = *state;
	write_config(f, "[looper]\ngrow_seconds = 0.1\n");
	char want[384];
	snprintf(want, sizeof(want),
		 "%s:2: [looper] grow_seconds = 0.1 is 4800 frames at 48000 Hz, less "
		 "than 4 periods of [audio] period = 2048 (option --period): "
		 "0.171..60 s with this period",
		 f->path);
	assert_error(f, parse(f, "-c", f->path, "-p", "2048", END), want);
	/* The period from the file, grow left at its default: blamed on the
	 * period's line. */
	reset(f);
	write_config(f, "[audio]\nrate = 44100\n[looper]\ngrow_seconds = 0.1\n"
			"[audio]\nperiod = 1200\n");
	snprintf(want, sizeof(want),
		 "%s:4: [looper] grow_seconds = 0.1 is 4410 frames at 44100 Hz, less "
		 "than 4 periods of [audio] period = 1200 (%s:6)",
		 f->path, f->path);
	assert_error(f, parse(f, "-c", f->path, END), want);
	/* At the bound it is accepted, and the engine takes it. */
	reset(f);
	assert_int_equal(parse(f, "-p", "1200", "-r", "48000", END), OPTIONS_RUN);
	f->o.grow_seconds = 0.1; /* 4800 frames = 4 x 1200 */
	struct engine_config ec;
	options_engine_config(&f->o, &ec);
	const char *why = NULL;
	struct engine *e = engine_create(&ec, &why);
	assert_non_null(e);
	engine_destroy(e);

	/* memory_limit_mb below what arming the slots takes: the key and its
	 * minimum, which is exactly what the keeper needs. */
	reset(f);
	write_config(f, "[looper]\nmemory_limit_mb = 8\n");
	assert_error(f, parse(f, "-c", f->path, END),
		     ":2: [looper] memory_limit_mb = 8 is less than arming the 80 clip "
		     "slots takes (");
	unsigned long long least = 0;
	const char *range = strstr(f->err, "0 (no limit) or ");
	assert_non_null(range);
	assert_int_equal(sscanf(range, "0 (no limit) or %llu..", &least), 1);
	char arg[32];
	snprintf(arg, sizeof(arg), "%llu", least - 1);
	reset(f);
	assert_error(f, parse(f, "--memory-limit", arg, END),
		     "option --memory-limit: [looper] memory_limit_mb");
	snprintf(arg, sizeof(arg), "%llu", least);
	reset(f);
	assert_int_equal(parse(f, "--memory-limit", arg, END), OPTIONS_RUN);
	options_engine_config(&f->o, &ec);
	e = engine_create(&ec, &why);
	assert_non_null(e);
	struct keeper_config kc;
	options_keeper_config(&f->o, &kc);
	kc.lock_memory = false;
	struct keeper *k = keeper_create(e, &kc, &why);
	if (!k)
		fail_msg("memory_limit_mb = %llu was accepted, the keeper says: %s",
			 least, why);
	keeper_destroy(k);
	/* One MB less would not have armed: the minimum is the real one. */
	kc.memory_limit = (least - 1) << 20;
	assert_null(keeper_create(e, &kc, &why));
	engine_destroy(e);

	/* The recorder's ring past its largest (96 kHz, 16 channels). */
	reset(f);
	write_config(f, "[audio]\nrate = 96000\n[recorder]\nenabled = yes\n"
			"ring_seconds = 600\ntracks = yes\n");
	snprintf(want, sizeof(want),
		 "%s:5: [recorder] ring_seconds = 600 with tracks = yes (%s:6) at 96000 "
		 "Hz is a ring larger than the recorder's largest (2048 MB): 1..349 here",
		 f->path, f->path);
	assert_error(f, parse(f, "-c", f->path, END), want);
	/* ... and 349 s is accepted, and is a ring. */
	reset(f);
	write_config(f, "[audio]\nrate = 96000\n[recorder]\nenabled = yes\n"
			"ring_seconds = 349\ntracks = yes\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
	assert_true(recorder_ring_bytes(96000, GL_STEM_CH, 349, page_size(), NULL) > 0);
	/* A recorder that is off maps nothing: its keys are not held against it. */
	reset(f);
	write_config(f, "[audio]\nrate = 96000\n[recorder]\nenabled = no\n"
			"ring_seconds = 600\ntracks = yes\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
}

/* Whatever options accept, the engine accepts: every ranged key at its
 * bounds with the others' extremes (engine.c's config_problem()). */
static void test_engine_takes_what_options_accept(void **state)
{
	struct fixture *f = *state;
	static const char *const rates[] = {"44100", "48000", "96000"};
	static const char *const periods[] = {"16", "128", "2048"};
	static const char *const grows[] = {"0.1", "0.2", "60"};
	static const char *const fades[] = {"0", "100", "99.99"};
	int accepted = 0, refused = 0;
	for (int r = 0; r < 3; r++)
		for (int p = 0; p < 3; p++)
			for (int g = 0; g < 3; g++)
				for (int d = 0; d < 3; d++) {
					char text[256];
					snprintf(
					    text, sizeof(text),
					    "[audio]\nrate = %s\nperiod = %s\ninput_"
					    "channels = 32\n[looper]\ngrow_seconds = "
					    "%s\nfade_ms = %s\ntempo = 300\nbeats_per_"
					    "bar = 16\n[track8]\ninput = 31\nstereo = "
					    "yes\n",
					    rates[r], periods[p], grows[g], fades[d]);
					reset(f);
					write_config(f, text);
					if (parse(f, "-c", f->path, END) != OPTIONS_RUN) {
						refused++;
						if (!strstr(f->err, f->path) ||
						    !strstr(f->err, "grow_seconds"))
							fail_msg("refused without file "
								 "and key: "
								 "%s",
								 f->err);
						continue;
					}
					accepted++;
					struct engine_config ec;
					options_engine_config(&f->o, &ec);
					const char *why = NULL;
					struct engine *e = engine_create(&ec, &why);
					if (!e)
						fail_msg(
						    "options accept, the engine refuses "
						    "(%s): %s",
						    why, text);
					engine_destroy(e);
				}
	assert_true(accepted > 0 && refused > 0);
}

/* Issue 9, item 3: what the settings map at start, by the parts' own
 * arithmetic (the keeper's arming is checked against what it maps). */
static void test_memory_needs(void **state)
{
	struct fixture *f = *state;
	size_t page = page_size();
	write_config(f, "[looper]\ngrow_seconds = 2.5\n[track3]\ninput = 1\n"
			"stereo = yes\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
	struct options_memory m;
	options_memory_needs(&f->o, page, &m);
	assert_int_equal(m.recorder, 0); /* off */
	assert_int_equal(m.stems, 0);
	struct engine_config ec;
	options_engine_config(&f->o, &ec);
	const char *why = NULL;
	struct engine *e = engine_create(&ec, &why);
	assert_non_null(e);
	struct keeper_config kc;
	options_keeper_config(&f->o, &kc);
	kc.lock_memory = false;
	struct keeper *k = keeper_create(e, &kc, &why);
	assert_non_null(k);
	struct keeper_stats st;
	keeper_get_stats(k, &st);
	assert_int_equal(m.clip_slots, st.bytes_mapped);
	assert_int_equal(m.total, st.bytes_mapped);
	keeper_destroy(k);
	engine_destroy(e);

	/* The case: 600 s with tracks at 48 kHz. A ring is a power of
	 * two of frames: 2^25 >= 600 x 48000. */
	reset(f);
	write_config(f, "[session]\ndir = /nonexistent/session\n[recorder]\n"
			"enabled = yes\nring_seconds = 600\ntracks = yes\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
	options_memory_needs(&f->o, page, &m);
	uint64_t frames = 1u << 25;
	assert_int_equal(m.recorder, frames * GL_OUT_CH * sizeof(float));
	uint64_t buffer = (128 * GL_STEM_CH * sizeof(float) + page - 1) / page * page;
	assert_int_equal(m.stems, frames * GL_STEM_CH * sizeof(float) + buffer);
	assert_int_equal(m.total, m.clip_slots + m.recorder + m.stems);
	/* No directory to record into: main.c starts no recorder, nothing
	 * mapped for it. */
	free(f->o.session_dir);
	f->o.session_dir = NULL;
	options_memory_needs(&f->o, page, &m);
	assert_int_equal(m.recorder + m.stems, 0);
}

static void test_memory_check(void **state)
{
	struct fixture *f = *state;
	size_t page = page_size();
	write_config(f, "[session]\ndir = /nonexistent/session\n[recorder]\n"
			"enabled = yes\nring_seconds = 600\ntracks = yes\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
	struct options_memory m;
	options_memory_needs(&f->o, page, &m);
	unsigned long long need = (m.total + (1 << 20) - 1) >> 20;
	struct sysmem_room a = {UINT64_MAX, UINT64_MAX, UINT64_MAX};
	assert_int_equal(options_check_memory(&f->o, &a, page, f->err, sizeof(f->err)),
			 0);
	/* A 1 GiB machine. */
	a.meminfo = 1ull << 30;
	assert_int_equal(options_check_memory(&f->o, &a, page, f->err, sizeof(f->err)),
			 -1);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s:5: [recorder] ring_seconds = 600 with tracks = yes (%s:6) needs "
		 "%llu MB at start (",
		 f->path, f->path, need);
	assert_error(f, OPTIONS_ERROR, want);
	assert_error(f, OPTIONS_ERROR,
		     "1024 MB are available (MemAvailable in /proc/meminfo)");
	/* The cgroup tighter than the machine. */
	a.meminfo = 8ull << 30;
	a.cgroup = 512ull << 20;
	assert_int_equal(options_check_memory(&f->o, &a, page, f->err, sizeof(f->err)),
			 -1);
	assert_error(f, OPTIONS_ERROR,
		     "512 MB are available (left under the cgroup's memory limit)");
	/* RLIMIT_MEMLOCK: refused with require_rt, a warning without. */
	a.cgroup = UINT64_MAX;
	a.memlock = 64ull << 20;
	assert_int_equal(options_check_memory(&f->o, &a, page, f->err, sizeof(f->err)),
			 1);
	assert_error(f, OPTIONS_ERROR, "RLIMIT_MEMLOCK allows 64 MB: not all of it");
	f->o.require_rt = true;
	assert_int_equal(options_check_memory(&f->o, &a, page, f->err, sizeof(f->err)),
			 -1);
	assert_error(f, OPTIONS_ERROR, "RLIMIT_MEMLOCK allows 64 MB and require_rt");
	/* Without the recorder, the slots are what is asked for: blamed on
	 * grow_seconds. */
	reset(f);
	write_config(f, "[looper]\ngrow_seconds = 60\n");
	assert_int_equal(parse(f, "-c", f->path, END), OPTIONS_RUN);
	a = (struct sysmem_room){64ull << 20, UINT64_MAX, UINT64_MAX};
	assert_int_equal(options_check_memory(&f->o, &a, page, f->err, sizeof(f->err)),
			 -1);
	assert_error(f, OPTIONS_ERROR, ":2: [looper] grow_seconds = 60 (the 80 clip");
	/* A memory limit above what there is: said, not refused. */
	reset(f);
	assert_int_equal(parse(f, "--memory-limit", "4096", END), OPTIONS_RUN);
	a.meminfo = 1ull << 30;
	assert_int_equal(options_check_memory(&f->o, &a, page, f->err, sizeof(f->err)),
			 1);
	assert_error(f, OPTIONS_ERROR,
		     "option --memory-limit: [looper] memory_limit_mb = 4096 is more "
		     "than the 1024 MB available");
}

static void put_file(const char *root, const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(path, 0700);
		*s = '/';
	}
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* The bounds come from /proc/meminfo, the cgroup (v2 and v1, the tightest
 * of it and its parents, less usage) and RLIMIT_MEMLOCK. */
static void test_memory_available(void **state)
{
	(void)state;
	char root[PATH_MAX];
	assert_true(tmp_dir_make(root, sizeof(root), "test_options_root"));
	put_file(root, "proc/meminfo",
		 "MemTotal:        4000000 kB\nMemFree:  100 kB\n"
		 "MemAvailable:    2000000 kB\n");
	put_file(root, "proc/self/cgroup", "0::/a/b\n");
	put_file(root, "proc/self/status", "Name: x\nCapEff:\t0000000000000000\n");
	put_file(root, "sys/fs/cgroup/a/b/memory.max", "1073741824\n");
	put_file(root, "sys/fs/cgroup/a/b/memory.current", "73741824\n");
	put_file(root, "sys/fs/cgroup/a/memory.max", "500000000\n");
	put_file(root, "sys/fs/cgroup/a/memory.current", "150000000\n");
	/* Of the usage, inactive page cache is reclaimed first: not used. */
	put_file(root, "sys/fs/cgroup/a/memory.stat",
		 "anon 90000000\nfile 60000000\ninactive_file 50000000\n");
	put_file(root, "sys/fs/cgroup/memory.max", "max\n");
	struct rlimit old;
	assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &old), 0);
	struct rlimit low = {32 << 20, old.rlim_max};
	if (old.rlim_max != RLIM_INFINITY && old.rlim_max < low.rlim_cur)
		low.rlim_cur = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &low), 0);
	struct sysmem_room a;
	sysmem_read(root, true, &a);
	assert_int_equal(a.meminfo, 2000000ull * 1024);
	assert_int_equal(a.cgroup, 400000000); /* the parent: 500 M less 150 - 50 M */
	assert_int_equal(a.memlock, low.rlim_cur);
	sysmem_read(root, false, &a); /* not locked: no bound */
	assert_int_equal(a.memlock, UINT64_MAX);
	/* With CAP_IPC_LOCK, RLIMIT_MEMLOCK does not apply. */
	put_file(root, "proc/self/status", "CapEff:\t0000000000004000\n");
	sysmem_read(root, true, &a);
	assert_int_equal(a.memlock, UINT64_MAX);
	assert_int_equal(setrlimit(RLIMIT_MEMLOCK, &old), 0);
	/* cgroup v1, seen from inside a container: the path is not there,
	 * the mount's own files are the process's cgroup. */
	put_file(root, "proc/self/cgroup", "4:memory:/docker/x\n0::/\n");
	put_file(root, "sys/fs/cgroup/memory.max", "max\n");
	put_file(root, "sys/fs/cgroup/memory/memory.limit_in_bytes", "268435456\n");
	put_file(root, "sys/fs/cgroup/memory/memory.usage_in_bytes", "68435456\n");
	sysmem_read(root, false, &a);
	assert_int_equal(a.cgroup, 200000000);
	/* v1's "no limit" is a huge number. */
	put_file(root, "sys/fs/cgroup/memory/memory.limit_in_bytes",
		 "9223372036854771712\n");
	sysmem_read(root, false, &a);
	assert_int_equal(a.cgroup, UINT64_MAX);
	/* Nothing readable: no bounds. */
	sysmem_read("/nonexistent", true, &a);
	assert_int_equal(a.meminfo, UINT64_MAX);
	assert_int_equal(a.cgroup, UINT64_MAX);
	assert_int_equal(tmp_dir_remove(root), 0);
}

static void write_bytes(struct fixture *f, const char *bytes, size_t n)
{
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	assert_int_equal(fwrite(bytes, 1, n, fp), n);
	fclose(fp);
}

/* The hostile pass over the config file: every case is either refused with
 * its line and key (want: what the message holds) or accepted (want NULL,
 * then check() says whether it means what it says). */
static bool period_64(const struct options *o)
{
	return o->period == 64;
}
static bool period_64_periods_3(const struct options *o)
{
	return o->period == 64 && o->periods == 3;
}
static bool tempo_0(const struct options *o)
{
	return o->tempo == 0;
}
static bool fade_half(const struct options *o)
{
	return o->fade_ms == 0.5;
}
static bool click_3_4(const struct options *o)
{
	return o->click_channel == 3 && o->click_channels == 2;
}
static bool click_5(const struct options *o)
{
	return o->click_channel == 5 && o->click_channels == 1;
}
static bool click_main(const struct options *o)
{
	return o->click_channel == 0 && o->click_volume == 1.0;
}
static bool latency_auto(const struct options *o)
{
	return o->latency_frames == OPTIONS_LATENCY_AUTO;
}
static bool defaults_kept(const struct options *o)
{
	return o->period == 128 && o->rate == 48000;
}

static void test_hostile_config_text(void **state)
{
	struct fixture *f = *state;
	char long_line[400];
	snprintf(long_line, sizeof(long_line), "[audio]\n# %0300d\nperiod = 64\n", 0);
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		const char *want;
		bool (*check)(const struct options *);
	} cases[] = {
	    /* [track] without a number is no track (it once wrote track -1;
	     * found by tests/fuzz/fuzz_config.c). */
	    {"[track]\ninput = 2\n", 0,
	     ":2: unknown section [track] (tracks are [track1]..[track8])", NULL},
	    {"[track9]\nstereo = yes\n", 0, ":2: unknown section [track9]", NULL},
	    /* Empty values, blanks, garbage. */
	    {"[audio]\nrate =\n", 0, ":2: [audio] rate: '' is not 44100", NULL},
	    {"[audio]\nperiod =   \n", 0,
	     ":2: [audio] period: '' is not a whole number in 16..2048", NULL},
	    {"[audio]\nperiod = 64 frames\n", 0, ":2: [audio] period: '64 frames' is not",
	     NULL},
	    {"[audio]\nperiod = 64 # frames\n", 0, ":2: [audio] period: '64 # frames'",
	     NULL},
	    {"[audio]\nperiod = 64 ; frames\n", 0, NULL, period_64},
	    /* Numbers: hex, exponent, sign, huge, inf, nan. */
	    {"[audio]\nperiod = 0x40\n", 0,
	     ":2: [audio] period: '0x40' is not a whole number", NULL},
	    {"[audio]\nperiod = 6.4e1\n", 0, ":2: [audio] period: '6.4e1'", NULL},
	    {"[audio]\nperiod = -64\n", 0, ":2: [audio] period: '-64'", NULL},
	    {"[audio]\nperiod = +64\n", 0, NULL, period_64},
	    {"[audio]\nperiod = 99999999999999999999999\n", 0,
	     ":2: [audio] period: '9999", NULL},
	    {"[looper]\nmemory_limit_mb = 18446744073709551615\n", 0,
	     ":2: [looper] memory_limit_mb: '1844", NULL},
	    {"[looper]\nmemory_limit_mb = 16777217\n", 0, "in 0..16777216", NULL},
	    {"[looper]\nfade_ms = inf\n", 0,
	     ":2: [looper] fade_ms: 'inf' is not a number in 0..100", NULL},
	    {"[looper]\nfade_ms = -inf\n", 0, ":2: [looper] fade_ms: '-inf'", NULL},
	    {"[looper]\nfade_ms = nan\n", 0, ":2: [looper] fade_ms: 'nan'", NULL},
	    {"[looper]\nfade_ms = 0x1p3\n", 0, ":2: [looper] fade_ms: '0x1p3'", NULL},
	    {"[looper]\nfade_ms = 1e1\n", 0, ":2: [looper] fade_ms: '1e1'", NULL},
	    {"[looper]\nfade_ms = 100.0001\n", 0,
	     ":2: [looper] fade_ms: '100.0001' is not a number in 0..100", NULL},
	    {"[looper]\nfade_ms = .5\n", 0, NULL, fade_half},
	    {"[audio]\noutput_channels = 4\n[looper]\nclick_output = 3-4\n", 0, NULL,
	     click_3_4},
	    {"[audio]\noutput_channels = 6\n[looper]\nclick_output = 5\n", 0, NULL,
	     click_5},
	    {"[looper]\nclick_output = main\n", 0, NULL, click_main},
	    {"[looper]\nclick_output = 3-4\n", 0,
	     ":2: [looper] click_output = 3-4: the click needs playback channels of its "
	     "own, and output_channels = 2 leaves none",
	     NULL},
	    {"[audio]\noutput_channels = 4\n[looper]\nclick_output = 1-2\n", 0,
	     ":4: [looper] click_output = 1-2 is not main, N or N-M (one or two playback "
	     "channels, 3..4 with output_channels = 4)",
	     NULL},
	    {"[audio]\noutput_channels = 4\n[looper]\nclick_output = 4-5\n", 0,
	     "click_output = 4-5 is not main", NULL},
	    {"[audio]\noutput_channels = 8\n[looper]\nclick_output = 3-5\n", 0,
	     "click_output = 3-5 is not main", NULL},
	    {"[audio]\noutput_channels = 8\n[looper]\nclick_output = 3x\n", 0,
	     "click_output = 3x is not main", NULL},
	    {"[looper]\nclick_volume = 2.5\n", 0,
	     ":2: [looper] click_volume: '2.5' is not a number in 0..2", NULL},
	    {"[looper]\nfade_ms = .\n", 0, ":2: [looper] fade_ms: '.'", NULL},
	    {"[looper]\ntempo = -0\n", 0, NULL, tempo_0},
	    {"[looper]\ntempo = 300.5\n", 0,
	     ":2: [looper] tempo: '300.5' is not 0 or a number in 30..300", NULL},
	    {"[looper]\ngrow_seconds = 0.09\n", 0,
	     ":2: [looper] grow_seconds: '0.09' is not a number in 0.1..60", NULL},
	    {"[audio]\nlatency_frames = AUTO\n", 0, NULL, latency_auto},
	    {"[audio]\nlatency_frames = 65537\n", 0,
	     ":2: [audio] latency_frames: '65537' is not auto or a whole number in "
	     "0..65536",
	     NULL},
	    {"[audio]\noutput_channels = 33\n", 0,
	     ":2: [audio] output_channels: '33' is not a whole number in 1..32", NULL},
	    {"[audio]\ninput_channels = 0\n", 0,
	     ":2: [audio] input_channels: '0' is not a whole number in 1..32", NULL},
	    {"[realtime]\npriority = 0\n", 0,
	     ":2: [realtime] priority: '0' is not a whole number in 1..99", NULL},
	    {"[session]\nsave_quiet_ms = 600001\n", 0,
	     ":2: [session] save_quiet_ms: '600001' is not a whole number in 0..600000",
	     NULL},
	    {"[recorder]\nring_seconds = 0.5\n", 0,
	     ":2: [recorder] ring_seconds: '0.5' is not a number in 1..600", NULL},
	    {"[track1]\ninput = 33\n", 0,
	     ":2: [track1] input: '33' is not a whole number in 1..32", NULL},
	    {"[audio]\ninput_channels = 32\n[track1]\ninput = 32\nstereo = yes\n", 0,
	     ":4: [track1] input 32 (stereo: and the next) is beyond the 32 input "
	     "channels",
	     NULL},
	    /* Layout: indented keys are keys, CR LF, a BOM, duplicates. */
	    {"[audio]\n    period = 64\n\tperiods = 3\n", 0, NULL, period_64_periods_3},
	    {"[audio]\r\nperiod = 64\r\nperiods = 3\r\n", 0, NULL, period_64_periods_3},
	    {"\xef\xbb\xbf[audio]\nperiod = 64\n", 0, NULL, period_64},
	    {"[audio]\nperiod = 32\nperiod = 64\n", 0, NULL,
	     period_64}, /* the last wins */
	    {"[audio]\nperiod = 64\n[looper]\n[audio]\nperiods = 3\n", 0, NULL,
	     period_64_periods_3},
	    {"", 0, NULL, defaults_kept},
	    {"\n\n; only comments\n# and this\n", 0, NULL, defaults_kept},
	    /* Sections and keys that are not. */
	    {"[Audio]\nrate = 48000\n", 0,
	     ":2: unknown section [Audio] (the sections are [audio],", NULL},
	    {"[ audio ]\nrate = 48000\n", 0, ":2: unknown section [ audio ]", NULL},
	    {"[]\nrate = 48000\n", 0, ":2: key 'rate' is outside any [section]", NULL},
	    {"[audio\nrate = 48000\n", 0, ":1: syntax error", NULL},
	    {"[track0]\ninput = 1\n", 0, ":2: unknown section [track0]", NULL},
	    {"[track10]\ninput = 1\n", 0, ":2: unknown section [track10]", NULL},
	    {"[audio]\n= 5\n", 0, ":2:", NULL},
	    {"[audio]\nRate = 48000\n", 0, ":2: [audio] Rate: unknown key", NULL},
	    /* Not text, or too long a line: named, the rest not read. */
	    {"[audio]\nperiod = 6\0"
	     "4\n",
	     19, ":2: a NUL byte: not a text file", NULL},
	    {NULL, 0, ":2: line too long (more than 198 characters)", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset(f);
		const char *text = cases[i].text ? cases[i].text : long_line;
		write_bytes(f, text, cases[i].len ? cases[i].len : strlen(text));
		enum options_result r = parse(f, "-c", f->path, END);
		if (cases[i].want) {
			if (r != OPTIONS_ERROR || !strstr(f->err, cases[i].want) ||
			    strncmp(f->err, f->path, strlen(f->path)))
				fail_msg("case %zu: '%s' gave '%s', not '%s'", i, text,
					 r == OPTIONS_ERROR ? f->err : "(accepted)",
					 cases[i].want);
		} else if (r != OPTIONS_RUN || !cases[i].check(&f->o)) {
			fail_msg("case %zu: '%s' was %s %s", i, text,
				 r == OPTIONS_RUN ? "misread" : "refused:", f->err);
		}
	}
}

/* What the config file is: a directory, a FIFO (never waited for), a huge
 * file, an unreadable one; /dev/null is an empty one. */
static void test_hostile_config_files(void **state)
{
	struct fixture *f = *state;
	char dir[PATH_MAX];
	assert_true(tmp_dir_make(dir, sizeof(dir), "test_options_dir"));
	assert_error(f, parse(f, "-c", dir, END),
		     ": cannot read the config file: it is a directory");
	/* The default file too: only a missing one is no error. */
	reset(f);
	free(f->o.config_path);
	f->o.config_path = strdup(dir);
	assert_error(f, parse(f, END),
		     ": cannot read the config file: it is a directory");

	char fifo[sizeof(dir) + 16];
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	reset(f);
	alarm(10); /* a hang fails the test instead of hanging it */
	assert_error(f, parse(f, "-c", fifo, END),
		     "fifo: cannot read the config file: not a regular file");
	alarm(0);
	unlink(fifo);
	rmdir(dir);

	reset(f);
	assert_int_equal(parse(f, "-c", "/dev/null", END), OPTIONS_RUN);
	assert_int_equal(f->o.period, 128);
	reset(f);
	assert_error(f, parse(f, "-c", "/dev/zero", END),
		     "/dev/zero: cannot read the config file: not a regular file");

	/* Larger than a config file can be. */
	FILE *fp = fopen(f->path, "w");
	assert_non_null(fp);
	fputs("[audio]\n", fp);
	for (int i = 0; i <= GL_CONFIG_FILE_MAX / 16; i++)
		fputs("# padding......\n", fp);
	fclose(fp);
	reset(f);
	assert_error(f, parse(f, "-c", f->path, END),
		     ": cannot read the config file: larger than a config file can be");

	if (geteuid() != 0) { /* root reads it anyway */
		write_config(f, "[audio]\nperiod = 64\n");
		chmod(f->path, 0);
		reset(f);
		assert_error(f, parse(f, "-c", f->path, END),
			     ": cannot read the config file: Permission denied");
		chmod(f->path, 0600);
	}
	reset(f);
	assert_error(f, parse(f, "-c", END), "option -c needs an argument");
	reset(f);
	assert_error(f, parse(f, "--config=", END), "option --config: must not be empty");
}

static void test_hostile_command_line(void **state)
{
	struct fixture *f = *state;
	static const char *const cases[][3] = {
	    {"--period=", NULL, "option --period: '' is not a whole number in 16..2048"},
	    {"-p", " 64", "option --period: ' 64' is not a whole number"},
	    {"-p", "64 ", "option --period: '64 ' is not a whole number"},
	    {"--frames", "9223372036854775808", "option --frames: '9223372036854775808'"},
	    {"--frames", "-1", "option --frames: '-1' is not a whole number in 1.."},
	    {"--latency", "65537", "option --latency: '65537' is not auto or a whole"},
	    {"--memory-limit", "-1", "option --memory-limit: '-1'"},
	    {"--priority", "1e1", "option --priority: '1e1'"},
	    {"-i", "33", "option --input-channels: '33' is not a whole number in 1..32"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset(f);
		enum options_result r = cases[i][1]
					    ? parse(f, cases[i][0], cases[i][1], END)
					    : parse(f, cases[i][0], END);
		if (r != OPTIONS_ERROR || !strstr(f->err, cases[i][2]))
			fail_msg("case %zu: %s %s gave '%s', not '%s'", i, cases[i][0],
				 cases[i][1] ? cases[i][1] : "", f->err, cases[i][2]);
	}
	reset(f);
	assert_int_equal(parse(f, "--frames", "9223372036854775807", END), OPTIONS_RUN);
	assert_true(f->o.frames == INT64_MAX);
	/* The command line wins over the file, also for a key checked with
	 * another: period from the file, grow from the command line is not a
	 * key there; input_channels is. */
	write_config(f, "[track2]\ninput = 2\n");
	reset(f);
	assert_error(
	    f, parse(f, "-c", f->path, "--input-channels", "1", END),
	    ":2: [track2] input 2 is beyond the 1 input channels (input_channels, "
	    "option --input-channels): input 1..1");
}

/* The example config states each key's range as the key table has it. */
static void test_example_config_states_the_ranges(void **state)
{
	struct fixture *f = *state;
	(void)f;
	FILE *fp = fopen("board/gridloop.conf", "r");
	assert_non_null(fp);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, fp);
	fclose(fp);
	text[n] = '\0';
	/* The help shows the table's ranges: compare each with the file. */
	FILE *out = fmemopen(f->out, sizeof(f->out) - 1, "w");
	options_print_help(out);
	fclose(out);
	static const char *const ranged[][2] = {
	    {"period = ", "16..2048"},
	    {"periods = ", "2..4"},
	    {"input_channels = ", "1..32"},
	    {"priority = ", "1..99"},
	    {"fade_ms = ", "0..100"},
	    {"grow_seconds = ", "0.1..60"},
	    {"tempo = ", "30..300"},
	    {"beats_per_bar = ", "1..16"},
	    {"ring_seconds = ", "1..600"},
	    {"memory_limit_mb = ", "0..16777216"},
	    {"save_quiet_ms = ", "0..600000"},
	    {"port = ", "1..65535"},
	    {"max_packets_per_s = ", "10..100000"},
	};
	for (size_t i = 0; i < sizeof(ranged) / sizeof(ranged[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "\n%s", ranged[i][0]);
		const char *at = strstr(text, line);
		if (!at) {
			snprintf(line, sizeof(line), "\n# %s", ranged[i][0]);
			at = strstr(text, line);
		}
		assert_non_null(at);
		/* The comment block above the key. */
		const char *start = at;
		while (start > text && !(start[-1] == '\n' && start[0] == '\n'))
			start--;
		char block[1024];
		snprintf(block, sizeof(block), "%.*s", (int)(at - start), start);
		if (!strstr(block, ranged[i][1]))
			fail_msg("board/gridloop.conf: the comment on %sdoes not say %s",
				 ranged[i][0], ranged[i][1]);
	}
	assert_non_null(strstr(f->out, "frames per period, 16..2048"));
}

/* "[section] key" or "--option", for a failure's message. */
static const char *key_label(const struct options_key *k, char *buf, size_t len)
{
	if (k->section)
		snprintf(buf, len, "[%s] %s", k->section, k->name);
	else
		snprintf(buf, len, "--%s", k->option);
	return buf;
}

/* One value of a key, set from the config file ([section] key = v; for the
 * track keys [trackN]) or the command line (--option v): 0, or -1 with the
 * message in f->err. The file alone, without the checks across keys: the
 * table's own check is what is walked here. */
static int set_one(struct fixture *f, const struct options_key *k, int track,
		   const char *v)
{
	reset(f);
	f->err[0] = '\0';
	if (!k->section) {
		char arg[160];
		snprintf(arg, sizeof(arg), "--%s=%s", k->option, v);
		return parse(f, arg, END) == OPTIONS_RUN ? 0 : -1;
	}
	char text[256];
	if (!strcmp(k->section, "track"))
		snprintf(text, sizeof(text), "[track%d]\n%s = %s\n", track + 1, k->name,
			 v);
	else
		snprintf(text, sizeof(text), "[%s]\n%s = %s\n", k->section, k->name, v);
	write_config(f, text);
	return options_load_file(&f->o, f->path, true, f->err, sizeof(f->err));
}

/* The message of a refused value names where, the key and what it may be:
 * "FILE:2: [section] key: 'v' is not ..." or "option --x: 'v' is not ...". */
static void assert_refused(struct fixture *f, const struct options_key *k, int track,
			   const char *v, const char *what)
{
	char label[96];
	if (set_one(f, k, track, v) == 0)
		fail_msg("%s: '%s' was accepted", key_label(k, label, sizeof(label)), v);
	char want[512];
	if (!k->section)
		snprintf(want, sizeof(want), "option --%s: '%s' is not %s", k->option, v,
			 what);
	else if (!strcmp(k->section, "track"))
		snprintf(want, sizeof(want), "%s:2: [track%d] %s: '%s' is not %s",
			 f->path, track + 1, k->name, v, what);
	else
		snprintf(want, sizeof(want), "%s:2: [%s] %s: '%s' is not %s", f->path,
			 k->section, k->name, v, what);
	if (strcmp(f->err, want))
		fail_msg("'%s' gave\n  '%s', not\n  '%s'", v, f->err, want);
}

static void assert_accepted(struct fixture *f, const struct options_key *k, int track,
			    const char *v)
{
	char label[96];
	if (set_one(f, k, track, v) != 0)
		fail_msg("%s: '%s' was refused: %s", key_label(k, label, sizeof(label)),
			 v, f->err);
}

/* A double as a decimal the config reads back as the same double (17
 * digits), or, next to 0 where that needs an exponent, the nearest
 * decimal of 6 places beyond it. */
static void decimal(double x, double toward, char *out, size_t len)
{
	snprintf(out, len, "%.17g", x);
	if (strchr(out, 'e'))
		snprintf(out, len, "%.6f", toward < x ? x - 1e-6 : x + 1e-6);
}

/* Issue 10: the keys are a table, from which the check and its message
 * both come. Walk it: each numeric key at both ends of its range and one
 * step past each; each enum key's every name and a wrong one; each bool's
 * words. From the file for every key of a section (every track for the
 * track keys), and from the command line for every option. */
static void test_the_key_table_walked(void **state)
{
	struct fixture *f = *state;
	FILE *out = fmemopen(f->out, sizeof(f->out) - 1, "w");
	options_print_help(out);
	fclose(out);
	int ranged = 0, enums = 0, bools = 0;
	struct options_key k;
	for (size_t i = 0; options_key(i, &k); i++) {
		/* Where it is set: each track, or once; then the command line. */
		int places = !k.section ? 0 : !strcmp(k.section, "track") ? GL_TRACKS : 1;
		bool option = k.option && k.value != OPTIONS_VALUE_BOOL;
		struct options_key cl = k;
		cl.section = NULL;
		if (k.value == OPTIONS_VALUE_WHOLE || k.value == OPTIONS_VALUE_NUMBER) {
			bool whole = k.value == OPTIONS_VALUE_WHOLE;
			char lo[48], hi[48], below[48], above[48], range[128], what[192];
			assert_true(k.lo <= k.hi);
			if (whole) {
				long long l = (long long)k.lo;
				unsigned long long h = k.hi >= 0x1p63
							   ? (unsigned long long)INT64_MAX
							   : (unsigned long long)k.hi;
				snprintf(lo, sizeof(lo), "%lld", l);
				snprintf(hi, sizeof(hi), "%llu", h);
				snprintf(below, sizeof(below), "%lld", l - 1);
				snprintf(above, sizeof(above), "%llu", h + 1);
				snprintf(range, sizeof(range), "%lld..%llu", l, h);
			} else {
				decimal(k.lo, k.lo, lo, sizeof(lo));
				decimal(k.hi, k.hi, hi, sizeof(hi));
				decimal(nextafter(k.lo, -INFINITY), -INFINITY, below,
					sizeof(below));
				decimal(nextafter(k.hi, INFINITY), INFINITY, above,
					sizeof(above));
				snprintf(range, sizeof(range), "%g..%g", k.lo, k.hi);
			}
			snprintf(what, sizeof(what), "%s%sa %s in %s",
				 k.auto_ok ? "auto or " : "", k.zero_ok ? "0 or " : "",
				 whole ? "whole number" : "number", range);
			for (int p = 0; p < places + option; p++) {
				const struct options_key *at = p < places ? &k : &cl;
				int t = p < places ? p : 0;
				assert_accepted(f, at, t, lo);
				assert_accepted(f, at, t, hi);
				if (k.auto_ok)
					assert_accepted(f, at, t, "auto");
				if (k.zero_ok)
					assert_accepted(f, at, t, "0");
				assert_refused(f, at, t, below, what);
				assert_refused(f, at, t, above, what);
				assert_refused(f, at, t, "", what);
			}
			ranged++;
		} else if (k.value == OPTIONS_VALUE_ENUM) {
			char list[256] = "", wrong[64];
			size_t n = 0;
			while (options_key_name(i, n))
				n++;
			assert_true(n >= 2);
			for (size_t w = 0; w < n; w++) {
				size_t len = strlen(list);
				snprintf(list + len, sizeof(list) - len, "%s%s",
					 w == 0	     ? ""
					 : w + 1 < n ? ", "
						     : " or ",
					 options_key_name(i, w));
			}
			snprintf(wrong, sizeof(wrong), "%s_x", options_key_name(i, 0));
			for (int p = 0; p < places + option; p++) {
				const struct options_key *at = p < places ? &k : &cl;
				int t = p < places ? p : 0;
				for (size_t w = 0; w < n; w++)
					assert_accepted(f, at, t, options_key_name(i, w));
				assert_refused(f, at, t, wrong, list);
				assert_refused(f, at, t, "", list);
			}
			/* The --help line lists the same names. */
			if (k.option) {
				char opt[64];
				snprintf(opt, sizeof(opt), "--%s ", k.option);
				const char *line = strstr(f->out, opt);
				assert_non_null(line);
				size_t len = strcspn(line, "\n");
				for (size_t w = 0; w < n; w++) {
					const char *name = options_key_name(i, w);
					const char *hit = strstr(line, name);
					if (!hit || (size_t)(hit - line) >= len)
						fail_msg(
						    "--help on --%s does not name '%s'",
						    k.option, name);
				}
			}
			enums++;
		} else if (k.value == OPTIONS_VALUE_BOOL && places) {
			static const char *const words[] = {"yes", "true",  "on",  "1",
							    "no",  "false", "off", "0"};
			for (int p = 0; p < places; p++) {
				for (size_t w = 0; w < 8; w++)
					assert_accepted(f, &k, p, words[w]);
				assert_refused(f, &k, p, "maybe", "yes or no");
				assert_refused(f, &k, p, "", "yes or no");
			}
			bools++;
		} else {
			assert_null(options_key_name(i, 0)); /* names only for enums */
		}
	}
	/* The table is walked, not skipped: its numeric, enum and bool keys. */
	assert_true(ranged >= 15);
	assert_true(enums >= 5);
	assert_true(bools >= 10);
	/* The rates the table names are gl_limits.h's, all of them. */
	struct options_key rate;
	size_t r = 0;
	while (options_key(r, &rate) && !(rate.name && !strcmp(rate.name, "rate")))
		r++;
	assert_int_equal(rate.value, OPTIONS_VALUE_ENUM);
	int named = 0, allowed = 0;
	for (const char *w; (w = options_key_name(r, (size_t)named)); named++)
		assert_true(GL_RATE_OK(atoi(w)));
	for (int hz = 1; hz <= 1000000; hz++)
		allowed += GL_RATE_OK(hz);
	assert_int_equal(named, allowed);
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
	    cmocka_unit_test_setup_teardown(test_every_key_reaches_its_field, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_track_default_inputs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_limits_across_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_engine_takes_what_options_accept, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_memory_needs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memory_available, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_config_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_config_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_command_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_example_config_states_the_ranges, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_the_key_table_walked, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
