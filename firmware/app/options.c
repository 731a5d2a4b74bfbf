/* options.c -- defaults, the INI config file (through inih) and the command
 * line (getopt_long), all three setting the same keys through one table, so
 * a key means the same wherever it is given (see options.h). */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ini.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "gl_limits.h"
#include "recorder.h"

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
	K_UNDO_LEVELS,
	K_UNDO_MEMORY_MB,
	K_CLICK_OUTPUT,
	K_CLICK_VOLUME,
	K_PROFILES,
	K_PORTS,
	K_PORT_PROFILE,
	K_SCRIPT_PROFILE,
	K_CLOCK,
	K_CLOCK_IN_PORT,
	K_CLOCK_OUT_PORT,
	K_SONG_POSITION,
	K_LINK,
	K_LEADER,
	K_LINK_START_STOP,
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
	K_OSC_PORT,
	K_OSC_LISTEN,
	K_OSC_MAX_PACKETS,
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
	K_COUNT
};
_Static_assert(K_COUNT <= OPTIONS_MAX_KEYS, "OPTIONS_MAX_KEYS is too small");

/* How a key's value is read and where it goes. Every check and every
 * message about a value comes from its entry: the type, the range, the
 * flags and the names. */
enum key_type {
	T_NONE,	  /* --help, --version: no value */
	T_WHOLE,  /* a whole number in [lo, hi], into an integer of `size` bytes */
	T_NUMBER, /* a decimal in [lo, hi] (no hex, exponent, inf or nan): double */
	T_BOOL,	  /* yes/true/on/1 or no/false/off/0, into `size` bytes */
	T_STRING, /* not empty: a char * the options own */
	T_ENUM,	  /* one of `names`, into an integer of `size` bytes */
	/* Keys of their own kind: */
	T_DEVICE, /* capture_device and playback_device both */
	T_PORTS,  /* a list of port patterns: ports[], nports */
};
#define F_AUTO	  1 /* "auto" is a value too (-1) */
#define F_ZERO_OK 2 /* 0 is a value too, below lo ("none") */
#define F_TRACK	  4 /* [trackN]: offset is into that track's struct track_input */
#define F_FROM_1  8 /* counted from 1, kept from 0 (a track's input channel) */

/* A word an enum key takes, and the value it stands for. */
struct key_word {
	const char *word;
	int value;
};

/* An enum key's words: a table here (in any case), or a module's own parser
 * (its spellings and aliases) with the names of its values 0..count-1. */
struct key_names {
	const struct key_word *words; /* ends with {NULL} */
	bool (*parse)(const char *v, int *value);
	const char *(*name)(int value);
	int count;
};

struct key {
	const char *section; /* NULL: command line only; "track": [track1]..[track8] */
	const char *name;    /* config key */
	const char *option;  /* long option, or NULL: config file only */
	char short_option;
	const char *arg;  /* argument name, or NULL for a flag (sets "yes") */
	uint8_t id;	  /* enum key_id */
	const char *help; /* of the option; '@' stands for the range */
	uint8_t type;	  /* enum key_type */
	uint8_t flags;	  /* F_* */
	uint8_t size;	  /* of the member */
	size_t offset;	  /* into struct options (F_TRACK: struct track_input) */
	double lo, hi;	  /* T_WHOLE, T_NUMBER */
	const struct key_names *names; /* T_ENUM */
};

/* The value part of an entry, from the member it sets. An entry whose
 * member has the wrong type (a double key on an integer, an enum on a
 * string) does not compile. */
#define MEMBER(m)   (((struct options *)0)->m)
#define CHECK(ok)   (0 * sizeof(char[(ok) ? 1 : -1]))
#define IS(m, type) _Generic(MEMBER(m), type : 1, default : 0)
/* An integer (m % 1: no pointer or double) of a size store_whole() writes. */
#define INTEGER(m)                                                                       \
	(sizeof(MEMBER(m) % 1) && (sizeof(MEMBER(m)) == 1 || sizeof(MEMBER(m)) == 2 ||   \
				   sizeof(MEMBER(m)) == 4 || sizeof(MEMBER(m)) == 8))
#define AT(m, ok)                                                                        \
	.offset = offsetof(struct options, m), .size = sizeof(MEMBER(m)) + CHECK(ok)
#define RANGE(fl, l, h)	    .flags = (fl), .lo = (l), .hi = (h)
#define WHOLE(m, fl, l, h)  .type = T_WHOLE, AT(m, INTEGER(m)), RANGE(fl, l, h)
#define NUMBER(m, fl, l, h) .type = T_NUMBER, AT(m, IS(m, double)), RANGE(fl, l, h)
#define BOOL(m)		    .type = T_BOOL, AT(m, IS(m, bool))
#define STRING(m)	    .type = T_STRING, AT(m, IS(m, char *))
#define ENUM(m, n)	    .type = T_ENUM, AT(m, INTEGER(m)), .names = &(n)
#define TRACK(m)                                                                         \
	.offset = offsetof(struct track_input, m),                                       \
	.size = sizeof(((struct track_input *)0)->m)

static const struct key_word rate_words[] = {
    {"44100", 44100}, {"48000", 48000}, {"96000", 96000}, {NULL, 0}};
static const struct key_word quantise_words[] = {
    {"off", QUANTISE_OFF}, {"beat", QUANTISE_BEAT}, {"bar", QUANTISE_BAR}, {NULL, 0}};
static const struct key_word clock_words[] = {
    {"internal", false}, {"external", true}, {NULL, 0}};
static const struct key_names rate_names = {.words = rate_words};
static const struct key_names quantise_names = {.words = quantise_words};
static const struct key_names clock_names = {.words = clock_words};
static const struct key_word leader_words[] = {
    {"midi", false}, {"link", true}, {NULL, 0}};
static const struct key_names leader_names = {.words = leader_words};

/* The sample formats are audio_alsa's (FLOAT_LE, S16_LE too); the export
 * formats export.c's (case-sensitive; wav and flac too). */
static bool sample_format_parse(const char *v, int *value)
{
	enum sample_format f;
	if (!audio_alsa_format_from_name(v, &f))
		return false;
	*value = (int)f;
	return true;
}

static const char *sample_format_name(int value)
{
	return audio_alsa_format_name((enum sample_format)value);
}

static bool export_parse(const char *v, int *value)
{
	enum export_format f;
	if (export_format_parse(v, &f))
		return false;
	*value = (int)f;
	return true;
}

static const char *export_name(int value)
{
	return export_format_name((enum export_format)value);
}

static const struct key_names sample_format_names = {.parse = sample_format_parse,
						     .name = sample_format_name,
						     .count = SAMPLE_FORMAT_COUNT};
static const struct key_names export_names = {.parse = export_parse,
					      .name = export_name,
					      .count = EXPORT_FLAC24 + 1 /* the last */};

_Static_assert(OPTIONS_LATENCY_AUTO == -1, "F_AUTO reads \"auto\" as -1");

static const struct key keys[] = {
    {"audio", "device", "device", 'd', "DEV", K_DEVICE,
     "ALSA device for capture and playback (default \"default\")", .type = T_DEVICE},
    {"audio", "capture_device", "capture", 'C', "DEV", K_CAPTURE_DEVICE,
     "capture device, when it differs", STRING(capture_device)},
    {"audio", "playback_device", "playback", 'P', "DEV", K_PLAYBACK_DEVICE,
     "playback device, when it differs", STRING(playback_device)},
    {"audio", "alsa_config", "alsa-config", 0, "FILE", K_ALSA_CONFIG,
     "extra ALSA configuration file defining the devices", STRING(alsa_config)},
    {"audio", "rate", "rate", 'r', "HZ", K_RATE, "44100, 48000 (default) or 96000",
     ENUM(rate, rate_names)},
    {"audio", "period", "period", 'p', "FRAMES", K_PERIOD,
     "frames per period, @ (default 128)",
     WHOLE(period, 0, GL_MIN_PERIOD, GL_MAX_PERIOD)},
    {"audio", "periods", "periods", 'n', "N", K_PERIODS,
     "periods per buffer, @ (default 2)",
     WHOLE(periods, 0, GL_MIN_PERIODS, GL_MAX_PERIODS)},
    {"audio", "input_channels", "input-channels", 'i', "N", K_INPUT_CHANNELS,
     "capture channels, @ (default 2)", WHOLE(input_channels, 0, 1, GL_MAX_IN_CH)},
    {"audio", "output_channels", "output-channels", 'o', "N", K_OUTPUT_CHANNELS,
     "playback channels, @ (default 2)",
     WHOLE(output_channels, 0, 1, GL_PLAYBACK_CH_MAX)},
    {"audio", "format", "format", 'f', "FMT", K_FORMAT,
     "auto (default), FLOAT, S32, S24_3LE or S16", ENUM(format, sample_format_names)},
    {"audio", "latency_frames", "latency", 'l', "FRAMES", K_LATENCY_FRAMES,
     "round trip to compensate, @, or auto (default: period x periods)",
     WHOLE(latency_frames, F_AUTO, 0, GL_LATENCY_MAX)},
    {"audio", "wait_for_device", "wait", 'w', NULL, K_WAIT_FOR_DEVICE,
     "wait for a device that is not there at start", BOOL(wait_for_device)},
    {"realtime", "priority", "priority", 0, "N", K_PRIORITY,
     "SCHED_FIFO priority of the audio thread, @ (default 80)",
     WHOLE(priority, 0, GL_PRIORITY_MIN, GL_PRIORITY_MAX)},
    {"realtime", "require_rt", "require-rt", 0, NULL, K_REQUIRE_RT,
     "exit when real-time scheduling or memory locking is refused", BOOL(require_rt)},
    {"realtime", "lock_memory", NULL, 0, "BOOL", K_LOCK_MEMORY, NULL, BOOL(lock_memory)},
    /* The engine's own limits: fade, grow increment, memory. */
    {"looper", "fade_ms", NULL, 0, "MS", K_FADE_MS, NULL,
     NUMBER(fade_ms, 0, 0, GL_FADE_MS_MAX)},
    {"looper", "grow_seconds", NULL, 0, "S", K_GROW_SECONDS, NULL,
     NUMBER(grow_seconds, 0, GL_GROW_SECONDS_MIN, GL_GROW_SECONDS_MAX)},
    {"looper", "tempo", NULL, 0, "BPM", K_TEMPO, NULL,
     NUMBER(tempo, F_ZERO_OK, GL_TEMPO_MIN, GL_TEMPO_MAX)},
    {"looper", "beats_per_bar", NULL, 0, "N", K_BEATS_PER_BAR, NULL,
     WHOLE(beats_per_bar, 0, GL_BEATS_MIN, GL_BEATS_MAX)},
    {"looper", "quantise", NULL, 0, "Q", K_QUANTISE, NULL,
     ENUM(quantise, quantise_names)},
    {"looper", "metronome", NULL, 0, "BOOL", K_METRONOME, NULL, BOOL(metronome)},
    {"looper", "memory_limit_mb", "memory-limit", 0, "MB", K_MEMORY_LIMIT_MB,
     "recording memory limit in MiB, @ (default 0: all RAM)",
     WHOLE(memory_limit_mb, 0, 0, GL_MEMORY_LIMIT_MB_MAX)},
    {"looper", "click_output", NULL, 0, "CHANNELS", K_CLICK_OUTPUT, NULL,
     STRING(click_output)},
    {"looper", "click_volume", NULL, 0, "GAIN", K_CLICK_VOLUME, NULL,
     NUMBER(click_volume, 0, 0, GL_GAIN_MAX)},
    {"looper", "undo_levels", NULL, 0, "N", K_UNDO_LEVELS, NULL,
     WHOLE(undo_levels, 0, GL_UNDO_LEVELS_MIN, GL_UNDO_LEVELS_MAX)},
    {"looper", "undo_memory_mb", NULL, 0, "MB", K_UNDO_MEMORY_MB, NULL,
     WHOLE(undo_memory_mb, 0, 0, GL_UNDO_MB_MAX)},
    {"controller", "profiles", "profiles", 0, "DIR", K_PROFILES,
     "controller profiles (default " GRIDLOOP_PROFILE_DIR ", else the source tree's)",
     STRING(profile_dir)},
    {"controller", "ports", NULL, 0, "PATTERNS", K_PORTS, NULL, .type = T_PORTS},
    {"controller", "port_profile", NULL, 0, "NAME", K_PORT_PROFILE, NULL,
     STRING(port_profile)},
    {"controller", "script_profile", NULL, 0, "NAME", K_SCRIPT_PROFILE, NULL,
     STRING(script_profile)},
    {"sync", "clock", "clock", 0, "SOURCE", K_CLOCK,
     "internal (default: send MIDI clock) or external (follow MIDI clock in)",
     ENUM(clock_external, clock_names)},
    {"sync", "clock_in_port", NULL, 0, "PATTERN", K_CLOCK_IN_PORT, NULL,
     STRING(clock_in_port)},
    {"sync", "clock_out_port", NULL, 0, "PATTERN", K_CLOCK_OUT_PORT, NULL,
     STRING(clock_out_port)},
    {"sync", "song_position", NULL, 0, "BOOL", K_SONG_POSITION, NULL,
     BOOL(song_position)},
    {"sync", "link", "link", 0, "BOOL", K_LINK,
     "join the Ableton Link session on the network (default no)", BOOL(link)},
    {"sync", "leader", NULL, 0, "SOURCE", K_LEADER, NULL, ENUM(link_leads, leader_names)},
    {"sync", "link_start_stop", NULL, 0, "BOOL", K_LINK_START_STOP, NULL,
     BOOL(link_start_stop)},
    {"session", "dir", "session", 0, "DIR", K_SESSION_DIR,
     "session directory on the SD card (default none: nothing is saved)",
     STRING(session_dir)},
    {"session", "restore", NULL, 0, "BOOL", K_RESTORE, NULL, BOOL(restore)},
    {"session", "mount_point", NULL, 0, "DIR", K_MOUNT_POINT, NULL, STRING(mount_point)},
    {"session", "resample", NULL, 0, "BOOL", K_RESAMPLE, NULL, BOOL(resample)},
    {"session", "save_quiet_ms", NULL, 0, "MS", K_SAVE_QUIET_MS, NULL,
     WHOLE(save_quiet_ms, 0, 0, GL_SAVE_QUIET_MS_MAX)},
    {"export", "dir", "export-dir", 0, "DIR", K_EXPORT_DIR,
     "where exports go (default: exports/ next to the session directory)",
     STRING(export_dir)},
    {"export", "format", "export-format", 0, "FMT", K_EXPORT_FORMAT,
     "wav16, wav24 (default), wavfloat, flac16 or flac24",
     ENUM(export_format, export_names)},
    {"recorder", "enabled", NULL, 0, "BOOL", K_RECORDER, NULL, BOOL(recorder)},
    {"recorder", "dir", NULL, 0, "DIR", K_RECORDER_DIR, NULL, STRING(recorder_dir)},
    {"recorder", "format", NULL, 0, "FMT", K_RECORDER_FORMAT, NULL,
     ENUM(recorder_format, export_names)},
    {"recorder", "ring_seconds", NULL, 0, "S", K_RECORDER_SECONDS, NULL,
     NUMBER(recorder_seconds, 0, GL_RECORDER_SECONDS_MIN, GL_RECORDER_SECONDS_MAX)},
    {"recorder", "tracks", NULL, 0, "BOOL", K_RECORDER_TRACKS, NULL,
     BOOL(recorder_tracks)},
    {"osc", "port", "osc-port", 0, "PORT", K_OSC_PORT,
     "serve OSC on this UDP port, @ (default: none, no OSC; SooperLooper's is 9951)",
     WHOLE(osc_port, 0, GL_OSC_PORT_MIN, GL_OSC_PORT_MAX)},
    {"osc", "listen", NULL, 0, "ADDRESS", K_OSC_LISTEN, NULL, STRING(osc_listen)},
    {"osc", "max_packets_per_s", NULL, 0, "N", K_OSC_MAX_PACKETS, NULL,
     WHOLE(osc_max_packets, 0, GL_OSC_PACKETS_PER_S_MIN, GL_OSC_PACKETS_PER_S_MAX)},
    {"track", "input", NULL, 0, "CH", K_TRACK_INPUT, NULL, .type = T_WHOLE,
     TRACK(first_channel), RANGE(F_TRACK | F_FROM_1, 1, GL_MAX_IN_CH)},
    {"track", "stereo", NULL, 0, "BOOL", K_TRACK_STEREO, NULL, .type = T_BOOL,
     .flags = F_TRACK, TRACK(stereo)},
    {NULL, NULL, "config", 'c', "FILE", K_CONFIG,
     "config file (default " OPTIONS_DEFAULT_CONFIG ", if it exists)",
     STRING(config_path)},
    {NULL, NULL, "script", 's', "FILE", K_SCRIPT, "frame-stamped commands to play",
     STRING(script_path)},
    {NULL, NULL, "frames", 'F', "N", K_FRAMES,
     "stop after N frames: an offline run (below)",
     WHOLE(frames, 0, 1, (double)INT64_MAX)},
    {NULL, NULL, "verbose", 'v', NULL, K_VERBOSE, "log every engine event",
     BOOL(verbose)},
    {NULL, NULL, "pid-file", 0, "FILE", K_PID_FILE,
     "write the process id here (for `gridloop export`)", STRING(pid_file)},
    {NULL, NULL, "help", 'h', NULL, K_HELP, "this help", .type = T_NONE},
    {NULL, NULL, "version", 'V', NULL, K_VERSION, "print the version", .type = T_NONE},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= OPTIONS_MAX_KEYS, "struct options' origin[] is too small");

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
	o->undo_levels = GL_UNDO_LEVELS_DEFAULT;
	o->click_output = strdup("main");
	o->click_volume = 1.0;
	o->beats_per_bar = 4;
	o->quantise = QUANTISE_BAR;
	o->port_profile = strdup(OPTIONS_DEFAULT_PROFILE);
	o->script_profile = strdup(OPTIONS_DEFAULT_PROFILE);
	o->config_path = strdup(OPTIONS_DEFAULT_CONFIG);
	o->restore = true;
	o->link_start_stop = true;
	o->resample = true;
	o->save_quiet_ms = 1500;
	o->export_format = EXPORT_WAV24;
	o->recorder_format = EXPORT_WAV24;
	o->recorder_seconds = 10.0;
	o->osc_listen = strdup(OPTIONS_DEFAULT_OSC_LISTEN);
	o->osc_max_packets = 2000;
}

void options_free(struct options *o)
{
	free(o->capture_device);
	free(o->playback_device);
	free(o->alsa_config);
	free(o->click_output);
	free(o->config_path);
	free(o->script_path);
	free(o->profile_dir);
	for (int i = 0; i < o->nports; i++)
		free(o->ports[i]);
	free(o->port_profile);
	free(o->script_profile);
	free(o->osc_listen);
	free(o->clock_in_port);
	free(o->clock_out_port);
	free(o->session_dir);
	free(o->mount_point);
	free(o->export_dir);
	free(o->recorder_dir);
	free(o->pid_file);
	for (int t = 0; t < GL_TRACKS; t++) {
		free(o->track_origin[t]);
		free(o->stereo_origin[t]);
	}
	for (int k = 0; k < OPTIONS_MAX_KEYS; k++)
		free(o->origin[k]);
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

/* A T_WHOLE key's upper bound (INT64_MAX is no double). */
static long long whole_hi(const struct key *k)
{
	return k->hi >= (double)LLONG_MAX ? LLONG_MAX : (long long)k->hi;
}

/* A key's range as text: "16..2048", "0.1..60". */
static const char *range_text(const struct key *k, char *buf, size_t len)
{
	if (k->type == T_WHOLE)
		snprintf(buf, len, "%lld..%lld", (long long)k->lo, whole_hi(k));
	else
		snprintf(buf, len, "%g..%g", k->lo, k->hi);
	return buf;
}

/* Plain decimal: [+-]digits, and for a number [.digits]; no blanks, hex,
 * exponent, inf or nan, which strtod would take. */
static bool is_decimal(const char *v, bool fraction)
{
	const char *p = v + (*v == '+' || *v == '-');
	size_t digits = 0;
	while (isdigit((unsigned char)*p))
		p++, digits++;
	if (fraction && *p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			digits++;
	return digits > 0 && !*p;
}

/* A T_WHOLE or T_NUMBER key's value, checked against its range (and "auto":
 * -1, or 0, when its flags allow); refused with that range. */
static int get_ranged(const struct key *k, const char *v, long long *iv, double *dv,
		      char *why, size_t whylen)
{
	bool whole = k->type == T_WHOLE;
	if ((k->flags & F_AUTO) && !strcasecmp(v, "auto")) {
		*iv = -1;
		*dv = -1;
		return 0;
	}
	bool ok = is_decimal(v, !whole);
	long long x = 0;
	double d = 0;
	if (ok && whole) {
		errno = 0;
		x = strtoll(v, NULL, 10);
		d = (double)x;
		ok = !errno && ((k->flags & F_ZERO_OK && x == 0) ||
				(x >= (long long)k->lo && x <= whole_hi(k)));
	} else if (ok) {
		d = strtod(v, NULL);
		ok = isfinite(d) &&
		     ((k->flags & F_ZERO_OK && d == 0) || (d >= k->lo && d <= k->hi));
	}
	if (!ok) {
		char range[64];
		range_text(k, range, sizeof(range));
		return bad(why, whylen, "'%s' is not %s%sa %s in %s", v,
			   k->flags & F_AUTO ? "auto or " : "",
			   k->flags & F_ZERO_OK ? "0 or " : "",
			   whole ? "whole number" : "number", range);
	}
	*iv = x;
	*dv = d;
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

/* The i-th name an enum key takes, or NULL after the last. */
static const char *enum_name(const struct key_names *n, int i)
{
	if (n->words) {
		for (int w = 0; w < i; w++)
			if (!n->words[w].word)
				return NULL;
		return n->words[i].word;
	}
	return i >= 0 && i < n->count ? n->name(i) : NULL;
}

/* A T_ENUM key's value; refused with its names: "'x' is not off, beat or
 * bar". */
static int get_enum(const struct key *k, const char *v, int *value, char *why,
		    size_t whylen)
{
	const struct key_names *n = k->names;
	if (n->parse && n->parse(v, value))
		return 0;
	for (int i = 0; n->words && n->words[i].word; i++) {
		if (!strcasecmp(v, n->words[i].word)) {
			*value = n->words[i].value;
			return 0;
		}
	}
	char list[256] = "";
	size_t len = 0;
	for (int i = 0; enum_name(n, i) && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i == 0		      ? ""
					: enum_name(n, i + 1) ? ", "
							      : " or ",
					enum_name(n, i));
	return bad(why, whylen, "'%s' is not %s", v, list);
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

/* An integer member of 1, 2, 4 or 8 bytes (bool, uint8_t, an enum, int,
 * uint32_t, int64_t, uint64_t: the table's macros let no other size in);
 * the range or the names have made v fit. */
static void store_whole(void *at, size_t size, long long v)
{
	if (size == 1) {
		uint8_t x = (uint8_t)v;
		memcpy(at, &x, 1);
	} else if (size == 2) {
		uint16_t x = (uint16_t)v;
		memcpy(at, &x, 2);
	} else if (size == 4) {
		uint32_t x = (uint32_t)v;
		memcpy(at, &x, 4);
	} else {
		int64_t x = v;
		memcpy(at, &x, 8);
	}
}

/* Where a key's origin is kept: a track's keys per track. */
static char **origin_slot(struct options *o, const struct key *k, int track)
{
	if (k->id == K_TRACK_INPUT)
		return &o->track_origin[track];
	if (k->id == K_TRACK_STEREO)
		return &o->stereo_origin[track];
	return &o->origin[k - keys];
}

/* Sets one key from its table entry. track is 0..7 for the [trackN] keys.
 * origin says where the value came from ("FILE:LINE" or "option --x"),
 * kept for checks that can only run once every source has been read. */
static int set_key(struct options *o, const struct key *k, int track, const char *v,
		   const char *origin, char *why, size_t whylen)
{
	char *at =
	    (k->flags & F_TRACK ? (char *)&o->track_input[track] : (char *)o) + k->offset;
	long long whole = 0;
	double number = 0;
	bool yes = false;
	int word = 0, rc = 0;
	switch ((enum key_type)k->type) {
	case T_NONE:
		break;
	case T_WHOLE:
		rc = get_ranged(k, v, &whole, &number, why, whylen);
		if (!rc)
			store_whole(at, k->size, whole - (k->flags & F_FROM_1 ? 1 : 0));
		break;
	case T_NUMBER:
		rc = get_ranged(k, v, &whole, &number, why, whylen);
		if (!rc)
			memcpy(at, &number, sizeof(number));
		break;
	case T_BOOL:
		rc = get_bool(v, &yes, why, whylen);
		if (!rc)
			store_whole(at, k->size, yes);
		break;
	case T_STRING:
		rc = get_string(v, (char **)(void *)at, why, whylen);
		break;
	case T_ENUM:
		rc = get_enum(k, v, &word, why, whylen);
		if (!rc)
			store_whole(at, k->size, word);
		break;
	case T_DEVICE:
		rc = get_string(v, &o->capture_device, why, whylen);
		if (!rc)
			rc = get_string(v, &o->playback_device, why, whylen);
		break;
	case T_PORTS:
		rc = get_ports(o, v, why, whylen);
		break;
	}
	if (rc)
		return rc;
	if (k->id == K_CONFIG)
		o->config_explicit = true;
	char *copy = strdup(origin);
	if (!copy)
		return bad(why, whylen, "out of memory");
	char **slot = origin_slot(o, k, track);
	free(*slot);
	*slot = copy;
	return 0;
}

/* ---- The config file ----------------------------------------------------- */

struct ini_ctx {
	struct options *o;
	FILE *f;
	const char *path;
	int line;	 /* of the text the reader returned last */
	int error_line;	 /* first line refused (by the reader or a key), or 0 */
	char error[512]; /* its message */
};

static void ini_error(struct ini_ctx *c, const char *fmt, ...)
{
	if (c->error_line)
		return; /* report only the first */
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	c->error_line = c->line;
	snprintf(c->error, sizeof(c->error), "%s:%d: %s", c->path, c->line, why);
}

/* inih's reader: one whole line per call, so that its line numbers are
 * ours (it passes none to the handler). Leading blanks go: an indented key
 * is a key, never the continuation of the one before (inih's multi-line
 * values, which gridloop does not have). A line too long for inih is
 * reported and skipped, as is one with a NUL byte (not a text file). */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct ini_ctx *c = stream;
	int ch = getc(c->f);
	if (ch == EOF)
		return NULL;
	c->line++;
	int n = 0;
	bool leading = true, too_long = false, nul = false;
	for (; ch != EOF && ch != '\n'; ch = getc(c->f)) {
		if (leading && (ch == ' ' || ch == '\t'))
			continue;
		leading = false;
		nul |= ch == '\0';
		if (n < num - 2)
			str[n++] = (char)ch;
		else
			too_long = true;
	}
	if (too_long)
		ini_error(c, "line too long (more than %d characters)", num - 2);
	if (nul)
		ini_error(c, "a NUL byte: not a text file");
	if (too_long || nul)
		n = 0;
	str[n++] = '\n';
	str[n] = '\0';
	return str;
}

static const struct key *find_config_key(const char *section, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].section && !strcmp(keys[i].section, section) &&
		    !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

static bool known_section(const char *section)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].section && !strcmp(keys[i].section, section))
			return true;
	return false;
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
	int track = track_section(section);
	/* The track keys' table section is "track"; only [track1]..[track8]
	 * reach it ([track] itself is no track: it would index track -1). */
	const struct key *k = track >= 0 ? find_config_key("track", name)
			      : !strncmp(section, "track", 5)
				  ? NULL
				  : find_config_key(section, name);
	if (!*section) {
		ini_error(c, "key '%s' is outside any [section]", name);
	} else if (!k) {
		const struct key *elsewhere = NULL;
		for (size_t i = 0; i < NKEYS && !elsewhere; i++)
			if (keys[i].name && !strcmp(keys[i].name, name))
				elsewhere = &keys[i];
		if (track < 0 && !strncmp(section, "track", 5))
			ini_error(c,
				  "unknown section [%s] (tracks are [track1]..[track%d])",
				  section, GL_TRACKS);
		else if (track < 0 && !known_section(section))
			ini_error(
			    c,
			    "unknown section [%s] (the sections are [audio], "
			    "[realtime], [looper], [controller], [sync], [session], "
			    "[export], [recorder] and [track1]..[track%d])",
			    section, GL_TRACKS);
		else if (elsewhere && !strcmp(elsewhere->section, "track"))
			ini_error(c, "[%s] %s: unknown key (it belongs in [trackN])",
				  section, name);
		else if (elsewhere)
			ini_error(c, "[%s] %s: unknown key (it belongs in [%s])", section,
				  name, elsewhere->section);
		else
			ini_error(c, "[%s] %s: unknown key", section, name);
	} else {
		char origin[PATH_MAX + 32];
		snprintf(origin, sizeof(origin), "%s:%d", c->path, c->line);
		char why[300];
		if (set_key(c->o, k, track, value, origin, why, sizeof(why)))
			ini_error(c, "[%s] %s: %s", section, name, why);
	}
	return !c->error_line;
}

/* Opens a config file without ever waiting (a FIFO, a device) and only if
 * it is a regular file of reasonable size, or /dev/null. NULL with errno 0
 * and a message in err, or with errno set by open(). */
static FILE *open_config(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	const char *what = NULL;
	if (fstat(fd, &st) != 0)
		what = strerror(errno);
	else if (S_ISDIR(st.st_mode))
		what = "it is a directory";
	else if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3))
		what = NULL; /* /dev/null: no settings */
	else if (!S_ISREG(st.st_mode))
		what = "not a regular file (a FIFO, socket or device)";
	else if (st.st_size > GL_CONFIG_FILE_MAX)
		what = "larger than a config file can be";
	FILE *f = NULL;
	if (!what && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
		what = strerror(errno);
	if (!what && !(f = fdopen(fd, "r")))
		what = strerror(errno);
	if (what) {
		close(fd);
		bad(err, errlen, "%s: cannot read the config file: %s", path, what);
		errno = 0;
	}
	return f;
}

int options_load_file(struct options *o, const char *path, bool must_exist, char *err,
		      size_t errlen)
{
	FILE *f = open_config(path, err, errlen);
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		if (errno)
			bad(err, errlen, "%s: cannot read the config file: %s", path,
			    strerror(errno));
		return -1;
	}
	struct ini_ctx c = {.o = o, .f = f, .path = path};
	int rc = ini_parse_stream(ini_read_line, &c, ini_handler_fn, &c);
	int read_error = ferror(f) ? errno : 0;
	fclose(f);
	if (read_error)
		return bad(err, errlen, "%s: cannot read the config file: %s", path,
			   strerror(read_error));
	if (rc < 0)
		return bad(err, errlen, "%s: cannot read the config file", path);
	if (c.error_line && (rc == 0 || c.error_line <= rc))
		return bad(err, errlen, "%s", c.error);
	if (rc > 0)
		return bad(err, errlen,
			   "%s:%d: syntax error: expected [section] or key = value", path,
			   rc);
	return 0;
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
		/* '@' in the help stands for the range, from the table. */
		const char *at = strchr(k->help, '@');
		char range[64] = "";
		if (at)
			range_text(k, range, sizeof(range));
		fprintf(out, "  %-28s %.*s%s%s\n", left,
			at ? (int)(at - k->help) : (int)strlen(k->help), k->help, range,
			at ? at + 1 : "");
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

/* ---- Checks across keys ------------------------------------------------ */

static const struct key *key_by_id(enum key_id id)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].id == id)
			return &keys[i];
	return NULL;
}

static const char *origin_of(const struct options *o, enum key_id id)
{
	const struct key *k = key_by_id(id);
	const char *at = k ? o->origin[k - keys] : NULL;
	return at ? at : "the default";
}

/* The origin a message starts with: the first key's, else the second's
 * (one of them was set, or the defaults would be wrong). */
static const char *blame(const struct options *o, enum key_id first, enum key_id second)
{
	const struct key *k = key_by_id(first);
	if (k && o->origin[k - keys])
		return o->origin[k - keys];
	return origin_of(o, second);
}

/* " (ORIGIN)" of a key, unless the message already starts with it. */
static const char *also(const struct options *o, enum key_id id, const char *blamed,
			char *buf, size_t len)
{
	const char *at = origin_of(o, id);
	if (!strcmp(at, blamed))
		return "";
	snprintf(buf, len, " (%s)", at);
	return buf;
}

/* Each track's input channels against [audio] input_channels. A track with
 * no input takes the inputs in turn (track N: input N, wrapping around the
 * input channels), mono or, with stereo = yes, that input and the next. */
static int check_tracks(struct options *o, char *err, size_t errlen)
{
	for (int t = 0; t < GL_TRACKS; t++) {
		struct track_input *in = &o->track_input[t];
		if (!o->track_origin[t])
			in->first_channel = (uint8_t)((unsigned)t % o->input_channels);
		if (!o->track_origin[t] && !o->stereo_origin[t])
			continue;
		unsigned last = in->first_channel + (in->stereo ? 1u : 0u);
		if (last < o->input_channels)
			continue;
		const char *at =
		    o->track_origin[t] ? o->track_origin[t] : o->stereo_origin[t];
		char range[64];
		if (in->stereo && o->input_channels < 2)
			snprintf(range, sizeof(range),
				 "no stereo pair with 1 input channel");
		else
			snprintf(range, sizeof(range), "input 1..%u%s",
				 o->input_channels - (in->stereo ? 1u : 0u),
				 in->stereo ? " with stereo = yes" : "");
		return bad(err, errlen,
			   "%s: [track%d] input %u%s is beyond the %u input channels "
			   "(input_channels, %s): %s",
			   at, t + 1, in->first_channel + 1u,
			   !o->track_origin[t] ? " (its default; stereo: and the next)"
			   : in->stereo	       ? " (stereo: and the next)"
					       : "",
			   o->input_channels, origin_of(o, K_INPUT_CHANNELS), range);
	}
	return 0;
}

/* The engine's set-up limits that take two keys (engine.c config_problem()
 * and the keeper's arming), checked here so that their message names the
 * keys, where they were set and the range. */
static int check_engine(const struct options *o, char *err, size_t errlen)
{
	struct engine_config ec;
	options_engine_config(o, &ec);
	uint32_t min_grow = GL_GROW_MIN_PERIODS * o->period;
	if (ec.grow_frames < min_grow) {
		double least = ceil((double)min_grow / o->rate * 1000.0) / 1000.0;
		const struct key *g = key_by_id(K_GROW_SECONDS);
		const char *at = blame(o, K_GROW_SECONDS, K_PERIOD);
		char a1[PATH_MAX + 8], a2[PATH_MAX + 8];
		return bad(err, errlen,
			   "%s: [looper] grow_seconds = %g%s is %u frames at %u Hz, less "
			   "than %d periods of [audio] period = %u%s: %g..%g s with this "
			   "period",
			   at, o->grow_seconds,
			   also(o, K_GROW_SECONDS, at, a1, sizeof(a1)), ec.grow_frames,
			   o->rate, GL_GROW_MIN_PERIODS, o->period,
			   also(o, K_PERIOD, at, a2, sizeof(a2)),
			   least > g->lo ? least : g->lo, g->hi);
	}
	if (o->memory_limit_mb) {
		uint64_t arm = keeper_arm_bytes(&ec, (size_t)sysconf(_SC_PAGESIZE));
		uint64_t arm_mb = (arm + (1u << 20) - 1) >> 20;
		if ((o->memory_limit_mb << 20) < arm)
			return bad(
			    err, errlen,
			    "%s: [looper] memory_limit_mb = %llu is less than arming "
			    "the %d clip slots takes (%llu MB with grow_seconds = %g "
			    "(%s) at %u Hz): 0 (no limit) or %llu..%d",
			    origin_of(o, K_MEMORY_LIMIT_MB),
			    (unsigned long long)o->memory_limit_mb, GL_SLOTS,
			    (unsigned long long)arm_mb, o->grow_seconds,
			    origin_of(o, K_GROW_SECONDS), o->rate,
			    (unsigned long long)arm_mb, GL_MEMORY_LIMIT_MB_MAX);
	}
	return 0;
}

/* The recorder's rings against the largest it maps: depends on the rate
 * and on [recorder] tracks (16 channels instead of 2). */
static int check_recorder(const struct options *o, char *err, size_t errlen)
{
	if (!o->recorder)
		return 0;
	int channels = o->recorder_tracks ? GL_STEM_CH : GL_OUT_CH;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	if (recorder_ring_bytes(o->rate, channels, o->recorder_seconds, page, NULL))
		return 0;
	/* The longest ring that fits: the largest power of two of frames. */
	uint64_t frames =
	    recorder_max_ring_bytes() / ((uint64_t)channels * sizeof(float));
	uint64_t p2 = 1;
	while (p2 * 2 <= frames)
		p2 *= 2;
	double longest = floor((double)p2 / o->rate);
	const struct key *r = key_by_id(K_RECORDER_SECONDS);
	const char *at = blame(o, K_RECORDER_SECONDS, K_RECORDER_TRACKS);
	char a1[PATH_MAX + 8], a2[PATH_MAX + 8];
	return bad(err, errlen,
		   "%s: [recorder] ring_seconds = %g%s with tracks = %s%s at %u Hz is a "
		   "ring larger than the recorder's largest (%llu MB): %g..%g here",
		   at, o->recorder_seconds,
		   also(o, K_RECORDER_SECONDS, at, a1, sizeof(a1)),
		   o->recorder_tracks ? "yes" : "no",
		   also(o, K_RECORDER_TRACKS, at, a2, sizeof(a2)), o->rate,
		   (unsigned long long)(recorder_max_ring_bytes() >> 20), r->lo,
		   longest < r->hi ? longest : r->hi);
}

/* [looper] click_output: "main" (the click in the mix), or the playback
 * channels of its own, "N" or "N-M" (1-based, at most two, after the
 * mix's 1-2 and within output_channels). */
static int check_click_output(struct options *o, char *err, size_t errlen)
{
	const char *v = o->click_output ? o->click_output : "main";
	o->click_channel = 0;
	o->click_channels = 0;
	if (!strcmp(v, "main"))
		return 0;
	char *end;
	long a = strtol(v, &end, 10), b = a;
	if (end != v && *end == '-')
		b = strtol(end + 1, &end, 10);
	long hi = (long)o->output_channels;
	if (end == v || *end || a < 3 || b < a || b - a > 1 || b > hi) {
		const char *at = blame(o, K_CLICK_OUTPUT, K_OUTPUT_CHANNELS);
		if (hi < 3)
			return bad(
			    err, errlen,
			    "%s: [looper] click_output = %s: the click needs playback "
			    "channels of its own, and output_channels = %ld leaves none "
			    "beside the mix's 1-2 (use main, or more output channels)",
			    at, v, hi);
		return bad(err, errlen,
			   "%s: [looper] click_output = %s is not main, N or N-M (one or "
			   "two playback channels, 3..%ld with output_channels = %ld)",
			   at, v, hi, hi);
	}
	o->click_channel = (uint32_t)a;
	o->click_channels = (uint32_t)(b - a + 1);
	return 0;
}

static int check_across_keys(struct options *o, char *err, size_t errlen)
{
	if (check_click_output(o, err, errlen) || check_tracks(o, err, errlen) ||
	    check_engine(o, err, errlen) || check_recorder(o, err, errlen))
		return -1;
	return 0;
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

	return check_across_keys(o, err, errlen) ? OPTIONS_ERROR : OPTIONS_RUN;
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

bool options_key(size_t i, struct options_key *out)
{
	static const enum options_value values[] = {
	    [T_NONE] = OPTIONS_VALUE_NONE,     [T_WHOLE] = OPTIONS_VALUE_WHOLE,
	    [T_NUMBER] = OPTIONS_VALUE_NUMBER, [T_BOOL] = OPTIONS_VALUE_BOOL,
	    [T_STRING] = OPTIONS_VALUE_STRING, [T_ENUM] = OPTIONS_VALUE_ENUM,
	    [T_DEVICE] = OPTIONS_VALUE_OTHER,  [T_PORTS] = OPTIONS_VALUE_OTHER,
	};
	if (i >= NKEYS)
		return false;
	const struct key *k = &keys[i];
	*out = (struct options_key){
	    .section = k->section,
	    .name = k->name,
	    .option = k->option,
	    .value = values[k->type],
	    .auto_ok = k->flags & F_AUTO,
	    .zero_ok = k->flags & F_ZERO_OK,
	    .lo = k->lo,
	    .hi = k->hi,
	};
	return true;
}

const char *options_key_name(size_t i, size_t w)
{
	if (i >= NKEYS || keys[i].type != T_ENUM || w > INT_MAX)
		return NULL;
	return enum_name(keys[i].names, (int)w);
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
	cfg->undo_levels = o->undo_levels;
	cfg->click_volume = (float)o->click_volume;
	cfg->undo_memory_mb = o->undo_memory_mb;
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
	    .click_channel = o->click_channel,
	    .click_channels = o->click_channels,
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

/* ---- Memory at start ------------------------------------------------------ */

void options_memory_needs(const struct options *o, size_t page, struct options_memory *m)
{
	struct engine_config ec;
	options_engine_config(o, &ec);
	*m = (struct options_memory){.clip_slots = keeper_arm_bytes(&ec, page)};
	char dir[PATH_MAX];
	options_recorder_dir(o, dir, sizeof(dir));
	bool recorder = o->recorder && dir[0]; /* else main.c starts none */
	if (recorder) {
		m->recorder = recorder_ring_bytes(o->rate, GL_OUT_CH, o->recorder_seconds,
						  page, NULL);
		if (!m->recorder)
			m->recorder = recorder_max_ring_bytes();
	}
	if (recorder && o->recorder_tracks) {
		m->stems = recorder_ring_bytes(o->rate, GL_STEM_CH, o->recorder_seconds,
					       page, NULL);
		if (!m->stems)
			m->stems = recorder_max_ring_bytes();
		/* The audio thread's buffer of one period of every track. */
		uint64_t buffer = (uint64_t)o->period * GL_STEM_CH * sizeof(float);
		m->stems += (buffer + page - 1) / page * page;
	}
	m->total = m->clip_slots + m->recorder + m->stems;
}

static unsigned long long mb_up(uint64_t bytes)
{
	return (unsigned long long)((bytes >> 20) + ((bytes & ((1u << 20) - 1)) != 0));
}

/* The key that asks for most of m, with what it depends on. */
static int biggest_need(const struct options *o, const struct options_memory *m,
			char *out, size_t len)
{
	if (m->stems >= m->recorder && m->stems >= m->clip_slots)
		return snprintf(out, len,
				"%s: [recorder] ring_seconds = %g with tracks = yes (%s)",
				blame(o, K_RECORDER_SECONDS, K_RECORDER_TRACKS),
				o->recorder_seconds, origin_of(o, K_RECORDER_TRACKS));
	if (m->recorder >= m->clip_slots)
		return snprintf(out, len, "%s: [recorder] ring_seconds = %g",
				blame(o, K_RECORDER_SECONDS, K_RECORDER),
				o->recorder_seconds);
	return snprintf(
	    out, len,
	    "%s: [looper] grow_seconds = %g (the %d clip slots are armed with "
	    "one increment each, stereo tracks two)",
	    blame(o, K_GROW_SECONDS, K_RATE), o->grow_seconds, GL_SLOTS);
}

int options_check_memory(const struct options *o, const struct sysmem_room *a,
			 size_t page, char *err, size_t errlen)
{
	struct options_memory m;
	options_memory_needs(o, page, &m);
	char key[PATH_MAX + 160];
	biggest_need(o, &m, key, sizeof(key));
	uint64_t room = a->meminfo;
	const char *what = "MemAvailable in /proc/meminfo";
	if (a->cgroup < room) {
		room = a->cgroup;
		what = "left under the cgroup's memory limit";
	}
	char parts[160];
	snprintf(
	    parts, sizeof(parts),
	    "the clip slots %llu MB, the recorder %llu MB, the track recorder %llu MB",
	    mb_up(m.clip_slots), mb_up(m.recorder), mb_up(m.stems));
	if (m.total > room)
		return bad(err, errlen,
			   "%s needs %llu MB at start (%s); %llu MB are available (%s)",
			   key, mb_up(m.total), parts, (unsigned long long)(room >> 20),
			   what);
	if (m.total > a->memlock) {
		if (o->require_rt)
			return bad(
			    err, errlen,
			    "%s needs %llu MB locked at start (%s); RLIMIT_MEMLOCK "
			    "allows %llu MB and require_rt is set (LimitMEMLOCK=, "
			    "ulimit -l)",
			    key, mb_up(m.total), parts,
			    (unsigned long long)(a->memlock >> 20));
		bad(err, errlen,
		    "%s needs %llu MB locked at start; RLIMIT_MEMLOCK allows %llu MB: "
		    "not all of it is locked",
		    key, mb_up(m.total), (unsigned long long)(a->memlock >> 20));
		return 1;
	}
	if (o->memory_limit_mb && o->memory_limit_mb > (room >> 20)) {
		bad(err, errlen,
		    "%s: [looper] memory_limit_mb = %llu is more than the %llu MB "
		    "available (%s): recordings stop where memory ends",
		    origin_of(o, K_MEMORY_LIMIT_MB),
		    (unsigned long long)o->memory_limit_mb,
		    (unsigned long long)(room >> 20), what);
		return 1;
	}
	return 0;
}
