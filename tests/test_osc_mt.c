/* test_osc_mt.c -- the OSC server (osc.h) with its thread and a real UDP
 * socket on 127.0.0.1: a datagram becomes a command in the engine's
 * SOURCE_OSC queue; engine events passed on through its fan-out become
 * pushed state at a registered client; a flood is dropped and counted and
 * the server answers again the next second; a full command queue drops
 * commands (counted) and never blocks the server; stopping joins the thread.
 * Threaded: run under TSan by make check-tsan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "fanout.h"
#include "mono_clock.h"
#include "osc.h"
#include "spsc.h"

struct rig {
	struct engine *e;
	struct fanout events;
	atomic_int_least64_t now;
	struct osc_server *srv;
	int sock; /* the client's */
	char url[64];
	struct sockaddr_in to;
};

static struct rig *rig_new(uint32_t max_packets)
{
	static struct rig r;
	memset(&r, 0, sizeof(r));
	struct engine_config cfg;
	engine_config_defaults(&cfg, 48000);
	const char *why = NULL;
	r.e = engine_create(&cfg, &why);
	assert_non_null(r.e);
	assert_int_equal(fanout_init(&r.events, 1024), 0);
	atomic_init(&r.now, 0);
	struct osc_server_config oc = {.engine = r.e,
				       .events = &r.events,
				       .now = &r.now,
				       .listen = "127.0.0.1",
				       .port = 0,
				       .max_packets_per_s = max_packets,
				       .handler = {.rate = 48000, .beats_per_bar = 4}};
	char err[256];
	r.srv = osc_server_create(&oc, err, sizeof(err));
	if (!r.srv)
		fail_msg("%s", err);
	assert_int_equal(osc_server_start(r.srv), 0);
	r.sock = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in me = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(r.sock, (struct sockaddr *)&me, sizeof(me)), 0);
	socklen_t l = sizeof(me);
	getsockname(r.sock, (struct sockaddr *)&me, &l);
	snprintf(r.url, sizeof(r.url), "osc.udp://127.0.0.1:%u/", ntohs(me.sin_port));
	r.to = (struct sockaddr_in){.sin_family = AF_INET,
				    .sin_port = htons((uint16_t)osc_server_port(r.srv)),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	return &r;
}

static void rig_free(struct rig *r)
{
	int64_t t0 = mono_ns();
	osc_server_destroy(r->srv);
	assert_true(mono_ns() - t0 < 1000000000LL); /* stopping does not hang */
	close(r->sock);
	fanout_free(&r->events);
	engine_destroy(r->e);
}

#define SEND(r, path, types, ...)                                                        \
	do {                                                                             \
		uint8_t b_[512];                                                         \
		size_t n_ = osc_encode(b_, sizeof(b_), path, types, ##__VA_ARGS__);      \
		assert_true(n_ > 0);                                                     \
		sendto((r)->sock, b_, n_, 0, (struct sockaddr *)&(r)->to,                \
		       sizeof((r)->to));                                                 \
	} while (0)

/* The next datagram at the client whose path is `path`, within 2 s. */
static bool receive(struct rig *r, const char *path, struct osc_msg *m, uint8_t *buf,
		    size_t len)
{
	int64_t end = mono_ns() + 2000000000LL;
	while (mono_ns() < end) {
		struct pollfd p = {.fd = r->sock, .events = POLLIN};
		if (poll(&p, 1, 50) <= 0)
			continue;
		ssize_t n = recv(r->sock, buf, len, 0);
		if (n > 0 && osc_decode(buf, (size_t)n, m) == 0 && !strcmp(m->path, path))
			return true;
	}
	return false;
}

/* A ping answered: sent again every 100 ms (the kernel may have dropped
 * one behind a burst, its socket buffer full), for up to 3 s. */
static bool ping_answered(struct rig *r)
{
	uint8_t buf[1024];
	struct osc_msg m;
	for (int i = 0; i < 30; i++) {
		SEND(r, "/ping", "ss", r->url, "/pong");
		struct pollfd p = {.fd = r->sock, .events = POLLIN};
		int64_t end = mono_ns() + 100000000LL;
		while (mono_ns() < end) {
			if (poll(&p, 1, 10) <= 0)
				continue;
			ssize_t n = recv(r->sock, buf, sizeof(buf), 0);
			if (n > 0 && osc_decode(buf, (size_t)n, &m) == 0 &&
			    !strcmp(m.path, "/pong"))
				return true;
		}
	}
	return false;
}

static bool pop_command(struct rig *r, struct command *c)
{
	int64_t end = mono_ns() + 2000000000LL;
	while (mono_ns() < end) {
		if (spsc_pop(engine_commands(r->e, SOURCE_OSC), c))
			return true;
		usleep(1000);
	}
	return false;
}

static void test_datagram_to_command(void **state)
{
	(void)state;
	struct rig *r = rig_new(1000);
	SEND(r, "/gridloop/clip", "iis", 1, 2, "press");
	struct command c;
	assert_true(pop_command(r, &c));
	assert_int_equal(c.type, CMD_PRESS);
	assert_int_equal(c.track, 1);
	assert_int_equal(c.scene, 2);
	/* Nothing else in the other queues. */
	assert_false(spsc_pop(engine_commands(r->e, SOURCE_CONTROLLER), &c));
	uint8_t buf[1024];
	struct osc_msg m;
	SEND(r, "/ping", "ss", r->url, "/pong");
	assert_true(receive(r, "/pong", &m, buf, sizeof(buf)));
	assert_int_equal(m.argv[2].i, GL_TRACKS);
	SEND(r, "/nope", "");
	assert_true(receive(r, "/gridloop/error", &m, buf, sizeof(buf)));
	rig_free(r);
}

static void test_events_pushed_to_a_registered_client(void **state)
{
	(void)state;
	struct rig *r = rig_new(1000);
	SEND(r, "/gridloop/register", "ss", r->url, "/slot");
	uint8_t buf[1024];
	struct osc_msg m;
	for (int i = 0; i < GL_SLOTS; i++)
		assert_true(receive(r, "/slot", &m, buf, sizeof(buf)));
	struct event ev = {.type = EV_CLIP_STATE,
			   .track = 3,
			   .scene = 4,
			   .value = CLIP_RECORDING,
			   .frame = 100};
	assert_true(fanout_push(&r->events, &ev));
	fanout_publish(&r->events, 200);
	assert_true(receive(r, "/slot", &m, buf, sizeof(buf)));
	assert_int_equal(m.argv[0].i, 3);
	assert_int_equal(m.argv[1].i, 4);
	assert_string_equal(m.argv[2].s, "recording");
	rig_free(r);
}

static void test_flood_dropped_counted_then_answers(void **state)
{
	(void)state;
	struct rig *r = rig_new(100);
	int sent = 0;
	for (int i = 0; i < 3000; i++) {
		uint8_t b[64];
		size_t n = osc_encode(b, sizeof(b), "/flood", "");
		if (sendto(r->sock, b, n, MSG_DONTWAIT, (struct sockaddr *)&r->to,
			   sizeof(r->to)) > 0)
			sent++;
	}
	usleep(1100000); /* the next second */
	assert_true(ping_answered(r));
	osc_server_stop(r->srv);
	struct osc_stats st;
	osc_server_stats(r->srv, &st);
	assert_true(st.flood_dropped > 0);
	assert_true(st.packets <= 2 * 100 + 30); /* two seconds' worth, and pings */
	assert_true(st.packets + st.flood_dropped <= (uint64_t)sent + 30);
	rig_free(r);
}

static void test_full_command_queue_never_blocks(void **state)
{
	(void)state;
	struct rig *r = rig_new(100000);
	/* Bundles of 64 commands each, a few ms apart (so that the kernel
	 * keeps them all): more commands than the queue holds. */
	uint8_t msg[64], b[4096];
	size_t n = osc_encode(msg, sizeof(msg), "/gridloop/stop_all", "");
	memcpy(b, "#bundle\0\0\0\0\0\0\0\0\1", 16);
	size_t len = 16;
	for (int i = 0; i < OSC_OUT_COMMANDS; i++) {
		uint8_t be[4] = {0, 0, 0, (uint8_t)n};
		memcpy(b + len, be, 4);
		memcpy(b + len + 4, msg, n);
		len += 4 + n;
	}
	for (int i = 0; i < 6; i++) {
		sendto(r->sock, b, len, 0, (struct sockaddr *)&r->to, sizeof(r->to));
		usleep(20000);
	}
	assert_true(ping_answered(r));
	osc_server_stop(r->srv);
	struct osc_stats st;
	osc_server_stats(r->srv, &st);
	assert_true(st.commands_dropped > 0);
	int queued = 0;
	struct command c;
	while (spsc_pop(engine_commands(r->e, SOURCE_OSC), &c))
		queued++;
	assert_true(queued > 0);
	assert_int_equal((uint64_t)queued + st.commands_dropped, st.commands);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_datagram_to_command),
	    cmocka_unit_test(test_events_pushed_to_a_registered_client),
	    cmocka_unit_test(test_flood_dropped_counted_then_answers),
	    cmocka_unit_test(test_full_command_queue_never_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
