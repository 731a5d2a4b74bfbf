/* midi_map.h -- turns raw MIDI bytes from a grid controller into engine
 * commands.
 *
 * For now there is one built-in mapping, the Akai APC40 mk1 in its power-up
 * (Generic) mode: clip pads notes 53..57 = scene rows 0..4 with the MIDI
 * channel as the track, scene launch notes 82..86, stop all 81, clip stop 52
 * on the track's channel, tap tempo 99, track faders CC 7 and the master
 * fader CC 14. Used by the `midi` lines of --script. A later controller
 * profile replaces the table, not this interface: bytes in, commands out.
 */
#ifndef GRIDLOOP_MIDI_MAP_H
#define GRIDLOOP_MIDI_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* Maps the whole MIDI messages in bytes[0..len) (running status allowed,
 * system real-time bytes skipped, SysEx ignored) to engine commands with
 * frame 0: the caller stamps them. Returns the number of commands written,
 * at most max; messages the controller map does not know map to nothing.
 * Returns -1 when the bytes are not whole MIDI messages, with the reason in
 * *why. Pure: safe on any thread. */
int midi_map_bytes(const uint8_t *bytes, size_t len, struct command *out, int max,
		   const char **why);

#endif
