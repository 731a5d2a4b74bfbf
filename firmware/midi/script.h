/* script.h -- the --script language: frame-stamped engine commands for
 * tests, the demo and offline runs, parsed from text (the file and the
 * feeder that hands the commands to the engine: os/script_feeder.h).
 *
 * One command per line, optionally stamped with the engine frame it acts at:
 *
 *   @96000 press 0 0      # track 0, scene 0: record / play / overdub ...
 *   midi 90 35 7f         # raw MIDI bytes (hex) through a controller profile
 *   @480000 exit          # stop the program at this frame
 *
 * A line without a stamp acts at the frame of the line before it (0 at the
 * top). Stamps never go back in time: the engine takes a source's commands
 * in queue order. Tracks (0..7) and scenes (0..9) count from 0, as in the
 * engine and as MIDI channels do. `#` starts a comment.
 *
 * Words: press T S, scene S, stop [T [S]], clear T S, overdub T S, undo T S,
 * redo T S, tap, tempo BPM, meter BEATS, quantise off|beat|bar, volume T GAIN,
 * master GAIN, mute T on|off, monitor T on|off, metronome on|off,
 * midi HEX..., export, save, exit. `export` and `save` are CMD_REQUEST
 * (REQUEST_EXPORT, REQUEST_SAVE): the engine passes them on, at the line's
 * frame, to the SD writer, as it does a controller's export chord.
 *
 * `midi` lines go through the same profile-driven mapping as a connected
 * controller (controller.h, with the profile [controller] script_profile
 * names), so a script plays a controller's presses, shift chords and bank
 * moves. They are mapped when the script is read, before anything runs:
 * the controller keeps its own state from line to line (shift, window,
 * record arm, selection, foot switch timing from the lines' frames) but
 * sees no engine events, so its idea of the clips is "all empty" and the
 * engine's press table decides what a press does (record arm + pad and the
 * foot switch, which depend on the clip's state, act as on an empty clip).
 */
#ifndef GRIDLOOP_SCRIPT_H
#define GRIDLOOP_SCRIPT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "profile.h"

struct script_entry {
	struct command cmd; /* cmd.frame: when */
	int line;	    /* where it came from, for messages */
};

struct script {
	struct script_entry *entries; /* in frame order */
	size_t count;
	size_t capacity;
	int64_t exit_frame; /* GL_NEVER without an `exit` line */
};

/* How `midi` lines are mapped. */
struct script_midi {
	const struct profile *profile; /* NULL: midi lines are refused */
	const char *missing;	       /* then: why there is none, for the message */
	uint32_t rate; /* frames per second: the lines' times for gestures */
};

/* Parse a whole script before anything runs, from len bytes in memory (no
 * NUL terminator needed; a NUL byte in them is refused). 0, or -1 with a
 * message that names the file (name) and line in err (and s empty). midi
 * may be NULL when there is no profile. Refused: more than
 * GL_SCRIPT_BYTES_MAX bytes or GL_SCRIPT_COMMANDS_MAX commands, stamps past
 * GL_SCRIPT_FRAME_MAX. Reading a script file and feeding the engine from a
 * thread are the os layer's: script_feeder.h. */
int script_parse_buffer(struct script *s, const char *text, size_t len, const char *name,
			const struct script_midi *midi, char *err, size_t errlen);
/* The same from a NUL-terminated string. */
int script_parse_text(struct script *s, const char *text, const char *name,
		      const struct script_midi *midi, char *err, size_t errlen);
void script_free(struct script *s);

#endif
