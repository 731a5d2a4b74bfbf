/* controller.h -- one connected pad controller or foot switch: its MIDI in
 * becomes engine commands, the engine's events become its LEDs.
 *
 * Driven by a profile (profile.h). Pure: the sequencer thread hands it raw
 * MIDI bytes (or what snd_midi_event_decode made of a sequencer event) with
 * their timestamps, engine events, and the current time for held foot
 * switches; it hands back commands (through a command_sink) and the MIDI
 * bytes to send. No ALSA, no threads, no allocation: a struct controller is
 * plain data of fixed size.
 *
 * What it keeps:
 *  - a mirror of the 80 clip states (from EV_CLIP_STATE), to choose what a
 *    press means and to (re)draw every LED at any time;
 *  - the window onto the 8 x 10 grid: `rows` rows from scene `bank`, moved
 *    by bank up/down and clamped; scene button i launches scene bank + i;
 *  - shift (held), record arm (toggled), the metronome (toggled), the
 *    selected clip (last pad pressed, or moved with next/prev track/scene),
 *    the last overdubbed clip (the target of undo/redo);
 *  - what each LED was last sent, so only changes go out (everything after
 *    controller_refresh);
 *  - the SD card's state (from EV_STORAGE), for the profile's status LED;
 *  - the foot switch gesture in progress;
 *  - counters of ignored input.
 * The exact pad and foot switch tables are in docs/manual.md, "Pads on a
 * controller" and "Foot switch".
 */
#ifndef GRIDLOOP_CONTROLLER_H
#define GRIDLOOP_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "midi_clock.h"
#include "profile.h"

/* Bytes controller_output() may need for one message: its buffer must hold
 * at least this many. */
#define CONTROLLER_MIN_OUTPUT PROFILE_MAX_SYSEX

/* Input that was ignored, and what came out. */
struct controller_stats {
	uint32_t messages;	     /* whole channel messages read */
	uint32_t unmapped;	     /* channel messages no rule maps */
	uint32_t outside;	     /* presses on pads or scenes beyond the grid */
	uint32_t stray_data;	     /* data bytes with no status (nor running status) */
	uint32_t truncated;	     /* messages cut short by a new status byte */
	uint32_t stray_end;	     /* F7 with no SysEx open */
	uint32_t sysex;		     /* SysEx messages (skipped) */
	uint32_t sysex_unterminated; /* SysEx cut short by a status byte */
	uint32_t system;	     /* system common messages (skipped) */
	uint32_t realtime;	     /* clock and other real-time bytes (skipped) */
	uint32_t commands;	     /* commands the sink took */
	uint32_t commands_refused;   /* commands the sink refused (queue full) */
};

/* The foot switch: one button for a whole looping cycle (docs/manual.md,
 * "Foot switch"). */
struct controller_foot {
	bool down;	      /* pressed and not yet released */
	int64_t down_us;      /* when */
	bool hold_done;	      /* this press can no longer become a hold */
	bool tap_open;	      /* a first tap whose double-tap window may be open */
	int64_t tap_us;	      /* when that first tap was pressed */
	bool overdub_waiting; /* first tap on a playing clip: overdub on release */
	bool overdub_started; /* that overdub was sent */
	uint8_t before;	      /* the clip's state when the first tap came */
	uint8_t track, scene; /* the clip the gesture acts on */
};

/* The second foot switch (ACT_FOOT2): tap multiply, hold undo. */
struct controller_foot2 {
	bool down, hold_done;
	int64_t down_us;
	uint8_t track, scene;
};

struct controller {
	const struct profile *profile;
	struct time_map
	    time; /* event time -> engine frame; the caller keeps it current */

	/* MIDI byte parser (running status, SysEx skipping). */
	uint8_t running_status;
	uint8_t status, data[2], have, need;
	bool in_sysex;

	uint8_t clip_state[GL_TRACKS][GL_SCENES]; /* enum clip_state */
	int bank;				  /* first scene shown */
	bool shift, armed;
	bool metronome; /* what the metronome button toggles from: set it to the
			   engine config's value after controller_init */
	int selected_track, selected_scene;
	int overdub_track, overdub_scene; /* last overdubbed clip; -1: none */
	struct controller_foot foot;
	struct controller_foot2 foot2;
	/* What the speed and clip mute buttons toggle from, per clip (half
	   frames a frame: 2 as recorded); forgotten when the clip empties. */
	uint8_t speed[GL_TRACKS][GL_SCENES];
	bool clip_muted[GL_TRACKS][GL_SCENES];
	uint8_t storage; /* enum storage_status, the last EV_STORAGE */

	/* The clear button held (ACT_CLEAR), and which control holds it: its
	   release ends it whatever shift does meanwhile. */
	bool clear_held;
	uint8_t clear_kind, clear_channel, clear_number;
	int64_t now_us; /* the last controller_poll: the phase of `blink` LEDs */

	/* LEDs as last sent: one or two messages (controller.c, led_word),
	   or LED_UNKNOWN when it must be sent. */
	uint64_t pad_sent[PROFILE_MAX_ROWS][PROFILE_COLUMNS];
	uint64_t scene_sent[PROFILE_MAX_ROWS];
	uint64_t stop_sent[PROFILE_COLUMNS];
	uint64_t arm_sent, metronome_sent, status_sent;
	bool intro_pending;
	bool farewell;	    /* controller_farewell: every LED dark, then outro */
	bool outro_pending; /* ... the outro still to send */

	struct controller_stats stats;
};

/* Sets a controller up for a profile; the first controller_output() sends
 * the introduction SysEx and every LED. The profile must outlive it. */
void controller_init(struct controller *c, const struct profile *p,
		     const struct time_map *time);

/* MIDI from the controller: bytes[0..len) received at time us. Messages may
 * be split across calls (the parser keeps its state). Commands carry
 * frame = time_map_frame(us). Never fails: what is not understood is
 * counted in stats and skipped. */
void controller_midi_in(struct controller *c, const uint8_t *bytes, size_t len,
			int64_t us, const struct command_sink *sink);

/* A held foot switch becomes a hold gesture at hold_ms after its press;
 * call this with the current time (e.g. on a poll timeout) so the hold acts
 * while the switch is still down; it is also the clock of LEDs that
 * gridloop blinks itself (profile.h, `blink`: call at least every 100 ms). A release
 * after hold_ms acts at once without it, stamped with the frame hold_ms after the press.
 */
void controller_poll(struct controller *c, int64_t now_us,
		     const struct command_sink *sink);

/* Every engine event, in order (EV_CLIP_STATE and EV_STORAGE are used). */
void controller_engine_event(struct controller *c, const struct event *ev);

/* The controller was (re)connected: send the introduction and every LED
 * (the status LED only when it is not dark: the device came up dark). */
void controller_refresh(struct controller *c);

/* gridloop is leaving: from now on controller_output() sends every LED
 * dark (velocity 0 on each LED's own channel, which also ends an
 * animation), then the profile's outro SysEx (the APC40s back in Generic
 * mode, a Launchpad out of programmer mode), then nothing. */
void controller_farewell(struct controller *c);

/* Writes the MIDI bytes due to the controller into out[0..cap): the
 * introduction SysEx if due, then one message per LED that differs from
 * what it shows. Returns the bytes written; call again while it returns
 * more than 0 (cap >= CONTROLLER_MIN_OUTPUT). */
size_t controller_output(struct controller *c, uint8_t *out, size_t cap);

#endif
