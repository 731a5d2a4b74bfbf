/* test_rtguard.c -- proves that the real-time guard (tests/rtguard) fires,
 * and that firmware/os/rt_mark.c drives it.
 *
 * Every check runs in a forked child, so that an abort is an observable
 * outcome: the parent reads the child's stderr through a pipe and its wait
 * status. Children check what they can themselves and report through their
 * exit status (never through cmocka, whose state belongs to the parent).
 *
 * The guard must be preloaded into this process. scripts/run-tests does
 * that; run by hand, the test re-executes itself with
 * LD_PRELOAD=$RTGUARD_SO (default: rtguard.so next to the tests/ directory
 * holding this binary).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rt_mark.h"
#include "wake.h"

/* Calls go through volatile pointers so that the compiler can neither drop
 * an unused malloc/free pair nor turn printf into puts. */
static void *(*volatile malloc_fn)(size_t) = malloc;
static void *(*volatile calloc_fn)(size_t, size_t) = calloc;
static void *(*volatile realloc_fn)(void *, size_t) = realloc;
static void (*volatile free_fn)(void *) = free;
static int (*volatile printf_fn)(const char *, ...) = printf;
static int (*volatile fputs_fn)(const char *, FILE *) = fputs;
static void *volatile sink;

static unsigned long (*guard_violations)(void);

/* ---- running a child --------------------------------------------------------- */

struct outcome {
	int status;
	char err[16384]; /* the child's stderr, NUL-terminated */
};

static struct outcome result;

static void run_child(void (*body)(void), struct outcome *o)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		close(fds[0]);
		if (null < 0 || dup2(null, 1) < 0 || dup2(fds[1], 2) < 0)
			_exit(100);
		close(null);
		close(fds[1]);
		body();
		exit(0);
	}
	close(fds[1]);
	size_t len = 0;
	for (;;) {
		char scratch[4096];
		char *dst = len < sizeof(o->err) - 1 ? o->err + len : scratch;
		size_t room =
		    len < sizeof(o->err) - 1 ? sizeof(o->err) - 1 - len : sizeof(scratch);
		ssize_t r = read(fds[0], dst, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (dst != scratch)
			len += (size_t)r;
	}
	o->err[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &o->status, 0) < 0)
		assert_int_equal(errno, EINTR);
}

static void show(const struct outcome *o)
{
	if (WIFEXITED(o->status))
		print_message("child exited with status %d\n", WEXITSTATUS(o->status));
	else if (WIFSIGNALED(o->status))
		print_message("child killed by signal %d\n", WTERMSIG(o->status));
	print_message("child stderr:\n%s\n", o->err);
}

static void expect_abort(const struct outcome *o, const char *text)
{
	if (!WIFSIGNALED(o->status) || WTERMSIG(o->status) != SIGABRT ||
	    !strstr(o->err, text)) {
		print_message("expected SIGABRT and \"%s\" on stderr\n", text);
		show(o);
		fail();
	}
}

static void expect_violation_abort(const struct outcome *o, const char *call)
{
	char text[160];
	snprintf(text, sizeof(text),
		 "rtguard: real-time violation: %s() called on a real-time thread", call);
	expect_abort(o, text);
}

static void expect_clean_exit(const struct outcome *o)
{
	if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) != 0 ||
	    strstr(o->err, "rtguard:")) {
		print_message("expected exit status 0 and no rtguard report\n");
		show(o);
		fail();
	}
}

static size_t occurrences(const char *haystack, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ---- child bodies ---------------------------------------------------------------- */

static void body_malloc_outside(void)
{
	char *p = malloc_fn(100);
	if (!p)
		exit(2);
	memset(p, 'x', 100);
	p = realloc_fn(p, 1000);
	if (!p || p[99] != 'x')
		exit(3);
	free_fn(p);
	rt_mark_begin();
	rt_mark_end();
	/* After a balanced section the thread is an ordinary thread again. */
	sink = calloc_fn(10, 10);
	free_fn(sink);
	printf_fn("printing outside a section is fine\n");
	fflush(stdout);
}

static void body_malloc_inside(void)
{
	rt_mark_begin();
	sink = malloc_fn(32);
	rt_mark_end();
}

static void body_nested_inner_end(void)
{
	rt_mark_begin();
	rt_mark_begin();
	rt_mark_end();
	sink = malloc_fn(32); /* still inside the outer section */
	rt_mark_end();
}

static void body_nested_balanced(void)
{
	rt_mark_begin();
	rt_mark_begin();
	rt_mark_end();
	rt_mark_end();
	sink = malloc_fn(32);
	free_fn(sink);
}

static void body_free_null(void)
{
	rt_mark_begin();
	free_fn(NULL);
	rt_mark_end();
}

/* The one call allowed: waking a sleeper (wake.h), which must also work. */
static void body_wake_inside(void)
{
	struct wake w;
	if (wake_init(&w))
		_exit(3);
	rt_mark_begin();
	wake_signal(&w);
	wake_signal(&w);
	rt_mark_end();
	uint64_t count = 0;
	if (read(wake_fd(&w), &count, sizeof(count)) != sizeof(count) || count != 2)
		_exit(4);
	wake_free(&w);
}

/* Look-alikes of the wake-up that are not one: 8 bytes, but to a pipe, to
 * a blocking eventfd, or 4 bytes to the eventfd. */
static void eight_bytes_to(int fd, size_t n)
{
	uint64_t one = 1;
	if (fd < 0)
		_exit(3);
	rt_mark_begin();
	(void)!write(fd, &one, n);
	rt_mark_end();
}

static void body_write8_pipe(void)
{
	int fds[2];
	if (pipe(fds) || fcntl(fds[1], F_SETFL, O_NONBLOCK))
		_exit(3);
	eight_bytes_to(fds[1], 8);
}

static void body_write8_blocking_eventfd(void)
{
	eight_bytes_to(eventfd(0, 0), 8);
}

static void body_write4_eventfd(void)
{
	eight_bytes_to(eventfd(0, EFD_NONBLOCK), 4);
}

static void body_unbalanced_leave(void)
{
	rt_mark_end();
}

static atomic_int go, done;

static void *helper_allocates(void *arg)
{
	(void)arg;
	while (!atomic_load(&go))
		;
	void *p = malloc_fn(64);
	free_fn(p);
	atomic_store(&done, p ? 1 : 2);
	return NULL;
}

/* The main thread is inside a section while another thread allocates. */
static void body_other_thread_free(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, helper_allocates, NULL) != 0)
		exit(2);
	rt_mark_begin();
	atomic_store(&go, 1);
	while (!atomic_load(&done))
		; /* spin: sched_yield would be a violation */
	rt_mark_end();
	pthread_join(t, NULL);
	if (atomic_load(&done) != 1)
		exit(3);
}

static void *helper_marked(void *arg)
{
	(void)arg;
	rt_mark_begin();
	sink = malloc_fn(64);
	rt_mark_end();
	return NULL;
}

/* A section on another thread is caught on that thread. */
static void body_other_thread_marked(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, helper_marked, NULL) != 0)
		exit(2);
	pthread_join(t, NULL);
}

static void body_count(void)
{
	static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	setenv("RTGUARD_MODE", "count", 1);
	rt_mark_begin();
	void *a = malloc_fn(16);
	void *b = malloc_fn(16);
	free_fn(a);
	free_fn(b);
	pthread_mutex_lock(&m);
	pthread_mutex_unlock(&m);
	rt_mark_end();
	if (guard_violations() != 6)
		exit(10);
	sink = malloc_fn(16); /* outside: not counted */
	free_fn(sink);
	if (guard_violations() != 6)
		exit(11);
	/* exit() runs the guard's destructor, which prints the total. */
}

static void body_count_outermost_only(void)
{
	setenv("RTGUARD_MODE", "count", 1);
	rt_mark_begin();
	FILE *f = fopen("/dev/null", "w"); /* mallocs a FILE inside */
	rt_mark_end();
	if (!f)
		exit(2);
	fclose(f);
	if (guard_violations() != 1)
		exit(10);
}

/* ---- the calls the guard must catch --------------------------------------------- */

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
static char buffer[64];

static void *nothing(void *arg)
{
	return arg;
}

#define CALL_BODY(fname, setup, call)                                                    \
	static void call_##fname(void)                                                   \
	{                                                                                \
		setup;                                                                   \
		rt_mark_begin();                                                         \
		call;                                                                    \
		rt_mark_end();                                                           \
	}

CALL_BODY(malloc, , sink = malloc_fn(64))
CALL_BODY(calloc, , sink = calloc_fn(4, 16))
CALL_BODY(realloc, void *p = malloc_fn(8), sink = realloc_fn(p, 4096))
CALL_BODY(free, void *p = malloc_fn(8), free_fn(p))
CALL_BODY(posix_memalign, void *p = NULL, posix_memalign(&p, 64, 64); sink = p)
CALL_BODY(aligned_alloc, , sink = aligned_alloc(64, 64))
CALL_BODY(mmap, ,
	  sink = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0))
CALL_BODY(munmap,
	  void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
	  munmap(p, 4096))
CALL_BODY(mprotect,
	  void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
	  mprotect(p, 4096, PROT_NONE))
CALL_BODY(mlock, , mlock(buffer, sizeof(buffer)))
CALL_BODY(pthread_mutex_lock, , pthread_mutex_lock(&mutex))
CALL_BODY(pthread_mutex_trylock, , pthread_mutex_trylock(&mutex))
CALL_BODY(pthread_mutex_unlock, pthread_mutex_lock(&mutex), pthread_mutex_unlock(&mutex))
CALL_BODY(pthread_cond_signal, , pthread_cond_signal(&cond))
CALL_BODY(pthread_cond_broadcast, , pthread_cond_broadcast(&cond))
CALL_BODY(pthread_cond_timedwait, struct timespec past = {0};
	  pthread_mutex_lock(&mutex), pthread_cond_timedwait(&cond, &mutex, &past))
CALL_BODY(pthread_rwlock_rdlock, , pthread_rwlock_rdlock(&rwlock))
CALL_BODY(pthread_rwlock_wrlock, , pthread_rwlock_wrlock(&rwlock))
CALL_BODY(pthread_create, pthread_t t, pthread_create(&t, NULL, nothing, NULL))
CALL_BODY(pthread_join, pthread_t t;
	  pthread_create(&t, NULL, nothing, NULL), pthread_join(t, NULL))
CALL_BODY(sem_wait, sem_t s; sem_init(&s, 0, 1), sem_wait(&s))
CALL_BODY(sleep, , sleep(0))
CALL_BODY(usleep, , usleep(1))
CALL_BODY(nanosleep, struct timespec t = {.tv_nsec = 1}, nanosleep(&t, NULL))
CALL_BODY(clock_nanosleep, struct timespec t = {.tv_nsec = 1},
	  clock_nanosleep(CLOCK_MONOTONIC, 0, &t, NULL))
CALL_BODY(open, , open("/dev/null", O_RDONLY))
CALL_BODY(openat, , openat(AT_FDCWD, "/dev/null", O_RDONLY))
CALL_BODY(close, int fd = open("/dev/null", O_RDONLY), close(fd))
CALL_BODY(read, int fd = open("/dev/null", O_RDONLY), (void)!read(fd, buffer, 1))
CALL_BODY(write, int fd = open("/dev/null", O_WRONLY), (void)!write(fd, buffer, 1))
CALL_BODY(fopen, , sink = fopen("/dev/null", "r"))
CALL_BODY(fclose, FILE *f = fopen("/dev/null", "r"), fclose(f))
CALL_BODY(fread, FILE *f = fopen("/dev/null", "r"), (void)!fread(buffer, 1, 1, f))
CALL_BODY(fwrite, , fwrite("x", 1, 1, stdout))
CALL_BODY(fprintf, , fprintf(stdout, "%d\n", 1))
CALL_BODY(printf, , printf_fn("%d\n", 1))
CALL_BODY(puts, , puts("x"))
CALL_BODY(fputs, , fputs_fn("x", stdout))
CALL_BODY(fflush, , fflush(stdout))
CALL_BODY(poll, , poll(NULL, 0, 0))
CALL_BODY(select, struct timeval tv = {0}, select(0, NULL, NULL, NULL, &tv))

struct call_case {
	const char *call;
	void (*body)(void);
	char name[64];
};

#define CASE(fname)                                                                      \
	{                                                                                \
		.call = #fname, .body = call_##fname                                     \
	}

static struct call_case cases[] = {
    CASE(malloc),
    CASE(calloc),
    CASE(realloc),
    CASE(free),
    CASE(posix_memalign),
    CASE(aligned_alloc),
    CASE(mmap),
    CASE(munmap),
    CASE(mprotect),
    CASE(mlock),
    CASE(pthread_mutex_lock),
    CASE(pthread_mutex_trylock),
    CASE(pthread_mutex_unlock),
    CASE(pthread_cond_signal),
    CASE(pthread_cond_broadcast),
    CASE(pthread_cond_timedwait),
    CASE(pthread_rwlock_rdlock),
    CASE(pthread_rwlock_wrlock),
    CASE(pthread_create),
    CASE(pthread_join),
    CASE(sem_wait),
    CASE(sleep),
    CASE(usleep),
    CASE(nanosleep),
    CASE(clock_nanosleep),
    CASE(open),
    CASE(openat),
    CASE(close),
    CASE(read),
    CASE(write),
    CASE(fopen),
    CASE(fclose),
    CASE(fread),
    CASE(fwrite),
    CASE(fprintf),
    CASE(printf),
    CASE(puts),
    CASE(fputs),
    CASE(fflush),
    CASE(poll),
    CASE(select),
};

#define N_CASES (sizeof(cases) / sizeof(cases[0]))

static void test_call_aborts(void **state)
{
	const struct call_case *c = *state;
	run_child(c->body, &result);
	expect_violation_abort(&result, c->call);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_guard_present(void **state)
{
	(void)state;
	assert_true(rt_mark_guarded());
	assert_non_null(guard_violations);
	assert_int_equal(guard_violations(), 0);
}

static void test_malloc_outside_section_works(void **state)
{
	(void)state;
	run_child(body_malloc_outside, &result);
	expect_clean_exit(&result);
}

static void test_malloc_inside_section_aborts(void **state)
{
	(void)state;
	run_child(body_malloc_inside, &result);
	expect_violation_abort(&result, "malloc");
	/* The report names where the call came from. */
	assert_non_null(strstr(result.err, "rtguard:   called from "));
}

static void test_nested_inner_end_is_still_inside(void **state)
{
	(void)state;
	run_child(body_nested_inner_end, &result);
	expect_violation_abort(&result, "malloc");
}

static void test_nested_balanced_leaves(void **state)
{
	(void)state;
	run_child(body_nested_balanced, &result);
	expect_clean_exit(&result);
}

static void test_free_null_is_allowed(void **state)
{
	(void)state;
	run_child(body_free_null, &result);
	expect_clean_exit(&result);
}

static void test_wake_inside_section_is_allowed(void **state)
{
	(void)state;
	run_child(body_wake_inside, &result);
	expect_clean_exit(&result);
}

static void test_other_writes_inside_section_abort(void **state)
{
	(void)state;
	run_child(body_write8_pipe, &result);
	expect_violation_abort(&result, "write");
	run_child(body_write8_blocking_eventfd, &result);
	expect_violation_abort(&result, "write");
	run_child(body_write4_eventfd, &result);
	expect_violation_abort(&result, "write");
}

static void test_unbalanced_leave_aborts(void **state)
{
	(void)state;
	run_child(body_unbalanced_leave, &result);
	expect_abort(&result,
		     "rtguard: rtguard_leave() without a matching rtguard_enter()");
}

static void test_sections_are_per_thread(void **state)
{
	(void)state;
	run_child(body_other_thread_free, &result);
	expect_clean_exit(&result);
	run_child(body_other_thread_marked, &result);
	expect_violation_abort(&result, "malloc");
}

static void test_count_mode_counts(void **state)
{
	(void)state;
	run_child(body_count, &result);
	if (!WIFEXITED(result.status) || WEXITSTATUS(result.status) != 0) {
		show(&result);
		fail_msg("count mode: the child did not see 6 violations");
	}
	assert_non_null(strstr(result.err, "rtguard: 6 violations\n"));
	/* Each function's first violation is reported, once. */
	assert_int_equal(occurrences(result.err, "malloc() called on a real-time thread"),
			 1);
	assert_int_equal(occurrences(result.err, "free() called on a real-time thread"),
			 1);
	assert_int_equal(occurrences(result.err, "pthread_mutex_lock() called"), 1);
	assert_int_equal(occurrences(result.err, "pthread_mutex_unlock() called"), 1);
}

static void test_count_mode_counts_the_outermost_call(void **state)
{
	(void)state;
	run_child(body_count_outermost_only, &result);
	if (!WIFEXITED(result.status) || WEXITSTATUS(result.status) != 0) {
		show(&result);
		fail_msg("count mode: fopen() was not counted exactly once");
	}
	assert_non_null(strstr(result.err, "fopen() called on a real-time thread"));
	assert_null(strstr(result.err, "malloc() called"));
	assert_non_null(strstr(result.err, "rtguard: 1 violations\n"));
}

/* ---- main ----------------------------------------------------------------------- */

/* Makes sure the guard is loaded: re-executes this program with it
 * preloaded when it is not. Returns 0, or -1 with a message. */
static int ensure_guard(char **argv)
{
	if (dlsym(RTLD_DEFAULT, "rtguard_enter"))
		return 0;
	if (getenv("TEST_RTGUARD_REEXEC")) {
		fprintf(stderr,
			"test_rtguard: the guard is not loaded even with LD_PRELOAD=%s\n",
			getenv("LD_PRELOAD"));
		return -1;
	}
	char so[PATH_MAX + 32];
	const char *env = getenv("RTGUARD_SO");
	if (env && *env) {
		snprintf(so, sizeof(so), "%s", env);
	} else {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0) {
			perror("test_rtguard: /proc/self/exe");
			return -1;
		}
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(so, sizeof(so), "%s/../rtguard.so", exe);
	}
	if (access(so, R_OK) != 0) {
		fprintf(stderr,
			"test_rtguard: no guard at %s (build it, or set RTGUARD_SO)\n",
			so);
		return -1;
	}
	char preload[2 * PATH_MAX + 64];
	const char *old = getenv("LD_PRELOAD");
	snprintf(preload, sizeof(preload), "%s%s%s", so, old && *old ? ":" : "",
		 old ? old : "");
	char asan[1024];
	const char *aopt = getenv("ASAN_OPTIONS");
	snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", aopt ? aopt : "",
		 aopt && *aopt ? ":" : "");
	setenv("LD_PRELOAD", preload, 1);
	setenv("ASAN_OPTIONS", asan, 1);
	setenv("TEST_RTGUARD_REEXEC", "1", 1);
	execv("/proc/self/exe", argv);
	perror("test_rtguard: re-exec");
	return -1;
}

int main(int argc, char **argv)
{
	(void)argc;
	if (ensure_guard(argv) != 0)
		return 1;
	rt_mark_init();
	guard_violations =
	    (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "rtguard_violations");

	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_guard_present),
	    cmocka_unit_test(test_malloc_outside_section_works),
	    cmocka_unit_test(test_malloc_inside_section_aborts),
	    cmocka_unit_test(test_nested_inner_end_is_still_inside),
	    cmocka_unit_test(test_nested_balanced_leaves),
	    cmocka_unit_test(test_free_null_is_allowed),
	    cmocka_unit_test(test_wake_inside_section_is_allowed),
	    cmocka_unit_test(test_other_writes_inside_section_abort),
	    cmocka_unit_test(test_unbalanced_leave_aborts),
	    cmocka_unit_test(test_sections_are_per_thread),
	    cmocka_unit_test(test_count_mode_counts),
	    cmocka_unit_test(test_count_mode_counts_the_outermost_call),
	};
	enum { N_FIXED = sizeof(fixed) / sizeof(fixed[0]) };
	struct CMUnitTest tests[N_FIXED + N_CASES];
	memcpy(tests, fixed, sizeof(fixed));
	for (size_t i = 0; i < N_CASES; i++) {
		snprintf(cases[i].name, sizeof(cases[i].name), "aborts_on_%s",
			 cases[i].call);
		tests[N_FIXED + i] = (struct CMUnitTest){
		    .name = cases[i].name,
		    .test_func = test_call_aborts,
		    .initial_state = &cases[i],
		};
	}
	return _cmocka_run_group_tests("rtguard", tests, N_FIXED + N_CASES, NULL, NULL);
}
