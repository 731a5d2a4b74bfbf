/* script.c -- parses --script files into frame-stamped engine commands, and
 * the feeder thread that queues them for the engine (see script.h). */
#include "script.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "controller.h"
#include "gl_limits.h"

#define MAX_MIDI_BYTES 64		    /* a `midi` line may carry several messages */
#define MAX_WORDS      (MAX_MIDI_BYTES + 2) /* a stamp, `midi` and its bytes */
#define SHOWN_MAX      40		    /* characters of a word quoted in a message */

/* What follows a command word. */
enum args {
	ARGS_NONE,
	ARGS_TRACK_SCENE,
	ARGS_SCENE,
	ARGS_TEMPO,
	ARGS_METER,
	ARGS_QUANTISE,
	ARGS_TRACK_GAIN,
	ARGS_GAIN,
	ARGS_TRACK_SWITCH,
	ARGS_CLIP_SWITCH, /* track, scene, on|off */
	ARGS_CLIP_SPEED,  /* track, scene, 0.5|1|2 */
	ARGS_SWITCH,
	ARGS_STOP, /* none, track, or track and scene */
	ARGS_MIDI,
	ARGS_EXIT,
	ARGS_EXPORT, /* none: CMD_REQUEST, REQUEST_EXPORT */
	ARGS_SAVE,   /* none: CMD_REQUEST, REQUEST_SAVE */
};

struct word {
	const char *name;
	uint8_t args;	 /* enum args */
	uint8_t command; /* enum command_type, where the word has one */
};

static const struct word words[] = {
    {"press", ARGS_TRACK_SCENE, CMD_PRESS},
    {"scene", ARGS_SCENE, CMD_LAUNCH_SCENE},
    {"stop", ARGS_STOP, CMD_STOP_ALL},
    {"clear", ARGS_TRACK_SCENE, CMD_CLEAR},
    {"overdub", ARGS_TRACK_SCENE, CMD_OVERDUB},
    {"undo", ARGS_TRACK_SCENE, CMD_UNDO},
    {"redo", ARGS_TRACK_SCENE, CMD_REDO},
    {"replace", ARGS_TRACK_SCENE, CMD_REPLACE},
    {"substitute", ARGS_TRACK_SCENE, CMD_SUBSTITUTE},
    {"mute_clip", ARGS_CLIP_SWITCH, CMD_CLIP_MUTE},
    {"reverse", ARGS_TRACK_SCENE, CMD_REVERSE},
    {"speed", ARGS_CLIP_SPEED, CMD_SPEED},
    {"oneshot", ARGS_TRACK_SCENE, CMD_ONESHOT},
    {"trigger", ARGS_TRACK_SCENE, CMD_TRIGGER},
    {"undo_all", ARGS_TRACK_SCENE, CMD_UNDO_ALL},
    {"redo_all", ARGS_TRACK_SCENE, CMD_REDO_ALL},
    {"multiply", ARGS_TRACK_SCENE, CMD_MULTIPLY},
    {"insert", ARGS_TRACK_SCENE, CMD_INSERT},
    {"tap", ARGS_NONE, CMD_TAP_TEMPO},
    {"tempo", ARGS_TEMPO, CMD_SET_TEMPO},
    {"meter", ARGS_METER, CMD_SET_METER},
    {"quantise", ARGS_QUANTISE, CMD_SET_QUANTISE},
    {"quantize", ARGS_QUANTISE, CMD_SET_QUANTISE},
    {"volume", ARGS_TRACK_GAIN, CMD_TRACK_VOLUME},
    {"master", ARGS_GAIN, CMD_MASTER_VOLUME},
    {"mute", ARGS_TRACK_SWITCH, CMD_MUTE},
    {"monitor", ARGS_TRACK_SWITCH, CMD_MONITOR},
    {"metronome", ARGS_SWITCH, CMD_METRONOME},
    {"countin", ARGS_SWITCH, CMD_COUNTIN},
    {"midi", ARGS_MIDI, 0},
    {"exit", ARGS_EXIT, 0},
    {"export", ARGS_EXPORT, CMD_REQUEST},
    {"save", ARGS_SAVE, CMD_REQUEST},
};

/* The arguments per enum args, for the "usage" message; %g: the range's
 * bounds, from gl_limits.h. */
static const char *const usage[] = {
    [ARGS_NONE] = "",
    [ARGS_TRACK_SCENE] = " TRACK SCENE",
    [ARGS_SCENE] = " SCENE",
    [ARGS_TEMPO] = " BPM (%g..%g)",
    [ARGS_METER] = " BEATS_PER_BAR (%g..%g)",
    [ARGS_QUANTISE] = " off|beat|bar",
    [ARGS_TRACK_GAIN] = " TRACK GAIN (%g..%g)",
    [ARGS_GAIN] = " GAIN (%g..%g)",
    [ARGS_TRACK_SWITCH] = " TRACK on|off",
    [ARGS_CLIP_SWITCH] = " TRACK SCENE on|off",
    [ARGS_CLIP_SPEED] = " TRACK SCENE 0.5|1|2",
    [ARGS_SWITCH] = " on|off",
    [ARGS_STOP] = " [TRACK [SCENE]]",
    [ARGS_MIDI] = " HEX_BYTE...",
    [ARGS_EXIT] = "",
    [ARGS_EXPORT] = "",
    [ARGS_SAVE] = "",
};

/* The range a word's number takes, for its messages. */
static void range_of(uint8_t args, double *lo, double *hi)
{
	*lo = 0;
	*hi = GL_GAIN_MAX;
	if (args == ARGS_TEMPO) {
		*lo = GL_TEMPO_MIN;
		*hi = GL_TEMPO_MAX;
	} else if (args == ARGS_METER) {
		*lo = GL_BEATS_MIN;
		*hi = GL_BEATS_MAX;
	}
}

struct parser {
	struct script *s;
	const char *name;
	int line;
	char *err;
	size_t errlen;
	int64_t frame; /* the current line's frame */
	int exit_line; /* 0 until an `exit` line */
	const struct script_midi *midi;
	struct controller ctl; /* maps the `midi` lines, once there is one */
	bool ctl_ready;
	bool out_of_memory;	   /* a midi line's command could not be added */
	char shown[SHOWN_MAX + 4]; /* a word quoted in a message */
};

static int fail(struct parser *p, const char *fmt, ...)
{
	int n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, p->line);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Plain decimal numbers only: strtod() would also take hex ("0x78"),
 * "inf", "nan" and "1e2" for an integer, none of which a script means. */
static bool decimal(const char *text, bool fraction)
{
	const char *c = text;
	if (*c == '+' || *c == '-')
		c++;
	return *c && strspn(c, fraction ? "0123456789.eE+-" : "0123456789") == strlen(c);
}

/* A word as a message quotes it: cut short (with "...") when long, so that
 * a line of garbage gives a message of one line. */
static const char *shown(struct parser *p, const char *word)
{
	if (strlen(word) <= SHOWN_MAX)
		return word;
	snprintf(p->shown, sizeof(p->shown), "%.*s...", SHOWN_MAX, word);
	return p->shown;
}

static bool parse_long(const char *text, long lo, long hi, long *out)
{
	if (!decimal(text, false))
		return false;
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool parse_float(const char *text, double lo, double hi, float *out)
{
	if (!decimal(text, true))
		return false;
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	/* Written as !(in range) so that NaN is refused too. */
	if (errno || end == text || *end || !(v >= lo && v <= hi))
		return false;
	*out = (float)v;
	return true;
}

static int parse_track(struct parser *p, const char *text, struct command *cmd)
{
	long v;
	if (!parse_long(text, 0, GL_TRACKS - 1, &v))
		return fail(p, "track '%s' is not 0..%d", shown(p, text), GL_TRACKS - 1);
	cmd->track = (uint8_t)v;
	return 0;
}

static int parse_scene(struct parser *p, const char *text, struct command *cmd)
{
	long v;
	if (!parse_long(text, 0, GL_SCENES - 1, &v))
		return fail(p, "scene '%s' is not 0..%d", shown(p, text), GL_SCENES - 1);
	cmd->scene = (uint8_t)v;
	return 0;
}

static int parse_switch(struct parser *p, const char *text, struct command *cmd)
{
	if (!strcmp(text, "on") || !strcmp(text, "1"))
		cmd->value = 1.0f;
	else if (!strcmp(text, "off") || !strcmp(text, "0"))
		cmd->value = 0.0f;
	else
		return fail(p, "'%s' is not on or off", shown(p, text));
	return 0;
}

static int parse_gain(struct parser *p, const char *text, struct command *cmd)
{
	if (!parse_float(text, 0.0, GL_GAIN_MAX, &cmd->value))
		return fail(p, "gain '%s' is not a number from 0 to %g", shown(p, text),
			    GL_GAIN_MAX);
	return 0;
}

static int add_entry(struct parser *p, const struct command *cmd)
{
	struct script *s = p->s;
	if (s->count == GL_SCRIPT_COMMANDS_MAX)
		return fail(p, "more than %d commands in the script",
			    GL_SCRIPT_COMMANDS_MAX);
	if (s->count == s->capacity) {
		size_t cap = s->capacity ? s->capacity * 2 : 64;
		struct script_entry *grown = realloc(s->entries, cap * sizeof(*grown));
		if (!grown)
			return fail(p, "out of memory");
		s->entries = grown;
		s->capacity = cap;
	}
	s->entries[s->count].cmd = *cmd;
	s->entries[s->count].cmd.frame = p->frame;
	s->entries[s->count].line = p->line;
	s->count++;
	return 0;
}

/* The controller's commands, each at the line's frame. */
static bool take_command(void *ctx, const struct command *cmd)
{
	struct parser *p = ctx;
	if (add_entry(p, cmd)) {
		p->out_of_memory = true;
		return false;
	}
	return true;
}

static int parse_midi(struct parser *p, char **argv, int argc)
{
	uint8_t bytes[MAX_MIDI_BYTES];
	if (argc > MAX_MIDI_BYTES)
		return fail(p, "midi: %d bytes, at most %d a line", argc, MAX_MIDI_BYTES);
	for (int i = 0; i < argc; i++) {
		char *end;
		/* Two hex digits: strtoul() would also take "-1", " 7f" or "0x7f". */
		unsigned long v = strtoul(argv[i], &end, 16);
		if (end == argv[i] || *end || strlen(argv[i]) > 2 ||
		    !strchr("0123456789abcdefABCDEF", argv[i][0]) || v > 0xFF)
			return fail(p, "midi: '%s' is not a hex byte (00..ff)",
				    shown(p, argv[i]));
		bytes[i] = (uint8_t)v;
	}
	if (!p->midi || !p->midi->profile)
		return fail(p, "midi: no controller profile to map it (%s)",
			    p->midi && p->midi->missing ? p->midi->missing
							: "none loaded");
	if (!p->ctl_ready) {
		struct time_map t = {.rate = p->midi->rate ? p->midi->rate : 48000};
		controller_init(&p->ctl, p->midi->profile, &t);
		p->ctl_ready = true;
	}
	struct controller *c = &p->ctl;
	struct controller_stats before = c->stats;
	struct command_sink sink = {.push = take_command, .ctx = p};
	int64_t us = time_map_us(&c->time, p->frame);
	controller_poll(c, us, &sink); /* a foot switch held since a line before */
	controller_midi_in(c, bytes, (size_t)argc, us, &sink);
	if (p->out_of_memory)
		return -1; /* add_entry said why */
	/* A connected controller skips bad bytes; a script is text someone
	 * wrote, so the line is refused instead. */
	if (c->stats.stray_data != before.stray_data)
		return fail(p, "midi: data byte without a status byte");
	if (c->stats.truncated != before.truncated)
		return fail(p, "midi: status byte inside a MIDI message");
	if (c->stats.sysex_unterminated != before.sysex_unterminated)
		return fail(p, "midi: SysEx cut short by a status byte");
	if (c->stats.stray_end != before.stray_end)
		return fail(p, "midi: F7 without a SysEx before it");
	if (c->need)
		return fail(p, "midi: incomplete MIDI message");
	if (c->in_sysex)
		return fail(p, "midi: SysEx without its end byte F7");
	return 0;
}

static int parse_arguments(struct parser *p, const struct word *w, char **argv, int argc)
{
	struct command cmd = {.type = w->command};
	static const int want[] = {
	    [ARGS_NONE] = 0,	   [ARGS_TRACK_SCENE] = 2, [ARGS_SCENE] = 1,
	    [ARGS_TEMPO] = 1,	   [ARGS_METER] = 1,	   [ARGS_QUANTISE] = 1,
	    [ARGS_TRACK_GAIN] = 2, [ARGS_GAIN] = 1,	   [ARGS_TRACK_SWITCH] = 2,
	    [ARGS_SWITCH] = 1,	   [ARGS_EXIT] = 0,	   [ARGS_EXPORT] = 0,
	    [ARGS_SAVE] = 0,	   [ARGS_CLIP_SWITCH] = 3, [ARGS_CLIP_SPEED] = 3,
	};
	bool count_ok;
	if (w->args == ARGS_STOP)
		count_ok = argc <= 2;
	else if (w->args == ARGS_MIDI)
		count_ok = argc >= 1;
	else
		count_ok = argc == want[w->args];
	if (!count_ok) {
		char args[64];
		double lo, hi;
		range_of(w->args, &lo, &hi);
		snprintf(args, sizeof(args), usage[w->args], lo, hi);
		return fail(p, "usage: %s%s", w->name, args);
	}

	long v;
	switch (w->args) {
	case ARGS_NONE:
		break;
	case ARGS_EXPORT: /* the engine passes it on to the SD writer */
		cmd.value = REQUEST_EXPORT;
		break;
	case ARGS_SAVE:
		cmd.value = REQUEST_SAVE;
		break;
	case ARGS_TRACK_SCENE:
		if (parse_track(p, argv[0], &cmd) || parse_scene(p, argv[1], &cmd))
			return -1;
		break;
	case ARGS_SCENE:
		if (parse_scene(p, argv[0], &cmd))
			return -1;
		break;
	case ARGS_TEMPO:
		if (!parse_float(argv[0], GL_TEMPO_MIN, GL_TEMPO_MAX, &cmd.value))
			return fail(p, "tempo '%s' is not %g..%g BPM", shown(p, argv[0]),
				    GL_TEMPO_MIN, GL_TEMPO_MAX);
		break;
	case ARGS_METER:
		if (!parse_long(argv[0], GL_BEATS_MIN, GL_BEATS_MAX, &v))
			return fail(p, "beats per bar '%s' is not %d..%d",
				    shown(p, argv[0]), GL_BEATS_MIN, GL_BEATS_MAX);
		cmd.value = (float)v;
		break;
	case ARGS_QUANTISE:
		if (!strcmp(argv[0], "off"))
			cmd.value = QUANTISE_OFF;
		else if (!strcmp(argv[0], "beat"))
			cmd.value = QUANTISE_BEAT;
		else if (!strcmp(argv[0], "bar"))
			cmd.value = QUANTISE_BAR;
		else
			return fail(p, "quantise '%s' is not off, beat or bar",
				    shown(p, argv[0]));
		break;
	case ARGS_TRACK_GAIN:
		if (parse_track(p, argv[0], &cmd) || parse_gain(p, argv[1], &cmd))
			return -1;
		break;
	case ARGS_GAIN:
		if (parse_gain(p, argv[0], &cmd))
			return -1;
		break;
	case ARGS_TRACK_SWITCH:
		if (parse_track(p, argv[0], &cmd) || parse_switch(p, argv[1], &cmd))
			return -1;
		break;
	case ARGS_CLIP_SWITCH:
		if (parse_track(p, argv[0], &cmd) || parse_scene(p, argv[1], &cmd) ||
		    parse_switch(p, argv[2], &cmd))
			return -1;
		break;
	case ARGS_CLIP_SPEED:
		if (parse_track(p, argv[0], &cmd) || parse_scene(p, argv[1], &cmd))
			return -1;
		if (!strcmp(argv[2], "0.5"))
			cmd.value = 0.5f;
		else if (!strcmp(argv[2], "1"))
			cmd.value = 1.0f;
		else if (!strcmp(argv[2], "2"))
			cmd.value = 2.0f;
		else
			return fail(p, "speed '%s' is not 0.5, 1 or 2",
				    shown(p, argv[2]));
		break;
	case ARGS_SWITCH:
		if (parse_switch(p, argv[0], &cmd))
			return -1;
		break;
	case ARGS_STOP:
		cmd.type = argc == 0   ? CMD_STOP_ALL
			   : argc == 1 ? CMD_STOP_TRACK
				       : CMD_STOP_CLIP;
		if (argc >= 1 && parse_track(p, argv[0], &cmd))
			return -1;
		if (argc == 2 && parse_scene(p, argv[1], &cmd))
			return -1;
		break;
	case ARGS_MIDI:
		return parse_midi(p, argv, argc);
	case ARGS_EXIT:
		p->exit_line = p->line;
		p->s->exit_frame = p->frame;
		return 0;
	}
	return add_entry(p, &cmd);
}

static int parse_line(struct parser *p, char *text)
{
	char *hash = strchr(text, '#');
	if (hash)
		*hash = '\0';
	char *argv[MAX_WORDS];
	int argc = 0;
	for (char *save = NULL, *tok = strtok_r(text, " \t\r\n", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (argc == MAX_WORDS)
			return fail(p,
				    "too many words (at most a stamp, a command and %d "
				    "arguments)",
				    MAX_WORDS - 2);
		argv[argc++] = tok;
	}
	if (argc == 0)
		return 0;
	if (p->exit_line)
		return fail(p, "nothing may follow 'exit' (line %d)", p->exit_line);

	int first = 0;
	if (argv[0][0] == '@') {
		char *end;
		errno = 0;
		long long f = strtoll(argv[0] + 1, &end, 10);
		if (!decimal(argv[0] + 1, false) || errno || *end || f < 0 ||
		    f > GL_SCRIPT_FRAME_MAX)
			return fail(p,
				    "'%s' is not a frame stamp (@ and a frame number, "
				    "0..%lld)",
				    shown(p, argv[0]), (long long)GL_SCRIPT_FRAME_MAX);
		if (f < p->frame)
			return fail(
			    p,
			    "@%lld is before the line above (@%lld): lines must be in "
			    "time order",
			    f, (long long)p->frame);
		p->frame = f;
		first = 1;
		if (argc == 1)
			return fail(p, "a frame stamp needs a command after it");
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strcmp(argv[first], words[i].name))
			return parse_arguments(p, &words[i], argv + first + 1,
					       argc - first - 1);
	return fail(p, "unknown command '%s'", shown(p, argv[first]));
}

int script_parse_buffer(struct script *s, const char *text, size_t len, const char *name,
			const struct script_midi *midi, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->exit_frame = GL_NEVER;
	struct parser p = {
	    .s = s, .name = name, .err = err, .errlen = errlen, .midi = midi};
	if (len > GL_SCRIPT_BYTES_MAX) {
		snprintf(err, errlen, "%s: %zu bytes, more than the %d a script may have",
			 name, len, GL_SCRIPT_BYTES_MAX);
		return -1;
	}
	char *copy = malloc(len + 1);
	if (!copy) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	int rc = 0;
	char *line = copy, *stop = copy + len;
	while (line < stop && rc == 0) {
		char *next = memchr(line, '\n', (size_t)(stop - line));
		next = next ? next : stop;
		*next = '\0';
		p.line++;
		/* A NUL would end the line early and hide the rest of it. */
		if (memchr(line, '\0', (size_t)(next - line)))
			rc = fail(&p, "a NUL byte: a script is text");
		else
			rc = parse_line(&p, line);
		line = next + 1;
	}
	free(copy);
	if (rc)
		script_free(s);
	return rc;
}

int script_parse_text(struct script *s, const char *text, const char *name,
		      const struct script_midi *midi, char *err, size_t errlen)
{
	return script_parse_buffer(s, text, strlen(text), name, midi, err, errlen);
}

void script_free(struct script *s)
{
	free(s->entries);
	s->entries = NULL;
	s->count = s->capacity = 0;
}
