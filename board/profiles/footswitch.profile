# footswitch.profile -- a generic MIDI foot controller: one-button looping.
#
# Switches that send a CC (127 down, 0 up, like a sustain pedal) or a
# program change, on any channel. The looping switch works on the selected
# clip (track 1, scene 1 at start; moved with the other switches):
#   tap = record -> play -> overdub -> play, double tap = stop,
#   hold = undo, hold while stopped = clear
# (the full table is in docs/manual.md). A second switch (foot2: CC 68,
# or program 4): tap = multiply the selected clip (tap again: end it at
# the cycle), hold = undo. A program change has no release, so a
# switch that sends one taps but cannot hold. No export or save gesture:
# tap, double tap and hold are taken, and a stray export on stage is worse
# than none; a board with a spare switch can add `export cc 68 ch 0..15`.

[controller]
name          = Foot switch
port          = *foot*
port          = *pedal*
port          = *FCB1010*
double_tap_ms = 300
hold_ms       = 1000

[map]
foot       cc 64 ch 0..15   # sustain jack
prev_track cc 65 ch 0..15
next_track cc 66 ch 0..15
next_scene cc 67 ch 0..15   # soft pedal jack
foot       pc 0 ch 0..15    # program-change pedal boards: switch 1..4
next_track pc 1 ch 0..15
prev_track pc 2 ch 0..15
next_scene pc 3 ch 0..15
foot2      cc 68 ch 0..15   # a two-button pedal's second switch: tap =
                            # multiply (again: end it), hold = undo
foot2      pc 4 ch 0..15    # (a program change: multiply only)
