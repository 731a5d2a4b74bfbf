/* vb_duplex.c -- the virtual board's "audio interface and musician": plays a
 * file into one PCM and records another, sample-synchronously, for the tests,
 * the demo and the benchmark that run the real gridloop on hw:Loopback.
 *
 *   vb_duplex [OPTIONS] IN OUT
 *
 * The two streams are linked and started together, so recorded frame k was
 * captured at the instant played frame k left: an impulse played at frame i
 * and recorded at frame j went through a round trip of j - i frames. Both
 * streams run on the same card, clocked by the same timer.
 *
 *   -P PCM         where IN is played (default hw:Loopback,0,0)
 *   -C PCM         where OUT is recorded from (default hw:Loopback,1,1)
 *   -r RATE        48000;  -c CHANNELS  2;  -p PERIOD  256;  -n PERIODS  8
 *   -s FRAMES      frames to record (default: the length of IN)
 *   -S STATUS      sync: the /proc/asound/.../status file of the capture
 *                  stream IN reaches (gridloop's). Input frame i is played
 *                  so that it arrives in that stream at its frame i + DELAY,
 *                  and OUT frame k is what was recorded at the instant input
 *                  frame k was played (OUT starts with silence for the
 *                  frames that were before this program started)
 *   -d DELAY       frames, for -S (default 0)
 *   -R PRIORITY    SCHED_FIFO priority, 0 for none (default 70)
 *   -k FILE        keep going: once FRAMES are recorded, create FILE and go on
 *                  playing silence (as an interface never stops) until
 *                  SIGTERM or SIGINT; then write OUT. A playback stream that
 *                  stops can stall the capture side of its loopback cable
 *                  (board/vm/README.md), so the program under test is
 *                  stopped first
 *
 * IN: raw float32 interleaved CHANNELS (*.raw), or any file libsndfile reads
 * (a mono file goes to every channel). OUT: raw float32 interleaved.
 * Reports on stderr: the setup, the sync offset, the first recorded frame
 * that is not silence ("first sound at frame N"), xruns. Exit status 0; 3
 * after an xrun (the recording stops there, what came before is written); 1
 * for anything else; 2 for bad usage.
 */
#include <alsa/asoundlib.h>
#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <signal.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct opts {
	const char *play_dev, *capt_dev, *in, *out, *sync, *done;
	unsigned rate, channels, period, periods, priority;
	long frames, delay;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: vb_duplex [-P PCM] [-C PCM] [-r RATE] [-c CH] [-p PERIOD] "
		"[-n PERIODS] [-s FRAMES] [-S STATUS [-d DELAY]] [-R PRIO] [-k FILE] IN "
		"OUT\n");
	exit(2);
}

static int die(const char *what, int err)
{
	fprintf(stderr, "vb_duplex: %s: %s\n", what, err ? snd_strerror(err) : "failed");
	return 1;
}

static float *load_input(const struct opts *o, long *frames)
{
	size_t len = strlen(o->in);
	if (len > 4 && !strcmp(o->in + len - 4, ".raw")) {
		FILE *f = fopen(o->in, "rb");
		if (!f)
			return NULL;
		fseek(f, 0, SEEK_END);
		long bytes = ftell(f);
		fseek(f, 0, SEEK_SET);
		*frames = bytes / (long)(sizeof(float) * o->channels);
		float *buf = malloc((size_t)*frames * o->channels * sizeof(float) + 1);
		if (buf && fread(buf, sizeof(float) * o->channels, (size_t)*frames, f) !=
			       (size_t)*frames) {
			free(buf);
			buf = NULL;
		}
		fclose(f);
		return buf;
	}
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(o->in, SFM_READ, &info);
	if (!sf) {
		fprintf(stderr, "vb_duplex: %s: %s\n", o->in, sf_strerror(NULL));
		return NULL;
	}
	if ((unsigned)info.samplerate != o->rate)
		fprintf(stderr, "vb_duplex: warning: %s is %d Hz, played at %u Hz\n",
			o->in, info.samplerate, o->rate);
	float *tmp =
	    malloc((size_t)info.frames * (size_t)info.channels * sizeof(float) + 1);
	float *buf = malloc((size_t)info.frames * o->channels * sizeof(float) + 1);
	if (!tmp || !buf) {
		free(tmp);
		free(buf);
		sf_close(sf);
		return NULL;
	}
	sf_count_t n = sf_readf_float(sf, tmp, info.frames);
	sf_close(sf);
	for (sf_count_t i = 0; i < n; i++)
		for (unsigned c = 0; c < o->channels; c++)
			buf[i * o->channels + c] =
			    tmp[i * info.channels +
				(info.channels == 1 ? 0 : c % (unsigned)info.channels)];
	free(tmp);
	*frames = (long)n;
	return buf;
}

static int setup(snd_pcm_t *pcm, const struct opts *o)
{
	snd_pcm_hw_params_t *hw;
	snd_pcm_sw_params_t *sw;
	snd_pcm_hw_params_alloca(&hw);
	snd_pcm_sw_params_alloca(&sw);
	snd_pcm_uframes_t boundary;
	int err;
	if ((err = snd_pcm_hw_params_any(pcm, hw)) < 0 ||
	    (err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) <
		0 ||
	    (err = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_FLOAT_LE)) < 0 ||
	    (err = snd_pcm_hw_params_set_channels(pcm, hw, o->channels)) < 0 ||
	    (err = snd_pcm_hw_params_set_rate(pcm, hw, o->rate, 0)) < 0 ||
	    (err = snd_pcm_hw_params_set_period_size(pcm, hw, o->period, 0)) < 0 ||
	    (err = snd_pcm_hw_params_set_periods(pcm, hw, o->periods, 0)) < 0 ||
	    (err = snd_pcm_hw_params(pcm, hw)) < 0)
		return err;
	if ((err = snd_pcm_sw_params_current(pcm, sw)) < 0 ||
	    (err = snd_pcm_sw_params_get_boundary(sw, &boundary)) < 0 ||
	    (err = snd_pcm_sw_params_set_start_threshold(pcm, sw, boundary)) < 0 ||
	    (err = snd_pcm_sw_params_set_avail_min(pcm, sw, o->period)) < 0 ||
	    (err = snd_pcm_sw_params(pcm, sw)) < 0)
		return err;
	return 0;
}

/* hw_ptr from a /proc/asound/.../status file, or -1. */
static long proc_hw_ptr(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[128];
	long v = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "hw_ptr : %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int own_status_path(snd_pcm_t *pcm, char *path, size_t len)
{
	snd_pcm_info_t *info;
	snd_pcm_info_alloca(&info);
	int err = snd_pcm_info(pcm, info);
	if (err < 0)
		return err;
	snprintf(path, len, "/proc/asound/card%d/pcm%u%c/sub%u/status",
		 snd_pcm_info_get_card(info), snd_pcm_info_get_device(info),
		 snd_pcm_stream(pcm) == SND_PCM_STREAM_PLAYBACK ? 'p' : 'c',
		 snd_pcm_info_get_subdevice(info));
	return 0;
}

/* Frames of the other stream when ours is at frame 0, read between two
 * ticks of the shared timer (both pointers move only at a tick). */
static int sync_offset(const char *other, const char *own, long *offset)
{
	for (int tries = 0; tries < 200; tries++) {
		long a1 = proc_hw_ptr(other), b = proc_hw_ptr(own),
		     a2 = proc_hw_ptr(other);
		long b2 = proc_hw_ptr(own);
		if (a1 < 0 || b < 0)
			return -1;
		if (a1 == a2 && b == b2) {
			*offset = a1 - b;
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct opts o = {.play_dev = "hw:Loopback,0,0",
			 .capt_dev = "hw:Loopback,1,1",
			 .rate = 48000,
			 .channels = 2,
			 .period = 256,
			 .periods = 8,
			 .priority = 70,
			 .frames = -1};
	int c;
	while ((c = getopt(argc, argv, "P:C:r:c:p:n:s:S:d:R:k:")) != -1) {
		switch (c) {
		case 'P':
			o.play_dev = optarg;
			break;
		case 'C':
			o.capt_dev = optarg;
			break;
		case 'r':
			o.rate = (unsigned)atoi(optarg);
			break;
		case 'c':
			o.channels = (unsigned)atoi(optarg);
			break;
		case 'p':
			o.period = (unsigned)atoi(optarg);
			break;
		case 'n':
			o.periods = (unsigned)atoi(optarg);
			break;
		case 's':
			o.frames = atol(optarg);
			break;
		case 'S':
			o.sync = optarg;
			break;
		case 'd':
			o.delay = atol(optarg);
			break;
		case 'R':
			o.priority = (unsigned)atoi(optarg);
			break;
		case 'k':
			o.done = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || !o.channels || !o.period || o.periods < 2)
		usage();
	o.in = argv[optind];
	o.out = argv[optind + 1];

	long in_frames = 0;
	float *in = load_input(&o, &in_frames);
	if (!in)
		return die(o.in, 0);
	if (o.frames < 0)
		o.frames = in_frames;
	long total = o.frames;
	size_t fb = sizeof(float) * o.channels;
	float *rec = calloc((size_t)total + o.period, fb);
	float *silence = calloc((size_t)o.period * o.periods, fb);
	float *chunk = calloc(o.period, fb);
	if (!rec || !silence || !chunk)
		return die("out of memory", 0);
	/* Everything touched and locked before the clock starts. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE))
		fprintf(stderr, "vb_duplex: mlockall: %s\n", strerror(errno));
	if (o.priority) {
		struct sched_param sp = {.sched_priority = (int)o.priority};
		if (sched_setscheduler(0, SCHED_FIFO, &sp))
			fprintf(stderr, "vb_duplex: SCHED_FIFO %u: %s\n", o.priority,
				strerror(errno));
	}

	/* No SA_RESTART: a signal ends a blocking read with -EINTR. */
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	snd_pcm_t *play, *capt;
	int err;
	if ((err = snd_pcm_open(&play, o.play_dev, SND_PCM_STREAM_PLAYBACK, 0)) < 0)
		return die(o.play_dev, err);
	if ((err = snd_pcm_open(&capt, o.capt_dev, SND_PCM_STREAM_CAPTURE, 0)) < 0)
		return die(o.capt_dev, err);
	if ((err = setup(play, &o)) < 0)
		return die("playback parameters", err);
	if ((err = setup(capt, &o)) < 0)
		return die("capture parameters", err);
	if ((err = snd_pcm_link(capt, play)) < 0)
		return die("snd_pcm_link (the two streams must start together)", err);
	char own[128];
	if (o.sync && (err = own_status_path(play, own, sizeof(own))) < 0)
		return die("snd_pcm_info", err);

	long buffer = (long)o.period * o.periods;
	if ((err = (int)snd_pcm_writei(play, silence, (snd_pcm_uframes_t)buffer)) !=
	    buffer)
		return die("prefill", err < 0 ? err : 0);
	if ((err = snd_pcm_start(capt)) < 0)
		return die("start", err);

	/* Input index of playback frame p: p + shift; recorded frame r (the
	 * same instant as played frame r) is OUT frame r + shift. Without sync
	 * the input starts right after the prefill's silence. */
	long shift = -buffer;
	if (o.sync) {
		long off;
		if (sync_offset(o.sync, own, &off))
			return die("cannot read the stream positions for -S", 0);
		shift = off - o.delay;
		fprintf(stderr,
			"vb_duplex: sync: the other stream was at frame %ld when this "
			"one started; input frame i is played at frame i - %ld\n",
			off, shift);
	}

	long played = buffer, recorded = 0, first_sound = -1;
	int status = 0;
	/* The board's clock, seen from here: the longest wait for a period,
	 * and how many waits were longer than a 2-period buffer allows. */
	double period_ms = 1000.0 * o.period / o.rate, worst_gap = 0, last = -1;
	long late = 0;
	bool done = false;
	while (!stop) {
		snd_pcm_sframes_t n = snd_pcm_readi(capt, chunk, o.period);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		double now = ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
		if (last >= 0 && n > 0 && !done) {
			if (now - last > worst_gap)
				worst_gap = now - last;
			if (now - last > 2 * period_ms)
				late++;
		}
		last = now;
		if (n == -EAGAIN || n == -EINTR)
			continue;
		if (n < 0 && done) /* after the recording: no matter */
			break;
		if (n < 0) {
			fprintf(stderr, "vb_duplex: capture xrun at frame %ld: %s\n",
				recorded, snd_strerror((int)n));
			status = 3;
			break;
		}
		for (long i = 0; i < n; i++) {
			long k = recorded + i + shift;
			if (k < 0 || k >= total)
				continue;
			memcpy(rec + (size_t)k * o.channels,
			       chunk + (size_t)i * o.channels, fb);
			if (first_sound < 0)
				for (unsigned ch = 0; ch < o.channels; ch++)
					if (chunk[i * o.channels + ch] != 0.0f)
						first_sound = k;
		}
		recorded += n;
		if (!done && recorded + shift >= total) {
			done = true;
			if (!o.done)
				break;
			FILE *d = fopen(o.done, "w");
			if (d)
				fclose(d);
		}
		/* One period of input for each period recorded. */
		for (long i = 0; i < (long)o.period; i++) {
			long k = played + i + shift;
			if (k >= 0 && k < in_frames)
				memcpy(chunk + (size_t)i * o.channels,
				       in + (size_t)k * o.channels, fb);
			else
				memset(chunk + (size_t)i * o.channels, 0, fb);
		}
		n = snd_pcm_writei(play, chunk, o.period);
		if (n == -EINTR)
			continue;
		if (n < 0 && done)
			break;
		if (n < 0) {
			fprintf(stderr, "vb_duplex: playback xrun at frame %ld: %s\n",
				played, snd_strerror((int)n));
			status = 3;
			break;
		}
		played += n;
	}
	if (!done && !status) {
		fprintf(stderr, "vb_duplex: stopped by a signal at frame %ld\n",
			recorded);
		status = 1;
	}
	snd_pcm_drop(capt);
	snd_pcm_drop(play);
	snd_pcm_close(capt);
	snd_pcm_close(play);

	FILE *f = fopen(o.out, "wb");
	if (!f || fwrite(rec, fb, (size_t)total, f) != (size_t)total || fclose(f))
		return die(o.out, 0);
	fprintf(stderr, "vb_duplex: %ld frames recorded, %s; first sound at frame %ld\n",
		total,
		status == 3   ? "stopped by an xrun"
		: status == 1 ? "stopped by a signal before the end"
			      : "no xruns",
		first_sound);
	fprintf(
	    stderr,
	    "vb_duplex: clock: longest wait for a %.3f ms period %.3f ms; %ld waits over "
	    "2 periods\n",
	    period_ms, worst_gap, late);
	return status;
}
