/* test_atomic_file.c -- firmware/sd/atomic_file.c: a file is replaced whole or
 * not at all, whatever the card does.
 *
 * Card faults come from the fsfault shim (tests/fsfault/fsfault.c), which
 * this binary preloads into a child of its own: the child is this program
 * again, run as "test_atomic_file --child write DIR NAME BYTES SEED", with
 * FSFAULT and FSFAULT_DIR set. The shim's path is $FSFAULT_SO
 * (scripts/run-tests sets it), else fsfault.so next to the tests/
 * directory holding this binary; without it those tests are skipped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "fsfault/fsfault_child.h"

static struct fsfault_child child; /* this binary and the shim */

/* ---- a scratch directory per test -------------------------------------------- */

static char dir[PATH_MAX];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_atomic_file.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	chmod(dir, 0755);
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			unlinkat(dirfd(d), e->d_name, 0);
		closedir(d);
	}
	return rmdir(dir);
}

/* Contents that tell one write from another: len bytes from seed. */
static void fill(unsigned char *buf, size_t len, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (unsigned char)(x >> 24);
	}
}

/* The whole of DIR/name (malloc'ed) and its length; NULL when missing. */
static unsigned char *slurp(const char *name, size_t *len)
{
	char path[PATH_MAX + 300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		cap *= 2;
		unsigned char *bigger = realloc(buf, cap);
		assert_non_null(bigger);
		buf = bigger;
	}
	fclose(f);
	*len = n;
	return buf;
}

static bool has_contents(const char *name, size_t len, unsigned seed)
{
	size_t got_len = 0;
	unsigned char *got = slurp(name, &got_len);
	unsigned char *want = malloc(len + 1);
	assert_non_null(want);
	fill(want, len, seed);
	bool same = got && got_len == len && memcmp(got, want, len) == 0;
	free(want);
	free(got);
	return same;
}

static void expect_contents(const char *name, size_t len, unsigned seed)
{
	if (!has_contents(name, len, seed)) {
		print_message("%s is not the %zu bytes of seed %u\n", name, len, seed);
		fail();
	}
}

static int entries(void)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void write_seeded(const char *name, size_t len, unsigned seed)
{
	unsigned char *buf = malloc(len + 1);
	assert_non_null(buf);
	fill(buf, len, seed);
	char err[256] = "";
	int r = atomic_file_write(dir, name, buf, len, err, sizeof(err));
	free(buf);
	if (r != 0)
		print_message("atomic_file_write: %s\n", err);
	assert_int_equal(r, 0);
}

static bool all_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* ---- children under the shim ------------------------------------------------- */

/* Runs this program as "--child args..." with the shim and FSFAULT=fault
 * on dir, its stderr in o->text. false: no shim (the caller skips). */
static bool run_faulty(const char *fault, char *const args[], struct fsfault_outcome *o)
{
	return fsfault_run(&child, fault, dir, args, 2, o);
}

/* The child: "write DIR NAME LEN SEED". Exit 0, or 1 with the message on
 * stderr. */
static int child_main(int argc, char **argv)
{
	if (argc != 7 || strcmp(argv[2], "write") != 0)
		return 2;
	size_t len = strtoul(argv[5], NULL, 10);
	unsigned char *buf = malloc(len + 1);
	if (!buf)
		return 3;
	fill(buf, len, (unsigned)strtoul(argv[6], NULL, 10));
	char err[256] = "";
	int r = atomic_file_write(argv[3], argv[4], buf, len, err, sizeof(err));
	free(buf);
	if (r != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	return 0;
}

/* Writes NAME (len bytes of seed) in a child with the fault. */
static bool faulty_write(const char *fault, const char *name, size_t len, unsigned seed,
			 struct fsfault_outcome *o)
{
	char len_s[32], seed_s[32];
	snprintf(len_s, sizeof(len_s), "%zu", len);
	snprintf(seed_s, sizeof(seed_s), "%u", seed);
	char *args[] = {"write", dir, (char *)name, len_s, seed_s, NULL};
	return run_faulty(fault, args, o);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_write_creates_and_replaces(void **state)
{
	(void)state;
	write_seeded("song.json", 1000, 1);
	expect_contents("song.json", 1000, 1);
	write_seeded("song.json", 70000, 2);
	expect_contents("song.json", 70000, 2);
	write_seeded("song.json", 0, 3);
	expect_contents("song.json", 0, 3);
	assert_int_equal(entries(), 1); /* no temporary left */
}

static void test_abort_keeps_the_old_file(void **state)
{
	(void)state;
	write_seeded("a.wav", 500, 7);
	struct atomic_file f;
	char err[256];
	assert_int_equal(atomic_file_begin(&f, dir, "a.wav", err, sizeof(err)), 0);
	assert_int_equal(write(f.fd, "new", 3), 3);
	assert_int_equal(entries(), 2);
	atomic_file_abort(&f);
	expect_contents("a.wav", 500, 7);
	assert_int_equal(entries(), 1);
}

/* A failed write under each card fault: the old file is byte-identical,
 * no temporary, and the message says what happened. */
static void expect_fault_keeps_old(const char *fault, const char *why)
{
	write_seeded("session.json", 3000, 11);
	struct fsfault_outcome o;
	if (!faulty_write(fault, "session.json", 100000, 12, &o))
		skip();
	if (!fsfault_exited(&o, 1) || !strstr(o.text, why) ||
	    !strstr(o.text, "session.json")) {
		print_message("fault %s: status %d, stderr: %s\n", fault, o.status,
			      o.text);
		fail();
	}
	expect_contents("session.json", 3000, 11);
	assert_int_equal(entries(), 1);
}

static void test_enospc_keeps_old(void **state)
{
	(void)state;
	expect_fault_keeps_old("enospc_after=5000", "SD card full");
	expect_fault_keeps_old("enospc_after=0", "SD card full");
}

static void test_eio_keeps_old(void **state)
{
	(void)state;
	expect_fault_keeps_old("eio_after=40000", "I/O error (card removed?)");
}

static void test_erofs_keeps_old(void **state)
{
	(void)state;
	expect_fault_keeps_old("erofs", "SD card is read-only");
}

static void test_fsync_eio_keeps_old(void **state)
{
	(void)state;
	expect_fault_keeps_old("fsync_eio", "I/O error (card removed?)");
}

/* Short writes and EINTR are not failures. */
static void test_short_writes_and_eintr_complete(void **state)
{
	(void)state;
	struct fsfault_outcome o;
	if (!faulty_write("short_writes=777,eintr", "x.bin", 50000, 5, &o))
		skip();
	if (!fsfault_exited(&o, 0)) {
		print_message("status %d, stderr: %s\n", o.status, o.text);
		fail();
	}
	expect_contents("x.bin", 50000, 5);
	assert_int_equal(entries(), 1);
}

static void test_missing_directory(void **state)
{
	(void)state;
	char missing[PATH_MAX + 16], err[256] = "";
	snprintf(missing, sizeof(missing), "%s/not-there", dir);
	assert_int_equal(atomic_file_write(missing, "a", "x", 1, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "SD card not mounted"));
	assert_non_null(strstr(err, "not-there"));
}

static void test_read_only_directory(void **state)
{
	(void)state;
	if (geteuid() == 0)
		skip(); /* root writes anywhere */
	write_seeded("keep", 100, 9);
	assert_int_equal(chmod(dir, 0555), 0);
	char err[256] = "";
	assert_int_equal(atomic_file_write(dir, "keep", "x", 1, err, sizeof(err)),
			 -EACCES);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_non_null(strstr(err, "keep"));
	expect_contents("keep", 100, 9);
	assert_int_equal(entries(), 1);
}

static void test_bad_names_are_refused_readably(void **state)
{
	(void)state;
	char err[256] = "", name[400];
	assert_int_equal(atomic_file_write(dir, "a/b", "x", 1, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(atomic_file_write(dir, "", "x", 1, err, sizeof(err)), -EINVAL);
	assert_int_equal(atomic_file_write(dir, "..", "x", 1, err, sizeof(err)), -EINVAL);
	for (size_t i = 0; i < sizeof(name) - 1; i++)
		name[i] = (char)(1 + i % 255);
	name[sizeof(name) - 1] = '\0';
	assert_int_equal(atomic_file_write(dir, name, "x", 1, err, sizeof(err)), -EINVAL);
	assert_true(all_printable(err));
	assert_true(strlen(err) < 160);
	assert_int_equal(entries(), 0);
}

static void test_sweep_removes_only_temporaries(void **state)
{
	(void)state;
	const char *junk[] = {".a.tmp", ".clip-t1-s01-000001.wav.tmp",
			      ".session.json.tmp"};
	const char *keep[] = {"keep.txt", ".hidden", "x.tmp", ".tmp", "a.tmp.wav"};
	for (size_t i = 0; i < 3; i++)
		write_seeded(junk[i], 10, 1);
	for (size_t i = 0; i < 5; i++)
		write_seeded(keep[i], 10, 1);
	assert_int_equal(atomic_file_sweep(dir), 3);
	assert_int_equal(entries(), 5);
	for (size_t i = 0; i < 5; i++)
		expect_contents(keep[i], 10, 1);
	assert_int_equal(atomic_file_sweep(dir), 0);
	char missing[PATH_MAX + 16];
	snprintf(missing, sizeof(missing), "%s/nope", dir);
	assert_true(atomic_file_sweep(missing) < 0);
}

/* The power goes before each step of a replacement in turn: the file is
 * always the old one or the new one, whole; the temporary may be left, and
 * is swept. */
static void test_killed_at_every_step(void **state)
{
	(void)state;
	write_seeded("f", 20000, 1);
	bool completed = false;
	for (int n = 1; n < 100 && !completed; n++) {
		char fault[64];
		snprintf(fault, sizeof(fault),
			 "short_writes=4096,kill_after_ops=%d,lose_unsynced", n);
		struct fsfault_outcome o;
		if (!faulty_write(fault, "f", 30000, 2, &o))
			skip();
		completed = fsfault_exited(&o, 0);
		if (!completed &&
		    !(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGKILL)) {
			print_message("step %d: status %d, stderr: %s\n", n, o.status,
				      o.text);
			fail();
		}
		atomic_file_sweep(dir);
		assert_int_equal(entries(), 1);
		if (completed)
			expect_contents("f", 30000, 2);
		else
			assert_true(has_contents("f", 20000, 1) ||
				    has_contents("f", 30000, 2));
		if (n == 1) /* killed before anything: the old file */
			expect_contents("f", 20000, 1);
	}
	assert_true(completed);
}

static void test_why(void **state)
{
	(void)state;
	assert_string_equal(atomic_file_why(ENOSPC), "SD card full");
	assert_string_equal(atomic_file_why(-ENOSPC), "SD card full");
	assert_string_equal(atomic_file_why(EROFS), "SD card is read-only");
	assert_string_equal(atomic_file_why(EIO), "I/O error (card removed?)");
	assert_string_equal(atomic_file_why(ENOENT),
			    "SD card not mounted (no such directory)");
	assert_string_equal(atomic_file_why(EBADF), strerror(EBADF));
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--child") == 0)
		return child_main(argc, argv);
	fsfault_find(&child);
#define T(fn) cmocka_unit_test_setup_teardown(fn, make_dir, remove_dir)
	const struct CMUnitTest tests[] = {
	    T(test_write_creates_and_replaces),
	    T(test_abort_keeps_the_old_file),
	    T(test_enospc_keeps_old),
	    T(test_eio_keeps_old),
	    T(test_erofs_keeps_old),
	    T(test_fsync_eio_keeps_old),
	    T(test_short_writes_and_eintr_complete),
	    T(test_missing_directory),
	    T(test_read_only_directory),
	    T(test_bad_names_are_refused_readably),
	    T(test_sweep_removes_only_temporaries),
	    T(test_killed_at_every_step),
	    cmocka_unit_test(test_why),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
