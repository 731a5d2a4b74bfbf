/* gl_limits.h -- the one table of gridloop's limits.
 *
 * Every bound that a value must keep is written here once, and read by each
 * place a value enters: the config file and command line (options.c), the
 * engine's own set-up check and its commands (engine.c, clip.c, transport.c),
 * and the session manifest on the SD card (manifest.c). So the engine never
 * reaches a state that the manifest refuses, and a config value the engine
 * would refuse is refused where it is read, with its file, line and key.
 *
 * Plain constants only: included by pure and OS code alike.
 */
#ifndef GRIDLOOP_GL_LIMITS_H
#define GRIDLOOP_GL_LIMITS_H

/* Sample rates: exactly these (GL_RATE_OK). */
#define GL_RATE_OK(r) ((r) == 44100 || (r) == 48000 || (r) == 96000)

/* Frames per period and periods per buffer. */
#define GL_MIN_PERIOD  16
#define GL_MAX_PERIOD  2048
#define GL_MIN_PERIODS 2
#define GL_MAX_PERIODS 4

/* Tempo in BPM; 0 means "none yet: set by the first loop". */
#define GL_TEMPO_MIN 30.0
#define GL_TEMPO_MAX 300.0

/* Beats per bar. */
#define GL_BEATS_MIN 1
#define GL_BEATS_MAX 16

/* The shortest first loop that can set the tempo: one bar at GL_TEMPO_MAX
 * (at 48 kHz: 0.2 s a beat, so 0.8 s in 4/4, 3.2 s in 16/4), in frames, as a
 * double. A shorter first loop keeps its audio and loops, but sets no tempo
 * (ERR_LOOP_TOO_SHORT); a longer one becomes 1, 2, 4... bars, as many as
 * put the tempo in range. */
#define GL_FIRST_LOOP_MIN_FRAMES(rate, beats)                                            \
	(60.0 * (double)(rate) * (double)(beats) / GL_TEMPO_MAX)

/* Fades at a clip's seams, in ms (the engine takes frames: rate / 10 at most). */
#define GL_FADE_MS_MAX 100.0

/* The grow increment (how much memory a recording is handed at a time), in
 * seconds; it must also be at least GL_GROW_MIN_PERIODS periods. */
#define GL_GROW_SECONDS_MIN 0.1
#define GL_GROW_SECONDS_MAX 60.0
#define GL_GROW_MIN_PERIODS 4

/* The round trip the engine compensates, in frames. */
#define GL_LATENCY_MAX 65536

/* Track and master gains. */
#define GL_GAIN_MAX 2.0

/* The length of one clip in frames (2^40: 260 days at 48 kHz). */
#define GL_CLIP_FRAMES_MAX 1099511627776LL

/* The performance recorder's ring: how long the card may stall, in s. */
#define GL_RECORDER_SECONDS_MIN 1.0
#define GL_RECORDER_SECONDS_MAX 600.0

/* Quiet time before a save, in ms. */
#define GL_SAVE_QUIET_MS_MAX 600000

/* The --script file: its size, the commands it may make, and its frame
 * stamps (the longest clip: a run ends long before). */
#define GL_SCRIPT_BYTES_MAX    (16 << 20)
#define GL_SCRIPT_COMMANDS_MAX (1 << 20)
#define GL_SCRIPT_FRAME_MAX    GL_CLIP_FRAMES_MAX

/* [looper] memory_limit_mb: 0 = no limit but RAM; else at least what arming
 * the clip slots takes (keeper_arm_bytes(), checked with the other keys). */
#define GL_MEMORY_LIMIT_MB_MAX (1 << 24)

/* Undo levels per clip ([looper] undo_levels): each level is a copy of the
 * clip's size, so they are also bounded in MB per clip ([looper]
 * undo_memory_mb, 0 = no bound but memory); at least one level is always
 * kept, as before levels existed. */
#define GL_UNDO_LEVELS_MIN     1
#define GL_UNDO_LEVELS_MAX     16
#define GL_UNDO_LEVELS_DEFAULT 8
#define GL_UNDO_MB_MAX	       (1 << 24)

/* Seams of a take off its cycle lines (an insert's two ends, and their
 * copies in a multiply), where playback fades as at the loop's seam. An
 * insert with none left starts at the next cycle line instead; a multiply
 * stops at the cycle where its copies would have more. */
#define GL_SEAMS_MAX 16

/* Channels of the playback device (of the capture device: GL_MAX_IN_CH,
 * engine.h); the engine's stereo mix goes to the first two. */
#define GL_PLAYBACK_CH_MAX 32

/* SCHED_FIFO priority of the audio thread. */
#define GL_PRIORITY_MIN 1
#define GL_PRIORITY_MAX 99

/* The config file: larger is not a config file (a log, an image, a disk). */
#define GL_CONFIG_FILE_MAX (1 << 20)

/* The OSC server ([osc], os/osc.c): its UDP port, the clients that may
 * register for pushed state, the largest datagram read (a longer one is
 * malformed), the strings it keeps (a return URL or path), the update
 * intervals SooperLooper allows (register_auto_update, ms), and the packets
 * taken a second before the rest are read and dropped (a flood). */
#define GL_OSC_PORT_MIN		 1
#define GL_OSC_PORT_MAX		 65535
#define GL_OSC_CLIENTS_MAX	 32
#define GL_OSC_PACKET_MAX	 4096
#define GL_OSC_STRING_MAX	 128
#define GL_OSC_AUTO_MS_MIN	 10
#define GL_OSC_AUTO_MS_MAX	 100
#define GL_OSC_PACKETS_PER_S_MIN 10
#define GL_OSC_PACKETS_PER_S_MAX 100000

#endif
