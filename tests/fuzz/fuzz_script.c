/* fuzz_script.c -- libFuzzer target for the --script parser: any bytes as a
 * script (exactly those: a read past them is an ASan error), parsed with no
 * controller profile (midi lines are refused), through the APC40 mk1 profile
 * (pads, shift chords, banks) and through the foot switch profile (taps,
 * holds timed by the lines' frames); read as a file (a memfd) too, which
 * must come to the same result, and up to a NUL as a string.
 * A refused script must say "fuzz.txt:<line>: ..." and leave no commands;
 * an accepted one must hold only valid engine commands, in frame order,
 * each naming a line of the text, with the exit (if any) after them all;
 * and the feeder must hand every command to a small queue, in order, none
 * lost. Leaks are caught by libFuzzer's leak check. Built and run by
 * tests/fuzz/run (profiles from GRIDLOOP_PROFILES, default board/profiles). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gl_limits.h"
#include "profile_files.h"
#include "script.h"
#include "script_feeder.h"
#include "spsc.h"

#define FEED_QUEUE 16 /* small, so that the feeder must refill it */

static struct profile apc40, foot;

static void load_profile(struct profile *p, const char *file)
{
	const char *dir = getenv("GRIDLOOP_PROFILES");
	char path[512], err[512];
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "board/profiles", file);
	if (profile_load(p, path, err, sizeof(err))) {
		fprintf(stderr, "fuzz_script: %s\n", err);
		abort();
	}
}

static void check_command(const struct command *c)
{
	if (c->type >= CMD_TYPE_COUNT || c->track >= GL_TRACKS || c->scene >= GL_SCENES ||
	    !isfinite(c->value))
		__builtin_trap();
	switch (c->type) {
	case CMD_SET_TEMPO:
		if (!(c->value >= GL_TEMPO_MIN && c->value <= GL_TEMPO_MAX))
			__builtin_trap();
		break;
	case CMD_SET_METER:
		if (!(c->value >= GL_BEATS_MIN && c->value <= GL_BEATS_MAX) ||
		    c->value != floorf(c->value))
			__builtin_trap();
		break;
	case CMD_TRACK_VOLUME:
	case CMD_MASTER_VOLUME:
		if (!(c->value >= 0 && c->value <= GL_GAIN_MAX))
			__builtin_trap();
		break;
	case CMD_MUTE:
	case CMD_MONITOR:
	case CMD_METRONOME:
		if (c->value != 0 && c->value != 1)
			__builtin_trap();
		break;
	case CMD_SET_QUANTISE:
		if (c->value != QUANTISE_OFF && c->value != QUANTISE_BEAT &&
		    c->value != QUANTISE_BAR)
			__builtin_trap();
		break;
	case CMD_REQUEST:
		if (c->value != REQUEST_EXPORT && c->value != REQUEST_SAVE)
			__builtin_trap();
		break;
	}
}

/* The feeder hands out every command, in the script's order. */
static void check_feeder(const struct script *s)
{
	struct spsc q;
	if (spsc_init(&q, FEED_QUEUE, sizeof(struct command)))
		return; /* out of memory: allowed */
	atomic_int_least64_t now = 0;
	struct script_feeder *f = script_feeder_create(s, &q, &now);
	if (!f) {
		spsc_free(&q);
		return;
	}
	size_t popped = 0;
	for (;;) {
		size_t left = script_feeder_fill(f);
		int64_t horizon = atomic_load(script_feeder_horizon(f));
		if (left == 0 ? horizon != GL_NEVER
			      : horizon != s->entries[s->count - left].cmd.frame)
			__builtin_trap();
		struct command c;
		while (spsc_pop(&q, &c)) {
			if (popped >= s->count ||
			    memcmp(&c, &s->entries[popped].cmd, sizeof(c)) != 0)
				__builtin_trap();
			popped++;
		}
		if (left == 0)
			break;
	}
	if (popped != s->count)
		__builtin_trap();
	script_feeder_destroy(f);
	spsc_free(&q);
}

static void check_script(const struct script *s, int lines)
{
	int64_t frame = 0;
	int line = 1;
	for (size_t i = 0; i < s->count; i++) {
		const struct script_entry *e = &s->entries[i];
		check_command(&e->cmd);
		if (e->cmd.frame < frame || e->line < line || e->line > lines)
			__builtin_trap();
		frame = e->cmd.frame;
		line = e->line;
	}
	if (s->exit_frame != GL_NEVER && s->exit_frame < frame)
		__builtin_trap();
	check_feeder(s);
}

static int lines_of(const char *text, size_t size)
{
	int lines = 1;
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';
	return lines;
}

/* Parses and checks; returns what script_parse_buffer() did, its message in
 * err. */
static int parse(const char *text, size_t size, const struct script_midi *midi, char *err,
		 size_t errlen)
{
	struct script s;
	int lines = lines_of(text, size);
	err[0] = '\0';
	int rc = script_parse_buffer(&s, text, size, "fuzz.txt", midi, err, errlen);
	if (rc != 0) {
		int at = 0;
		if (rc != -1 || s.entries || s.count ||
		    sscanf(err, "fuzz.txt:%d: ", &at) != 1 || at < 1 || at > lines ||
		    !strstr(err, ": "))
			__builtin_trap();
		return rc;
	}
	check_script(&s, lines);
	script_free(&s);
	return rc;
}

/* The same bytes as a file: the same verdict and message. */
static void parse_as_file(const uint8_t *data, size_t size,
			  const struct script_midi *midi, int rc, const char *err)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz.txt", 0);
		if (fd < 0) {
			perror("fuzz_script: memfd_create");
			abort();
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz_script: writing the memfd");
		abort();
	}
	struct script s;
	char file_err[512] = "";
	int file_rc = script_parse_file(&s, path, midi, file_err, sizeof(file_err));
	if (file_rc == 0)
		script_free(&s);
	if (size == 0) {
		if (file_rc != -1 || !strstr(file_err, "the script is empty"))
			__builtin_trap();
		return;
	}
	size_t n = strlen(path);
	if (file_rc != rc ||
	    (rc && (strncmp(file_err, path, n) != 0 ||
		    strcmp(file_err + n, err + strlen("fuzz.txt")) != 0)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool loaded;
	if (!loaded) {
		load_profile(&apc40, "apc40.profile");
		load_profile(&foot, "footswitch.profile");
		loaded = true;
	}
	static const struct script_midi none = {.missing = "fuzz: no profile"};
	const struct script_midi through_apc40 = {.profile = &apc40, .rate = 48000};
	const struct script_midi through_foot = {.profile = &foot, .rate = 44100};
	const char *text = (const char *)data;
	char err[512];
	parse(text, size, NULL, err, sizeof(err));
	parse(text, size, &none, err, sizeof(err));
	parse(text, size, &through_foot, err, sizeof(err));
	int rc = parse(text, size, &through_apc40, err, sizeof(err));
	parse_as_file(data, size, &through_apc40, rc, err);

	/* As a string: up to the first NUL, the same as a buffer that long. */
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	struct script s;
	char text_err[512] = "";
	int text_rc = script_parse_text(&s, copy, "fuzz.txt", &through_apc40, text_err,
					sizeof(text_err));
	if (text_rc == 0)
		script_free(&s);
	if (strlen(copy) == size && (text_rc != rc || strcmp(text_err, err) != 0))
		__builtin_trap();
	free(copy);
	return 0;
}
