# launchpadminimk3.profile -- Novation Launchpad Mini mk3 in programmer mode.
#
# From Novation's "Launchpad Mini [MK3] Programmer's reference manual": programmer mode is entered with the SysEx F0 00 20 29 02 0D
# 0E 01 F7 on connection and left (back to Live mode) with ... 0E 00 F7 at
# exit, after every LED is dark. In programmer mode the 8 x 8 grid sends
# notes 11..88 (row 1 at the bottom: 11..18, top row 81..88) and the round
# buttons send CC (127 pressed, 0 released), all on channel 0; the scene
# launch column on the right is CC 89 (top) .. 19 (bottom). LEDs: the same
# note or CC with velocity = palette colour (the palette of the APC40 mkII:
# 0 black, 5 red, 9 orange, 21 green); channel 0 lights it solid, channel
# 1 flashes it between the colour last sent on channel 0 and this one,
# channel 2 pulses it. Flashing and pulsing follow the MIDI clock the
# Launchpad receives (120 BPM without one): clock = yes. The device
# inquiry reply is F0 7E <id> 06 02 00 20 29 13 01 ... F7 (Novation's
# guide, "Device Inquiry message", and Ableton's Launchpad_Mini_MK3 script,
# sysex_ids.py: LP_MINI_MK3_FAMILY_CODE = (19, 1), LP_MINI_MK3_ID = 13, the
# 0D of the SysEx header). The LPMiniMK3 MIDI port is the one programmer
# mode speaks on (the DAW port is Live's).
#
# The same LED meanings as on the APCs: amber stopped, green playing
# (pulsing), red recording (pulsing), blinking against black while queued;
# a scene button is green while a clip of its row plays.
# The top row as printed: up/down (CC 91, 92) = bank, left/right (93, 94)
# = previous/next track; Session (95) = record arm (lit), the next two (96,
# 97) = metronome (lit) and tap tempo, the last (98) = shift. With shift:
# left/right = undo/redo; scene 1 = export, 2 = save, 7 held + a pad =
# clear, 8 = stop all clips (as on the APC minis), 3..6 swallowed. Shift +
# pad selects.

[controller]
name    = Launchpad Mini mk3
port    = *LPMiniMK3 MI*
port    = *Launchpad Mini MK3*MIDI 2
inquiry = 00 20 29 13 01        # Novation, Launchpad Mini mk3
intro   = F0 00 20 29 02 0D 0E 01 F7 # programmer mode
outro   = F0 00 20 29 02 0D 0E 00 F7 # at exit: Live mode, as found
clock   = yes
rows    = 8

[map]
pad        note 81..88 ch 0 -> x = note - 81, y = 0
pad        note 71..78 ch 0 -> x = note - 71, y = 1
pad        note 61..68 ch 0 -> x = note - 61, y = 2
pad        note 51..58 ch 0 -> x = note - 51, y = 3
pad        note 41..48 ch 0 -> x = note - 41, y = 4
pad        note 31..38 ch 0 -> x = note - 31, y = 5
pad        note 21..28 ch 0 -> x = note - 21, y = 6
pad        note 11..18 ch 0 -> x = note - 11, y = 7
scene      cc 89 ch 0 -> y = 0
scene      cc 79 ch 0 -> y = 1
scene      cc 69 ch 0 -> y = 2
scene      cc 59 ch 0 -> y = 3
scene      cc 49 ch 0 -> y = 4
scene      cc 39 ch 0 -> y = 5
scene      cc 29 ch 0 -> y = 6
scene      cc 19 ch 0 -> y = 7
bank_up    cc 91 ch 0
bank_down  cc 92 ch 0
prev_track cc 93 ch 0
next_track cc 94 ch 0
record_arm cc 95 ch 0
metronome  cc 96 ch 0
tap_tempo  cc 97 ch 0
shift      cc 98 ch 0
shift+undo cc 93 ch 0
shift+redo cc 94 ch 0
shift+export cc 89 ch 0     # shift + scene 1
shift+save   cc 79 ch 0     # shift + scene 2
shift+none   cc 69 ch 0     # scene 3..6: swallowed
shift+none   cc 59 ch 0
shift+none   cc 49 ch 0
shift+none   cc 39 ch 0
shift+clear  cc 29 ch 0     # scene 7 held + pad: clear the clip
shift+stop_all cc 19 ch 0   # scene 8

[leds]
empty         = 0
stopped       = 9
playing       = 21 ch 2
recording     = 5 ch 2
overdubbing   = 5 ch 2
record_queued = 5, 0 ch 1
play_queued   = 21, 0 ch 1
stop_queued   = 9, 0 ch 1
scene_off     = 0
scene_on      = 21
scene_blink   = 21, 0 ch 1
record_arm_off = 0
record_arm_on  = 5
metronome_off = 0
metronome_on  = 3
# the SD card: the Novation logo has no press, so the last round button
# of the top row carries it: dark idle, white saving or restoring or an
# export done, orange blinking exporting, red blinking failed or faulty
status_led            = cc 98 ch 0
storage_idle          = 0
storage_restoring     = 3
storage_saving        = 3
storage_exporting     = 9, 0 ch 1
storage_exported      = 3
storage_export_failed = 5, 0 ch 1
storage_fault         = 5, 0 ch 1
