/* midi_map.c -- the built-in APC40 mk1 mapping from MIDI bytes to engine
 * commands (see midi_map.h). The mapping is a table of rules, so that a
 * data-driven controller profile can later fill the same table. */
#include "midi_map.h"

#include <stdbool.h>

enum msg_kind { MSG_NOTE_ON, MSG_CC };

/* Which MIDI channels a rule listens on. */
enum channel_rule {
	CH_TRACK, /* channels 0..7: the channel is the track */
	CH_ZERO,  /* channel 0 only: global buttons */
};

/* Which command field the message's number (note or CC) fills, counted from
 * the rule's first number. */
enum number_use { NUM_NONE, NUM_SCENE };

struct rule {
	uint8_t kind;	 /* enum msg_kind */
	uint8_t channel; /* enum channel_rule */
	uint8_t first, last;
	uint8_t command;      /* enum command_type */
	uint8_t number;	      /* enum number_use */
	bool value_from_data; /* value = data byte / 127 (faders) */
};

static const struct rule apc40_mk1[] = {
    {MSG_NOTE_ON, CH_TRACK, 53, 57, CMD_PRESS, NUM_SCENE, false},
    {MSG_NOTE_ON, CH_TRACK, 52, 52, CMD_STOP_TRACK, NUM_NONE, false},
    {MSG_NOTE_ON, CH_ZERO, 81, 81, CMD_STOP_ALL, NUM_NONE, false},
    {MSG_NOTE_ON, CH_ZERO, 82, 86, CMD_LAUNCH_SCENE, NUM_SCENE, false},
    {MSG_NOTE_ON, CH_ZERO, 99, 99, CMD_TAP_TEMPO, NUM_NONE, false},
    {MSG_CC, CH_TRACK, 7, 7, CMD_TRACK_VOLUME, NUM_NONE, true},
    {MSG_CC, CH_ZERO, 14, 14, CMD_MASTER_VOLUME, NUM_NONE, true},
};

/* Data bytes that follow a status byte; -1 for SysEx (runs to 0xF7). */
static int data_length(uint8_t status)
{
	switch (status & 0xF0) {
	case 0xC0:
	case 0xD0:
		return 1;
	case 0xF0:
		break;
	default:
		return 2;
	}
	switch (status) {
	case 0xF0:
		return -1;
	case 0xF1:
	case 0xF3:
		return 1;
	case 0xF2:
		return 2;
	default:
		return 0;
	}
}

static bool map_message(uint8_t status, uint8_t number, uint8_t data, struct command *cmd)
{
	uint8_t type = status & 0xF0, channel = status & 0x0F;
	enum msg_kind kind;
	if (type == 0x90 && data > 0)
		kind = MSG_NOTE_ON;
	else if (type == 0xB0)
		kind = MSG_CC;
	else
		return false; /* note off (also note on velocity 0), and the rest */
	for (size_t i = 0; i < sizeof(apc40_mk1) / sizeof(apc40_mk1[0]); i++) {
		const struct rule *r = &apc40_mk1[i];
		if (r->kind != kind || number < r->first || number > r->last)
			continue;
		if (r->channel == CH_ZERO ? channel != 0 : channel >= GL_TRACKS)
			continue;
		*cmd = (struct command){.type = r->command};
		if (r->channel == CH_TRACK)
			cmd->track = channel;
		if (r->number == NUM_SCENE)
			cmd->scene = (uint8_t)(number - r->first);
		if (r->value_from_data)
			cmd->value = (float)data / 127.0f;
		return true;
	}
	return false;
}

int midi_map_bytes(const uint8_t *bytes, size_t len, struct command *out, int max,
		   const char **why)
{
	int count = 0;
	uint8_t running = 0; /* running status: the last channel status byte */
	size_t i = 0;
	while (i < len) {
		uint8_t b = bytes[i];
		if (b >= 0xF8) { /* real-time bytes may appear anywhere */
			i++;
			continue;
		}
		uint8_t status;
		if (b & 0x80) {
			status = b;
			i++;
			/* System common messages cancel running status. */
			running = status < 0xF0 ? status : 0;
		} else if (running) {
			status = running;
		} else {
			*why = "data byte without a status byte";
			return -1;
		}
		int n = data_length(status);
		if (n < 0) { /* SysEx: skip to its end */
			while (i < len && bytes[i] != 0xF7)
				i++;
			if (i == len) {
				*why = "SysEx without its end byte F7";
				return -1;
			}
			i++;
			continue;
		}
		uint8_t data[2] = {0, 0};
		for (int k = 0; k < n; k++) {
			while (i < len && bytes[i] >= 0xF8)
				i++;
			if (i == len) {
				*why = "incomplete MIDI message";
				return -1;
			}
			if (bytes[i] & 0x80) {
				*why = "status byte inside a MIDI message";
				return -1;
			}
			data[k] = bytes[i++];
		}
		struct command cmd;
		if (status < 0xF0 && map_message(status, data[0], data[1], &cmd)) {
			if (count == max) {
				*why = "too many commands in one MIDI line";
				return -1;
			}
			out[count++] = cmd;
		}
	}
	return count;
}
