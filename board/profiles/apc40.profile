# apc40.profile -- Akai APC40 (mk1), host-controlled ("Ableton") mode.
#
# Notes, CCs and LED values: Ableton's APC40 remote script and Luppp's
# akai_apc.ctlr (see FACTS.md, "Akai APC controllers"). Nudge +/- (100/101)
# as in the mossgrabers APC driver. Shift + MASTER (80) exports, shift +
# PLAY (91) saves, and the MASTER button's LED shows the SD card: neither
# button does anything else, so neither is hit by accident while playing.
# MIDI channels are written 0..15, as on
# the wire: the APC40's track 1 sends on channel 0.
#
# From Akai's "Communications Protocol for Akai APC40 Controller" (Rev 1,
# 2009): the device inquiry with channel byte 00; the introduction (mode 41
# Ableton, 40 Generic, sent at exit so the APC40 is left as it was found);
# the LED table: METRONOME 0x41 and MIDI OVERDUB 0x40 are lit 0 off / 1 on,
# clip stop 0x34 0 off / 1 on / 2 blink, MASTER 0x50 only 0 off / 1..127 on
# (so gridloop blinks the SD card's LED itself), and REC 0x5D has no LED:
# record arm shows on MIDI OVERDUB, which arms the same overdub. The clip
# stop LEDs follow Ableton's _APC session: on while a clip of the track
# plays, blinking while its stop is queued. A clear is shift + STOP ALL
# CLIPS held, then the pad (shift + pad only selects, as in Ableton).
# The loop operations act on the selected clip (the last pad pressed, or
# shift + pad): the six device-control buttons left of MIDI OVERDUB
# (notes 58..63, Akai's table: CLIP/TRACK, DEVICE ON/OFF, <-, ->, DETAIL
# VIEW, REC QUANTIZATION), and with shift six more.

[controller]
name    = APC40 mk1
port    = *APC40*
inquiry = 47 73                               # Akai, APC40
inquiry_channel = 0x00                        # Akai's protocol (Rev 1): F0 7E 00 06 01 F7
intro   = F0 47 7F 73 60 00 04 41 01 00 00 F7 # mode 41 (Ableton), version 1.0.0:
                                              # without it the APC40 lights pads itself
outro   = F0 47 7F 73 60 00 04 40 01 00 00 F7 # at exit: mode 40, Generic, as found
clock   = no                                  # Ableton's APC40 script: no clock port
rows    = 5

[map]
pad          note 53..57 ch 0..7 -> x = ch, y = note - 53
scene        note 82..86 ch 0    -> y = note - 82
stop_track   note 52 ch 0..7     -> x = ch   # clip stop
select_track note 51 ch 0..7     -> x = ch   # track select
stop_all     note 81 ch 0                    # stop all clips
stop_all     note 92 ch 0                    # transport stop
record_arm   note 64 ch 0                    # MIDI OVERDUB (0x40): arms an overdub, lit
record_arm   note 93 ch 0                    # REC: arms too; Akai's table gives it no LED
metronome    note 65 ch 0                    # METRONOME (0x41), lit
shift+clear  note 81 ch 0                    # shift + STOP ALL CLIPS held + pad: clear
bank_up      note 94 ch 0
bank_down    note 95 ch 0
next_track   note 96 ch 0                    # bank right
prev_track   note 97 ch 0                    # bank left
shift        note 98 ch 0
tap_tempo    note 99 ch 0
shift+metronome note 99 ch 0                 # shift + tap
shift+export note 80 ch 0                    # shift + MASTER: export the clips
shift+save   note 91 ch 0                    # shift + PLAY: save the session now
redo         note 100 ch 0                   # nudge +
undo         note 101 ch 0                   # nudge -
volume       cc 7 ch 0..7        -> x = ch   # track faders
master       cc 14 ch 0
multiply       note 58 ch 0                  # CLIP/TRACK: multiply the selected clip
insert         note 59 ch 0                  # DEVICE ON/OFF: insert
replace        note 60 ch 0                  # <- : replace pass
substitute     note 61 ch 0                  # -> : substitute pass
reverse        note 62 ch 0                  # DETAIL VIEW: reverse
oneshot        note 63 ch 0                  # REC QUANTIZATION: play once
shift+undo_all     note 58 ch 0              # shift + the same six:
shift+redo_all     note 59 ch 0
shift+half_speed   note 60 ch 0
shift+double_speed note 61 ch 0
shift+mute_clip    note 62 ch 0
shift+trigger      note 63 ch 0
foot         cc 64 ch 0                      # foot switch jack 1
next_scene   cc 67 ch 0                      # foot switch jack 2

[leds]
# clip pads: 0 off, 1 green, 2 green blink, 3 red, 4 red blink, 5 amber,
# 6 amber blink (the mk1 has no other colours: overdub shows red)
empty         = 0
stopped       = 5
playing       = 1
recording     = 3
overdubbing   = 3
record_queued = 4
play_queued   = 2
stop_queued   = 6
# scene launch, rec: off, on, blink
button_off    = 0
button_on     = 1
button_blink  = 2
# clip stop buttons (note 52, channel = track): 0 off, 1 on, 2 blink
stop_off      = 0
stop_on       = 1
stop_blink    = 2
# the SD card (the MASTER button, note 80): a one-colour LED, so off = idle, on = a save or
# restore running, or an export done (a few seconds), blinking = an export
# running; still blinking after the export = it failed, or the card is
# missing, read-only or full (docs/manual.md, "The SD card's status LED")
status_led            = note 80 ch 0
storage_idle          = 0
storage_restoring     = 1
storage_saving        = 1
storage_exporting     = 1 blink   # Akai: MASTER is 0 off, 1..127 on; gridloop blinks it
storage_exported      = 1
storage_export_failed = 1 blink
storage_fault         = 1 blink
