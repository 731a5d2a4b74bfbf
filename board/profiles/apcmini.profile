# apcmini.profile -- Akai APC mini (mk1).
#
# 8 x 8 pads, notes 0..63 with 0 at the bottom left (top row 56..63); scene
# buttons 82..89, track buttons 64..71, shift 98, faders CC 48..55, master
# CC 56. LEDs as the APC40 mk1. Source: Ableton's APC_mini remote script and
# Luppp's akai_apc_mini.ctlr (FACTS.md). The mini has no bank or transport
# buttons: they are shift chords on the track and scene buttons, laid out as
# in Ableton's script (shift + track 1..4 = up, down, left, right; shift +
# scene 3 = record arm, shift + scene 8 = stop all clips). Shift + scene 1
# exports and shift + scene 2 saves (at the top, far from stop all); the
# LED of track button 8 (note 71, red) shows the SD card; the other track
# buttons show the clip stops (on while a clip of the track plays, blinking
# while its stop is queued, as Ableton's clip stop mode).
#
# Shift layer and the printed legends: track buttons UP DOWN LEFT RIGHT
# (bank up/down, previous/next track: as printed), VOLUME PAN SEND DEVICE
# (fader modes gridloop does not have: its own undo, redo, tap tempo,
# metronome); scene buttons CLIP STOP SOLO REC ARM MUTE SELECT - - STOP ALL
# CLIPS: REC ARM and STOP ALL CLIPS as printed, 1 and 2 gridloop's own
# (export, save), 4..6 swallowed (as Ableton swallows 6 and 7: never a
# scene launched by a missed chord), 7 (no legend) held + a pad = clear.
# Shift + pad only selects, as in Ableton.

[controller]
name    = APC mini
port    = *APC MINI          # the client (and port) name ends so; not the mk2's
port    = *APC MINI MIDI 1   # "APC mini mk2 Notes" is no APC mini mk1
inquiry = 47 28             # Akai, APC mini
rows    = 8

[map]
pad        note 56..63 ch 0 -> x = note - 56, y = 0
pad        note 48..55 ch 0 -> x = note - 48, y = 1
pad        note 40..47 ch 0 -> x = note - 40, y = 2
pad        note 32..39 ch 0 -> x = note - 32, y = 3
pad        note 24..31 ch 0 -> x = note - 24, y = 4
pad        note 16..23 ch 0 -> x = note - 16, y = 5
pad        note 8..15 ch 0  -> x = note - 8,  y = 6
pad        note 0..7 ch 0   -> x = note,      y = 7
scene      note 82..89 ch 0 -> y = note - 82
stop_track note 64..71 ch 0 -> x = note - 64    # track buttons: clip stop
shift      note 98 ch 0
shift+bank_up    note 64 ch 0
shift+bank_down  note 65 ch 0
shift+prev_track note 66 ch 0
shift+next_track note 67 ch 0
shift+undo       note 68 ch 0
shift+redo       note 69 ch 0
shift+tap_tempo  note 70 ch 0
shift+metronome  note 71 ch 0
shift+record_arm note 84 ch 0
shift+multiply   note 85 ch 0      # MUTE: multiply the selected clip
shift+insert     note 86 ch 0      # SELECT: insert
shift+replace    note 87 ch 0      # (blank): replace pass
shift+clear      note 88 ch 0      # (blank) held + pad: clear the clip
shift+stop_all   note 89 ch 0
shift+export     note 82 ch 0   # shift + scene 1: export the clips
shift+save       note 83 ch 0   # shift + scene 2: save the session now
volume     cc 48..55 ch 0   -> x = cc - 48
master     cc 56 ch 0

[leds]
# 0 off, 1 green, 2 green blink, 3 red, 4 red blink, 5 amber (yellow on the
# mini), 6 amber blink
empty         = 0
stopped       = 5
playing       = 1
recording     = 3
overdubbing   = 3
record_queued = 4
play_queued   = 2
stop_queued   = 6
# scene buttons: off, on, blink
button_off    = 0
button_on     = 1
button_blink  = 2
# track buttons (red): clip stops
stop_off      = 0
stop_on       = 1
stop_blink    = 2
# the SD card (track button 8, note 71, red): a one-colour LED, so off = idle, on = a save or
# restore running, or an export done (a few seconds), blinking = an export
# running; still blinking after the export = it failed, or the card is
# missing, read-only or full (docs/manual.md, "The SD card's status LED")
status_led            = note 71 ch 0
storage_idle          = 0
storage_restoring     = 1
storage_saving        = 1
storage_exporting     = 2
storage_exported      = 1
storage_export_failed = 2
storage_fault         = 2
