/* profile.c -- the controller profile parser and profile lookup (see
 * profile.h; the file format is described in docs/manual.md, "The profile
 * format").
 *
 * One line at a time, with a cursor over a copy of the line: every token is
 * checked where it is read, so a message can say exactly what is wrong and
 * where. Checks that need the whole file (rows versus pad rules, overlapping
 * rules, LEDs for every state) run at the end and name the line concerned.
 */
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_CHARS 255

static const char *const action_names[ACT_COUNT] = {
    [ACT_PAD] = "pad",
    [ACT_SCENE] = "scene",
    [ACT_STOP_CLIP] = "stop_clip",
    [ACT_STOP_TRACK] = "stop_track",
    [ACT_STOP_ALL] = "stop_all",
    [ACT_BANK_UP] = "bank_up",
    [ACT_BANK_DOWN] = "bank_down",
    [ACT_SHIFT] = "shift",
    [ACT_RECORD_ARM] = "record_arm",
    [ACT_TAP_TEMPO] = "tap_tempo",
    [ACT_METRONOME] = "metronome",
    [ACT_UNDO] = "undo",
    [ACT_REDO] = "redo",
    [ACT_VOLUME] = "volume",
    [ACT_MASTER] = "master",
    [ACT_FOOT] = "foot",
    [ACT_SELECT_TRACK] = "select_track",
    [ACT_NEXT_TRACK] = "next_track",
    [ACT_PREV_TRACK] = "prev_track",
    [ACT_NEXT_SCENE] = "next_scene",
    [ACT_PREV_SCENE] = "prev_scene",
    [ACT_EXPORT] = "export",
    [ACT_SAVE] = "save",
    [ACT_CLEAR] = "clear",
    [ACT_NONE] = "none",
    [ACT_MULTIPLY] = "multiply",
    [ACT_INSERT] = "insert",
    [ACT_REPLACE] = "replace",
    [ACT_SUBSTITUTE] = "substitute",
    [ACT_REVERSE] = "reverse",
    [ACT_ONESHOT] = "oneshot",
    [ACT_TRIGGER] = "trigger",
    [ACT_UNDO_ALL] = "undo_all",
    [ACT_REDO_ALL] = "redo_all",
    [ACT_HALF_SPEED] = "half_speed",
    [ACT_DOUBLE_SPEED] = "double_speed",
    [ACT_MUTE_CLIP] = "mute_clip",
    [ACT_FOOT2] = "foot2",
};

/* In [leds] each is written storage_<name>. */
static const char *const storage_names[PROFILE_STORAGE_STATES] = {
    [STORAGE_IDLE] = "idle",	     [STORAGE_RESTORING] = "restoring",
    [STORAGE_SAVING] = "saving",     [STORAGE_EXPORTING] = "exporting",
    [STORAGE_EXPORTED] = "exported", [STORAGE_EXPORT_FAILED] = "export_failed",
    [STORAGE_FAULT] = "fault",
};

#define STORAGE_KEY_PREFIX "storage_"

static const char *const button_led_names[BUTTON_LED_COUNT] = {
    [BUTTON_OFF] = "button_off",
    [BUTTON_ON] = "button_on",
    [BUTTON_BLINK] = "button_blink",
};

/* In [leds] each is written <group>_off, <group>_on, <group>_blink. */
static const char *const group_names[GROUP_COUNT] = {
    [GROUP_SCENE] = "scene",
    [GROUP_STOP] = "stop",
    [GROUP_RECORD_ARM] = "record_arm",
    [GROUP_METRONOME] = "metronome",
};

static const char *const value_names[BUTTON_LED_COUNT] = {
    [BUTTON_OFF] = "off",
    [BUTTON_ON] = "on",
    [BUTTON_BLINK] = "blink",
};

static const char *const kind_names[] = {
    [KIND_NOTE] = "note",
    [KIND_CC] = "cc",
    [KIND_PROGRAM] = "pc",
};

const char *profile_action_name(enum profile_action a)
{
	return (unsigned)a < ACT_COUNT ? action_names[a] : "?";
}

const char *profile_state_name(enum clip_state s)
{
	return engine_clip_state_name(s);
}

const char *profile_storage_name(enum storage_status s)
{
	return (unsigned)s < PROFILE_STORAGE_STATES ? storage_names[s] : "?";
}

/* Which of x and y an action needs; it may have no other. */
static bool needs_x(uint8_t action)
{
	return action == ACT_PAD || action == ACT_STOP_CLIP || action == ACT_STOP_TRACK ||
	       action == ACT_VOLUME || action == ACT_SELECT_TRACK;
}

static bool needs_y(uint8_t action)
{
	return action == ACT_PAD || action == ACT_SCENE || action == ACT_STOP_CLIP;
}

enum section { SEC_NONE, SEC_CONTROLLER, SEC_MAP, SEC_LEDS, SEC_COUNT };

static const char *const section_names[SEC_COUNT] = {
    [SEC_CONTROLLER] = "controller",
    [SEC_MAP] = "map",
    [SEC_LEDS] = "leds",
};

enum controller_key {
	KEY_NAME,
	KEY_PORT,
	KEY_INQUIRY,
	KEY_INTRO,
	KEY_ROWS,
	KEY_DOUBLE_TAP_MS,
	KEY_HOLD_MS,
	KEY_OUTRO,
	KEY_CLOCK,
	KEY_INQUIRY_CHANNEL,
	KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
    [KEY_NAME] = "name",       [KEY_PORT] = "port",
    [KEY_INQUIRY] = "inquiry", [KEY_INTRO] = "intro",
    [KEY_ROWS] = "rows",       [KEY_DOUBLE_TAP_MS] = "double_tap_ms",
    [KEY_HOLD_MS] = "hold_ms", [KEY_OUTRO] = "outro",
    [KEY_CLOCK] = "clock",     [KEY_INQUIRY_CHANNEL] = "inquiry_channel",
};

struct parser {
	struct profile *p;
	const char *file;
	int line;
	char *err;
	size_t errlen;
	bool failed;
	enum section section;
	int section_line[SEC_COUNT]; /* 0: not seen */
	int key_line[KEY_COUNT];
	int state_line[CLIP_STATE_COUNT];
	int outside_line;
	int button_line[BUTTON_LED_COUNT];
	int group_line[GROUP_COUNT][BUTTON_LED_COUNT];
	int status_line; /* status_led = ... */
	int storage_line[PROFILE_STORAGE_STATES];
	const char *s; /* cursor in the current line */
};

/* Records the first error as "file:line: message"; returns false so that
 * callers can write `return fail(...)`. */
__attribute__((format(printf, 3, 4))) static bool fail_at(struct parser *ps, int line,
							  const char *fmt, ...)
{
	if (ps->failed)
		return false;
	ps->failed = true;
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (ps->errlen)
		snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->file, line, msg);
	return false;
}

#define fail(ps, ...) fail_at((ps), (ps)->line, __VA_ARGS__)

/* ---- the cursor --------------------------------------------------------- */

static void skip_spaces(struct parser *ps)
{
	while (*ps->s == ' ' || *ps->s == '\t')
		ps->s++;
}

static bool at_end(struct parser *ps)
{
	skip_spaces(ps);
	return *ps->s == '\0';
}

/* A word: a letter or '_' then letters, digits and '_'. */
static bool read_word(struct parser *ps, char *word, size_t size)
{
	skip_spaces(ps);
	size_t n = 0;
	if (!isalpha((unsigned char)*ps->s) && *ps->s != '_')
		return false;
	while (isalnum((unsigned char)*ps->s) || *ps->s == '_') {
		if (n + 1 < size)
			word[n++] = *ps->s;
		ps->s++;
	}
	word[n] = '\0';
	return true;
}

static bool accept(struct parser *ps, const char *token)
{
	skip_spaces(ps);
	size_t n = strlen(token);
	if (strncmp(ps->s, token, n) != 0)
		return false;
	ps->s += n;
	return true;
}

/* A decimal or 0x-hex integer in [lo, hi]; what names it in messages. */
static bool read_int(struct parser *ps, long lo, long hi, long *out, const char *what)
{
	skip_spaces(ps);
	const char *start = ps->s;
	int base = 10;
	if (start[0] == '0' && (start[1] == 'x' || start[1] == 'X')) {
		base = 16;
		ps->s += 2;
	}
	long v = 0;
	int digits = 0;
	for (;; ps->s++, digits++) {
		int d;
		char ch = *ps->s;
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (base == 16 && isxdigit((unsigned char)ch))
			d = tolower((unsigned char)ch) - 'a' + 10;
		else
			break;
		if (v > 1000000)
			return fail(ps, "%s: number too large", what);
		v = v * base + d;
	}
	if (digits == 0 || isalnum((unsigned char)*ps->s) || *ps->s == '_')
		return fail(ps, "%s: expected a number at \"%.20s\"", what, start);
	if (v < lo || v > hi)
		return fail(ps, "%s %ld is out of range %ld..%ld", what, v, lo, hi);
	*out = v;
	return true;
}

/* N or N..M, both in [lo, hi], N <= M. */
static bool read_range(struct parser *ps, long lo, long hi, uint8_t *first, uint8_t *last,
		       const char *what)
{
	long a, b;
	if (!read_int(ps, lo, hi, &a, what))
		return false;
	b = a;
	if (accept(ps, "..") && !read_int(ps, lo, hi, &b, what))
		return false;
	if (b < a)
		return fail(ps, "%s range %ld..%ld runs backwards", what, a, b);
	*first = (uint8_t)a;
	*last = (uint8_t)b;
	return true;
}

/* Bytes written as two hex digits each: F0 47 7F ... */
static bool read_hex_bytes(struct parser *ps, uint8_t *out, int max, int *n,
			   const char *what)
{
	*n = 0;
	while (!at_end(ps)) {
		const char *s = ps->s;
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) ||
		    (s[2] != '\0' && s[2] != ' ' && s[2] != '\t'))
			return fail(ps,
				    "%s: expected hex bytes like \"F0 47\" at \"%.20s\"",
				    what, s);
		if (*n == max)
			return fail(ps, "%s: more than %d bytes", what, max);
		out[(*n)++] = (uint8_t)strtol((char[]){s[0], s[1], '\0'}, NULL, 16);
		ps->s += 2;
	}
	if (*n == 0)
		return fail(ps, "%s: no bytes", what);
	return true;
}

/* ---- [controller] -------------------------------------------------------- */

/* One SysEx message: F0, data bytes, F7. */
static bool read_sysex(struct parser *ps, uint8_t *out, int *len, const char *what)
{
	if (!read_hex_bytes(ps, out, PROFILE_MAX_SYSEX, len, what))
		return false;
	if (*len < 2 || out[0] != 0xF0 || out[*len - 1] != 0xF7)
		return fail(ps, "%s must be one SysEx message: F0 ... F7", what);
	for (int i = 1; i < *len - 1; i++)
		if (out[i] >= 0x80)
			return fail(ps, "%s: byte %d (%02X) is not a data byte", what,
				    i + 1, out[i]);
	return true;
}

static bool copy_text(struct parser *ps, char *dst, size_t size, const char *what)
{
	skip_spaces(ps);
	size_t n = strlen(ps->s);
	while (n > 0 && (ps->s[n - 1] == ' ' || ps->s[n - 1] == '\t'))
		n--;
	if (n == 0)
		return fail(ps, "%s is empty", what);
	if (n >= size)
		return fail(ps, "%s is longer than %zu characters", what, size - 1);
	memcpy(dst, ps->s, n);
	dst[n] = '\0';
	return true;
}

static bool controller_line(struct parser *ps, const char *key)
{
	struct profile *p = ps->p;
	int k = 0;
	while (k < KEY_COUNT && strcmp(key, key_names[k]) != 0)
		k++;
	if (k == KEY_COUNT)
		return fail(ps,
			    "unknown key \"%s\" in [controller] (name, port, inquiry, "
			    "inquiry_channel, intro, outro, clock, rows, double_tap_ms, "
			    "hold_ms)",
			    key);
	if (k != KEY_PORT && ps->key_line[k])
		return fail(ps, "\"%s\" given twice (first on line %d)", key,
			    ps->key_line[k]);
	ps->key_line[k] = ps->line;
	long v;
	switch ((enum controller_key)k) {
	case KEY_NAME:
		return copy_text(ps, p->name, sizeof(p->name), "name");
	case KEY_PORT:
		if (p->nports == PROFILE_MAX_PORTS)
			return fail(ps, "more than %d port patterns", PROFILE_MAX_PORTS);
		return copy_text(ps, p->ports[p->nports++], PROFILE_MAX_PATTERN,
				 "port pattern");
	case KEY_INQUIRY:
		if (!read_hex_bytes(ps, p->inquiry, (int)sizeof(p->inquiry),
				    &p->inquiry_len, "inquiry"))
			return false;
		for (int i = 0; i < p->inquiry_len; i++)
			if (p->inquiry[i] >= 0x80)
				return fail(ps, "inquiry: %02X is not a data byte",
					    p->inquiry[i]);
		return true;
	case KEY_INTRO:
		return read_sysex(ps, p->intro, &p->intro_len, "intro");
	case KEY_OUTRO:
		return read_sysex(ps, p->outro, &p->outro_len, "outro");
	case KEY_CLOCK: {
		char word[8];
		skip_spaces(ps);
		const char *at = ps->s;
		if (!read_word(ps, word, sizeof(word)) ||
		    (strcmp(word, "yes") != 0 && strcmp(word, "no") != 0))
			return fail(ps, "clock: expected yes or no at \"%.20s\"", at);
		p->clock = word[0] == 'y';
		break;
	}
	case KEY_INQUIRY_CHANNEL:
		if (!read_int(ps, 0, 127, &v, "inquiry_channel"))
			return false;
		p->inquiry_channel = (uint8_t)v;
		break;
	case KEY_ROWS:
		if (!read_int(ps, 1, PROFILE_MAX_ROWS, &v, "rows"))
			return false;
		p->rows = (int)v;
		break;
	case KEY_DOUBLE_TAP_MS:
		if (!read_int(ps, 50, 2000, &v, "double_tap_ms"))
			return false;
		p->double_tap_ms = (uint32_t)v;
		break;
	case KEY_HOLD_MS:
		if (!read_int(ps, 200, 10000, &v, "hold_ms"))
			return false;
		p->hold_ms = (uint32_t)v;
		break;
	case KEY_COUNT:
		break;
	}
	return at_end(ps) || fail(ps, "unexpected \"%.20s\" after %s", ps->s, key);
}

/* ---- [leds] --------------------------------------------------------------- */

/* velocity [ch channel]: one LED message. */
static bool read_led_message(struct parser *ps, uint8_t *velocity, int8_t *channel,
			     const char *what)
{
	long v, ch = -1;
	if (!read_int(ps, 0, 127, &v, what))
		return false;
	char word[8];
	skip_spaces(ps);
	const char *save = ps->s;
	if (read_word(ps, word, sizeof(word))) {
		if (strcmp(word, "ch") != 0) {
			ps->s = save; /* maybe "blink": the caller's */
		} else if (!read_int(ps, 0, 15, &ch, "LED channel")) {
			return false;
		}
	}
	*velocity = (uint8_t)v;
	*channel = (int8_t)ch;
	return true;
}

/* message [, message] [blink]: what an LED shows (profile.h, struct
 * profile_led). */
static bool read_led(struct parser *ps, struct profile_led *led, const char *what)
{
	struct profile_led l = {0};
	if (!read_led_message(ps, &l.velocity, &l.channel, what))
		return false;
	if (accept(ps, ",")) {
		l.two = true;
		if (!read_led_message(ps, &l.velocity2, &l.channel2, what))
			return false;
	}
	char word[8];
	skip_spaces(ps);
	const char *save = ps->s;
	if (read_word(ps, word, sizeof(word))) {
		if (strcmp(word, "blink") != 0) {
			ps->s = save;
			return fail(ps,
				    "%s: expected \"ch <channel>\", \", <velocity>\" or "
				    "\"blink\" at \"%.20s\"",
				    what, ps->s);
		}
		l.blink = true;
		ps->p->soft_blink = true;
	}
	if (!at_end(ps))
		return fail(ps, "unexpected \"%.20s\" after %s", ps->s, what);
	*led = l;
	return true;
}

/* status_led = note|cc N ch C: where the SD card's state is shown. Written
 * as a control is in [map], so it reads like the button it lights. */
static bool status_led_line(struct parser *ps)
{
	struct profile *p = ps->p;
	if (ps->status_line)
		return fail(ps, "status_led given twice (first on line %d)",
			    ps->status_line);
	ps->status_line = ps->line;
	char word[8];
	long number, channel;
	struct profile_control *c = &p->status_out;
	skip_spaces(ps);
	const char *at = ps->s;
	if (!read_word(ps, word, sizeof(word)) ||
	    (strcmp(word, "note") != 0 && strcmp(word, "cc") != 0))
		return fail(ps,
			    "status_led: expected \"note N ch C\" or \"cc N ch C\" at "
			    "\"%.20s\"",
			    at);
	c->kind = strcmp(word, "note") == 0 ? KIND_NOTE : KIND_CC;
	if (!read_int(ps, 0, 127, &number, "status_led"))
		return false;
	if (!read_word(ps, word, sizeof(word)) || strcmp(word, "ch") != 0)
		return fail(ps, "status_led: expected \"ch <channel>\" at \"%.20s\"",
			    ps->s);
	if (!read_int(ps, 0, 15, &channel, "status_led channel"))
		return false;
	if (!at_end(ps))
		return fail(ps, "unexpected \"%.20s\" after status_led", ps->s);
	c->number = (uint8_t)number;
	c->channel = (uint8_t)channel;
	c->present = true;
	return true;
}

/* storage_<status> = velocity [ch channel]: what the status LED shows. */
static bool storage_led_line(struct parser *ps, const char *key)
{
	const char *name = key + strlen(STORAGE_KEY_PREFIX);
	for (int s = 0; s < PROFILE_STORAGE_STATES; s++)
		if (strcmp(name, storage_names[s]) == 0) {
			if (ps->storage_line[s])
				return fail(ps, "%s given twice (first on line %d)", key,
					    ps->storage_line[s]);
			ps->storage_line[s] = ps->line;
			return read_led(ps, &ps->p->storage_led[s], key);
		}
	return fail(ps,
		    "unknown storage status \"%s\" (storage_idle, storage_restoring, "
		    "storage_saving, storage_exporting, storage_exported, "
		    "storage_export_failed, storage_fault)",
		    key);
}

static bool leds_line(struct parser *ps, const char *key)
{
	struct profile *p = ps->p;
	for (int s = 0; s < CLIP_STATE_COUNT; s++)
		if (strcmp(key, engine_clip_state_name(s)) == 0) {
			if (ps->state_line[s])
				return fail(ps,
					    "LED for %s given twice (first on line %d)",
					    key, ps->state_line[s]);
			ps->state_line[s] = ps->line;
			return read_led(ps, &p->state_led[s], key);
		}
	for (int b = 0; b < BUTTON_LED_COUNT; b++)
		if (strcmp(key, button_led_names[b]) == 0) {
			if (ps->button_line[b])
				return fail(ps, "%s given twice (first on line %d)", key,
					    ps->button_line[b]);
			ps->button_line[b] = ps->line;
			return read_led(ps, &p->button_led[b], key);
		}
	for (int g = 0; g < GROUP_COUNT; g++) {
		size_t n = strlen(group_names[g]);
		if (strncmp(key, group_names[g], n) != 0 || key[n] != '_')
			continue;
		for (int b = 0; b < BUTTON_LED_COUNT; b++)
			if (strcmp(key + n + 1, value_names[b]) == 0) {
				if (ps->group_line[g][b])
					return fail(ps,
						    "%s given twice (first on line %d)",
						    key, ps->group_line[g][b]);
				ps->group_line[g][b] = ps->line;
				return read_led(ps, &p->group_led[g][b], key);
			}
	}
	if (strcmp(key, "outside") == 0) {
		if (ps->outside_line)
			return fail(ps, "LED for outside given twice (first on line %d)",
				    ps->outside_line);
		ps->outside_line = ps->line;
		return read_led(ps, &p->outside_led, key);
	}
	if (strcmp(key, "status_led") == 0)
		return status_led_line(ps);
	if (strncmp(key, STORAGE_KEY_PREFIX, strlen(STORAGE_KEY_PREFIX)) == 0)
		return storage_led_line(ps, key);
	return fail(ps,
		    "unknown key \"%s\" in [leds] (a clip state: empty, record_queued, "
		    "recording, play_queued, playing, overdubbing, stop_queued, stopped; "
		    "or outside, button_off, button_on, button_blink, "
		    "scene_|stop_|record_arm_|metronome_ off, on, blink, status_led, "
		    "storage_<status>)",
		    key);
}

/* ---- [map] ---------------------------------------------------------------- */

static bool read_expr(struct parser *ps, const struct profile_rule *r,
		      struct profile_expr *e, const char *axis)
{
	char word[8];
	long v;
	skip_spaces(ps);
	if (isdigit((unsigned char)*ps->s)) {
		if (!read_int(ps, 0, 127, &v, axis))
			return false;
		e->term = TERM_CONST;
		e->offset = (int16_t)v;
		return true;
	}
	if (!read_word(ps, word, sizeof(word)))
		return fail(ps, "%s: expected a number, \"ch\" or \"%s\" at \"%.20s\"",
			    axis, kind_names[r->kind], ps->s);
	if (strcmp(word, "ch") == 0)
		e->term = TERM_CHANNEL;
	else if (strcmp(word, kind_names[r->kind]) == 0)
		e->term = TERM_NUMBER;
	else
		return fail(ps, "%s: \"%s\" is neither \"ch\" nor \"%s\"", axis, word,
			    kind_names[r->kind]);
	e->offset = 0;
	bool minus = accept(ps, "-");
	if (minus || accept(ps, "+")) {
		if (!read_int(ps, 0, 127, &v, axis))
			return false;
		e->offset = (int16_t)(minus ? -v : v);
	}
	return true;
}

static bool map_line(struct parser *ps, const char *first_word)
{
	struct profile *p = ps->p;
	struct profile_rule r = {.line = ps->line};
	char word[24];
	const char *action = first_word;
	if (strcmp(first_word, "shift") == 0 && accept(ps, "+")) {
		r.shift = true;
		if (!read_word(ps, word, sizeof(word)))
			return fail(ps, "expected an action after \"shift+\"");
		action = word;
	}
	int a = 0;
	while (a < ACT_COUNT && strcmp(action, action_names[a]) != 0)
		a++;
	if (a == ACT_COUNT)
		return fail(ps, "unknown action \"%s\"", action);
	if (r.shift && a == ACT_SHIFT)
		return fail(ps, "shift+shift means nothing");
	r.action = (uint8_t)a;

	char kind[8];
	if (!read_word(ps, kind, sizeof(kind)))
		return fail(ps, "%s: expected note, cc or pc", action_names[a]);
	if (strcmp(kind, "note") == 0)
		r.kind = KIND_NOTE;
	else if (strcmp(kind, "cc") == 0)
		r.kind = KIND_CC;
	else if (strcmp(kind, "pc") == 0)
		r.kind = KIND_PROGRAM;
	else
		return fail(ps, "%s: \"%s\" is not note, cc or pc", action_names[a],
			    kind);
	if ((a == ACT_VOLUME || a == ACT_MASTER) && r.kind != KIND_CC)
		return fail(ps, "%s needs a cc (a fader)", action_names[a]);
	if (!read_range(ps, 0, 127, &r.first, &r.last, kind_names[r.kind]))
		return false;
	if (!read_word(ps, word, sizeof(word)) || strcmp(word, "ch") != 0)
		return fail(ps,
			    "expected \"ch <channel>\" or \"ch <first>..<last>\" at "
			    "\"%.20s\"",
			    ps->s);
	if (!read_range(ps, 0, 15, &r.first_ch, &r.last_ch, "channel"))
		return false;

	if (accept(ps, "->")) {
		do {
			char axis[4];
			if (!read_word(ps, axis, sizeof(axis)) ||
			    (strcmp(axis, "x") != 0 && strcmp(axis, "y") != 0))
				return fail(ps,
					    "expected \"x =\" or \"y =\" at \"%.20s\"",
					    ps->s);
			struct profile_expr *e = axis[0] == 'x' ? &r.x : &r.y;
			if (e->term != TERM_NONE)
				return fail(ps, "%s given twice", axis);
			if (!accept(ps, "="))
				return fail(ps, "expected \"=\" after %s", axis);
			if (!read_expr(ps, &r, e, axis))
				return false;
		} while (accept(ps, ","));
	}
	if (!at_end(ps))
		return fail(ps, "unexpected \"%.20s\"", ps->s);
	if (needs_x(r.action) != (r.x.term != TERM_NONE))
		return fail(ps,
			    needs_x(r.action) ? "%s needs \"-> x = ...\" (the track)"
					      : "%s takes no x",
			    action_names[a]);
	if (needs_y(r.action) != (r.y.term != TERM_NONE))
		return fail(ps,
			    needs_y(r.action) ? "%s needs \"y = ...\" (the row)"
					      : "%s takes no y",
			    action_names[a]);
	if (p->nrules == PROFILE_MAX_RULES)
		return fail(ps, "more than %d rules", PROFILE_MAX_RULES);
	p->rules[p->nrules++] = r;
	return true;
}

/* ---- lines ----------------------------------------------------------------- */

static bool section_line(struct parser *ps)
{
	char word[16];
	ps->s++; /* '[' */
	if (!read_word(ps, word, sizeof(word)) || !accept(ps, "]") || !at_end(ps))
		return fail(ps, "expected a section header like [map]");
	int s = SEC_CONTROLLER;
	while (s < SEC_COUNT && strcmp(word, section_names[s]) != 0)
		s++;
	if (s == SEC_COUNT)
		return fail(ps, "unknown section [%s] ([controller], [map] or [leds])",
			    word);
	if (ps->section_line[s])
		return fail(ps, "section [%s] appears twice (first on line %d)", word,
			    ps->section_line[s]);
	ps->section_line[s] = ps->line;
	ps->section = (enum section)s;
	return true;
}

static bool parse_line(struct parser *ps, char *line)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	ps->s = line;
	if (at_end(ps))
		return true;
	if (*ps->s == '[')
		return section_line(ps);
	char word[24];
	if (!read_word(ps, word, sizeof(word)))
		return fail(ps, "expected a key or an action at \"%.20s\"", ps->s);
	switch (ps->section) {
	case SEC_NONE:
		return fail(ps, "\"%s\" outside any section: start with [controller]",
			    word);
	case SEC_CONTROLLER:
		if (!accept(ps, "="))
			return fail(ps, "expected \"=\" after %s", word);
		return controller_line(ps, word);
	case SEC_LEDS:
		if (!accept(ps, "="))
			return fail(ps, "expected \"=\" after %s", word);
		return leds_line(ps, word);
	case SEC_MAP:
		return map_line(ps, word);
	case SEC_COUNT:
		break;
	}
	return false;
}

/* ---- whole-file checks ------------------------------------------------------ */

/* The smallest and largest value of x or y over a rule's messages. */
static void expr_bounds(const struct profile_rule *r, const struct profile_expr *e,
			int *lo, int *hi)
{
	int a = 0, b = 0;
	if (e->term == TERM_CHANNEL) {
		a = r->first_ch;
		b = r->last_ch;
	} else if (e->term == TERM_NUMBER) {
		a = r->first;
		b = r->last;
	}
	*lo = a + e->offset;
	*hi = b + e->offset;
}

static int expr_value(const struct profile_expr *e, int channel, int number)
{
	int v = e->term == TERM_CHANNEL ? channel : e->term == TERM_NUMBER ? number : 0;
	return v + e->offset;
}

static bool check_rules(struct parser *ps)
{
	struct profile *p = ps->p;
	if (p->nrules == 0)
		return fail_at(ps,
			       ps->section_line[SEC_MAP] ? ps->section_line[SEC_MAP] : 1,
			       "no rules: a profile maps at least one control in [map]");
	for (int i = 0; i < p->nrules; i++) {
		const struct profile_rule *r = &p->rules[i];
		int lo, hi;
		if (needs_x(r->action)) {
			expr_bounds(r, &r->x, &lo, &hi);
			if (lo < 0 || hi >= PROFILE_COLUMNS)
				return fail_at(ps, r->line,
					       "x runs %d..%d: tracks are 0..%d", lo, hi,
					       PROFILE_COLUMNS - 1);
		}
		if (needs_y(r->action)) {
			if (p->rows == 0)
				return fail_at(ps, r->line,
					       "%s needs \"rows = N\" in [controller]",
					       action_names[r->action]);
			expr_bounds(r, &r->y, &lo, &hi);
			if (lo < 0 || hi >= p->rows)
				return fail_at(ps, r->line,
					       "y runs %d..%d: rows are 0..%d", lo, hi,
					       p->rows - 1);
		}
		for (int j = 0; j < p->nrules; j++) {
			const struct profile_rule *o = &p->rules[j];
			/* The shift button itself has no shift+ meaning: its
			 * release would find that instead, and shift would
			 * stay held. */
			if (r->shift && o->action == ACT_SHIFT && o->kind == r->kind &&
			    o->first <= r->last && r->first <= o->last &&
			    o->first_ch <= r->last_ch && r->first_ch <= o->last_ch)
				return fail_at(
				    ps, r->line,
				    "shift+%s is on the shift button (line %d)",
				    action_names[r->action], o->line);
			if (j >= i || o->shift != r->shift || o->kind != r->kind ||
			    o->first > r->last || r->first > o->last ||
			    o->first_ch > r->last_ch || r->first_ch > o->last_ch)
				continue;
			return fail_at(
			    ps, r->line, "%s %d ch %d is already mapped on line %d",
			    kind_names[r->kind],
			    r->first > o->first ? r->first : o->first,
			    r->first_ch > o->first_ch ? r->first_ch : o->first_ch,
			    o->line);
		}
	}
	return true;
}

/* A status LED shows every storage status, and storage values need a
 * status LED to show them on. */
static bool check_status_values(struct parser *ps)
{
	for (int s = 0; s < PROFILE_STORAGE_STATES; s++) {
		if (ps->status_line && !ps->storage_line[s])
			return fail_at(
			    ps, ps->status_line,
			    "status_led needs a value for every storage status: "
			    "storage_%s is missing",
			    storage_names[s]);
		if (!ps->status_line && ps->storage_line[s])
			return fail_at(ps, ps->storage_line[s],
				       "storage_%s without a status_led to show it on",
				       storage_names[s]);
	}
	return true;
}

static bool check_leds(struct parser *ps)
{
	struct profile *p = ps->p;
	bool lit = false; /* a control that shows clip states */
	for (int i = 0; i < p->nrules; i++)
		if (p->rules[i].action == ACT_PAD && p->rules[i].kind != KIND_PROGRAM)
			lit = true;
	int at = ps->section_line[SEC_LEDS] ? ps->section_line[SEC_LEDS] : 1;
	if (lit)
		for (int s = 0; s < CLIP_STATE_COUNT; s++)
			if (!ps->state_line[s])
				return fail_at(ps, at, "[leds] has no LED for %s",
					       engine_clip_state_name(s));
	if (!ps->outside_line)
		p->outside_led = p->state_led[CLIP_EMPTY];
	int buttons = 0;
	for (int b = 0; b < BUTTON_LED_COUNT; b++)
		buttons += ps->button_line[b] != 0;
	if (buttons != 0 && buttons != BUTTON_LED_COUNT)
		return fail_at(ps, at,
			       "button LEDs need all of button_off, button_on and "
			       "button_blink");
	p->has_button_leds = buttons == BUTTON_LED_COUNT;
	/* Each group: its own values where given, else button_*; the clip
	   stop buttons only with their own (they were dark before groups
	   existed, and a profile opts in). */
	for (int g = 0; g < GROUP_COUNT; g++) {
		int own = 0, first = 0;
		for (int b = 0; b < BUTTON_LED_COUNT; b++)
			if (ps->group_line[g][b]) {
				own++;
				first = first ? first : ps->group_line[g][b];
			}
		bool fallback = p->has_button_leds && g != GROUP_STOP;
		/* Record arm and metronome are never queued: blink is optional. */
		bool blink_needed = g == GROUP_SCENE || g == GROUP_STOP;
		for (int b = 0; b < BUTTON_LED_COUNT && own; b++)
			if (!ps->group_line[g][b] && !fallback &&
			    (b != BUTTON_BLINK || blink_needed))
				return fail_at(
				    ps, first,
				    "%s LEDs need %s_off, %s_on%s (or button_off, "
				    "button_on, button_blink)",
				    group_names[g], group_names[g], group_names[g],
				    blink_needed ? " and ..._blink" : "");
		p->group_lit[g] = own || fallback;
		for (int b = 0; b < BUTTON_LED_COUNT; b++) {
			if (!ps->group_line[g][b])
				p->group_led[g][b] =
				    fallback
					? p->button_led[b]
					: p->group_led[g]
						      [b == BUTTON_BLINK ? BUTTON_ON : b];
		}
	}
	return check_status_values(ps);
}

static bool same_control(const struct profile_control *a, const struct profile_control *b)
{
	return a->present && b->present && a->kind == b->kind &&
	       a->channel == b->channel && a->number == b->number;
}

/* Where each LED is: the first plain (not shift+) rule that puts a control
 * there. Program changes have no LED. */
static void derive_outputs(struct profile *p)
{
	for (int i = 0; i < p->nrules; i++) {
		const struct profile_rule *r = &p->rules[i];
		if (r->shift || r->kind == KIND_PROGRAM)
			continue;
		for (int ch = r->first_ch; ch <= r->last_ch; ch++)
			for (int n = r->first; n <= r->last; n++) {
				struct profile_control c = {.present = true,
							    .kind = r->kind,
							    .channel = (uint8_t)ch,
							    .number = (uint8_t)n};
				struct profile_control *slot = NULL;
				if (r->action == ACT_PAD)
					slot = &p->pad_out[expr_value(&r->y, ch, n)]
							  [expr_value(&r->x, ch, n)];
				else if (r->action == ACT_SCENE)
					slot = &p->scene_out[expr_value(&r->y, ch, n)];
				else if (r->action == ACT_STOP_TRACK &&
					 !same_control(&c, &p->status_out))
					/* The status LED keeps its button. */
					slot = &p->stop_out[expr_value(&r->x, ch, n)];
				else if (r->action == ACT_RECORD_ARM)
					slot = &p->record_arm_out;
				else if (r->action == ACT_METRONOME)
					slot = &p->metronome_out;
				if (slot && !slot->present)
					*slot = c;
			}
	}
}

/* The status LED must not be an LED the clip states drive: the two would
 * overwrite each other on every change. */
static bool check_status_led_alone(struct parser *ps)
{
	const struct profile *p = ps->p;
	const struct profile_control *st = &p->status_out;
	if (!st->present)
		return true;
	const char *kind = kind_names[st->kind];
	for (int y = 0; y < PROFILE_MAX_ROWS; y++) {
		for (int x = 0; x < PROFILE_COLUMNS; x++)
			if (same_control(st, &p->pad_out[y][x]))
				return fail_at(ps, ps->status_line,
					       "status_led %s %d ch %d is the LED of pad "
					       "x = %d, y = %d",
					       kind, st->number, st->channel, x, y);
		if (same_control(st, &p->scene_out[y]))
			return fail_at(ps, ps->status_line,
				       "status_led %s %d ch %d is the LED of scene "
				       "y = %d",
				       kind, st->number, st->channel, y);
	}
	if (same_control(st, &p->record_arm_out) || same_control(st, &p->metronome_out))
		return fail_at(
		    ps, ps->status_line, "status_led %s %d ch %d is the LED of %s", kind,
		    st->number, st->channel,
		    same_control(st, &p->record_arm_out) ? "record_arm" : "metronome");
	return true;
}

const char *profile_parse(struct profile *p, const char *file, const char *text,
			  size_t len, char *err, size_t errlen)
{
	*p = (struct profile){
	    .double_tap_ms = 300, .hold_ms = 1000, .inquiry_channel = 0x7F};
	struct parser ps = {.p = p, .file = file, .err = err, .errlen = errlen};
	if (errlen)
		err[0] = '\0';
	size_t at = 0;
	while (at < len && !ps.failed) {
		ps.line++;
		size_t end = at;
		while (end < len && text[end] != '\n')
			end++;
		size_t n = end - at;
		if (n > 0 && text[end - 1] == '\r')
			n--; /* files written on Windows */
		char line[LINE_MAX_CHARS + 1];
		if (n > LINE_MAX_CHARS) {
			fail(&ps, "line longer than %d characters", LINE_MAX_CHARS);
			break;
		}
		memcpy(line, text + at, n);
		line[n] = '\0';
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
				fail(&ps, "control character 0x%02X in the line",
				     (unsigned char)line[i]);
				break;
			} else if ((unsigned char)line[i] >= 0x80 &&
				   !memchr(line, '#', i)) {
				/* Non-ASCII text is fine in comments only. */
				fail(&ps, "non-ASCII character outside a comment");
				break;
			}
		if (!ps.failed)
			parse_line(&ps, line);
		at = end + 1;
	}
	if (!ps.failed && !ps.section_line[SEC_CONTROLLER])
		fail_at(&ps, 1, "no [controller] section");
	if (!ps.failed && !ps.key_line[KEY_NAME])
		fail_at(&ps, ps.section_line[SEC_CONTROLLER], "[controller] has no name");
	if (!ps.failed && check_rules(&ps) && check_leds(&ps)) {
		derive_outputs(p);
		check_status_led_alone(&ps);
	}
	return ps.failed ? err : NULL;
}

/* Literal characters of a pattern: how specific a match is. */
static int specificity(const char *pattern)
{
	int n = 0;
	for (const char *c = pattern; *c; c++)
		if (!strchr("*?[]", *c))
			n++;
	return n;
}

int profile_match_port(const struct profile *profiles, int n, const char *port_name)
{
	int best = -1, best_score = -1;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < profiles[i].nports; k++) {
			const char *pat = profiles[i].ports[k];
			if (fnmatch(pat, port_name, FNM_CASEFOLD) != 0)
				continue;
			int score = specificity(pat);
			if (score > best_score) {
				best = i;
				best_score = score;
			}
		}
	return best;
}

int profile_match_inquiry(const struct profile *profiles, int n, const uint8_t *reply,
			  size_t len)
{
	if (len < 7 || reply[0] != 0xF0 || reply[1] != 0x7E || reply[3] != 0x06 ||
	    reply[4] != 0x02)
		return -1;
	for (int i = 0; i < n; i++) {
		const struct profile *p = &profiles[i];
		if (p->inquiry_len > 0 && len >= 5 + (size_t)p->inquiry_len &&
		    memcmp(reply + 5, p->inquiry, (size_t)p->inquiry_len) == 0)
			return i;
	}
	return -1;
}

int profile_inquiry_request(const struct profile *p, uint8_t out[6])
{
	out[0] = 0xF0;
	out[1] = 0x7E;
	out[2] = p ? p->inquiry_channel : 0x7F;
	out[3] = 0x06;
	out[4] = 0x01;
	out[5] = 0xF7;
	return 6;
}
