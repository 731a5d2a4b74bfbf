# apcminimk2.profile -- Akai APC mini mk2.
#
# 8 x 8 RGB pads, notes 0..63 with 0 at the bottom left; scene buttons
# 112..119, track buttons 100..107, shift 122, faders CC 48..55, master CC 56
# (FACTS.md). Pad LEDs: velocity = palette colour, channel = effect (6 full
# brightness, 10 pulse, 14 blink); buttons: 1 on, 2 blink. The inquiry
# product byte 4F is the mk2's USB product id (the other models' inquiry
# bytes equal theirs too). The LED of track button 8 (note 107, red) shows
# the SD card; the other track buttons show the clip stops.
#
# Shift layer as Ableton's APC_mini_mk2 script lays it out (and as
# printed): shift + track 1..4 = fader modes (gridloop has none: its own
# undo, redo, tap tempo, metronome), shift + track 5..8 = up, down, left,
# right (bank up/down, previous/next track); shift + scene 3 = mute (none
# here: swallowed), scene 4 = record arm, scene 8 = stop all clips; scene 1
# and 2 gridloop's own (export, save); 5, 6 swallowed; 7 held + a pad =
# clear. Shift + pad only selects, as in Ableton.
#
# Pads as Ableton's skin for the mk2: playing pulses (channel 10), queued
# clips blink (14). Two USB MIDI ports: the patterns take the first
# ("Control": pads, buttons, faders), not the second ("Notes"), whose
# messages would otherwise press pads too. Ableton marks the mk2's port as
# a clock port.

[controller]
name    = APC mini mk2
port    = *APC mini mk2*Contr*    # "APC mini mk2 Control"
port    = *APC mini mk2*MIDI 1   # the same port where ALSA numbers them
clock   = yes
inquiry = 47 4F             # Akai, APC mini mk2
rows    = 8

[map]
pad        note 56..63 ch 0   -> x = note - 56, y = 0
pad        note 48..55 ch 0   -> x = note - 48, y = 1
pad        note 40..47 ch 0   -> x = note - 40, y = 2
pad        note 32..39 ch 0   -> x = note - 32, y = 3
pad        note 24..31 ch 0   -> x = note - 24, y = 4
pad        note 16..23 ch 0   -> x = note - 16, y = 5
pad        note 8..15 ch 0    -> x = note - 8,  y = 6
pad        note 0..7 ch 0     -> x = note,      y = 7
scene      note 112..119 ch 0 -> y = note - 112
stop_track note 100..107 ch 0 -> x = note - 100  # track buttons: clip stop
shift      note 122 ch 0
shift+undo       note 100 ch 0  # shift + track 1..4: gridloop's own
shift+redo       note 101 ch 0
shift+tap_tempo  note 102 ch 0
shift+metronome  note 103 ch 0
shift+bank_up    note 104 ch 0  # shift + track 5..8: up, down, left, right
shift+bank_down  note 105 ch 0
shift+prev_track note 106 ch 0
shift+next_track note 107 ch 0
shift+multiply   note 114 ch 0  # scene 3: multiply the selected clip
shift+record_arm note 115 ch 0  # scene 4: record arm
shift+insert     note 116 ch 0  # scene 5: insert
shift+replace    note 117 ch 0  # scene 6: replace pass
shift+clear      note 118 ch 0  # scene 7 held + pad: clear the clip
shift+stop_all   note 119 ch 0  # scene 8: stop all clips
shift+export     note 112 ch 0  # shift + scene 1: export the clips
shift+save       note 113 ch 0  # shift + scene 2: save the session now
volume     cc 48..55 ch 0     -> x = cc - 48
master     cc 56 ch 0

[leds]
# palette: 0 black, 5 red, 9 amber, 21 green; ch 6 solid, 10 pulse, 14 blink
empty         = 0 ch 6
stopped       = 9 ch 6
playing       = 21 ch 10
recording     = 5 ch 6
overdubbing   = 5 ch 10
record_queued = 5 ch 14
play_queued   = 21 ch 14
stop_queued   = 9 ch 14
# scene buttons: off, on, blink (on their own channel, 0)
button_off    = 0
button_on     = 1
button_blink  = 2
# track buttons (red): clip stops
stop_off      = 0
stop_on       = 1
stop_blink    = 2
# the SD card (track button 8, note 107, red): a one-colour LED, so off = idle, on = a save or
# restore running, or an export done (a few seconds), blinking = an export
# running; still blinking after the export = it failed, or the card is
# missing, read-only or full (docs/manual.md, "The SD card's status LED")
status_led            = note 107 ch 0
storage_idle          = 0
storage_restoring     = 1
storage_saving        = 1
storage_exporting     = 2
storage_exported      = 1
storage_export_failed = 2
storage_fault         = 2
