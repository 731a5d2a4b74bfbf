/* options.c -- defaults, the INI config file (through inih) and the command
 * line (getopt_long), all three setting the same keys through one table, so
 * a key means the same wherever it is given (see options.h). */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_id {
	K_DEVICE,
	K_CAPTURE_DEVICE,
	K_PLAYBACK_DEVICE,
	K_ALSA_CONFIG,
	K_RATE,
	K_PERIOD,
	K_PERIODS,
	K_INPUT_CHANNELS,
	K_OUTPUT_CHANNELS,
	K_FORMAT,
	K_LATENCY_FRAMES,
	K_WAIT_FOR_DEVICE,
	K_PRIORITY,
	K_REQUIRE_RT,
	K_LOCK_MEMORY,
	K_FADE_MS,
	K_GROW_SECONDS,
	K_TEMPO,
	K_BEATS_PER_BAR,
	K_QUANTISE,
	K_METRONOME,
	K_MEMORY_LIMIT_MB,
	K_PROFILES,
	K_PORTS,
	K_PORT_PROFILE,
	K_SCRIPT_PROFILE,
	K_CLOCK,
	K_CLOCK_IN_PORT,
	K_CLOCK_OUT_PORT,
	K_SONG_POSITION,
	K_SESSION_DIR,
	K_RESTORE,
	K_MOUNT_POINT,
	K_RESAMPLE,
	K_SAVE_QUIET_MS,
	K_EXPORT_DIR,
	K_EXPORT_FORMAT,
	K_RECORDER,
	K_RECORDER_DIR,
	K_RECORDER_FORMAT,
	K_RECORDER_SECONDS,
	K_RECORDER_TRACKS,
	K_TRACK_INPUT,	/* [trackN] */
	K_TRACK_STEREO, /* [trackN] */
	/* command line only */
	K_HELP,
	K_VERSION,
	K_CONFIG,
	K_SCRIPT,
	K_FRAMES,
	K_VERBOSE,
	K_PID_FILE,
};

struct key {
	const char *section; /* NULL: command line only; "track": [track1]..[track8] */
	const char *name;    /* config key */
	const char *option;  /* long option, or NULL: config file only */
	char short_option;
	const char *arg; /* argument name, or NULL for a flag (sets true) */
	uint8_t id;	 /* enum key_id */
	const char *help;
};

static const struct key keys[] = {
    {"audio", "device", "device", 'd', "DEV", K_DEVICE,
     "ALSA device for capture and playback (default \"default\")"},
    {"audio", "capture_device", "capture", 'C', "DEV", K_CAPTURE_DEVICE,
     "capture device, when it differs"},
    {"audio", "playback_device", "playback", 'P', "DEV", K_PLAYBACK_DEVICE,
     "playback device, when it differs"},
    {"audio", "alsa_config", "alsa-config", 0, "FILE", K_ALSA_CONFIG,
     "extra ALSA configuration file defining the devices"},
    {"audio", "rate", "rate", 'r', "HZ", K_RATE, "44100, 48000 (default) or 96000"},
    {"audio", "period", "period", 'p', "FRAMES", K_PERIOD,
     "frames per period, 16..2048 (default 128)"},
    {"audio", "periods", "periods", 'n', "N", K_PERIODS,
     "periods per buffer, 2..4 (default 2)"},
    {"audio", "input_channels", "input-channels", 'i', "N", K_INPUT_CHANNELS,
     "capture channels, 1..32 (default 2)"},
    {"audio", "output_channels", "output-channels", 'o', "N", K_OUTPUT_CHANNELS,
     "playback channels, 1..32 (default 2)"},
    {"audio", "format", "format", 'f', "FMT", K_FORMAT,
     "auto (default), FLOAT, S32, S24_3LE or S16"},
    {"audio", "latency_frames", "latency", 'l', "FRAMES", K_LATENCY_FRAMES,
     "round trip to compensate, or auto (default: period x periods)"},
    {"audio", "wait_for_device", "wait", 'w', NULL, K_WAIT_FOR_DEVICE,
     "wait for a device that is not there at start"},
    {"realtime", "priority", "priority", 0, "N", K_PRIORITY,
     "SCHED_FIFO priority of the audio thread, 1..99 (default 80)"},
    {"realtime", "require_rt", "require-rt", 0, NULL, K_REQUIRE_RT,
     "exit when real-time scheduling or memory locking is refused"},
    {"realtime", "lock_memory", NULL, 0, "BOOL", K_LOCK_MEMORY, NULL},
    {"looper", "fade_ms", NULL, 0, "MS", K_FADE_MS, NULL},
    {"looper", "grow_seconds", NULL, 0, "S", K_GROW_SECONDS, NULL},
    {"looper", "tempo", NULL, 0, "BPM", K_TEMPO, NULL},
    {"looper", "beats_per_bar", NULL, 0, "N", K_BEATS_PER_BAR, NULL},
    {"looper", "quantise", NULL, 0, "Q", K_QUANTISE, NULL},
    {"looper", "metronome", NULL, 0, "BOOL", K_METRONOME, NULL},
    {"looper", "memory_limit_mb", "memory-limit", 0, "MB", K_MEMORY_LIMIT_MB,
     "recording memory limit in MiB (default 0: all RAM)"},
    {"controller", "profiles", "profiles", 0, "DIR", K_PROFILES,
     "controller profiles (default " GRIDLOOP_PROFILE_DIR ", else the source tree's)"},
    {"controller", "ports", NULL, 0, "PATTERNS", K_PORTS, NULL},
    {"controller", "port_profile", NULL, 0, "NAME", K_PORT_PROFILE, NULL},
    {"controller", "script_profile", NULL, 0, "NAME", K_SCRIPT_PROFILE, NULL},
    {"sync", "clock", "clock", 0, "SOURCE", K_CLOCK,
     "internal (default: send MIDI clock) or external (follow MIDI clock in)"},
    {"sync", "clock_in_port", NULL, 0, "PATTERN", K_CLOCK_IN_PORT, NULL},
    {"sync", "clock_out_port", NULL, 0, "PATTERN", K_CLOCK_OUT_PORT, NULL},
    {"sync", "song_position", NULL, 0, "BOOL", K_SONG_POSITION, NULL},
    {"session", "dir", "session", 0, "DIR", K_SESSION_DIR,
     "session directory on the SD card (default none: nothing is saved)"},
    {"session", "restore", NULL, 0, "BOOL", K_RESTORE, NULL},
    {"session", "mount_point", NULL, 0, "DIR", K_MOUNT_POINT, NULL},
    {"session", "resample", NULL, 0, "BOOL", K_RESAMPLE, NULL},
    {"session", "save_quiet_ms", NULL, 0, "MS", K_SAVE_QUIET_MS, NULL},
    {"export", "dir", "export-dir", 0, "DIR", K_EXPORT_DIR,
     "where exports go (default: exports/ next to the session directory)"},
    {"export", "format", "export-format", 0, "FMT", K_EXPORT_FORMAT,
     "wav16, wav24 (default), wavfloat, flac16 or flac24"},
    {"recorder", "enabled", NULL, 0, "BOOL", K_RECORDER, NULL},
    {"recorder", "dir", NULL, 0, "DIR", K_RECORDER_DIR, NULL},
    {"recorder", "format", NULL, 0, "FMT", K_RECORDER_FORMAT, NULL},
    {"recorder", "ring_seconds", NULL, 0, "S", K_RECORDER_SECONDS, NULL},
    {"recorder", "tracks", NULL, 0, "BOOL", K_RECORDER_TRACKS, NULL},
    {"track", "input", NULL, 0, "CH", K_TRACK_INPUT, NULL},
    {"track", "stereo", NULL, 0, "BOOL", K_TRACK_STEREO, NULL},
    {NULL, NULL, "config", 'c', "FILE", K_CONFIG,
     "config file (default " OPTIONS_DEFAULT_CONFIG ", if it exists)"},
    {NULL, NULL, "script", 's', "FILE", K_SCRIPT, "frame-stamped commands to play"},
    {NULL, NULL, "frames", 'F', "N", K_FRAMES,
     "stop after N frames: an offline run (below)"},
    {NULL, NULL, "verbose", 'v', NULL, K_VERBOSE, "log every engine event"},
    {NULL, NULL, "pid-file", 0, "FILE", K_PID_FILE,
     "write the process id here (for `gridloop export`)"},
    {NULL, NULL, "help", 'h', NULL, K_HELP, "this help"},
    {NULL, NULL, "version", 'V', NULL, K_VERSION, "print the version"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void options_defaults(struct options *o)
{
	memset(o, 0, sizeof(*o));
	o->capture_device = strdup(OPTIONS_DEFAULT_DEVICE);
	o->playback_device = strdup(OPTIONS_DEFAULT_DEVICE);
	o->rate = 48000;
	o->period = 128;
	o->periods = 2;
	o->input_channels = 2;
	o->output_channels = 2;
	o->format = SAMPLE_AUTO;
	o->latency_frames = OPTIONS_LATENCY_AUTO;
	o->priority = 80;
	o->lock_memory = true;
	o->fade_ms = 3.0;
	o->grow_seconds = 1.0;
	o->beats_per_bar = 4;
	o->quantise = QUANTISE_BAR;
	o->port_profile = strdup(OPTIONS_DEFAULT_PROFILE);
	o->script_profile = strdup(OPTIONS_DEFAULT_PROFILE);
	o->config_path = strdup(OPTIONS_DEFAULT_CONFIG);
	o->restore = true;
	o->resample = true;
	o->save_quiet_ms = 1500;
	o->export_format = EXPORT_WAV24;
	o->recorder_format = EXPORT_WAV24;
	o->recorder_seconds = 10.0;
}

void options_free(struct options *o)
{
	free(o->capture_device);
	free(o->playback_device);
	free(o->alsa_config);
	free(o->config_path);
	free(o->script_path);
	free(o->profile_dir);
	for (int i = 0; i < o->nports; i++)
		free(o->ports[i]);
	free(o->port_profile);
	free(o->script_profile);
	free(o->clock_in_port);
	free(o->clock_out_port);
	free(o->session_dir);
	free(o->mount_point);
	free(o->export_dir);
	free(o->recorder_dir);
	free(o->pid_file);
	for (int t = 0; t < GL_TRACKS; t++)
		free(o->track_origin[t]);
	memset(o, 0, sizeof(*o));
}

/* ---- Values ------------------------------------------------------------ */

static int bad(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

static int get_int(const char *v, long long lo, long long hi, long long *out, char *why,
		   size_t whylen)
{
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	if (errno || end == v || *end || x < lo || x > hi)
		return bad(why, whylen, "'%s' is not a whole number from %lld to %lld", v,
			   lo, hi);
	*out = x;
	return 0;
}

static int get_double(const char *v, double lo, double hi, double *out, char *why,
		      size_t whylen)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || *end || !(x >= lo && x <= hi))
		return bad(why, whylen, "'%s' is not a number from %g to %g", v, lo, hi);
	*out = x;
	return 0;
}

static int get_bool(const char *v, bool *out, char *why, size_t whylen)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return bad(why, whylen, "'%s' is not yes or no", v);
}

static int get_string(const char *v, char **out, char *why, size_t whylen)
{
	if (!*v)
		return bad(why, whylen, "must not be empty");
	char *copy = strdup(v);
	if (!copy)
		return bad(why, whylen, "out of memory");
	free(*out);
	*out = copy;
	return 0;
}

/* A comma-separated list of port name patterns; it replaces the one before. */
static int get_ports(struct options *o, const char *v, char *why, size_t whylen)
{
	char *list[OPTIONS_MAX_PORTS];
	int n = 0;
	const char *p = v;
	int rc = 0;
	while (!rc) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
			rc = bad(why, whylen, "an empty port pattern in '%s'", v);
		else if (len > OPTIONS_MAX_PATTERN)
			rc = bad(why, whylen, "a port pattern longer than %d characters",
				 OPTIONS_MAX_PATTERN);
		else if (n == OPTIONS_MAX_PORTS)
			rc = bad(why, whylen, "more than %d port patterns",
				 OPTIONS_MAX_PORTS);
		else if (!(list[n] = strndup(p, len)))
			rc = bad(why, whylen, "out of memory");
		else
			n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (rc) {
		while (n > 0)
			free(list[--n]);
		return rc;
	}
	for (int i = 0; i < o->nports; i++)
		free(o->ports[i]);
	memcpy(o->ports, list, (size_t)n * sizeof(list[0]));
	o->nports = n;
	return 0;
}

/* Sets one key. track is 0..7 for the [trackN] keys. origin says where the
 * value came from ("FILE:LINE" or "option --x"), kept for checks that can
 * only run once every source has been read. */
static int set_key(struct options *o, const struct key *k, int track, const char *v,
		   const char *origin, char *why, size_t whylen)
{
	long long i = 0;
	double d = 0;
	bool b = false;
	int rc = 0;
	switch ((enum key_id)k->id) {
	case K_DEVICE:
		rc = get_string(v, &o->capture_device, why, whylen);
		if (!rc)
			rc = get_string(v, &o->playback_device, why, whylen);
		break;
	case K_CAPTURE_DEVICE:
		return get_string(v, &o->capture_device, why, whylen);
	case K_PLAYBACK_DEVICE:
		return get_string(v, &o->playback_device, why, whylen);
	case K_ALSA_CONFIG:
		return get_string(v, &o->alsa_config, why, whylen);
	case K_RATE:
		if (strcmp(v, "44100") && strcmp(v, "48000") && strcmp(v, "96000"))
			return bad(why, whylen, "'%s' is not 44100, 48000 or 96000", v);
		o->rate = (uint32_t)atoi(v);
		break;
	case K_PERIOD:
		rc = get_int(v, GL_MIN_PERIOD, GL_MAX_PERIOD, &i, why, whylen);
		o->period = rc ? o->period : (uint32_t)i;
		break;
	case K_PERIODS:
		rc = get_int(v, GL_MIN_PERIODS, GL_MAX_PERIODS, &i, why, whylen);
		o->periods = rc ? o->periods : (uint32_t)i;
		break;
	case K_INPUT_CHANNELS:
		rc = get_int(v, 1, GL_MAX_IN_CH, &i, why, whylen);
		o->input_channels = rc ? o->input_channels : (uint32_t)i;
		break;
	case K_OUTPUT_CHANNELS:
		rc = get_int(v, 1, 32, &i, why, whylen);
		o->output_channels = rc ? o->output_channels : (uint32_t)i;
		break;
	case K_FORMAT:
		if (!audio_alsa_format_from_name(v, &o->format))
			return bad(why, whylen,
				   "'%s' is not auto, FLOAT, S32, S24_3LE or S16", v);
		break;
	case K_LATENCY_FRAMES:
		if (!strcasecmp(v, "auto")) {
			o->latency_frames = OPTIONS_LATENCY_AUTO;
			break;
		}
		rc = get_int(v, 0, GL_LATENCY_MAX, &i, why, whylen);
		if (rc)
			return bad(why, whylen,
				   "'%s' is not auto or a frame count from 0 to 65536",
				   v);
		o->latency_frames = i;
		break;
	case K_WAIT_FOR_DEVICE:
		return get_bool(v, &o->wait_for_device, why, whylen);
	case K_PRIORITY:
		rc = get_int(v, 1, 99, &i, why, whylen);
		o->priority = rc ? o->priority : (int)i;
		break;
	case K_REQUIRE_RT:
		return get_bool(v, &o->require_rt, why, whylen);
	case K_LOCK_MEMORY:
		return get_bool(v, &o->lock_memory, why, whylen);
	case K_FADE_MS:
		return get_double(v, 0.0, GL_FADE_MS_MAX, &o->fade_ms, why, whylen);
	case K_GROW_SECONDS:
		return get_double(v, GL_GROW_SECONDS_MIN, GL_GROW_SECONDS_MAX,
				  &o->grow_seconds, why, whylen);
	case K_TEMPO:
		rc = get_double(v, 0.0, GL_TEMPO_MAX, &d, why, whylen);
		if (rc || (d != 0.0 && d < GL_TEMPO_MIN))
			return bad(why, whylen,
				   "'%s' is not 0 (set by the first loop) or 30..300", v);
		o->tempo = d;
		break;
	case K_BEATS_PER_BAR:
		rc = get_int(v, GL_BEATS_MIN, GL_BEATS_MAX, &i, why, whylen);
		o->beats_per_bar = rc ? o->beats_per_bar : (uint32_t)i;
		break;
	case K_QUANTISE:
		if (!strcasecmp(v, "off"))
			o->quantise = QUANTISE_OFF;
		else if (!strcasecmp(v, "beat"))
			o->quantise = QUANTISE_BEAT;
		else if (!strcasecmp(v, "bar"))
			o->quantise = QUANTISE_BAR;
		else
			return bad(why, whylen, "'%s' is not off, beat or bar", v);
		break;
	case K_METRONOME:
		return get_bool(v, &o->metronome, why, whylen);
	case K_MEMORY_LIMIT_MB:
		rc = get_int(v, 0, GL_MEMORY_LIMIT_MB_MAX, &i, why, whylen);
		o->memory_limit_mb = rc ? o->memory_limit_mb : (uint64_t)i;
		break;
	case K_PROFILES:
		return get_string(v, &o->profile_dir, why, whylen);
	case K_PORTS:
		return get_ports(o, v, why, whylen);
	case K_PORT_PROFILE:
		return get_string(v, &o->port_profile, why, whylen);
	case K_SCRIPT_PROFILE:
		return get_string(v, &o->script_profile, why, whylen);
	case K_CLOCK:
		if (!strcasecmp(v, "internal"))
			o->clock_external = false;
		else if (!strcasecmp(v, "external"))
			o->clock_external = true;
		else
			return bad(why, whylen, "'%s' is not internal or external", v);
		break;
	case K_CLOCK_IN_PORT:
		return get_string(v, &o->clock_in_port, why, whylen);
	case K_CLOCK_OUT_PORT:
		return get_string(v, &o->clock_out_port, why, whylen);
	case K_SONG_POSITION:
		return get_bool(v, &o->song_position, why, whylen);
	case K_SESSION_DIR:
		return get_string(v, &o->session_dir, why, whylen);
	case K_RESTORE:
		return get_bool(v, &o->restore, why, whylen);
	case K_MOUNT_POINT:
		return get_string(v, &o->mount_point, why, whylen);
	case K_RESAMPLE:
		return get_bool(v, &o->resample, why, whylen);
	case K_SAVE_QUIET_MS:
		rc = get_int(v, 0, GL_SAVE_QUIET_MS_MAX, &i, why, whylen);
		o->save_quiet_ms = rc ? o->save_quiet_ms : (uint32_t)i;
		break;
	case K_EXPORT_DIR:
		return get_string(v, &o->export_dir, why, whylen);
	case K_EXPORT_FORMAT:
	case K_RECORDER_FORMAT:
		if (export_format_parse(v, k->id == K_EXPORT_FORMAT
					       ? &o->export_format
					       : &o->recorder_format))
			return bad(why, whylen,
				   "'%s' is not wav16, wav24, wavfloat, flac16 or flac24",
				   v);
		break;
	case K_RECORDER:
		return get_bool(v, &o->recorder, why, whylen);
	case K_RECORDER_DIR:
		return get_string(v, &o->recorder_dir, why, whylen);
	case K_RECORDER_TRACKS:
		return get_bool(v, &o->recorder_tracks, why, whylen);
	case K_RECORDER_SECONDS:
		return get_double(v, GL_RECORDER_SECONDS_MIN, GL_RECORDER_SECONDS_MAX,
				  &o->recorder_seconds, why, whylen);
	case K_PID_FILE:
		return get_string(v, &o->pid_file, why, whylen);
	case K_TRACK_INPUT:
		rc = get_int(v, 1, GL_MAX_IN_CH, &i, why, whylen);
		if (rc)
			break;
		o->track_input[track].first_channel = (uint8_t)(i - 1);
		free(o->track_origin[track]);
		o->track_origin[track] = strdup(origin);
		break;
	case K_TRACK_STEREO:
		rc = get_bool(v, &b, why, whylen);
		if (rc)
			break;
		o->track_input[track].stereo = b;
		/* A stereo track needs a checked channel pair even when its
		 * input channel is the default. */
		if (!o->track_origin[track])
			o->track_origin[track] = strdup(origin);
		break;
	case K_CONFIG:
		rc = get_string(v, &o->config_path, why, whylen);
		o->config_explicit = true;
		break;
	case K_SCRIPT:
		return get_string(v, &o->script_path, why, whylen);
	case K_FRAMES:
		rc = get_int(v, 1, INT64_MAX, &i, why, whylen);
		o->frames = rc ? o->frames : i;
		break;
	case K_VERBOSE:
		o->verbose = true;
		break;
	case K_HELP:
	case K_VERSION:
		break;
	}
	return rc;
}

/* ---- The config file ----------------------------------------------------- */

struct ini_ctx {
	struct options *o;
	FILE *f;
	const char *path;
	int line;	    /* of the text the reader returned last */
	bool at_line_start; /* the last text ended a line */
	int long_line;	    /* first line too long for inih, or 0 */
	int error_line;	    /* first line a key was refused on, or 0 */
	char error[512];
};

/* inih's reader: fgets, counting lines so that a refused key can be
 * reported with its line (inih passes no line number to the handler). */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct ini_ctx *c = stream;
	char *s = fgets(str, num, c->f);
	if (!s)
		return NULL;
	if (c->at_line_start)
		c->line++;
	size_t n = strlen(s);
	c->at_line_start = n > 0 && s[n - 1] == '\n';
	if (!c->at_line_start && !feof(c->f) && !c->long_line)
		c->long_line = c->line;
	return s;
}

static const struct key *find_config_key(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].section && !strcmp(keys[i].section, section) &&
		    !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* [track1] .. [track8]: the track number from 0, or -1. */
static int track_section(const char *section)
{
	if (strncmp(section, "track", 5) || !section[5] || section[6])
		return -1;
	int t = section[5] - '1';
	return t >= 0 && t < GL_TRACKS ? t : -1;
}

static int ini_handler_fn(void *user, const char *section, const char *name,
			  const char *value)
{
	struct ini_ctx *c = user;
	if (c->error_line)
		return 0; /* report only the first */
	char why[384] = "";
	int track = track_section(section);
	const struct key *k = find_config_key(track >= 0 ? "track" : section, name);
	if (!*section) {
		snprintf(why, sizeof(why), "key '%s' is outside any [section]", name);
	} else if (!k) {
		const struct key *elsewhere = NULL;
		for (size_t i = 0; i < NKEYS && !elsewhere; i++)
			if (keys[i].name && !strcmp(keys[i].name, name))
				elsewhere = &keys[i];
		if (track < 0 && !strncmp(section, "track", 5))
			snprintf(why, sizeof(why),
				 "unknown section [%s] (tracks are [track1]..[track%d])",
				 section, GL_TRACKS);
		else if (elsewhere && !strcmp(elsewhere->section, "track"))
			snprintf(why, sizeof(why),
				 "[%s] %s: unknown key (it belongs in [trackN])", section,
				 name);
		else if (elsewhere)
			snprintf(why, sizeof(why),
				 "[%s] %s: unknown key (it belongs in [%s])", section,
				 name, elsewhere->section);
		else
			snprintf(why, sizeof(why), "[%s] %s: unknown key", section, name);
	} else {
		char origin[300];
		snprintf(origin, sizeof(origin), "%s:%d", c->path, c->line);
		char v[300];
		if (set_key(c->o, k, track, value, origin, v, sizeof(v)))
			snprintf(why, sizeof(why), "[%s] %s: %s", section, name, v);
	}
	if (!*why)
		return 1;
	c->error_line = c->line;
	snprintf(c->error, sizeof(c->error), "%s:%d: %s", c->path, c->line, why);
	return 0;
}

int options_load_file(struct options *o, const char *path, bool must_exist, char *err,
		      size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return bad(err, errlen, "%s: cannot read the config file: %s", path,
			   strerror(errno));
	}
	struct ini_ctx c = {.o = o, .f = f, .path = path, .at_line_start = true};
	int rc = ini_parse_stream(ini_read_line, &c, ini_handler_fn, &c);
	fclose(f);
	if (rc == 0 && !c.error_line && !c.long_line)
		return 0;
	if (c.long_line && (!c.error_line || c.long_line <= c.error_line) &&
	    (rc <= 0 || c.long_line <= rc))
		return bad(err, errlen, "%s:%d: line too long", path, c.long_line);
	if (rc < 0)
		return bad(err, errlen, "%s: cannot read the config file", path);
	if (c.error_line && c.error_line <= rc)
		return bad(err, errlen, "%s", c.error);
	return bad(err, errlen, "%s:%d: syntax error: expected [section] or key = value",
		   path, rc);
}

/* ---- The command line ----------------------------------------------------- */

static const struct key *key_for_option(int val)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].option && (int)(keys[i].short_option ? keys[i].short_option
								 : 256 + (int)i) == val)
			return &keys[i];
	return NULL;
}

static void build_getopt(struct option *longopts, char *shortopts)
{
	size_t n = 0, s = 0;
	shortopts[s++] = ':'; /* a missing argument returns ':' */
	for (size_t i = 0; i < NKEYS; i++) {
		if (!keys[i].option)
			continue;
		int val = keys[i].short_option ? keys[i].short_option : 256 + (int)i;
		longopts[n++] = (struct option){
		    keys[i].option, keys[i].arg ? required_argument : no_argument, NULL,
		    val};
		if (keys[i].short_option) {
			shortopts[s++] = keys[i].short_option;
			if (keys[i].arg)
				shortopts[s++] = ':';
		}
	}
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	shortopts[s] = '\0';
}

void options_print_help(FILE *out)
{
	fprintf(out,
		"Usage: gridloop [OPTION]...\n"
		"A headless live looper: 8 tracks x 10 scenes of clips on raw ALSA.\n\n");
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		if (!k->option)
			continue;
		char left[64];
		snprintf(left, sizeof(left), "%c%c%s--%s%s%s",
			 k->short_option ? '-' : ' ',
			 k->short_option ? k->short_option : ' ',
			 k->short_option ? ", " : "  ", k->option, k->arg ? " " : "",
			 k->arg ? k->arg : "");
		fprintf(out, "  %-28s %s\n", left, k->help);
	}
	fprintf(
	    out,
	    "\nEvery option of the first group is also a key of the config file; the\n"
	    "file has more (see the example gridloop.conf). The command line wins.\n"
	    "Exit status: 0 after SIGTERM/SIGINT or the end of an offline run, 2 for a\n"
	    "bad option, config file or script, 1 for anything else.\n"
	    "\nAn offline run (--frames, or a script's exit line) gives the same output\n"
	    "every time, also on a PCM that is not paced (alsa-lib's file plugin\n"
	    "runs as fast as the CPU): the audio thread waits for the script's commands\n"
	    "and serves the recording memory itself between periods. Not for live "
	    "use.\n");
}

enum options_result options_parse(struct options *o, int argc, char **argv, FILE *out,
				  char *err, size_t errlen)
{
	struct option longopts[NKEYS + 1];
	char shortopts[2 * NKEYS + 2];
	build_getopt(longopts, shortopts);

	/* Pass 1: --help, --version, --config and any unknown option, before
	 * anything is read; the config file then lies under the rest. */
	opterr = 0;
	optind = 0;
	int c;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == '?') {
			if (optopt)
				return bad(err, errlen, "unknown option -%c (see --help)",
					   optopt),
				       OPTIONS_ERROR;
			return bad(err, errlen, "unknown option '%s' (see --help)",
				   argv[optind - 1]),
			       OPTIONS_ERROR;
		}
		if (c == ':')
			return bad(err, errlen, "option %s needs an argument",
				   argv[optind - 1]),
			       OPTIONS_ERROR;
		const struct key *k = key_for_option(c);
		if (k->id == K_HELP) {
			options_print_help(out);
			return OPTIONS_DONE;
		}
		if (k->id == K_VERSION) {
			fprintf(out, "gridloop %s\n", GRIDLOOP_VERSION);
			return OPTIONS_DONE;
		}
		if (k->id == K_CONFIG) {
			char why[256];
			if (set_key(o, k, 0, optarg, "--config", why, sizeof(why)))
				return bad(err, errlen, "option --config: %s", why),
				       OPTIONS_ERROR;
		}
	}
	if (optind < argc)
		return bad(err, errlen, "unexpected argument '%s' (see --help)",
			   argv[optind]),
		       OPTIONS_ERROR;

	if (options_load_file(o, o->config_path, o->config_explicit, err, errlen))
		return OPTIONS_ERROR;

	/* Pass 2: every other option, over the config file. */
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct key *k = key_for_option(c);
		if (k->id == K_CONFIG)
			continue;
		char why[256], origin[96];
		snprintf(origin, sizeof(origin), "option --%s", k->option);
		if (set_key(o, k, 0, k->arg ? optarg : "yes", origin, why, sizeof(why)))
			return bad(err, errlen, "option --%s: %s", k->option, why),
			       OPTIONS_ERROR;
	}

	/* Checks across keys, blamed on the track key that breaks them. */
	for (int t = 0; t < GL_TRACKS; t++) {
		struct track_input *in = &o->track_input[t];
		if (!o->track_origin[t]) {
			/* Not configured: mono, channels taken in turn. */
			in->first_channel = (uint8_t)((unsigned)t % o->input_channels);
			continue;
		}
		unsigned last = in->first_channel + (in->stereo ? 1u : 0u);
		if (last >= o->input_channels)
			return bad(err, errlen,
				   "%s: [track%d] input %u%s is beyond the %u "
				   "input channels (input_channels)",
				   o->track_origin[t], t + 1, in->first_channel + 1u,
				   in->stereo ? " (stereo: and the next)" : "",
				   o->input_channels),
			       OPTIONS_ERROR;
	}
	return OPTIONS_RUN;
}

const char *options_config_key(size_t i, const char **section)
{
	for (size_t k = 0; k < NKEYS; k++) {
		if (!keys[k].section)
			continue;
		if (i-- == 0) {
			*section = keys[k].section;
			return keys[k].name;
		}
	}
	return NULL;
}

/* ---- Conversions for the parts ------------------------------------------ */

uint32_t options_latency_frames(const struct options *o)
{
	/* The prefilled playback buffer is the round trip the converters add
	 * to; on the file plugin it is the whole of it. */
	if (o->latency_frames == OPTIONS_LATENCY_AUTO)
		return o->period * o->periods;
	return (uint32_t)o->latency_frames;
}

void options_engine_config(const struct options *o, struct engine_config *cfg)
{
	engine_config_defaults(cfg, o->rate);
	cfg->max_period = o->period;
	cfg->input_channels = o->input_channels;
	for (int t = 0; t < GL_TRACKS; t++)
		cfg->track_input[t] = o->track_input[t];
	cfg->latency_frames = options_latency_frames(o);
	cfg->fade_frames = (uint32_t)lround(o->fade_ms * o->rate / 1000.0);
	cfg->grow_frames = (uint32_t)lround(o->grow_seconds * o->rate);
	cfg->tempo = o->tempo;
	cfg->beats_per_bar = o->beats_per_bar;
	cfg->quantise = o->quantise;
	cfg->metronome = o->metronome;
}

void options_keeper_config(const struct options *o, struct keeper_config *cfg)
{
	keeper_config_defaults(cfg);
	cfg->memory_limit = o->memory_limit_mb << 20;
	cfg->lock_memory = o->lock_memory;
}

void options_audio_params(const struct options *o, struct audio_alsa_params *p)
{
	*p = (struct audio_alsa_params){
	    .capture_device = o->capture_device,
	    .playback_device = o->playback_device,
	    .alsa_config = o->alsa_config,
	    .rate = o->rate,
	    .period = o->period,
	    .periods = o->periods,
	    .capture_channels = o->input_channels,
	    .playback_channels = o->output_channels,
	    .format = o->format,
	};
}

/* Exports and recordings live next to the session directory unless told. */
static void beside_session(const struct options *o, const char *name, char *out,
			   size_t len)
{
	char copy[PATH_MAX];
	if (!o->session_dir) {
		snprintf(out, len, "%s", "");
		return;
	}
	snprintf(copy, sizeof(copy), "%s", o->session_dir);
	snprintf(out, len, "%s/%s", dirname(copy), name);
}

void options_export_dir(const struct options *o, char *out, size_t len)
{
	if (o->export_dir)
		snprintf(out, len, "%s", o->export_dir);
	else
		beside_session(o, "exports", out, len);
}

void options_recorder_dir(const struct options *o, char *out, size_t len)
{
	if (o->recorder_dir)
		snprintf(out, len, "%s", o->recorder_dir);
	else
		beside_session(o, "recordings", out, len);
}
