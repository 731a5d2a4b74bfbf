/* main.c -- the gridloop program: reads the settings, the controller
 * profiles and the script, builds the engine, the buffer keeper, the audio
 * thread and the sequencer thread, and hands over to the supervisor until
 * the run ends. Exit status: 0 after SIGTERM/SIGINT or the
 * end of an offline run, 2 for a bad option, config file or script, 1 for
 * anything else. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic_file.h"
#include "audio_thread.h"
#include "engine.h"
#include "export.h"
#include "export_cli.h"
#include "fanout.h"
#include "wake.h"
#include "keeper.h"
#include "manifest.h"
#include "mono_clock.h"
#include "options.h"
#include "link.h"
#include "osc.h"
#include "profile.h"
#include "recorder.h"
#include "script.h"
#include "script_feeder.h"
#include "seq_alsa.h"
#include "session_loader.h"
#include "session_store.h"
#include "supervisor.h"
#include "profile_files.h"

#define EXIT_USAGE	 2
#define MAX_PROFILES	 32
#define FANOUT_EVENTS	 4096 /* engine events on their way to the LEDs */
#define SEQ_PRIORITY_GAP 10   /* the sequencer thread runs this far below audio */
#define SEQ_RETRY_MS	 5000 /* a missing sequencer is looked for this often */

struct program {
	struct options opt;
	struct script script;
	struct engine *engine;
	struct keeper *keeper;
	bool keeper_running;
	struct audio_thread *audio;
	struct script_feeder *feeder;
	struct supervisor *supervisor;
	struct profile *profiles;
	int nprofiles;
	char profile_dir[PATH_MAX];	  /* where they came from */
	char profile_why[PATH_MAX + 128]; /* when none: why */
	struct fanout fanout;
	bool fanout_ready;
	struct wake supervisor_wake; /* the supervisor sleeps on it */
	bool wake_ready;
	struct seq_alsa *seq;
	struct fanout osc_events; /* engine events for the OSC server */
	bool osc_events_ready;
	struct osc_server *osc; /* [osc] port set, else NULL */
	struct gl_link *link;	/* [sync] link = yes, else NULL */
	int64_t start_ns;
	struct session_loader *loader;
	struct sd_writer *writer;
	struct recorder *recorder;
	struct recorder *stems_recorder; /* [recorder] tracks */
	float *stems;
	char export_dir[PATH_MAX];
	char recorder_dir[PATH_MAX];
	bool pid_written;
	int session_lock; /* the instance lock's fd (session_store_lock), or -1 */
};

static int fail(int status, const char *what, const char *why)
{
	fprintf(stderr, "gridloop: %s%s%s\n", what, why ? ": " : "", why ? why : "");
	return status;
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The source tree's board/profiles, seen from a binary built in it
 * (build/<variant>/gridloop): a run from the tree needs no install. */
static bool tree_profiles(char *out, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	char dir[PATH_MAX + 32];
	snprintf(dir, sizeof(dir), "%s/../../board/profiles", dirname(exe));
	return realpath(dir, out) && (strlen(out) < len) && is_dir(out);
}

static void complain(void *ctx, const char *message)
{
	(void)ctx;
	fprintf(stderr, "gridloop: controller profile skipped: %s\n", message);
}

/* Loads the profiles: from [controller] profiles when given, else from the
 * installed directory, else from the source tree. A broken file is named
 * (file:line) and skipped; no profiles at all only means no controllers. */
static int load_profiles(struct program *p)
{
	const char *dir = p->opt.profile_dir;
	if (!dir) {
		if (is_dir(GRIDLOOP_PROFILE_DIR))
			dir = GRIDLOOP_PROFILE_DIR;
		else if (tree_profiles(p->profile_dir, sizeof(p->profile_dir)))
			dir = p->profile_dir;
	}
	if (!dir)
		snprintf(p->profile_why, sizeof(p->profile_why),
			 "no controller profiles: %s does not exist (set [controller] "
			 "profiles)",
			 GRIDLOOP_PROFILE_DIR);
	else if (!is_dir(dir))
		snprintf(p->profile_why, sizeof(p->profile_why),
			 "no controller profiles: %s: %s", dir, strerror(errno));
	if (p->profile_why[0]) {
		fprintf(stderr, "gridloop: %s; running without controllers\n",
			p->profile_why);
		return 0;
	}
	if (dir != p->profile_dir)
		snprintf(p->profile_dir, sizeof(p->profile_dir), "%s", dir);
	p->profiles = calloc(MAX_PROFILES, sizeof(*p->profiles));
	if (!p->profiles)
		return fail(1, "cannot load the controller profiles", "out of memory");
	int n = profile_load_dir(dir, p->profiles, MAX_PROFILES, complain, NULL);
	if (n <= 0) {
		snprintf(p->profile_why, sizeof(p->profile_why),
			 "no controller profiles loaded from %s", dir);
		fprintf(stderr, "gridloop: %s; running without controllers\n",
			p->profile_why);
		n = 0;
	}
	p->nprofiles = n;
	if (n > 0)
		fprintf(stderr, "gridloop: controller profiles: %d from %s\n", n, dir);
	return 0;
}

/* The loaded profile of that name (any case), or -1. */
static int find_profile(const struct program *p, const char *name)
{
	for (int i = 0; name && i < p->nprofiles; i++)
		if (!strcasecmp(p->profiles[i].name, name))
			return i;
	return -1;
}

static int parse_script(struct program *p, char *err, size_t errlen)
{
	char missing[sizeof(p->profile_why) + 128];
	int i = find_profile(p, p->opt.script_profile);
	if (i < 0 && p->nprofiles > 0)
		snprintf(missing, sizeof(missing),
			 "[controller] script_profile '%s' is none of the %d profiles "
			 "loaded from %s",
			 p->opt.script_profile, p->nprofiles, p->profile_dir);
	else
		snprintf(missing, sizeof(missing), "%s", p->profile_why);
	struct script_midi midi = {
	    .profile = i >= 0 ? &p->profiles[i] : NULL,
	    .missing = missing,
	    .rate = p->opt.rate,
	};
	return script_parse_file(&p->script, p->opt.script_path, &midi, err, errlen);
}

/* The sequencer thread and the fan-out of engine events it lives on. */
static int build_seq(struct program *p)
{
	if (fanout_init(&p->fanout, FANOUT_EVENTS))
		return fail(1, "cannot set up the MIDI event queue", "out of memory");
	p->fanout_ready = true;
	uint32_t latency = options_latency_frames(&p->opt);
	int priority = p->opt.priority - SEQ_PRIORITY_GAP;
	struct seq_alsa_config qc = {
	    .commands = engine_commands(p->engine, SOURCE_CONTROLLER),
	    .events = &p->fanout,
	    .audio = p->audio,
	    .supervisor_wake = &p->supervisor_wake,
	    .hub =
		{
		    .profiles = p->profiles,
		    .nprofiles = p->nprofiles,
		    .fallback_profile = find_profile(p, p->opt.port_profile),
		    .rate = p->opt.rate,
		    .period = p->opt.period,
		    .tempo = p->opt.tempo,
		    .beats_per_bar = p->opt.beats_per_bar,
		    .metronome = p->opt.metronome,
		    .clock_out = !p->opt.clock_external,
		    .song_position = p->opt.song_position,
		    .clock_in =
			p->opt.clock_external && !(p->opt.link && p->opt.link_leads),
		},
	    .device = "default",
	    .ports = (const char *const *)p->opt.ports,
	    .nports = p->opt.nports,
	    .clock_in_port = p->opt.clock_in_port,
	    .clock_out_port = p->opt.clock_out_port,
	    /* A frame is heard once the playback buffer ahead of it has
	     * played: the round trip less the period being captured. */
	    .output_delay_frames = latency > p->opt.period ? latency - p->opt.period : 0,
	    .priority = priority < 1 ? 1 : priority,
	    .retry_ms = SEQ_RETRY_MS,
	};
	p->seq = seq_alsa_create(&qc);
	if (!p->seq)
		return fail(1, "cannot set up the sequencer thread", "out of memory");
	if (seq_alsa_start(p->seq))
		return fail(1, "cannot start the sequencer thread", NULL);
	return 0;
}

/* The OSC server, when [osc] port is set: its own fan-out of the engine's
 * events and its thread. A port that cannot be bound stops the start, as a
 * bad config value does: a musician who set it expects it to answer. */
static int build_osc(struct program *p)
{
	if (!p->opt.osc_port)
		return 0;
	if (fanout_init(&p->osc_events, FANOUT_EVENTS))
		return fail(1, "cannot set up the OSC event queue", "out of memory");
	p->osc_events_ready = true;
	struct osc_server_config oc = {
	    .engine = p->engine,
	    .events = &p->osc_events,
	    .now = audio_thread_now(p->audio),
	    .listen = p->opt.osc_listen,
	    .port = (uint16_t)p->opt.osc_port,
	    .max_packets_per_s = p->opt.osc_max_packets,
	    .link = p->link,
	    .handler =
		{
		    .rate = p->opt.rate,
		    .tempo = p->opt.tempo,
		    .beats_per_bar = p->opt.beats_per_bar,
		    .quantise = p->opt.quantise,
		    .clock_external = p->opt.clock_external,
		    .link_leads = p->opt.link_leads,
		    .can_save = p->opt.session_dir != NULL,
		},
	};
	char why[512];
	p->osc = osc_server_create(&oc, why, sizeof(why));
	if (!p->osc)
		return fail(1, "cannot start the OSC server", why);
	if (osc_server_start(p->osc))
		return fail(1, "cannot start the OSC server thread", NULL);
	fprintf(stderr, "gridloop: OSC on %s (SooperLooper's namespace and /gridloop/)\n",
		osc_server_url(p->osc));
	return 0;
}

/* The OSC server stops before the last statistics, so that they are exact. */
static void stop_osc(struct program *p)
{
	osc_server_stop(p->osc);
}

static const struct session *g_more; /* resume_conversion()'s original */

/* What start-up found in the session directory. */
struct card_at_start {
	bool mounted;		  /* false: [session] mount_point is not mounted */
	const char *restore_from; /* the directory whose clips are restored, or NULL */
	bool on_card;		  /* `loaded` is what the directory holds now */
	bool resave;		  /* restored clips are saved anew (rate converted) */
	bool no_save;		  /* the old session could not be set aside */
	uint64_t serial;
	/* A conversion not finished: its original and what is left of it. */
	const char *more_from;
	char marker[PATH_MAX + 32]; /* DIR's conversion marker ("": none) */
};

/* DIR's mark of a rate conversion in progress (session_store_beside):
 * it holds the original's path, and goes when every clip was converted
 * and saved (the SD writer removes it). */
static void conversion_marker(const char *dir, char *out, size_t len)
{
	if (session_store_beside(dir, ".converting", out, len))
		out[0] = '\0';
}

/* Writes the marker for a conversion from aside: 0, or -1 (said; the
 * marker is then ""). */
static int mark_conversion(const char *dir, const char *aside, struct card_at_start *c)
{
	char parent[PATH_MAX + 32], name[PATH_MAX + 32], err[512];
	conversion_marker(dir, c->marker, sizeof(c->marker));
	snprintf(parent, sizeof(parent), "%s", c->marker);
	snprintf(name, sizeof(name), "%s", c->marker);
	if (c->marker[0] && atomic_file_write(dirname(parent), basename(name), aside,
					      strlen(aside), err, sizeof(err))) {
		fprintf(stderr,
			"gridloop: cannot mark the conversion (%s): if it is cut short, "
			"the rest stays in %s\n",
			err, aside);
		c->marker[0] = '\0';
		return -1;
	}
	return 0;
}

/* A conversion that an earlier run did not finish (SIGTERM, a power cut):
 * the clips of its original that the session does not have yet are
 * converted again now, into the slots left empty. */
static void resume_conversion(const struct options *o, const struct session *loaded,
			      struct card_at_start *c)
{
	static char from[PATH_MAX + 64];
	static struct session orig; /* big: not on the stack */
	char marker[PATH_MAX + 32], err[1024];
	conversion_marker(o->session_dir, marker, sizeof(marker));
	int fd =
	    marker[0] ? open(marker, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW) : -1;
	if (fd < 0)
		return;
	ssize_t n = read(fd, from, sizeof(from) - 1);
	close(fd);
	from[n > 0 ? n : 0] = '\0';
	struct stat st;
	if (n > 0 && c->on_card && lstat(from, &st) != 0 && errno == ENOENT) {
		/* Marked, then cut before the original moved: the session is
		 * still where it was, and restored as it is. */
		unlink(marker);
		return;
	}
	session_init(&orig, o->rate);
	if (n <= 0 || session_store_read(from, &orig, err, sizeof(err)) != 0) {
		fprintf(stderr,
			"gridloop: an earlier conversion was cut short, but its original "
			"%s cannot be read (%s); see %s\n",
			from, n > 0 ? err : "no path", marker);
		return;
	}
	int left = 0;
	for (int i = 0; i < GL_SLOTS; i++)
		left +=
		    orig.clips[i].present && !(c->on_card && loaded->clips[i].present);
	if (left == 0) {
		unlink(marker);
		return;
	}
	fprintf(
	    stderr,
	    "gridloop: an earlier conversion from %u Hz was cut short: the %d clip(s) "
	    "not converted yet are converted now from %s\n",
	    orig.rate, left, from);
	snprintf(c->marker, sizeof(c->marker), "%s", marker);
	c->more_from = from;
	c->resave = true;
	if (!c->restore_from) /* no session in DIR: all from the original */
		c->restore_from = c->more_from;
	g_more = &orig;
}

/* A session set aside for good (restore = no, unreadable, another rate
 * not converted) takes an unfinished conversion with it: the rest of that
 * conversion belongs to the session set aside, not to the new empty one
 * (its original stays on the card, kept, where the marker said). */
static void drop_conversion(const char *dir)
{
	char marker[PATH_MAX + 32], from[PATH_MAX + 64];
	conversion_marker(dir, marker, sizeof(marker));
	int fd =
	    marker[0] ? open(marker, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW) : -1;
	if (fd < 0)
		return;
	ssize_t n = read(fd, from, sizeof(from) - 1);
	close(fd);
	from[n > 0 ? n : 0] = '\0';
	struct stat st; /* marked, then cut before the original moved: nothing */
	bool moved = n > 0 && (lstat(from, &st) == 0 || errno != ENOENT);
	if (unlink(marker) == 0 && moved)
		fprintf(stderr,
			"gridloop: an earlier rate conversion was not finished; the "
			"clips it did not convert stay in %s (not restored into the "
			"new session)\n",
			from);
}

/* Reads the session directory's manifest into loaded (quick: the clips'
 * audio is the loader's, later) and decides what is restored. A session
 * that cannot be used as it is gets renamed, never overwritten: the
 * musician's audio stays on the card. -1: the directory is not one (a
 * file): no sessions at all. */
static int examine_card(const struct options *o, struct session *loaded,
			struct card_at_start *c)
{
	static char aside[PATH_MAX + 64];
	const char *dir = o->session_dir;
	char err[1024];
	*c = (struct card_at_start){.mounted = true};
	if (o->mount_point &&
	    session_store_check_mount(o->mount_point, err, sizeof(err))) {
		fprintf(stderr,
			"gridloop: %s; starting an empty session, saved once the card is "
			"there\n",
			err);
		c->mounted = false;
		return 0;
	}
	struct stat st;
	if (stat(dir, &st) != 0) {
		fprintf(stderr, "gridloop: session directory %s does not exist yet\n",
			dir);
		if (o->restore)
			resume_conversion(o, loaded, c);
		else
			drop_conversion(dir);
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) { /* never renamed or written into */
		fprintf(
		    stderr,
		    "gridloop: [session] dir %s is not a directory: this session is not "
		    "saved\n",
		    dir);
		return -1;
	}
	int rc = session_store_load(dir, loaded, &c->serial, err, sizeof(err));
	char manifest[PATH_MAX + 32];
	snprintf(manifest, sizeof(manifest), "%s/%s", dir, MANIFEST_FILE);
	if (rc > 0) {
		fprintf(stderr, "gridloop: no saved session in %s yet\n", dir);
		/* restore = no: an unfinished conversion's rest is not brought
		 * into the new session by a later start (seed 67843: a
		 * conversion cut by SIGKILL before its first save, then a start
		 * with restore = no, then one with restore = yes). */
		if (!o->restore)
			drop_conversion(dir);
	} else if (rc < 0 && access(manifest, F_OK) != 0) {
		/* A directory that cannot be read (permissions, I/O), not a
		 * manifest: nothing to set aside; the writer says what it finds. */
		fprintf(stderr, "gridloop: the session directory cannot be read: %s\n",
			err);
	} else if (rc < 0) {
		fprintf(stderr, "gridloop: the saved session cannot be read: %s\n", err);
		if (!session_store_set_aside(dir, "unreadable", aside, sizeof(aside))) {
			fprintf(stderr,
				"gridloop: it is kept as %s; starting an empty session\n",
				aside);
			drop_conversion(dir);
		} else
			c->no_save = true;
	} else if (!o->restore) {
		if (!session_store_set_aside(dir, "previous", aside, sizeof(aside))) {
			fprintf(stderr,
				"gridloop: [session] restore = no: the last session is "
				"kept as "
				"%s; starting an empty session\n",
				aside);
			drop_conversion(dir);
		} else
			c->no_save = true;
	} else if (loaded->rate != o->rate) {
		/* A conversion is marked before its original moves: a power
		 * cut between the two must not leave the original set aside
		 * with nothing that says to convert it (a mark that cannot be
		 * written is said, and the conversion goes on unmarked). */
		char named[sizeof(aside)];
		if (session_store_aside_name(
			dir, o->resample ? "converted-from" : "other-rate", aside,
			sizeof(aside))) {
			fprintf(stderr,
				"gridloop: cannot set %s aside: its path is too long\n",
				dir);
			c->no_save = true;
			return 0;
		}
		snprintf(named, sizeof(named), "%s", aside);
		/* An earlier conversion still unfinished (cut short, then a
		 * start at a third rate): its rest stays where it is kept, said,
		 * before this conversion's mark takes the marker's place. */
		drop_conversion(dir);
		if (o->resample)
			mark_conversion(dir, aside, c);
		if (session_store_set_aside_as(dir, aside, sizeof(aside))) {
			if (c->marker[0]) /* the original stays in DIR */
				unlink(c->marker);
			c->no_save = true;
			return 0;
		}
		/* Moved into DIR itself (a mount point): the mark says where. */
		if (c->marker[0] && strcmp(named, aside))
			mark_conversion(dir, aside, c);
		fprintf(stderr,
			"gridloop: the session was saved at %u Hz and gridloop runs at "
			"%u Hz: ",
			loaded->rate, o->rate);
		if (o->resample) {
			fprintf(stderr,
				"its clips are converted (the original is kept as %s)\n",
				aside);
			c->restore_from = aside;
			c->resave = true;
			c->serial = 0;
		} else {
			fprintf(
			    stderr,
			    "not restored, never played at the wrong speed ([session] "
			    "resample = yes converts it). It is kept as %s\n",
			    aside);
			drop_conversion(dir);
		}
	} else {
		c->restore_from = dir;
		c->on_card = true;
	}
	if (o->restore && !c->no_save && !c->more_from && !c->marker[0])
		resume_conversion(o, loaded, c);
	return 0;
}

/* Starts the SD writer and, when there is a session to restore, the loader.
 * Nothing here waits for the clips' audio: that is the loader's, in the
 * background (offline runs excepted). */
static int build_session(struct program *p, bool offline)
{
	const struct options *o = &p->opt;
	if (!o->session_dir) {
		fprintf(stderr,
			"gridloop: no [session] dir: this session is not saved\n");
		return 0;
	}
	options_export_dir(o, p->export_dir, sizeof(p->export_dir));
	static struct session loaded; /* big: not on the stack */
	session_init(&loaded, o->rate);
	struct card_at_start card;
	if (examine_card(o, &loaded, &card))
		return 0;
	if (card.no_save) {
		/* Saving into DIR would remove the old session's clips. */
		fprintf(stderr,
			"gridloop: the last session in %s could not be set aside, so "
			"nothing is saved this run (saving over it would delete its "
			"clips); it is left as it is\n",
			o->session_dir);
		return 0;
	}
	if (p->session_lock >= 0)
		export_sweep_partials(p->export_dir);

	struct sd_writer_config wc;
	sd_writer_config_defaults(&wc);
	wc.engine = p->engine;
	wc.keeper = p->keeper;
	wc.session_dir = o->session_dir;
	wc.export_dir = p->export_dir;
	wc.export_format = o->export_format;
	wc.mount_point = o->mount_point;
	wc.card_unknown = !card.mounted;
	/* What wins at a restart: the restored session's tempo, meter,
	 * quantise, metronome and mix (the loader sends them all), over the
	 * config's: its takes were recorded under that grid, and the
	 * musician left it so (a tempo of 0 saved: the config's). The config
	 * sets a new session: none on the card, restore = no, set aside. */
	wc.on_card = card.on_card ? &loaded : NULL;
	wc.serial = card.serial;
	wc.resave_restored = card.resave;
	/* Removed by the writer, after the save that holds every clip. */
	wc.conversion_marker = card.marker[0] ? card.marker : NULL;
	wc.quiet_ms = o->save_quiet_ms;
	wc.status_wake = &p->supervisor_wake;
	p->writer = sd_writer_create(&wc);
	if (!p->writer)
		return fail(1, "cannot set up the SD writer", "out of memory");
	if (sd_writer_start(p->writer))
		return fail(1, "cannot start the SD writer thread", NULL);
	if (!card.restore_from)
		return 0;

	/* Even with no clips, the session's tempo and mix are restored. */
	struct session_loader_config lc = {.engine = p->engine,
					   .keeper = p->keeper,
					   .dir = card.restore_from,
					   .manifest = &loaded,
					   .start_ns = p->start_ns,
					   .audio_now = audio_thread_now(p->audio),
					   .more_dir = card.more_from,
					   .more = card.more_from ? g_more : NULL,
					   .conversion_writer =
					       card.marker[0] ? p->writer : NULL};
	if (card.more_from && card.restore_from == card.more_from) {
		/* Nothing in DIR: the original is the manifest. */
		lc.manifest = g_more;
		lc.more_dir = NULL;
		lc.more = NULL;
	}
	p->loader = session_loader_create(&lc);
	if (!p->loader)
		return fail(1, "cannot set up the session loader", "out of memory");
	/* An offline run must give the same output every time: the clips are
	 * read before the first period. */
	if (offline) {
		session_loader_run(p->loader);
		keeper_service(p->keeper); /* the offers go out before period 1 */
	} else if (session_loader_start(p->loader)) {
		return fail(1, "cannot start the session loader thread", NULL);
	}
	return 0;
}

/* One recorder (the mix: "gig", or the track stems: "gig-tracks"), or NULL
 * with the reason said: it is never a reason not to play. */
static struct recorder *start_recorder(struct program *p, const char *prefix,
				       int channels)
{
	const struct options *o = &p->opt;
	char err[512];
	struct recorder_config rc = {.dir = p->recorder_dir,
				     .rate = o->rate,
				     .channels = channels,
				     .format = o->recorder_format,
				     .ring_seconds = o->recorder_seconds,
				     .prefix = prefix};
	struct recorder *r = recorder_create(&rc, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "gridloop: performance recorder (%s) off: %s\n", prefix,
			err);
		return NULL;
	}
	if (recorder_start(r)) {
		fprintf(
		    stderr,
		    "gridloop: performance recorder (%s) off: cannot start its thread\n",
		    prefix);
		recorder_destroy(r);
		return NULL;
	}
	struct recorder_stats rs;
	recorder_get_stats(r, &rs);
	fprintf(stderr, "gridloop: recording the gig to %s\n", rs.file);
	return r;
}

/* The audio thread's output tap: the period's mix, and the track stems the
 * engine left beside it, into the performance recorders (wait-free). */
static void record_period(void *ctx, const float *out, uint32_t frames)
{
	struct program *p = ctx;
	recorder_push(p->recorder, out, frames); /* NULL: off */
	recorder_push(p->stems_recorder, p->stems, frames);
}

static void build_recorder(struct program *p)
{
	const struct options *o = &p->opt;
	if (!o->recorder)
		return;
	options_recorder_dir(o, p->recorder_dir, sizeof(p->recorder_dir));
	if (!p->recorder_dir[0]) {
		fprintf(stderr, "gridloop: [recorder] enabled but no [recorder] dir nor "
				"[session] dir: not recording the gig\n");
		return;
	}
	p->recorder = start_recorder(p, "gig", GL_OUT_CH);
	if (!o->recorder_tracks)
		return;
	/* Written by the audio thread every period: touched now, so that it is
	 * locked and mapped before the first one. */
	size_t bytes = (size_t)o->period * GL_STEM_CH * sizeof(float);
	p->stems = malloc(bytes);
	if (!p->stems) {
		fprintf(stderr, "gridloop: track recording off: out of memory\n");
		return;
	}
	memset(p->stems, 0, bytes);
	p->stems_recorder = start_recorder(p, "gig-tracks", GL_STEM_CH);
	if (p->stems_recorder)
		engine_set_stems(p->engine, p->stems);
}

static void report_recorder(struct recorder *r)
{
	if (!r)
		return;
	recorder_stop(r);
	struct recorder_stats rs;
	recorder_get_stats(r, &rs);
	fprintf(stderr,
		"gridloop: gig recording %s: %llu frames written, %llu lost%s%s\n",
		rs.file, (unsigned long long)rs.frames_written,
		(unsigned long long)rs.frames_lost, rs.error ? "; stopped by: " : "",
		rs.error ? atomic_file_why(rs.error) : "");
}

static void write_pid_file(struct program *p)
{
	if (!p->opt.pid_file)
		return;
	char dir[PATH_MAX], name[PATH_MAX], text[32];
	snprintf(dir, sizeof(dir), "%s", p->opt.pid_file);
	snprintf(name, sizeof(name), "%s", p->opt.pid_file);
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	char err[256];
	if (atomic_file_write(dirname(dir), basename(name), text, (size_t)n, err,
			      sizeof(err)))
		fprintf(stderr, "gridloop: cannot write the pid file %s: %s\n",
			p->opt.pid_file, err);
	else
		p->pid_written = true;
}

/* Whether pid is `gridloop export` (which holds the lock shared, for the
 * seconds an export takes) rather than a gridloop that runs. */
static bool is_export(pid_t pid)
{
	char path[64], cmd[256];
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	cmd[n] = '\0';
	size_t first = strlen(cmd);
	return first + 1 < (size_t)n && strcmp(cmd + first + 1, "export") == 0;
}

#define LOCK_WAIT_MS 60000 /* for offline exports to finish */

/* One gridloop per session directory: the instance lock, held until exit.
 * 0, or the exit status when another gridloop has it. A lock that cannot
 * be made (no card yet) is no reason not to play. */
static int lock_session(struct program *p)
{
	const char *dir = p->opt.session_dir;
	char err[PATH_MAX + 128];
	p->session_lock = -1;
	if (!dir)
		return 0;
	for (int ms = 0;; ms += 100) {
		pid_t holder;
		p->session_lock =
		    session_store_lock(dir, false, &holder, err, sizeof(err));
		if (p->session_lock >= 0)
			return 0;
		if (p->session_lock == -2) {
			fprintf(stderr, "gridloop: %s; going on without it\n", err);
			return 0;
		}
		bool export = holder > 0 && is_export(holder);
		if (!export || ms >= LOCK_WAIT_MS) {
			char who[48] = "";
			if (holder > 0)
				snprintf(who, sizeof(who), " (pid %ld)", (long)holder);
			fprintf(
			    stderr,
			    "gridloop: another gridloop%s uses the session directory %s: "
			    "not starting a second one on it\n",
			    who, dir);
			return 1;
		}
		if (ms == 0)
			fprintf(
			    stderr,
			    "gridloop: waiting for gridloop export (pid %ld) to finish "
			    "with %s\n",
			    (long)holder, dir);
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
}

/* Removes the pid file only when it is still ours (another gridloop's,
 * with another session directory, may have replaced it). */
static void remove_pid_file(struct program *p)
{
	char text[32] = "";
	int fd = open(p->opt.pid_file, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	if (strtol(text, NULL, 10) == (long)getpid())
		unlink(p->opt.pid_file);
}

/* Ableton Link, when [sync] link = yes: made and enabled here, off the
 * audio thread, which then only captures and commits its state. */
static int build_link(struct program *p)
{
	if (!p->opt.link)
		return 0;
	char why[256];
	double bpm = p->opt.tempo > 0 ? p->opt.tempo : 120.0;
	p->link = gl_link_create(bpm, p->opt.link_start_stop, why, sizeof(why));
	if (!p->link)
		return fail(EXIT_USAGE, "cannot use [sync] link", why);
	gl_link_enable(p->link, true);
	fprintf(stderr, "gridloop: Ableton Link on (%s leads%s)\n",
		p->opt.clock_external && !p->opt.link_leads ? "MIDI clock in"
							    : "the session",
		p->opt.link_start_stop ? ", start/stop sync" : "");
	return 0;
}

static int build(struct program *p)
{
	const char *why = NULL;
	if (wake_init(&p->supervisor_wake))
		return fail(1, "cannot set up the supervisor's wake-up",
			    "no file descriptor left");
	p->wake_ready = true;
	struct engine_config ec;
	options_engine_config(&p->opt, &ec);
	p->engine = engine_create(&ec, &why);
	if (!p->engine) /* the settings are checked before; this is what is left */
		return fail(why && strcmp(why, "out of memory") ? EXIT_USAGE : 1,
			    "cannot set up the engine", why);

	struct keeper_config kc;
	options_keeper_config(&p->opt, &kc);
	p->keeper = keeper_create(p->engine, &kc, &why);
	if (!p->keeper)
		return fail(1, "cannot set up the buffer keeper", why);
	int64_t stop = p->opt.frames > 0 ? p->opt.frames : GL_NEVER;
	if (p->script.exit_frame < stop)
		stop = p->script.exit_frame;
	bool offline = stop != GL_NEVER; /* see audio_thread_set_offline() */
	if (!offline) {
		if (keeper_start(p->keeper))
			return fail(1, "cannot start the buffer keeper thread", NULL);
		p->keeper_running = true;
	}

	build_recorder(p);
	int lrc = build_link(p);
	if (lrc)
		return lrc;

	struct audio_thread_config ac = {
	    .engine = p->engine,
	    .output_tap = record_period,
	    .output_tap_ctx = p,
	    .rate = p->opt.rate,
	    .period = p->opt.period,
	    .input_channels = p->opt.input_channels,
	    .priority = p->opt.priority,
	    .require_rt = p->opt.require_rt,
	    .wake_events = &p->supervisor_wake,
	    /* Offline, the audio thread serves the keeper itself. */
	    .wake_memory = offline ? NULL : keeper_wake(p->keeper),
	    .click_out = p->opt.click_channel != 0,
	    .link = p->link,
	    .link_leads = !p->opt.clock_external || p->opt.link_leads,
	    .link_start_stop = p->opt.link_start_stop,
	    .link_start_scene = -1,
	};
	p->audio = audio_thread_create(&ac);
	if (!p->audio)
		return fail(1, "cannot set up the audio thread", "out of memory");
	audio_thread_set_stop_frame(p->audio, stop);
	int src = build_session(p, offline);
	if (src)
		return src;

	if (p->script.count > 0) {
		p->feeder = script_feeder_create(
		    &p->script, engine_commands(p->engine, SOURCE_SCRIPT),
		    audio_thread_now(p->audio));
		if (!p->feeder)
			return fail(1, "cannot set up the script", "out of memory");
		/* A script that fits in the queue is queued whole before the
		 * first period; a longer one is fed as the queue empties. */
		if (script_feeder_fill(p->feeder) > 0) {
			if (script_feeder_start(p->feeder))
				return fail(1, "cannot start the script feeder thread",
					    NULL);
			audio_thread_set_feeder(p->audio, p->feeder);
		}
	}
	if (offline)
		audio_thread_set_offline(
		    p->audio, p->feeder ? script_feeder_horizon(p->feeder) : NULL,
		    p->keeper);
	int rc = build_seq(p);
	if (!rc)
		rc = build_osc(p);
	if (rc)
		return rc;

	struct supervisor_config sc = {
	    .engine = p->engine,
	    .keeper = p->keeper,
	    .audio = p->audio,
	    .feeder = p->feeder,
	    .fanout = &p->fanout,
	    .seq = p->seq,
	    .writer = p->writer,
	    .wake = &p->supervisor_wake,
	    .osc = p->osc ? &p->osc_events : NULL,
	    .osc_server = p->osc,
	    .link = p->link,
	    .start_ns = p->start_ns,
	    .latency_frames = options_latency_frames(&p->opt),
	    .wait_for_device = p->opt.wait_for_device,
	    .lock_memory = p->opt.lock_memory,
	    .require_rt = p->opt.require_rt,
	    .verbose = p->opt.verbose,
	};
	options_audio_params(&p->opt, &sc.pcm);
	p->supervisor = supervisor_create(&sc);
	if (!p->supervisor)
		return fail(1, "cannot set up the supervisor", "out of memory");
	return 0;
}

/* After the audio thread has stopped: the last save, then the recording's
 * end. */
static int finish_session(struct program *p)
{
	session_loader_stop(p->loader);
	int rc = 0;
	if (p->writer && sd_writer_stop(p->writer))
		rc = 1;
	report_recorder(p->recorder);
	report_recorder(p->stems_recorder);
	return rc;
}

static void tear_down(struct program *p)
{
	session_loader_stop(p->loader);
	session_loader_destroy(p->loader);
	sd_writer_destroy(p->writer);
	recorder_destroy(p->recorder);
	recorder_destroy(p->stems_recorder);
	free(p->stems);
	if (p->pid_written)
		remove_pid_file(p);
	if (p->session_lock >= 0)
		close(p->session_lock);
	script_feeder_destroy(p->feeder);
	supervisor_destroy(p->supervisor);
	osc_server_destroy(p->osc); /* reads the audio thread's clock: before it goes */
	if (p->osc_events_ready)
		fanout_free(&p->osc_events);
	seq_alsa_destroy(p->seq); /* reads the audio thread's clock: first */
	if (p->fanout_ready)
		fanout_free(&p->fanout);
	audio_thread_destroy(p->audio);
	gl_link_destroy(p->link); /* after the audio thread that used it */
	if (p->keeper_running)
		keeper_stop(p->keeper);
	keeper_destroy(p->keeper);
	engine_destroy(p->engine);
	if (p->wake_ready)
		wake_free(&p->supervisor_wake);
	script_free(&p->script);
	free(p->profiles);
	options_free(&p->opt);
}

int main(int argc, char **argv)
{
	/* Before any thread exists, so that all of them inherit the mask. */
	supervisor_block_signals();

	struct program p = {.script = {.exit_frame = GL_NEVER}, .start_ns = mono_ns()};
	char err[512];
	if (argc > 1 && !strcmp(argv[1], "export"))
		return export_cli(argc - 1, argv + 1);
	options_defaults(&p.opt);
	enum options_result r =
	    options_parse(&p.opt, argc, argv, stdout, err, sizeof(err));
	if (r != OPTIONS_RUN) {
		options_free(&p.opt);
		return r == OPTIONS_DONE ? 0 : fail(EXIT_USAGE, err, NULL);
	}
	/* One spelling per directory: "dir/" cannot be set aside by rename,
	 * and the instance lock must be the same file for every spelling. */
	session_store_clean_path(p.opt.session_dir);
	session_store_clean_path(p.opt.mount_point);
	/* Every size the settings ask for, against what the system has,
	 * before anything is mapped. */
	struct sysmem_room avail;
	sysmem_read("", p.opt.lock_memory, &avail);
	int mem = options_check_memory(&p.opt, &avail, (size_t)sysconf(_SC_PAGESIZE), err,
				       sizeof(err));
	if (mem < 0) {
		options_free(&p.opt);
		return fail(EXIT_USAGE, err, NULL);
	}
	if (mem > 0)
		fprintf(stderr, "gridloop: %s\n", err);
	p.session_lock = -1;
	int status = lock_session(&p);
	if (status == 0)
		status = load_profiles(&p);
	if (status == 0 && p.opt.script_path && parse_script(&p, err, sizeof(err)))
		status = fail(EXIT_USAGE, err, NULL);
	if (status == 0)
		status = build(&p);
	if (status == 0) {
		write_pid_file(&p);
		status = supervisor_run(p.supervisor);
		if (finish_session(&p) && status == 0)
			status = 1;
		stop_osc(&p);
		struct audio_stats as;
		audio_thread_get_stats(p.audio, &as);
		if (as.periods > 0) /* nothing to tell if audio never ran */
			supervisor_print_stats(p.supervisor, stderr);
	}
	tear_down(&p);
	return status;
}
