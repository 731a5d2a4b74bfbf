/* fuzz_profile.c -- libFuzzer target for the profile parser: any bytes as a
 * profile file. A refused one must say "fuzz.profile:<line>: ..."; an
 * accepted one must be in bounds everywhere, and a controller driven by it
 * must map every possible note, CC and program change on every channel to
 * valid engine commands and well-formed LED bytes. Built and run by
 * tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "profile.h"

static bool check_command(void *ctx, const struct command *c)
{
	(void)ctx;
	if (c->type >= CMD_TYPE_COUNT || c->track >= GL_TRACKS || c->scene >= GL_SCENES)
		__builtin_trap();
	return true;
}

static void check_profile(const struct profile *p)
{
	if (p->name[0] == '\0' || p->nrules < 1 || p->nrules > PROFILE_MAX_RULES ||
	    p->rows < 0 || p->rows > PROFILE_MAX_ROWS || p->nports > PROFILE_MAX_PORTS ||
	    p->intro_len < 0 || p->intro_len > PROFILE_MAX_SYSEX)
		__builtin_trap();
	if (p->intro_len && (p->intro[0] != 0xF0 || p->intro[p->intro_len - 1] != 0xF7))
		__builtin_trap();
	for (int i = 0; i < p->nrules; i++) {
		const struct profile_rule *r = &p->rules[i];
		if (r->action >= ACT_COUNT || r->first > r->last || r->last > 127 ||
		    r->first_ch > r->last_ch || r->last_ch > 15)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct profile p;
	static struct controller c;
	char err[256];
	const char *why =
	    profile_parse(&p, "fuzz.profile", (const char *)data, size, err, sizeof(err));
	if (why) {
		if (why != err || strncmp(err, "fuzz.profile:", 13) != 0)
			__builtin_trap();
		return 0;
	}
	check_profile(&p);
	const struct time_map time = {.ref_us = 0, .ref_frame = 0, .rate = 48000};
	controller_init(&c, &p, &time);
	struct command_sink sink = {.push = check_command};
	uint8_t out[CONTROLLER_MIN_OUTPUT];
	for (int status = 0x80; status < 0xD0; status += 0x10)
		for (int ch = 0; ch < 16; ch++)
			for (int n = 0; n < 128; n++) {
				uint8_t msg[3] = {(uint8_t)(status | ch), (uint8_t)n,
						  127};
				controller_midi_in(&c, msg, status == 0xC0 ? 2 : 3,
						   n * 10000, &sink);
			}
	controller_poll(&c, 100000000, &sink);
	for (int calls = 0; controller_output(&c, out, sizeof(out)) > 0; calls++)
		if (calls > 1000)
			__builtin_trap();
	if (c.bank < 0 || c.bank > GL_SCENES)
		__builtin_trap();
	return 0;
}
