/* profile.h -- controller profiles as data: what a pad controller's notes,
 * CCs and program changes mean, and what it shows for each clip state.
 *
 * A profile is a small text file (board/profiles/<model>.profile, format in
 * docs/manual.md, "The profile format"), so a user adds or changes a
 * controller without recompiling. The parser is strict: every line is
 * understood or the file is refused with "file:line: what is wrong", and a
 * refused file never stops the other profiles from loading. Parsing happens
 * at start; a parsed profile is plain data of fixed size (no pointers), read
 * by controller.c on the sequencer thread without allocating.
 */
#ifndef GRIDLOOP_PROFILE_H
#define GRIDLOOP_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define PROFILE_MAX_RULES     128
#define PROFILE_MAX_PORTS     4
#define PROFILE_MAX_ROWS      16 /* rows of pads a controller may show at once */
#define PROFILE_COLUMNS	      GL_TRACKS
#define PROFILE_MAX_SYSEX     64
#define PROFILE_MAX_INQUIRY   8 /* Novation: 00 20 29 <family> <model> */
#define PROFILE_MAX_NAME      48
#define PROFILE_MAX_PATTERN   64
#define PROFILE_MAX_FILE_SIZE (64 * 1024)

/* The MIDI message a rule listens to. */
enum profile_kind { KIND_NOTE, KIND_CC, KIND_PROGRAM };

/* What a control does (see the action table in docs/manual.md, "Actions"). */
enum profile_action {
	ACT_PAD,	  /* x, y: the clip at track x, scene bank + y */
	ACT_SCENE,	  /* y: launch scene bank + y */
	ACT_STOP_CLIP,	  /* x, y */
	ACT_STOP_TRACK,	  /* x */
	ACT_STOP_ALL,	  /* */
	ACT_BANK_UP,	  /* window one row up (with shift: a whole window) */
	ACT_BANK_DOWN,	  /* */
	ACT_SHIFT,	  /* held: pads select, bank pages, shift+ rules apply */
	ACT_RECORD_ARM,	  /* toggles: the next press on a playing clip overdubs */
	ACT_TAP_TEMPO,	  /* */
	ACT_METRONOME,	  /* toggles the click */
	ACT_UNDO,	  /* the last overdubbed clip, else the selected one */
	ACT_REDO,	  /* */
	ACT_VOLUME,	  /* x: track gain = value / 127 */
	ACT_MASTER,	  /* master gain = value / 127 */
	ACT_FOOT,	  /* one-button looping on the selected clip */
	ACT_SELECT_TRACK, /* x */
	ACT_NEXT_TRACK,	  /* */
	ACT_PREV_TRACK,	  /* */
	ACT_NEXT_SCENE,	  /* */
	ACT_PREV_SCENE,	  /* */
	ACT_EXPORT,	  /* CMD_REQUEST REQUEST_EXPORT: the clips to the SD card */
	ACT_SAVE,	  /* CMD_REQUEST REQUEST_SAVE: save the session now */
	ACT_CLEAR,	  /* held: a pad pressed meanwhile is cleared */
	ACT_NONE,	  /* swallowed: e.g. a shift legend gridloop has no use for */
	/* Loop operations on the selected clip (the last pad pressed, or
	 * selected with shift + pad): */
	ACT_MULTIPLY,	  /* toggle a multiply */
	ACT_INSERT,	  /* toggle an insert */
	ACT_REPLACE,	  /* toggle a replace pass */
	ACT_SUBSTITUTE,	  /* toggle a substitute pass */
	ACT_REVERSE,	  /* toggle reverse (at the next boundary) */
	ACT_ONESHOT,	  /* play once from the top */
	ACT_TRIGGER,	  /* (re)start from the top */
	ACT_UNDO_ALL,	  /* undo every level (the last overdubbed clip, as undo) */
	ACT_REDO_ALL,	  /* */
	ACT_HALF_SPEED,	  /* toggle half speed (and back to 1) */
	ACT_DOUBLE_SPEED, /* toggle double speed (and back to 1) */
	ACT_MUTE_CLIP,	  /* toggle the clip's mute */
	ACT_FOOT2,	  /* a second foot switch: tap multiply, hold undo */
	ACT_COUNT
};

/* x or y of a rule: term + offset, where term is a constant 0, the
 * message's channel, or its number (note, CC or program). */
enum profile_term { TERM_NONE, TERM_CONST, TERM_CHANNEL, TERM_NUMBER };

struct profile_expr {
	uint8_t term; /* enum profile_term; TERM_NONE: not given */
	int16_t offset;
};

struct profile_rule {
	uint8_t action;		   /* enum profile_action */
	uint8_t kind;		   /* enum profile_kind */
	uint8_t first, last;	   /* note/CC/program numbers */
	uint8_t first_ch, last_ch; /* MIDI channels 0..15 */
	bool shift;		   /* only while shift is held */
	struct profile_expr x, y;
	int line; /* where it was written, for messages */
};

/* What one LED shows, as the device is told it: one message (velocity on
 * the control's own channel, or on `channel`), or two, sent in order, as
 * the APC40 mkII and the Launchpads animate: the colour on the channel the
 * LED is addressed on, then the colour it blinks or pulses to on the
 * animation channel (written `21, 0 ch 14` in [leds]). `blink`: the device
 * cannot blink this LED (Akai's table gives the APC40 MASTER button only
 * off and on), so gridloop blinks it itself: the messages for half of each
 * PROFILE_SOFT_BLINK_US, dark (velocity 0) for the other half. */
struct profile_led {
	uint8_t velocity; /* the first (or only) message */
	int8_t channel;	  /* -1: the control's own channel */
	bool two;	  /* a second message follows */
	uint8_t velocity2;
	int8_t channel2;
	bool blink; /* blinked by gridloop's own timing */
};

#define PROFILE_SOFT_BLINK_US 1000000 /* one on-off cycle of a `blink` LED */

/* Where a control's LED is addressed: the message it sends. */
struct profile_control {
	bool present;
	uint8_t kind; /* KIND_NOTE or KIND_CC */
	uint8_t channel, number;
};

enum profile_button_led { BUTTON_OFF, BUTTON_ON, BUTTON_BLINK, BUTTON_LED_COUNT };

/* Buttons that show gridloop's state, each group with its own values
 * (<group>_off, _on, _blink in [leds]; the scene, record arm and
 * metronome groups fall back to button_off/on/blink): an RGB scene
 * button wants palette colours, a one-colour button 0/1/2. */
enum profile_group {
	GROUP_SCENE,	  /* scene launch: on while a clip of the row plays,
			     blinking while one is queued */
	GROUP_STOP,	  /* clip stop (stop_track): on while a clip of the
			     track plays, blinking while its stop is queued */
	GROUP_RECORD_ARM, /* on while armed */
	GROUP_METRONOME,  /* on while the click is on */
	GROUP_COUNT
};

/* The storage statuses (engine.h, enum storage_status) a status LED shows. */
#define PROFILE_STORAGE_STATES (STORAGE_FAULT + 1)

struct profile {
	char name[PROFILE_MAX_NAME];
	char ports[PROFILE_MAX_PORTS][PROFILE_MAX_PATTERN]; /* fnmatch, any case */
	int nports;
	uint8_t inquiry[PROFILE_MAX_INQUIRY]; /* reply bytes after F0 7E <ch> 06 02 */
	int inquiry_len;		      /* 0: no inquiry reply identifies it */
	bool soft_blink;	 /* some LED is a `blink` one: gridloop times its cycle */
	uint8_t inquiry_channel; /* the <ch> of the request F0 7E <ch> 06 01 F7 */
	uint8_t intro[PROFILE_MAX_SYSEX]; /* sent on connection, before LEDs */
	int intro_len;
	uint8_t outro[PROFILE_MAX_SYSEX]; /* sent at exit, after every LED is dark */
	int outro_len;
	bool clock; /* the device wants gridloop's MIDI clock (clock = yes) */
	int rows;   /* pad rows shown at once (0: no pads) */
	uint32_t double_tap_ms, hold_ms; /* foot switch gestures */
	struct profile_rule rules[PROFILE_MAX_RULES];
	int nrules;
	struct profile_led state_led[CLIP_STATE_COUNT];
	struct profile_led outside_led; /* pads showing no clip of the grid */
	struct profile_led button_led[BUTTON_LED_COUNT];
	bool has_button_leds;
	/* Per group: its values (its own, else button_*), and whether it is
	   lit at all. */
	struct profile_led group_led[GROUP_COUNT][BUTTON_LED_COUNT];
	bool group_lit[GROUP_COUNT];
	/* The SD card's state (EV_STORAGE) on one LED: where (status_led =
	   note|cc N ch C in [leds]; not present: none) and what each status
	   shows (storage_<status> = velocity [ch channel]). */
	struct profile_control status_out;
	struct profile_led storage_led[PROFILE_STORAGE_STATES];
	/* Derived from the rules: where each LED is. */
	struct profile_control pad_out[PROFILE_MAX_ROWS][PROFILE_COLUMNS];
	struct profile_control scene_out[PROFILE_MAX_ROWS];
	struct profile_control stop_out[PROFILE_COLUMNS]; /* clip stop, per track */
	struct profile_control record_arm_out, metronome_out;
};

/* Parses a profile from text[0..len). file names it in messages. Returns
 * NULL, or the message "file:line: what is wrong" written to err (also
 * returned). *p is filled either way; only a NULL return makes it usable. */
const char *profile_parse(struct profile *p, const char *file, const char *text,
			  size_t len, char *err, size_t errlen);

/* Reading profiles from files and directories is the os layer's:
 * profile_files.h. */

/* The profile whose port pattern matches an ALSA port or client name; when
 * several match, the most specific pattern (most literal characters) wins.
 * -1: none. */
int profile_match_port(const struct profile *profiles, int n, const char *port_name);

/* The profile a device-inquiry reply (F0 7E <ch> 06 02 <manufacturer>
 * <product> ... F7) identifies; -1: none. */
int profile_match_inquiry(const struct profile *profiles, int n, const uint8_t *reply,
			  size_t len);

/* The device-inquiry request for a profile (F0 7E <inquiry_channel> 06 01
 * F7, the channel byte as the device's documentation gives it) into out[6];
 * p may be NULL (then 7F, "all devices"). Returns 6. */
int profile_inquiry_request(const struct profile *p, uint8_t out[6]);

/* Names, as written in profile files. */
const char *profile_action_name(enum profile_action a);
const char *profile_state_name(enum clip_state s);
const char *profile_storage_name(enum storage_status s); /* "exporting" ... */

#endif
