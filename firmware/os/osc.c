/* osc.c -- the OSC server's socket and thread (see osc.h); the protocol
 * itself is osc_handler.c. */
#include "osc.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mono_clock.h"
#include "spsc.h"
#include "thread.h"

#define TICK_MS	   10 /* pushes go out this often (SooperLooper's finest) */
#define READ_BATCH 64 /* datagrams read before pushes are looked at again */
#define ADDR_CACHE 8  /* return URLs resolved and kept */

struct addr_entry {
	char url[GL_OSC_STRING_MAX];
	struct sockaddr_storage sa;
	socklen_t len;
	bool ok;
};

struct osc_server {
	struct osc_server_config cfg;
	char listen[GL_OSC_STRING_MAX];
	int fd;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	struct osc_handler h;
	struct osc_out out;
	uint8_t packet[GL_OSC_PACKET_MAX];
	struct addr_entry cache[ADDR_CACHE];
	int cache_next;
	int64_t second_ms;	    /* the start of the flood count's second */
	uint32_t second_count;	    /* datagrams taken in it */
	pthread_mutex_t stats_lock; /* the copy below, for other threads */
	struct osc_stats stats_copy;
};

static int64_t now_ms(void)
{
	return mono_ns() / 1000000;
}

struct osc_server *osc_server_create(const struct osc_server_config *cfg, char *why,
				     size_t whylen)
{
	struct osc_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	s->cfg = *cfg;
	snprintf(s->listen, sizeof(s->listen), "%s",
		 cfg->listen ? cfg->listen : "127.0.0.1");
	s->cfg.listen = s->listen;
	s->fd = -1;
	atomic_init(&s->stop, false);
	pthread_mutex_init(&s->stats_lock, NULL);

	char port[8];
	snprintf(port, sizeof(port), "%u", cfg->port);
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*ai = NULL;
	int rc = getaddrinfo(s->listen, port, &hints, &ai);
	if (rc) {
		snprintf(why, whylen, "[osc] listen '%s': %s", s->listen,
			 gai_strerror(rc));
		goto fail;
	}
	s->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, ai->ai_addr, ai->ai_addrlen)) {
		snprintf(why, whylen, "[osc] cannot listen on %s port %u: %s", s->listen,
			 cfg->port, strerror(errno));
		freeaddrinfo(ai);
		goto fail;
	}
	/* The port bound (port 0: one the kernel chose). */
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	if (getsockname(s->fd, (struct sockaddr *)&bound, &blen) == 0) {
		char serv[NI_MAXSERV];
		if (!getnameinfo((struct sockaddr *)&bound, blen, NULL, 0, serv,
				 sizeof(serv), NI_NUMERICSERV))
			s->cfg.port = (uint16_t)atoi(serv);
	}
	char host[NI_MAXHOST];
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0,
			NI_NUMERICHOST))
		snprintf(host, sizeof(host), "%s", s->listen);
	/* Listening on every address: /ping tells the machine's name, which
	 * a client elsewhere can reach it by. */
	if ((!strcmp(host, "0.0.0.0") || !strcmp(host, "::")) &&
	    gethostname(host, sizeof(host)) == 0)
		host[sizeof(host) - 1] = '\0';
	freeaddrinfo(ai);
	snprintf(s->cfg.handler.self_url, sizeof(s->cfg.handler.self_url),
		 strchr(host, ':') ? "osc.udp://[%s]:%u/" : "osc.udp://%s:%u/", host,
		 s->cfg.port);
	s->cfg.handler.link = s->cfg.link != NULL;
	osc_handler_init(&s->h, &s->cfg.handler);
	return s;
fail:
	osc_server_destroy(s);
	return NULL;
}

/* The address of a return URL, resolved once and kept (a client sends its
 * URL with every message). NULL when it does not resolve. */
static const struct addr_entry *resolve(struct osc_server *s, const char *url)
{
	for (int i = 0; i < ADDR_CACHE; i++)
		if (s->cache[i].url[0] && !strcmp(s->cache[i].url, url))
			return s->cache[i].ok ? &s->cache[i] : NULL;
	struct addr_entry *e = &s->cache[s->cache_next];
	s->cache_next = (s->cache_next + 1) % ADDR_CACHE;
	memset(e, 0, sizeof(*e));
	snprintf(e->url, sizeof(e->url), "%s", url);
	char host[GL_OSC_STRING_MAX], port[8];
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV},
			*ai = NULL;
	if (osc_url_split(url, host, sizeof(host), port, sizeof(port)) &&
	    !getaddrinfo(host, port, &hints, &ai)) {
		/* The socket's own family: an IPv4 server answers IPv4. */
		for (struct addrinfo *p = ai; p; p = p->ai_next) {
			struct sockaddr_storage own;
			socklen_t ol = sizeof(own);
			if (getsockname(s->fd, (struct sockaddr *)&own, &ol) == 0 &&
			    own.ss_family == p->ai_family &&
			    p->ai_addrlen <= sizeof(e->sa)) {
				memcpy(&e->sa, p->ai_addr, p->ai_addrlen);
				e->len = p->ai_addrlen;
				e->ok = true;
				break;
			}
		}
		freeaddrinfo(ai);
	}
	return e->ok ? e : NULL;
}

/* Hands the commands to the engine and sends the replies; never waits. */
static void flush(struct osc_server *s, const struct sockaddr_storage *from,
		  socklen_t fromlen)
{
	struct spsc *q = engine_commands(s->cfg.engine, SOURCE_OSC);
	for (int i = 0; i < s->out.ncommands; i++)
		if (!spsc_push(q, &s->out.command[i]))
			s->h.stats.commands_dropped++;
	for (int i = 0; i < s->out.nreplies; i++) {
		const struct osc_reply *r = &s->out.reply[i];
		const struct sockaddr *sa = (const struct sockaddr *)from;
		socklen_t len = fromlen;
		if (r->url) {
			const struct addr_entry *e = resolve(s, r->url);
			sa = e ? (const struct sockaddr *)&e->sa : NULL;
			len = e ? e->len : 0;
		}
		if (!sa || sendto(s->fd, s->out.bytes + r->off, r->len, MSG_DONTWAIT, sa,
				  len) < 0)
			s->h.stats.send_failed++;
	}
}

/* Reads what is waiting, up to a batch. */
static void read_packets(struct osc_server *s)
{
	for (int n = 0; n < READ_BATCH; n++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t len = recvfrom(s->fd, s->packet, sizeof(s->packet), MSG_TRUNC,
				       (struct sockaddr *)&from, &fromlen);
		if (len < 0)
			return; /* EAGAIN: nothing more */
		int64_t ms = now_ms();
		if (ms - s->second_ms >= 1000) {
			s->second_ms = ms;
			s->second_count = 0;
		}
		if (++s->second_count > s->cfg.max_packets_per_s) {
			s->h.stats.flood_dropped++;
			continue;
		}
		bool truncated = (size_t)len > sizeof(s->packet);
		int64_t frame = atomic_load_explicit(s->cfg.now, memory_order_acquire);
		osc_handler_packet(&s->h, s->packet,
				   truncated ? sizeof(s->packet) : (size_t)len, truncated,
				   ms, frame, &s->out);
		flush(s, &from, fromlen);
	}
}

static void publish_stats(struct osc_server *s)
{
	pthread_mutex_lock(&s->stats_lock);
	s->stats_copy = s->h.stats;
	pthread_mutex_unlock(&s->stats_lock);
}

static void *osc_main(void *arg)
{
	struct osc_server *s = arg;
	int64_t next_tick = now_ms();
	while (!atomic_load_explicit(&s->stop, memory_order_acquire)) {
		fanout_clear(s->cfg.events); /* before draining: no wake-up is lost */
		struct event ev;
		while (fanout_pop(s->cfg.events, &ev))
			osc_handler_event(&s->h, &ev);
		if (s->cfg.link) /* Link's own atomic: never waits */
			s->h.link_peers = gl_link_peers(s->cfg.link);
		read_packets(s);
		int64_t ms = now_ms();
		if (ms >= next_tick) {
			next_tick = ms + TICK_MS;
			osc_handler_tick(
			    &s->h, ms,
			    atomic_load_explicit(s->cfg.now, memory_order_acquire),
			    &s->out);
			flush(s, NULL, 0);
			publish_stats(s);
		}
		struct pollfd fds[2] = {
		    {.fd = s->fd, .events = POLLIN},
		    {.fd = fanout_fd(s->cfg.events), .events = POLLIN}};
		int wait = (int)(next_tick - now_ms());
		poll(fds, 2, wait < 0 ? 0 : wait);
	}
	publish_stats(s);
	return NULL;
}

int osc_server_start(struct osc_server *s)
{
	atomic_store(&s->stop, false);
	int err = background_start(&s->thread, osc_main, s, "gl-osc");
	if (!err)
		s->running = true;
	return err;
}

void osc_server_stop(struct osc_server *s)
{
	if (!s || !s->running)
		return;
	atomic_store_explicit(&s->stop, true, memory_order_release);
	fanout_wake(s->cfg.events);
	pthread_join(s->thread, NULL);
	s->running = false;
}

void osc_server_destroy(struct osc_server *s)
{
	if (!s)
		return;
	osc_server_stop(s);
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->stats_lock);
	free(s);
}

void osc_server_stats(struct osc_server *s, struct osc_stats *out)
{
	pthread_mutex_lock(&s->stats_lock);
	*out = s->stats_copy;
	pthread_mutex_unlock(&s->stats_lock);
}

unsigned osc_server_port(const struct osc_server *s)
{
	return s->cfg.port;
}

const char *osc_server_url(const struct osc_server *s)
{
	return s->cfg.handler.self_url;
}
