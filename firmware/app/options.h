/* options.h -- gridloop's settings: built-in defaults, then the config file
 * (INI, /etc/gridloop.conf unless --config names another), then the command
 * line on top. board/gridloop.conf documents every key.
 *
 * Every error message names where the bad value came from ("FILE:LINE:
 * [section] key: ..." or "option --rate: ..."); the caller exits with status
 * 2 on any of them.
 */
#ifndef GRIDLOOP_OPTIONS_H
#define GRIDLOOP_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "audio_alsa.h"
#include "engine.h"
#include "export.h"
#include "keeper.h"
#include "sysmem.h"

#define GRIDLOOP_VERSION       "0.1.0"
#define OPTIONS_DEFAULT_CONFIG "/etc/gridloop.conf"
#define OPTIONS_DEFAULT_DEVICE "default"
#define OPTIONS_DEFAULT_PID_FILE                                                         \
	"/run/gridloop/gridloop.pid" /* `gridloop export` looks here */
#define OPTIONS_LATENCY_AUTO (-1)
#define OPTIONS_MAX_PORTS    8	 /* [controller] ports: patterns */
#define OPTIONS_MAX_PATTERN  127 /* characters of one port pattern */
#define OPTIONS_MAX_KEYS     64	 /* entries of the key table (options.c) */

/* Where controller profiles are installed (make install); a build may move
 * it with -DGRIDLOOP_PROFILE_DIR=... */
#ifndef GRIDLOOP_PROFILE_DIR
#define GRIDLOOP_PROFILE_DIR "/usr/share/gridloop/profiles"
#endif
#define OPTIONS_DEFAULT_PROFILE	   "APC40 mk1"
#define OPTIONS_DEFAULT_OSC_LISTEN "127.0.0.1" /* OSC has no authentication */

struct options {
	/* [audio] */
	char *capture_device;
	char *playback_device;
	char *alsa_config; /* extra ALSA configuration file, or NULL */
	uint32_t rate;
	uint32_t period;	  /* frames per period */
	uint32_t periods;	  /* periods per buffer */
	uint32_t input_channels;  /* of the capture device */
	uint32_t output_channels; /* of the playback device (engine: 2) */
	enum sample_format format;
	int64_t latency_frames; /* OPTIONS_LATENCY_AUTO: period x periods */
	bool wait_for_device;	/* at start, wait for a missing device */
	/* [realtime] */
	int priority;	 /* SCHED_FIFO priority of the audio thread */
	bool require_rt; /* refuse to run without SCHED_FIFO + mlock */
	bool lock_memory;
	/* [looper] */
	double fade_ms;
	double grow_seconds;
	double tempo; /* 0: set by the first loop */
	uint32_t beats_per_bar;
	enum quantise quantise;
	bool metronome;
	uint64_t memory_limit_mb; /* 0: no limit but RAM */
	uint32_t undo_levels;	  /* per clip */
	char *click_output;	  /* [looper] click_output: "main", "N" or "N-M" */
	uint32_t click_channel;	  /* from it: 0 (main), else the first, 1-based */
	uint32_t click_channels;  /* 1 or 2 */
	double click_volume;
	uint64_t undo_memory_mb; /* per clip, 0: no bound but memory */
	/* [controller] */
	char *profile_dir; /* NULL: GRIDLOOP_PROFILE_DIR, else the source tree's */
	char *ports[OPTIONS_MAX_PORTS]; /* port name patterns to connect to */
	int nports;
	char *port_profile;   /* profile of those no pattern identifies */
	char *script_profile; /* profile the script's `midi` lines go through */
	/* [sync] */
	bool clock_external;  /* follow MIDI clock in instead of sending it */
	char *clock_in_port;  /* pattern, or NULL: any port */
	char *clock_out_port; /* pattern, or NULL: subscribers only */
	bool song_position;
	bool link;	      /* join the Ableton Link session */
	bool link_leads;      /* with clock_external: Link wins, MIDI clock in is
				 not followed (leader = link); else MIDI wins */
	bool link_start_stop; /* Link's start/stop sync */
	/* [session] */
	char *session_dir;	/* NULL: sessions are not saved or restored */
	bool restore;		/* load the last session at start */
	char *mount_point;	/* the data partition's mount point, checked; or NULL */
	bool resample;		/* a session at another rate: convert (else set aside) */
	uint32_t save_quiet_ms; /* save after this long without changes */
	/* [export] */
	char *export_dir; /* NULL: "exports" next to the session directory */
	enum export_format export_format;
	/* [recorder] */
	bool recorder;	    /* stream the master mix to the card */
	char *recorder_dir; /* NULL: "recordings" next to the session directory */
	enum export_format recorder_format;
	double recorder_seconds; /* ring: how long the card may stall */
	bool recorder_tracks;	 /* also each track, one multichannel file */
	/* [osc] */
	uint32_t osc_port;	  /* 0 (not set): no OSC server */
	char *osc_listen;	  /* address bound (default 127.0.0.1) */
	uint32_t osc_max_packets; /* datagrams handled a second; more: dropped */
	/* [track1] .. [track8] */
	struct track_input track_input[GL_TRACKS];
	char *track_origin[GL_TRACKS];	/* "FILE:LINE" of an explicit input, or NULL */
	char *stereo_origin[GL_TRACKS]; /* likewise of an explicit stereo */
	/* Where each key was last set ("FILE:LINE" or "option --x"), by its
	 * index in the key table; NULL: the default. For checks across keys. */
	char *origin[OPTIONS_MAX_KEYS];
	/* command line only */
	char *config_path;    /* the file read (default OPTIONS_DEFAULT_CONFIG) */
	bool config_explicit; /* named by --config: must exist */
	char *script_path;    /* --script, or NULL */
	int64_t frames;	      /* --frames: stop after this many; 0 = run on */
	bool verbose;	      /* log every engine event */
	char *pid_file;	      /* --pid-file, or NULL */
};

enum options_result {
	OPTIONS_ERROR = -1, /* message in err: exit 2 */
	OPTIONS_RUN = 0,
	OPTIONS_DONE = 1, /* --help or --version printed: exit 0 */
};

void options_defaults(struct options *o);
void options_free(struct options *o);

/* Reads the config file (o->config_path, or the one --config names) and then
 * applies the command line; then checks the limits that take more than one
 * key (a track's input against input_channels, grow_seconds against period,
 * memory_limit_mb against what arming the clip slots takes, the recorder's
 * ring against its largest), naming each key with its origin. --help and
 * --version print to out. */
enum options_result options_parse(struct options *o, int argc, char **argv, FILE *out,
				  char *err, size_t errlen);

/* Applies one config file on top of o. A missing file is an error only when
 * must_exist; one that is not a regular file (a directory, a FIFO: never
 * waited for), larger than GL_CONFIG_FILE_MAX, unreadable or not text is
 * always one (/dev/null is an empty file). 0 or -1 (message in err). */
int options_load_file(struct options *o, const char *path, bool must_exist, char *err,
		      size_t errlen);

/* The round trip the engine compensates, in frames. */
uint32_t options_latency_frames(const struct options *o);

/* The settings in the forms the engine, the keeper and the PCM take. */
void options_engine_config(const struct options *o, struct engine_config *cfg);
void options_keeper_config(const struct options *o, struct keeper_config *cfg);
void options_audio_params(const struct options *o, struct audio_alsa_params *p);

/* [export] dir, else "exports" next to the session directory; "" when
 * there is neither. Likewise [recorder] dir and "recordings". */
void options_export_dir(const struct options *o, char *out, size_t len);
void options_recorder_dir(const struct options *o, char *out, size_t len);

void options_print_help(FILE *out);

/* ---- Memory at start -------------------------------------------------------
 * What the settings make gridloop map and lock before the first period, in
 * bytes; checked against what the system has before anything is mapped. */
struct options_memory {
	uint64_t clip_slots; /* arming every slot: grow_seconds, rate, stereo tracks */
	uint64_t recorder;   /* the mix recorder's ring: [recorder] ring_seconds */
	uint64_t stems;	     /* the track recorder's ring and buffer: [recorder] tracks */
	uint64_t total;
};

/* Pure: fills m for o with pages of `page` bytes (keeper_arm_bytes() and
 * recorder_ring_bytes(): the arithmetic the parts map by). A recorder that
 * is not enabled counts 0; a ring past the recorder's largest counts as that
 * largest (options_parse() refuses it). */
void options_memory_needs(const struct options *o, size_t page, struct options_memory *m);

/* Checks options_memory_needs() against a. -1: refused, with the key that
 * asks for most, the MB needed and the MB available in err (exit 2). 1:
 * runs, with a warning in err (more than RLIMIT_MEMLOCK without
 * require_rt: not all locked; a memory_limit_mb above what is available).
 * 0: fine. */
int options_check_memory(const struct options *o, const struct sysmem_room *a,
			 size_t page, char *err, size_t errlen);

/* The config file's keys, i = 0, 1, ... until NULL: for documentation
 * checks. *section is "track" for the [track1]..[track8] keys. */
const char *options_config_key(size_t i, const char **section);

/* ---- The key table, for tests ----------------------------------------------
 * Every key as the table has it: the setter's checks and messages come
 * from the same entries. */
enum options_value {
	OPTIONS_VALUE_NONE,   /* --help, --version */
	OPTIONS_VALUE_WHOLE,  /* a whole number in lo..hi */
	OPTIONS_VALUE_NUMBER, /* a decimal in lo..hi */
	OPTIONS_VALUE_BOOL,   /* yes or no */
	OPTIONS_VALUE_STRING, /* not empty */
	OPTIONS_VALUE_ENUM,   /* one of its names (options_key_name()) */
	OPTIONS_VALUE_OTHER,  /* device, ports: their own words */
};

struct options_key {
	const char *section; /* NULL: command line only; "track": [track1]..[track8] */
	const char *name;    /* config key, or NULL */
	const char *option;  /* long option, or NULL: config file only */
	enum options_value value;
	bool auto_ok; /* "auto" is a value too */
	bool zero_ok; /* 0 is a value too, below lo */
	double lo, hi;
};

/* Key i of the table, i = 0, 1, ...: false after the last. */
bool options_key(size_t i, struct options_key *k);

/* The names enum key i takes, w = 0, 1, ... until NULL (the aliases a
 * module also takes are not listed). NULL for a key that is no enum. */
const char *options_key_name(size_t i, size_t w);

#endif
