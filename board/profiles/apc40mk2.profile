# apc40mk2.profile -- Akai APC40 mkII, host-controlled ("Ableton Live") mode.
#
# Pads all on channel 0, note = 32 + track - 8 * row (top row 32..39), RGB:
# velocity = palette colour, channel = animation (0 solid, 6..10 pulse,
# 11..15 blink). Source: Ableton's APC40_MkII remote script (FACTS.md). The
# mkII's nudge buttons are 100 (nudge -) and 101 (nudge +), the other way
# round from the mk1, as in the mossgrabers APC driver. As on the mk1, shift
# + MASTER (80) exports, shift + PLAY (91) saves, and the MASTER button's LED
# shows the SD card.
#
# LEDs as Ableton's APC40_MkII script draws them (its skin and
# pushbase/colors.py AnimatedColor): an animation is two messages, colour 1
# on channel 0, then colour 2 on the animation channel (6..10 pulse, 11..15
# blink), and the mkII blinks or pulses between the two; playing and
# recording pulse, queued clips blink against black. The scene launch
# buttons are RGB (palette colours, green while a clip of the row plays);
# clip stop, session record, metronome: 0 off, 1 on, 2 blink; MASTER only
# off / on (gridloop blinks it itself). Ableton marks the mkII's port as a
# clock port: its LED animations follow the clock. At exit: every LED dark,
# then the introduction with mode 40 (Generic). A clear is shift + STOP ALL
# CLIPS held, then the pad (shift + pad only selects, as in Ableton).

[controller]
name    = APC40 mkII
port    = *APC40 mkII*
inquiry = 47 29                               # Akai, APC40 mkII
intro   = F0 47 7F 29 60 00 04 41 01 00 00 F7 # mode 41 (Ableton Live)
outro   = F0 47 7F 29 60 00 04 40 01 00 00 F7 # at exit: mode 40, Generic
clock   = yes
rows    = 5

[map]
pad          note 32..39 ch 0 -> x = note - 32, y = 0
pad          note 24..31 ch 0 -> x = note - 24, y = 1
pad          note 16..23 ch 0 -> x = note - 16, y = 2
pad          note 8..15 ch 0  -> x = note - 8,  y = 3
pad          note 0..7 ch 0   -> x = note,      y = 4
scene        note 82..86 ch 0 -> y = note - 82
stop_track   note 52 ch 0..7  -> x = ch        # clip stop
select_track note 51 ch 0..7  -> x = ch        # track select
stop_all     note 81 ch 0                      # stop all clips
shift+clear  note 81 ch 0                      # shift + STOP ALL CLIPS held + pad: clear
metronome    note 90 ch 0
record_arm   note 102 ch 0                     # session record
bank_up      note 94 ch 0
bank_down    note 95 ch 0
next_track   note 96 ch 0                      # right
prev_track   note 97 ch 0                      # left
shift        note 98 ch 0
tap_tempo    note 99 ch 0
shift+export note 80 ch 0                      # shift + MASTER: export the clips
shift+save   note 91 ch 0                      # shift + PLAY: save the session now
undo         note 100 ch 0                     # nudge -
redo         note 101 ch 0                     # nudge +
volume       cc 7 ch 0..7     -> x = ch
master       cc 14 ch 0
multiply       note 58 ch 0                    # DEVICE <- : multiply the selected clip
insert         note 59 ch 0                    # DEVICE -> : insert
replace        note 60 ch 0                    # BANK <- : replace pass
substitute     note 61 ch 0                    # BANK -> : substitute pass
reverse        note 62 ch 0                    # DEV ON/OFF: reverse
oneshot        note 63 ch 0                    # DEV LOCK: play once
trigger        note 64 ch 0                    # CLIP/DEV VIEW: from the top
mute_clip      note 65 ch 0                    # DETAIL VIEW: mute the clip
shift+undo_all     note 58 ch 0                # shift + DEVICE <- / ->
shift+redo_all     note 59 ch 0
shift+half_speed   note 60 ch 0                # shift + BANK <- / ->
shift+double_speed note 61 ch 0
foot         cc 64 ch 0                        # foot switch jack

[leds]
# palette: 0 black, 5 red, 6 dark red, 9 amber, 21 green, 22 dark green;
# "a, b ch N": a on channel 0, then b on channel N (8 pulses 1/8, 10
# pulses 1/2, 14 blinks 1/4)
empty         = 0
stopped       = 9
playing       = 22, 21 ch 8
recording     = 6, 5 ch 8
overdubbing   = 6, 5 ch 10
record_queued = 5, 0 ch 14
play_queued   = 21, 0 ch 14
stop_queued   = 9, 0 ch 14
# scene launch (RGB): dark, green while a clip of the row plays, green
# blinking while one is queued
scene_off     = 0
scene_on      = 21
scene_blink   = 21, 0 ch 14
# clip stop (note 52, channel = track), session record (102), metronome (90)
stop_off      = 0
stop_on       = 1
stop_blink    = 2
button_off    = 0
button_on     = 1
button_blink  = 2
# the SD card (the MASTER button, note 80): off = idle, on = a save or
# restore running, or an export done (a few seconds), blinking (by gridloop,
# once a second) = an export running; still blinking after the export = it
# failed, or the card is missing, read-only or full (docs/manual.md, "The SD
# card's status LED")
status_led            = note 80 ch 0
storage_idle          = 0
storage_restoring     = 1
storage_saving        = 1
storage_exporting     = 1 blink
storage_exported      = 1
storage_export_failed = 1 blink
storage_fault         = 1 blink
