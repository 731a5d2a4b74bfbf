/* supervisor.c -- the non-real-time keeper of the audio: device (re)opening,
 * logging of engine events and audio reports, statistics, signals and
 * systemd (see supervisor.h). */
#include "supervisor.h"

#include "log_line.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "mono_clock.h"
#include "rt_mark.h"
#include "thread.h"

/* The loop sleeps until woken (cfg.wake: the audio thread after a period
 * with engine events or reports, the sequencer thread's messages, the SD
 * writer's status) or signalled; the only timer is the device awaited. So
 * an engine event reaches the sequencer thread one period + a wake-up after
 * its frame, and idle nothing wakes. */
#define REOPEN_INTERVAL_NS   500000000LL
#define LINK_WATCH_NS	     250000000LL  /* Link's peer count looked at */
#define XRUN_LOG_INTERVAL_NS 1000000000LL /* one xrun line a second at most */

struct supervisor {
	struct supervisor_config cfg;
	struct audio_alsa *pcm;
	bool memory_locked;
	bool memory_lock_tried;
	bool rt_warned;
	bool ready_sent;
	uint64_t reopens;
	int64_t last_xrun_log_ns;
	uint64_t xruns_logged;
	char last_open_error[256];
	int storage_shown; /* the storage status last passed to the LEDs */

	/* The watchdog thread reads these. */
	atomic_bool waiting_for_device;
	atomic_bool watchdog_stop;
	struct wake watchdog_wake; /* its sleep ends early to stop */
	pthread_t watchdog;
	bool watchdog_running;
	uint64_t watchdog_interval_us;

	struct link_watch link_watch; /* only this thread's */
	int64_t next_link_watch;      /* ns */
};

static void signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
}

void supervisor_block_signals(void)
{
	sigset_t set;
	signal_set(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ---- logging what happened ---------------------------------------------- */

static const char *const state_names[CLIP_STATE_COUNT] = {
    [CLIP_EMPTY] = "empty",
    [CLIP_RECORD_QUEUED] = "record queued",
    [CLIP_RECORDING] = "recording",
    [CLIP_PLAY_QUEUED] = "play queued",
    [CLIP_PLAYING] = "playing",
    [CLIP_OVERDUBBING] = "overdubbing",
    [CLIP_STOP_QUEUED] = "stop queued",
    [CLIP_STOPPED] = "stopped",
};

static const char *engine_error_text(int64_t err)
{
	switch (err) {
	case ERR_OUT_OF_MEMORY:
		return "out of recording memory: the recording stopped early";
	case ERR_MEMORY_LATE:
		return "recording memory came too late: the recording stopped early";
	case ERR_NO_UNDO:
		return "overdub without an undo buffer (this pass cannot be undone)";
	case ERR_BAD_COMMAND:
		return "a command with an out-of-range field was ignored";
	case ERR_QUEUE_FULL:
		return "a memory request could not be queued";
	case ERR_PASS_AT_SPEED:
		return "no overdub, replace, substitute, multiply or insert at half or "
		       "double speed (set the clip's speed to 1 first)";
	case ERR_PASS_BUSY:
		return "the clip is still being put in place (an undo, a multiply or "
		       "an insert): the pass is not started, press again";
	case ERR_PASS_REVERSED:
		return "no multiply or insert on a reversed clip (reverse it back "
		       "first)";
	case ERR_LOOP_TOO_SHORT:
		return "the first loop is shorter than one bar at 300 BPM: it loops, "
		       "but sets no tempo";
	default:
		return "unknown engine error";
	}
}

static void log_event(const struct supervisor *s, const struct event *ev)
{
	long long f = (long long)ev->frame;
	bool v = s->cfg.verbose;
	switch (ev->type) {
	case EV_CLIP_STATE:
		if (v)
			log_line("@%lld track %u scene %u: %s", f, ev->track, ev->scene,
				 ev->value < CLIP_STATE_COUNT ? state_names[ev->value]
							      : "?");
		break;
	case EV_RECORD_DONE:
		if (v)
			log_line("@%lld track %u scene %u: recorded %lld frames", f,
				 ev->track, ev->scene, (long long)ev->value);
		break;
	case EV_OVERDUB_DONE:
		if (v)
			log_line("@%lld track %u scene %u: overdub pass done", f,
				 ev->track, ev->scene);
		break;
	case EV_TEMPO:
		if (v)
			log_line("@%lld tempo %.3f BPM, %d beats per bar", f,
				 (double)ev->value / 1000.0, ev->aux);
		break;
	case EV_BAR:
		if (v)
			log_line("@%lld bar %lld", f, (long long)ev->value);
		break;
	case EV_ERROR:
		log_line("@%lld track %u scene %u: %s", f, ev->track, ev->scene,
			 engine_error_text(ev->value));
		break;
	case EV_RESTORED:
		if (!ev->aux)
			log_line(
			    "@%lld track %u scene %u: a clip was recorded here while the "
			    "session loaded; the saved clip is not restored over it",
			    f, ev->track, ev->scene); /* from 0, as every "@" line */
		else if (v)
			log_line("@%lld track %u scene %u: restored, %lld frames", f,
				 ev->track, ev->scene, (long long)ev->value);
		break;
	case EV_UNDO_DROPPED:
		if (v)
			log_line("@%lld track %u scene %u: the oldest undo level was "
				 "dropped (undo_levels / undo_memory_mb), %lld kept",
				 f, ev->track, ev->scene, (long long)ev->value);
		break;
	case EV_REQUEST:
		if (v)
			log_line("@%lld %s requested", f,
				 ev->value == REQUEST_EXPORT ? "export" : "save");
		break;
	}
}

static void drain_events(struct supervisor *s)
{
	/* Read before draining: every event below this frame is then among
	 * those drained, which is what the fan-out's horizon promises. */
	int64_t horizon =
	    atomic_load_explicit(audio_thread_now(s->cfg.audio), memory_order_acquire);
	struct event ev;
	int drained = 0;
	while (spsc_pop(engine_events(s->cfg.engine), &ev)) {
		drained++;
		log_event(s, &ev);
		/* This thread stays the engine queue's one consumer; the
		 * sequencer thread gets copies. */
		if (s->cfg.fanout)
			fanout_push(s->cfg.fanout, &ev);
		if (s->cfg.writer)
			fanout_push(sd_writer_events(s->cfg.writer), &ev);
		if (s->cfg.osc)
			fanout_push(s->cfg.osc, &ev);
	}
	if (s->cfg.fanout)
		fanout_publish(s->cfg.fanout, horizon);
	/* The writer acts on events only, not on the horizon: woken only
	 * when there are some (the MIDI clock's horizon wake-ups are the
	 * sequencer thread's). */
	if (s->cfg.writer && drained)
		fanout_publish(sd_writer_events(s->cfg.writer), horizon);
	if (s->cfg.osc)
		fanout_publish(s->cfg.osc, horizon);
}

/* The SD writer's state goes to the LEDs with the engine's events. */
static void pass_storage_status(struct supervisor *s)
{
	if (!s->cfg.writer || !s->cfg.fanout)
		return;
	int st = (int)sd_writer_status(s->cfg.writer);
	if (st == s->storage_shown)
		return;
	struct event ev = {.type = EV_STORAGE,
			   .value = st,
			   .frame = atomic_load(audio_thread_now(s->cfg.audio))};
	if (fanout_push(s->cfg.fanout, &ev)) {
		s->storage_shown = st;
		fanout_wake(s->cfg.fanout);
	}
}

static void drain_seq_reports(struct supervisor *s)
{
	char text[256];
	while (s->cfg.seq && seq_alsa_pop_report(s->cfg.seq, text, sizeof(text)))
		log_line("%s", text);
}

static void drain_reports(struct supervisor *s)
{
	struct audio_report r;
	while (audio_thread_pop_report(s->cfg.audio, &r)) {
		long long f = (long long)r.frame;
		switch (r.type) {
		case AUDIO_XRUN: {
			s->xruns_logged++;
			int64_t t = mono_ns();
			if (t - s->last_xrun_log_ns >= XRUN_LOG_INTERVAL_NS) {
				s->last_xrun_log_ns = t;
				log_line(
				    "@%lld xrun (%s): streams restarted; %llu so far", f,
				    r.value == -ESTRPIPE ? "suspended"
				    : r.value == -EIO	 ? "stalled: Input/output error"
							 : "over/underrun",
				    (unsigned long long)s->xruns_logged);
			}
			break;
		}
		case AUDIO_SLOW_PERIOD:
			if (s->cfg.verbose)
				log_line("@%lld a period took %.3f ms to process", f,
					 (double)r.value / 1e6);
			break;
		case AUDIO_DEVICE_ERROR:
			log_line("@%lld audio device error: %s", f,
				 strerror((int)-r.value));
			break;
		case AUDIO_INPUT_ENDED:
			log_line("@%lld the capture input ended", f);
			break;
		case AUDIO_FINISHED:
			if (s->cfg.verbose)
				log_line("@%lld end of the run", f);
			break;
		}
	}
}

/* ---- the device ------------------------------------------------------- */

static void warn_memory_lock(struct supervisor *s)
{
	if (s->memory_lock_tried || !s->cfg.lock_memory)
		return;
	s->memory_lock_tried = true;
	int err = audio_lock_memory();
	s->memory_locked = err == 0;
	if (!s->memory_locked)
		log_line("memory locking refused (mlockall: %s): audio memory may be "
			 "paged out. Raise the limit (LimitMEMLOCK=infinity, or memlock "
			 "in limits.conf)%s",
			 strerror(-err),
			 s->cfg.require_rt ? "; require_rt is set: not running"
					   : "; running on anyway");
}

/* 0, 1 = not there (wait), -1 = failed for good. */
static int open_device(struct supervisor *s, bool quiet_if_same)
{
	char why[256];
	int err = audio_alsa_open(&s->pcm, &s->cfg.pcm, why, sizeof(why));
	if (err == 0) {
		s->last_open_error[0] = '\0';
		return 0;
	}
	if (!quiet_if_same || strcmp(why, s->last_open_error))
		log_line("%s", why);
	snprintf(s->last_open_error, sizeof(s->last_open_error), "%s", why);
	return audio_alsa_is_absent(err) ? 1 : -1;
}

static void describe_setup(struct supervisor *s)
{
	struct audio_alsa_setup st;
	struct audio_stats as;
	audio_alsa_get_setup(s->pcm, &st);
	audio_thread_get_stats(s->cfg.audio, &as);
	const struct audio_alsa_params *p = &s->cfg.pcm;
	log_line(
	    "audio: capture '%s' (%s, %u ch), playback '%s' (%s, %u ch), %u Hz, %u x %u "
	    "frames, %s; latency compensation %u frames",
	    p->capture_device, audio_alsa_format_name(st.capture_format),
	    p->capture_channels, p->playback_device,
	    audio_alsa_format_name(st.playback_format), p->playback_channels, p->rate,
	    p->periods, p->period,
	    st.linked ? "streams linked" : "streams started one after the other",
	    s->cfg.latency_frames);
}

/* 0, or 1 after logging why not. */
static int start_audio(struct supervisor *s)
{
	bool refused = false;
	char why[256];
	int err = audio_thread_start(s->cfg.audio, s->pcm, &refused, why, sizeof(why));
	if (refused && !s->rt_warned && err == 0) {
		s->rt_warned = true;
		log_line("real-time scheduling refused (SCHED_FIFO: EPERM): the audio "
			 "thread runs at normal priority and may drop out under load. "
			 "Allow it (LimitRTPRIO=95, or rtprio in limits.conf), or use "
			 "--require-rt to refuse to run like this");
	}
	if (err) {
		log_line("%s", why);
		return 1;
	}
	return 0;
}

/* ---- systemd -------------------------------------------------------------- */

static void *watchdog_main(void *arg)
{
	struct supervisor *s = arg;
	uint64_t last = UINT64_MAX;
	int64_t interval_ms = (int64_t)(s->watchdog_interval_us / 1000);
	while (!atomic_load(&s->watchdog_stop)) {
		/* One wake-up per interval; the stop wakes it at once. */
		int64_t until = mono_ns() / 1000000 + interval_ms;
		for (int64_t left = interval_ms;
		     left > 0 && !atomic_load(&s->watchdog_stop);
		     left = until - mono_ns() / 1000000)
			wake_wait(&s->watchdog_wake, (int)left);
		if (atomic_load(&s->watchdog_stop))
			break;
		struct audio_stats as;
		audio_thread_get_stats(s->cfg.audio, &as);
		/* Alive: the audio thread finished periods since the last
		 * look, or we know why it does not run (no device yet). */
		if (as.periods != last || atomic_load(&s->waiting_for_device))
			sd_notify(0, "WATCHDOG=1");
		last = as.periods;
	}
	return NULL;
}

static void start_watchdog(struct supervisor *s)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return;
	s->watchdog_interval_us = usec / 2;
	if (wake_init(&s->watchdog_wake)) {
		log_line("cannot start the watchdog thread: no file descriptor left");
		return;
	}
	if (thread_start(&s->watchdog, &(struct thread_spec){.name = "gl-watchdog"},
			 watchdog_main, s) == 0)
		s->watchdog_running = true;
	else
		log_line("cannot start the watchdog thread");
	if (!s->watchdog_running)
		wake_free(&s->watchdog_wake);
}

static void stop_watchdog(struct supervisor *s)
{
	if (!s->watchdog_running)
		return;
	atomic_store(&s->watchdog_stop, true);
	wake_signal(&s->watchdog_wake);
	pthread_join(s->watchdog, NULL);
	wake_free(&s->watchdog_wake);
	s->watchdog_running = false;
}

/* ---- the loop ------------------------------------------------------------- */

struct supervisor *supervisor_create(const struct supervisor_config *cfg)
{
	struct supervisor *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	s->watchdog_wake.fd = -1;
	atomic_init(&s->waiting_for_device, false);
	atomic_init(&s->watchdog_stop, false);
	return s;
}

void supervisor_destroy(struct supervisor *s)
{
	if (!s)
		return;
	stop_watchdog(s);
	audio_alsa_close(s->pcm);
	free(s);
}

static void close_device(struct supervisor *s)
{
	audio_alsa_close(s->pcm);
	s->pcm = NULL;
}

/* The audio thread has ended: why, and what now. Returns -1 to go on
 * (device lost: wait for it), else the exit status. */
static int audio_ended(struct supervisor *s)
{
	enum audio_ending how = audio_thread_join(s->cfg.audio);
	drain_reports(s);
	switch (how) {
	case AUDIO_ENDED_FINISHED:
	case AUDIO_ENDED_STOPPED:
		return 0;
	case AUDIO_ENDED_INPUT_ENDED:
		log_line("the capture input ran out before the end of the run");
		return 1;
	case AUDIO_ENDED_DEVICE_LOST:
		break;
	}
	close_device(s);
	log_line("audio device lost at frame %lld: waiting for it; the session is kept",
		 (long long)atomic_load(audio_thread_now(s->cfg.audio)));
	sd_notify(0, "STATUS=Waiting for the audio device");
	atomic_store(&s->waiting_for_device, true);
	return -1;
}

/* The device is open: lock memory the first time (everything is allocated
 * by now), then start the audio thread. 0, or the exit status. */
static int go(struct supervisor *s, bool first)
{
	if (first) {
		warn_memory_lock(s);
		if (!s->memory_locked && s->cfg.lock_memory && s->cfg.require_rt)
			return 1;
	} else {
		s->reopens++;
		log_line("audio device back: resuming at frame %lld",
			 (long long)atomic_load(audio_thread_now(s->cfg.audio)));
		sd_notify(0, "STATUS=Running");
	}
	describe_setup(s);
	if (start_audio(s))
		return 1;
	atomic_store(&s->waiting_for_device, false);
	return 0;
}

/* Sleeps until woken, signalled, or the next look for the device is due;
 * returns the signal taken (0: none). */
static int wait_for_work(struct supervisor *s, int sigfd, int64_t next_open)
{
	struct pollfd fds[2] = {
	    {.fd = sigfd, .events = POLLIN},
	    {.fd = s->cfg.wake ? wake_fd(s->cfg.wake) : -1, .events = POLLIN}};
	int64_t until = INT64_MAX;
	if (!s->pcm)
		until = next_open;
	if (s->cfg.link && s->next_link_watch < until)
		until = s->next_link_watch;
	int timeout = -1;
	if (until != INT64_MAX) {
		int64_t ms = (until - mono_ns()) / 1000000 + 1;
		timeout = ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
	}
	if (poll(fds, 2, timeout) <= 0)
		return 0;
	if (fds[1].revents)
		wake_clear(s->cfg.wake); /* before draining: no wake-up is lost */
	struct signalfd_siginfo info;
	if (fds[0].revents && read(sigfd, &info, sizeof(info)) == (ssize_t)sizeof(info))
		return (int)info.ssi_signo;
	return 0;
}

/* Link's peer count, a few times a second: logged when it changes, and
 * Link left and rejoined when the peers were lost and stay away (Link
 * 3.0.6 does not always find its way back by itself: link_sync.h). Here,
 * never on the audio thread: enable is not real-time safe. */
static void watch_link(struct supervisor *s)
{
	int64_t now = mono_ns();
	if (!s->cfg.link || now < s->next_link_watch)
		return;
	s->next_link_watch = now + LINK_WATCH_NS;
	size_t peers = gl_link_peers(s->cfg.link);
	unsigned what = link_watch_step(&s->link_watch, now / 1000000, peers);
	if (what & LINK_WATCH_CHANGED)
		log_line("Link: %zu peer%s in the session", peers, peers == 1 ? "" : "s");
	if (what & LINK_WATCH_REJOIN) {
		log_line("Link: no peers for %.0f s since they were lost: leaving and "
			 "rejoining the network session (rejoin %llu; next try in %lld "
			 "s)",
			 (double)(now / 1000000 - s->link_watch.zero_since) / 1000.0,
			 (unsigned long long)s->link_watch.rejoins,
			 (long long)(s->link_watch.wait / 1000));
		gl_link_enable(s->cfg.link, false);
		gl_link_enable(s->cfg.link, true);
	}
}

int supervisor_run(struct supervisor *s)
{
	sigset_t set;
	signal_set(&set);
	/* The signals are blocked in every thread (supervisor_block_signals):
	 * they queue on this descriptor, polled with the wake-ups. */
	int sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0) {
		log_line("cannot take signals (signalfd: %s)", strerror(errno));
		return 1;
	}

	int rc = open_device(s, false);
	if (rc < 0) {
		close(sigfd);
		return 1; /* there, but refuses the settings: waiting will not help */
	}
	if (rc > 0 && !s->cfg.wait_for_device) {
		log_line("the audio device is not there (--wait, or wait_for_device = "
			 "yes, waits for it)");
		close(sigfd);
		return 1;
	}
	if (rc > 0) {
		log_line("waiting for the audio device");
		sd_notify(0, "STATUS=Waiting for the audio device");
	}
	atomic_store(&s->waiting_for_device, rc > 0);
	start_watchdog(s);

	bool started = false, ever_started = false;
	int64_t next_open = mono_ns() + REOPEN_INTERVAL_NS;
	int status = -1;
	while (status < 0) {
		if (!s->pcm && mono_ns() >= next_open) {
			/* Lost or not there yet: try again every so often. A device
			 * that comes back with other abilities is awaited too. */
			next_open = mono_ns() + REOPEN_INTERVAL_NS;
			open_device(s, true);
		}
		if (s->pcm && !started) {
			if (go(s, !ever_started)) {
				status = 1;
				break;
			}
			started = ever_started = true;
		}

		int sig = wait_for_work(s, sigfd, next_open);
		if (sig == SIGINT || sig == SIGTERM) {
			log_line("%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
			sd_notify(0, "STOPPING=1");
			status = 0;
		} else if (sig == SIGUSR1) {
			supervisor_print_stats(s, stderr);
		} else if (sig == SIGUSR2) {
			if (s->cfg.writer) {
				log_line("SIGUSR2: export");
				sd_writer_request_export(s->cfg.writer);
			} else {
				log_line(
				    "SIGUSR2: no export: there is no session directory "
				    "([session] dir)");
			}
		} else if (sig == SIGHUP) {
			log_line("SIGHUP ignored: settings are read at start");
		}

		drain_events(s);
		drain_reports(s);
		drain_seq_reports(s);
		pass_storage_status(s);
		watch_link(s);
		struct audio_stats as;
		audio_thread_get_stats(s->cfg.audio, &as);
		if (!s->ready_sent && as.periods > 0) {
			s->ready_sent = true;
			if (s->cfg.start_ns)
				log_line("audio running: first period done %.1f ms after "
					 "start",
					 (double)(mono_ns() - s->cfg.start_ns) / 1e6);
			sd_notify(0, "READY=1\nSTATUS=Running");
		}
		if (status < 0 && started && !audio_thread_running(s->cfg.audio)) {
			status = audio_ended(s);
			started = false;
		}
	}
	audio_thread_request_stop(s->cfg.audio);
	audio_thread_join(s->cfg.audio);
	stop_watchdog(s);
	/* Nothing runs the engine any more: an undo still swapping is
	 * finished, and its event reaches the writer's last save. */
	engine_settle(s->cfg.engine);
	drain_events(s);
	drain_reports(s);
	drain_seq_reports(s);
	close_device(s);
	close(sigfd);
	return status;
}

void supervisor_print_stats(struct supervisor *s, FILE *out)
{
	struct audio_stats as;
	struct keeper_stats ks;
	audio_thread_get_stats(s->cfg.audio, &as);
	keeper_get_stats(s->cfg.keeper, &ks);
	double rate = s->cfg.pcm.rate;
	double period_ms = 1000.0 * s->cfg.pcm.period / rate;
	double seconds = (double)as.frames / rate;
	double load = seconds > 0 ? 100.0 * (double)as.busy_ns / (seconds * 1e9) : 0.0;
	double worst_ms = (double)as.worst_ns / 1e6;
	fprintf(out,
		"gridloop: statistics: %lld frames (%.1f s) in %llu periods; xruns %llu; "
		"stalls %llu; periods over time %llu; worst period %.3f ms of %.3f ms "
		"(%.1f %%); average load %.2f %%\n",
		(long long)as.frames, seconds, (unsigned long long)as.periods,
		(unsigned long long)as.xruns, (unsigned long long)as.stalls,
		(unsigned long long)as.slow_periods, worst_ms, period_ms,
		100.0 * worst_ms / period_ms, load);
	fprintf(
	    out,
	    "gridloop: statistics: device reopens %llu; dropouts %llu; late script "
	    "commands %llu; engine "
	    "events dropped %u; recording memory %.1f MiB in %llu chunks (grows %llu, "
	    "failures %llu)\n",
	    (unsigned long long)s->reopens, (unsigned long long)(as.xruns + s->reopens),
	    (unsigned long long)(s->cfg.feeder ? script_feeder_late(s->cfg.feeder) : 0),
	    engine_events_dropped(s->cfg.engine), (double)ks.bytes_mapped / 1048576.0,
	    (unsigned long long)ks.chunks_mapped, (unsigned long long)ks.grows,
	    (unsigned long long)ks.grow_failures);
	if (s->cfg.seq) {
		struct seq_alsa_stats q;
		seq_alsa_get_stats(s->cfg.seq, &q);
		fprintf(
		    out,
		    "gridloop: statistics: MIDI: sequencer %s, thread %s, input stamped "
		    "%s; controllers %d; commands %u (refused %u); engine events %u "
		    "(dropped %u); sent %u (clock %u); lost: in %u, out %u; woke for "
		    "events %u, MIDI %u, timeouts %u\n",
		    q.open ? "open" : "absent",
		    q.realtime ? "SCHED_FIFO" : "not real-time",
		    q.queue_stamps ? "by the queue" : "on receipt", q.controllers,
		    q.commands, q.commands_refused, q.events, q.events_dropped, q.sent,
		    q.clock_messages, q.input_lost, q.output_lost, q.woke_events,
		    q.woke_midi, q.woke_timeout);
	}
	if (s->cfg.osc_server) {
		struct osc_stats st;
		osc_server_stats(s->cfg.osc_server, &st);
		fprintf(
		    out,
		    "gridloop: statistics: OSC: %llu packets, %llu malformed, %llu "
		    "unknown "
		    "paths, %llu refused, %llu commands (%llu dropped: queue full), %llu "
		    "replies (%llu dropped, %llu not sent), %llu dropped as a flood; "
		    "engine events dropped %u\n",
		    (unsigned long long)st.packets, (unsigned long long)st.malformed,
		    (unsigned long long)st.unknown, (unsigned long long)st.refused,
		    (unsigned long long)st.commands,
		    (unsigned long long)st.commands_dropped,
		    (unsigned long long)st.replies,
		    (unsigned long long)st.replies_dropped,
		    (unsigned long long)st.send_failed,
		    (unsigned long long)st.flood_dropped,
		    s->cfg.osc ? fanout_dropped(s->cfg.osc) : 0);
	}
	if (s->cfg.writer) {
		struct sd_writer_stats w;
		sd_writer_get_stats(s->cfg.writer, &w);
		fprintf(out,
			"gridloop: statistics: SD card: saves %llu (failed %llu, last "
			"%llu ms); "
			"clips written %llu (%.1f MiB); copies redone %llu; exports %llu "
			"(failed %llu)\n",
			(unsigned long long)w.saves, (unsigned long long)w.save_failures,
			(unsigned long long)w.last_save_ms,
			(unsigned long long)w.clips_written,
			(double)w.bytes_written / 1048576.0,
			(unsigned long long)w.copies_discarded,
			(unsigned long long)w.exports,
			(unsigned long long)w.export_failures);
	}
	if (s->cfg.link)
		fprintf(
		    out,
		    "gridloop: statistics: Link peers %zu; rejoins %llu; grid aligned "
		    "to the session %llu times; loops moved with it %llu times; tempo "
		    "proposed %llu times; worst bar "
		    "line offset from the session %.3f ms; output latency %.3f ms "
		    "(nominal %.3f; no delay read in %llu periods)\n",
		    gl_link_peers(s->cfg.link), (unsigned long long)s->link_watch.rejoins,
		    (unsigned long long)as.link_aligns,
		    (unsigned long long)engine_loops_moved(s->cfg.engine),
		    (unsigned long long)as.link_proposals,
		    1000.0 * (double)as.link_worst_offset / rate,
		    (double)as.link_latency_us / 1000.0,
		    (double)as.link_nominal_us / 1000.0,
		    (unsigned long long)as.link_delay_failed);
	fprintf(
	    out, "gridloop: statistics: audio thread %s; memory %s; real-time guard %s\n",
	    as.realtime ? "SCHED_FIFO" : "not real-time",
	    s->memory_locked ? "locked" : "not locked", rt_mark_guarded() ? "on" : "off");
	fflush(out);
}
