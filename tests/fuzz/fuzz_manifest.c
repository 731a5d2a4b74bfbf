/* fuzz_manifest.c -- libFuzzer target for the session manifest reader: any
 * bytes as a manifest. A refused one must leave a message of the form
 * "field: what" and the session as session_init(s, 0) made it; an accepted
 * one must be in range everywhere, name only plain files, and survive
 * manifest_write and a second parse unchanged. Leaks are caught by
 * libFuzzer's leak check. Built and run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "manifest.h"

static void check_refused(const struct session *s, const char *err)
{
	static struct session fresh;
	session_init(&fresh, 0);
	if (err[0] == '\0' || !strstr(err, ": ") || memcmp(s, &fresh, sizeof(fresh)) != 0)
		__builtin_trap();
}

static void check_clip(const struct session *s, int slot)
{
	const struct session_clip *c = &s->clips[slot];
	if (c->channels < 1 || c->channels > 2 || c->frames < 1 ||
	    c->frames > ((int64_t)1 << 40) || !(c->bars >= 0) || c->audio[0] ||
	    c->audio[1] || !manifest_name_ok(c->file))
		__builtin_trap();
	for (int other = 0; other < slot; other++)
		if (s->clips[other].present &&
		    strcasecmp(s->clips[other].file, c->file) == 0)
			__builtin_trap();
}

static void check_session(const struct session *s)
{
	if ((s->rate != 44100 && s->rate != 48000 && s->rate != 96000) ||
	    !(s->tempo == 0 || (s->tempo >= 30 && s->tempo <= 300)) ||
	    s->beats_per_bar < 1 || s->beats_per_bar > 16 || s->quantise > QUANTISE_BAR ||
	    !(s->master_volume >= 0 && s->master_volume <= 2) ||
	    memchr(s->saved_at, '\0', sizeof(s->saved_at)) == NULL)
		__builtin_trap();
	for (int t = 0; t < GL_TRACKS; t++)
		if (!(s->tracks[t].volume >= 0 && s->tracks[t].volume <= 2))
			__builtin_trap();
	for (int slot = 0; slot < GL_SLOTS; slot++)
		if (s->clips[slot].present)
			check_clip(s, slot);
}

/* What the writer makes of s reads back as s. */
static void check_round_trip(const struct session *s)
{
	static struct session again;
	char err[256];
	char *text = manifest_write(s);
	if (!text)
		return; /* out of memory: allowed */
	if (manifest_parse(text, strlen(text), &again, err, sizeof(err)) != 0)
		__builtin_trap();
	free(text);
	if (again.rate != s->rate || again.tempo != s->tempo ||
	    again.beats_per_bar != s->beats_per_bar || again.quantise != s->quantise ||
	    again.metronome != s->metronome || again.master_volume != s->master_volume ||
	    strcmp(again.saved_at, s->saved_at) != 0)
		__builtin_trap();
	for (int t = 0; t < GL_TRACKS; t++)
		if (again.tracks[t].volume != s->tracks[t].volume ||
		    again.tracks[t].mute != s->tracks[t].mute)
			__builtin_trap();
	for (int slot = 0; slot < GL_SLOTS; slot++) {
		const struct session_clip *a = &s->clips[slot], *b = &again.clips[slot];
		if (a->present != b->present)
			__builtin_trap();
		if (a->present && (a->channels != b->channels || a->frames != b->frames ||
				   a->bars != b->bars || strcmp(a->file, b->file) != 0))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct session s;
	char err[256];
	/* libFuzzer's data is an exact-size heap copy: a read past size is an
	 * ASan error, which checks that nothing needs a NUL terminator. */
	int rc = manifest_parse((const char *)data, size, &s, err, sizeof(err));
	if (rc != 0) {
		if (rc != -1)
			__builtin_trap();
		check_refused(&s, err);
		return 0;
	}
	check_session(&s);
	check_round_trip(&s);
	return 0;
}
