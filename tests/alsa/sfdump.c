/* sfdump.c -- a sound file (any format libsndfile reads: FLAC for
 * scripts/test-sessions) as raw interleaved float32, for
 * tests/alsa/sessioncheck.py, which has no FLAC decoder of its own.
 *
 *   sfdump FILE OUT.f32     prints "RATE CHANNELS FRAMES FORMAT" (FORMAT:
 *                           libsndfile's major|subtype in hex), writes OUT
 *
 * Integer samples come out as libsndfile scales them: x / 2^(bits-1).
 */
#include <sndfile.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: sfdump FILE OUT.f32\n");
		return 2;
	}
	SF_INFO info = {0};
	SNDFILE *sf = sf_open(argv[1], SFM_READ, &info);
	if (!sf) {
		fprintf(stderr, "%s: %s\n", argv[1], sf_strerror(NULL));
		return 1;
	}
	FILE *out = fopen(argv[2], "wb");
	if (!out) {
		perror(argv[2]);
		return 1;
	}
	float buf[4096];
	sf_count_t frames = 0,
		   per = (sf_count_t)(sizeof(buf) / sizeof(buf[0])) / info.channels;
	for (;;) {
		sf_count_t n = sf_readf_float(sf, buf, per);
		if (n <= 0)
			break;
		if (fwrite(buf, sizeof(float) * (size_t)info.channels, (size_t)n, out) !=
		    (size_t)n) {
			perror(argv[2]);
			return 1;
		}
		frames += n;
	}
	if (sf_error(sf) || fclose(out)) {
		fprintf(stderr, "%s: %s\n", argv[1], sf_strerror(sf));
		return 1;
	}
	sf_close(sf);
	printf("%d %d %lld %x\n", info.samplerate, info.channels, (long long)frames,
	       info.format);
	return frames == info.frames ? 0 : 1;
}
