/* fuzz_osc.c -- libFuzzer target for the OSC handler (osc_handler.h): any
 * bytes as one datagram (exactly those: a read past them is an ASan error),
 * to a handler that has seen some engine events first, then a tick of the
 * pushes. Every command it makes must be one the engine takes (a known
 * type, track 0..7, scene 0..9, "at once"), every reply must decode as an
 * OSC message and lie inside the output, every packet must be counted once,
 * a malformed one (a bundle too) must do nothing at all, and the same bytes
 * must give the same result twice. The first byte picks
 * the events seen before and whether the datagram counts as truncated.
 * Built and run by tests/fuzz/run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "osc_handler.h"

static struct osc_handler h, h2;
static struct osc_out out, out2;

static void check_out(const struct osc_out *o)
{
	if (o->ncommands < 0 || o->ncommands > OSC_OUT_COMMANDS || o->nreplies < 0 ||
	    o->nreplies > OSC_OUT_REPLIES || o->used > OSC_OUT_BYTES)
		abort();
	for (int i = 0; i < o->ncommands; i++) {
		const struct command *c = &o->command[i];
		if (c->type >= CMD_TYPE_COUNT || c->track >= GL_TRACKS ||
		    c->scene >= GL_SCENES || c->frame != 0)
			abort();
	}
	for (int i = 0; i < o->nreplies; i++) {
		const struct osc_reply *r = &o->reply[i];
		struct osc_msg m;
		if ((uint64_t)r->off + r->len > o->used ||
		    osc_decode(o->bytes + r->off, r->len, &m))
			abort();
		if (r->url && strncmp(r->url, "osc.udp://", 10))
			abort();
	}
}

static void prime(struct osc_handler *x, uint8_t sel)
{
	struct osc_handler_config cfg = {.rate = 48000,
					 .beats_per_bar = 4,
					 .quantise = QUANTISE_BAR,
					 .can_save = sel & 1,
					 .clock_external = sel & 2,
					 .self_url = "osc.udp://127.0.0.1:9951/"};
	osc_handler_init(x, &cfg);
	for (int i = 0; i < (sel >> 2); i++) {
		struct event ev = {.type = EV_CLIP_STATE,
				   .track = (uint8_t)(i % GL_TRACKS),
				   .scene = (uint8_t)(i % 3),
				   .value = (i * 5 + sel) % CLIP_STATE_COUNT,
				   .frame = i * 1000};
		osc_handler_event(x, &ev);
		struct event len = {.type = EV_RECORD_DONE,
				    .track = ev.track,
				    .scene = ev.scene,
				    .value = 48000 + i};
		osc_handler_event(x, &len);
	}
	struct event tempo = {.type = EV_TEMPO, .value = 120000, .aux = 4};
	osc_handler_event(x, &tempo);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	bool truncated = (sel & 0xc0) == 0xc0;
	data++;
	size--;
	/* Exactly the bytes, in memory of their own. */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	prime(&h, sel);
	prime(&h2, sel);
	osc_handler_packet(&h, copy, size, truncated, 5000, 100000, &out);
	check_out(&out);
	osc_handler_packet(&h2, copy, size, truncated, 5000, 100000, &out2);
	if (out.ncommands != out2.ncommands || out.nreplies != out2.nreplies ||
	    out.used != out2.used || memcmp(out.bytes, out2.bytes, out.used) ||
	    memcmp(out.command, out2.command,
		   sizeof(out.command[0]) * (size_t)out.ncommands))
		abort();
	const struct osc_stats *st = &h.stats;
	/* Counted once; a malformed packet (a bundle too) does nothing at all. */
	if (st->packets != 1 || st->malformed > 1 ||
	    (st->malformed && (out.ncommands || out.nreplies || st->commands)))
		abort();
	/* Whatever it registered, the pushes are well formed too. */
	osc_handler_tick(&h, 6000, 200000, &out);
	check_out(&out);
	osc_handler_tick(&h, 6100, 300000, &out);
	check_out(&out);
	free(copy);
	return 0;
}
