/* test_seq_alsa.c -- sequencer events <-> raw MIDI bytes with alsa-lib's
 * snd_midi_event (firmware/os/seq_alsa.c), which needs no kernel: every event
 * decodes to whole bytes (never running status: events from different
 * ports must not share a status byte), SysEx and real-time messages
 * included; LED, introduction and clock bytes encode to the events that
 * are sent (a note-on with velocity 0 stays a note-on: an LED off), and
 * back again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "seq_alsa.h"

static int setup(void **state)
{
	snd_midi_event_t *codec;
	assert_int_equal(seq_alsa_codec_new(&codec), 0);
	*state = codec;
	return 0;
}

static int teardown(void **state)
{
	snd_midi_event_free(*state);
	return 0;
}

static void assert_bytes(snd_midi_event_t *codec, const snd_seq_event_t *ev,
			 const uint8_t *want, size_t len)
{
	uint8_t out[64];
	size_t n = seq_alsa_event_bytes(codec, ev, out, sizeof(out));
	assert_int_equal(n, len);
	assert_memory_equal(out, want, len);
}

#define ASSERT_BYTES(codec, ev, ...)                                                     \
	assert_bytes(codec, ev, (const uint8_t[]){__VA_ARGS__},                          \
		     sizeof((const uint8_t[]){__VA_ARGS__}))

static void test_events_to_bytes(void **state)
{
	snd_midi_event_t *codec = *state;
	snd_seq_event_t ev;
	/* The same status twice: both whole. */
	for (int i = 0; i < 2; i++) {
		snd_seq_ev_clear(&ev);
		snd_seq_ev_set_noteon(&ev, 0, 53, 127);
		ASSERT_BYTES(codec, &ev, 0x90, 0x35, 0x7F);
	}
	snd_seq_ev_clear(&ev);
	snd_seq_ev_set_noteoff(&ev, 3, 53, 64);
	ASSERT_BYTES(codec, &ev, 0x83, 0x35, 0x40);
	snd_seq_ev_clear(&ev);
	snd_seq_ev_set_controller(&ev, 2, 7, 64);
	ASSERT_BYTES(codec, &ev, 0xB2, 0x07, 0x40);
	snd_seq_ev_clear(&ev);
	snd_seq_ev_set_pgmchange(&ev, 0, 3);
	ASSERT_BYTES(codec, &ev, 0xC0, 0x03);

	static const struct {
		int type;
		uint8_t byte;
	} realtime[] = {{SND_SEQ_EVENT_CLOCK, 0xF8},
			{SND_SEQ_EVENT_START, 0xFA},
			{SND_SEQ_EVENT_CONTINUE, 0xFB},
			{SND_SEQ_EVENT_STOP, 0xFC}};
	for (size_t i = 0; i < sizeof(realtime) / sizeof(realtime[0]); i++) {
		snd_seq_ev_clear(&ev);
		ev.type = (snd_seq_event_type_t)realtime[i].type;
		assert_bytes(codec, &ev, &realtime[i].byte, 1);
	}
}

static void test_sysex_and_what_is_no_midi(void **state)
{
	snd_midi_event_t *codec = *state;
	uint8_t reply[] = {0xF0, 0x7E, 0x00, 0x06, 0x02, 0x47, 0x73, 0x00,
			   0x19, 0x00, 0x01, 0x00, 0x00, 0x00, 0xF7};
	snd_seq_event_t ev;
	snd_seq_ev_clear(&ev);
	snd_seq_ev_set_sysex(&ev, sizeof(reply), reply);
	assert_bytes(codec, &ev, reply, sizeof(reply));
	/* Longer than the buffer: nothing rather than a part. */
	uint8_t small[8];
	assert_int_equal(seq_alsa_event_bytes(codec, &ev, small, sizeof(small)), 0);
	/* An announcement is no MIDI. */
	snd_seq_ev_clear(&ev);
	ev.type = SND_SEQ_EVENT_PORT_START;
	assert_int_equal(seq_alsa_event_bytes(codec, &ev, small, sizeof(small)), 0);
}

struct collected {
	snd_seq_event_t ev[16];
	uint8_t sysex[64];
	size_t sysex_len;
	int n;
	int refuse_at; /* emit returns -EAGAIN for this event; -1: never */
};

static int collect(void *ctx, snd_seq_event_t *ev)
{
	struct collected *c = ctx;
	if (c->n == c->refuse_at)
		return -EAGAIN;
	if (ev->type == SND_SEQ_EVENT_SYSEX) {
		/* It points into the codec: copy it now. */
		c->sysex_len = ev->data.ext.len;
		memcpy(c->sysex, ev->data.ext.ptr, c->sysex_len);
	}
	c->ev[c->n++] = *ev;
	return 0;
}

/* What the controllers' output becomes: the introduction SysEx, LED note-ons
 * (velocity 0 stays a note-on), CCs, and running status is understood. */
static void test_bytes_to_events(void **state)
{
	snd_midi_event_t *codec = *state;
	const uint8_t out[] = {0xF0, 0x47, 0x7F, 0x73, 0x60, 0x00, 0x04, 0x41,
			       0x01, 0x00, 0x00, 0xF7, 0x90, 0x35, 0x00, 0x91,
			       0x35, 0x01, 0x36, 0x03, 0xB0, 0x07, 0x10};
	struct collected c = {.refuse_at = -1};
	assert_int_equal(seq_alsa_bytes_events(codec, out, sizeof(out), collect, &c), 5);
	assert_int_equal(c.ev[0].type, SND_SEQ_EVENT_SYSEX);
	assert_int_equal(c.sysex_len, 12);
	assert_memory_equal(c.sysex, out, 12);
	assert_int_equal(c.ev[1].type, SND_SEQ_EVENT_NOTEON);
	assert_int_equal(c.ev[1].data.note.channel, 0);
	assert_int_equal(c.ev[1].data.note.note, 53);
	assert_int_equal(c.ev[1].data.note.velocity, 0);
	assert_int_equal(c.ev[2].data.note.channel, 1);
	assert_int_equal(c.ev[3].type, SND_SEQ_EVENT_NOTEON); /* running status */
	assert_int_equal(c.ev[3].data.note.note, 54);
	assert_int_equal(c.ev[3].data.note.velocity, 3);
	assert_int_equal(c.ev[4].type, SND_SEQ_EVENT_CONTROLLER);
	assert_int_equal(c.ev[4].data.control.param, 7);
	assert_int_equal(c.ev[4].data.control.value, 16);

	/* The sender refuses (its buffer is full): the rest is not sent. */
	struct collected full = {.refuse_at = 2};
	assert_int_equal(seq_alsa_bytes_events(codec, out, sizeof(out), collect, &full),
			 -EAGAIN);
	assert_int_equal(full.n, 2);
}

/* Clock out's messages: each byte its event; song position's value. */
static void test_clock_bytes(void **state)
{
	snd_midi_event_t *codec = *state;
	const uint8_t bytes[] = {0xF2, 0x10, 0x02, 0xFB, 0xF8, 0xFC};
	struct collected c = {.refuse_at = -1};
	assert_int_equal(seq_alsa_bytes_events(codec, bytes, sizeof(bytes), collect, &c),
			 4);
	assert_int_equal(c.ev[0].type, SND_SEQ_EVENT_SONGPOS);
	assert_int_equal(c.ev[0].data.control.value, 0x10 | 0x02 << 7);
	assert_int_equal(c.ev[1].type, SND_SEQ_EVENT_CONTINUE);
	assert_int_equal(c.ev[2].type, SND_SEQ_EVENT_CLOCK);
	assert_int_equal(c.ev[3].type, SND_SEQ_EVENT_STOP);
}

/* Every message there and back gives its bytes again. */
static void test_round_trip(void **state)
{
	snd_midi_event_t *codec = *state;
	const uint8_t msgs[][3] = {{0x90, 0x35, 0x7F}, {0x8F, 0x00, 0x00},
				   {0xB5, 0x40, 0x7F}, {0x97, 0x39, 0x00},
				   {0xE0, 0x00, 0x40}, {0xA1, 0x3C, 0x22}};
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct collected c = {.refuse_at = -1};
		assert_int_equal(seq_alsa_bytes_events(codec, msgs[i], 3, collect, &c),
				 1);
		assert_bytes(codec, &c.ev[0], msgs[i], 3);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_events_to_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sysex_and_what_is_no_midi, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_bytes_to_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clock_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
