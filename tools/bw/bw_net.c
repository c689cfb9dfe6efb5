// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bw_net.h"

#define HDR_LEN 12 /* magic u32, version u16, type u16, length u32 */

static int ms_left(double deadline)
{
	double left = deadline - bw_now();

	if (left <= 0)
		return 0;
	return left > 3600 ? 3600000 : (int)(left * 1000) + 1;
}

static void tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int bw_accept(uint16_t port, double timeout, struct bw_conn *c,
	      struct bw_err *e)
{
	struct sockaddr_in6 sa = { 0 };
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char host[64] = "?";
	struct pollfd p;
	int one = 1, zero = 0, ls, fd, r, err;

	c->fd = -1;
	c->rlen = 0;
	ls = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls >= 0) {
		/* Dual stack: IPv4 clients arrive as mapped addresses. */
		setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		sa.sin6_family = AF_INET6;
		sa.sin6_addr = in6addr_any;
		sa.sin6_port = htons(port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;

		ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (ls < 0)
			return bw_fail(e, errno, "socket: %s", strerror(errno));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons(port);
	}
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa,
		 sa.sin6_family == AF_INET6 ? sizeof(sa) :
					      sizeof(struct sockaddr_in)) ||
	    listen(ls, 1)) {
		err = errno;
		close(ls);
		return bw_fail(e, err, "cannot listen on TCP port %u: %s",
			       port, strerror(err));
	}
	p.fd = ls;
	p.events = POLLIN;
	do {
		r = poll(&p, 1, (int)(timeout * 1000) + 1);
	} while (r < 0 && errno == EINTR);
	if (r <= 0) {
		close(ls);
		return bw_fail(e, ETIMEDOUT,
			       "no client connected to TCP port %u within %g s",
			       port, timeout);
	}
	fd = accept4(ls, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	err = errno;
	close(ls);
	if (fd < 0)
		return bw_fail(e, err, "accept: %s", strerror(err));
	getnameinfo((struct sockaddr *)&peer, plen, host, sizeof(host), NULL, 0,
		    NI_NUMERICHOST);
	snprintf(c->addr, sizeof(c->addr), "%s",
		 strncmp(host, "::ffff:", 7) ? host : host + 7);
	tune(fd);
	c->fd = fd;
	c->peer = "client";
	return 0;
}

/* One non-blocking connect attempt; 0, or errno. */
static int try_connect(const struct addrinfo *ai, double deadline, int *out)
{
	struct pollfd p;
	socklen_t len = sizeof(int);
	int fd, err = 0, r;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0)
		return errno;
	if (!connect(fd, ai->ai_addr, ai->ai_addrlen))
		goto done;
	if (errno != EINPROGRESS) {
		err = errno;
		close(fd);
		return err;
	}
	p.fd = fd;
	p.events = POLLOUT;
	do {
		r = poll(&p, 1, ms_left(deadline));
	} while (r < 0 && errno == EINTR);
	if (r <= 0) {
		close(fd);
		return ETIMEDOUT;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		close(fd);
		return err ? err : errno;
	}
done:
	*out = fd;
	return 0;
}

int bw_connect(const char *host, uint16_t port, double timeout,
	       struct bw_conn *c, struct bw_err *e)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	double start = bw_now(), deadline = start + timeout;
	char service[8];
	int err = 0, r, fd = -1;

	c->fd = -1;
	c->rlen = 0;
	c->peer = "server";
	snprintf(c->addr, sizeof(c->addr), "%s:%u", host, port);
	snprintf(service, sizeof(service), "%u", port);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	r = getaddrinfo(host, service, &hints, &res);
	if (r)
		return bw_fail(e, EHOSTUNREACH, "cannot resolve '%s': %s", host,
			       gai_strerror(r));
	for (;;) {
		for (ai = res; ai; ai = ai->ai_next) {
			err = try_connect(ai, deadline, &fd);
			if (!err)
				break;
		}
		if (!err || bw_now() + 0.2 >= deadline)
			break;
		/* The server may not listen yet: retry until the deadline. */
		usleep(200000);
	}
	freeaddrinfo(res);
	if (err)
		return bw_fail(e, err,
			       "cannot connect to %s:%u: %s (tried for %.0f s)",
			       host, port, strerror(err), bw_now() - start);
	tune(fd);
	c->fd = fd;
	return 0;
}

void bw_close(struct bw_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

/* A whole message at the head of rbuf? 1 yes, 0 no, -errno bad. */
static int pop(struct bw_conn *c, struct bw_msg *m, struct bw_err *e)
{
	uint32_t len;

	if (c->rlen < HDR_LEN)
		return 0;
	if (rd32(c->rbuf) != BW_MAGIC)
		return -bw_fail(e, EPROTO,
				"%s %s is not an ibv_dmabuf_bw peer (bad magic; perftest on that port?)",
				c->peer, c->addr);
	if (rd16(c->rbuf + 4) != BW_PROTO)
		return -bw_fail(e, EPROTO,
				"%s speaks protocol version %u, this tool %u: use the same ibv_dmabuf_bw on both sides",
				c->peer, rd16(c->rbuf + 4), BW_PROTO);
	len = rd32(c->rbuf + 8);
	if (len > BW_MSG_MAX)
		return -bw_fail(e, EPROTO, "%s sent a %u-byte message", c->peer,
				len);
	if (c->rlen < HDR_LEN + len)
		return 0;
	m->type = rd16(c->rbuf + 6);
	m->len = len;
	m->pos = 0;
	m->short_read = false;
	memcpy(m->body, c->rbuf + HDR_LEN, len);
	c->rlen -= HDR_LEN + len;
	memmove(c->rbuf, c->rbuf + HDR_LEN + len, c->rlen);
	return 1;
}

int bw_recv(struct bw_conn *c, struct bw_msg *m, double timeout,
	    struct bw_err *e)
{
	double deadline = bw_now() + timeout;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	ssize_t n;
	int r;

	for (;;) {
		r = pop(c, m, e);
		if (r)
			return r < 0 ? -r : 0;
		n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		if (n > 0) {
			c->rlen += (size_t)n;
			continue;
		}
		if (n == 0)
			return bw_fail(e, ECONNRESET,
				       "the %s closed the connection", c->peer);
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			return bw_fail(e, ECONNRESET,
				       "the %s closed the connection (reset)",
				       c->peer);
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return bw_fail(e, errno, "connection to the %s: %s",
				       c->peer, strerror(errno));
		if (timeout <= 0)
			return EAGAIN;
		r = poll(&p, 1, ms_left(deadline));
		if (r < 0 && errno != EINTR)
			return bw_fail(e, errno, "poll: %s", strerror(errno));
		if (r == 0)
			return bw_fail(e, ETIMEDOUT,
				       "no word from the %s for %g s", c->peer,
				       timeout);
	}
}

int bw_send(struct bw_conn *c, const struct bw_msg *m, double timeout,
	    struct bw_err *e)
{
	uint8_t buf[HDR_LEN + BW_MSG_MAX];
	double deadline = bw_now() + timeout;
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };
	uint32_t v32;
	uint16_t v16;
	size_t len = HDR_LEN + m->len, done = 0;
	ssize_t n;

	v32 = htobe32(BW_MAGIC);
	memcpy(buf, &v32, 4);
	v16 = htobe16(BW_PROTO);
	memcpy(buf + 4, &v16, 2);
	v16 = htobe16(m->type);
	memcpy(buf + 6, &v16, 2);
	v32 = htobe32(m->len);
	memcpy(buf + 8, &v32, 4);
	memcpy(buf + HDR_LEN, m->body, m->len);
	while (done < len) {
		n = send(c->fd, buf + done, len - done, MSG_NOSIGNAL);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			if (errno == EPIPE || errno == ECONNRESET)
				return bw_fail(e, ECONNRESET,
					       "the %s closed the connection",
					       c->peer);
			return bw_fail(e, errno, "sending to the %s: %s",
				       c->peer, strerror(errno));
		}
		if (poll(&p, 1, ms_left(deadline)) == 0)
			return bw_fail(e, ETIMEDOUT,
				       "the %s accepts no data for %g s",
				       c->peer, timeout);
	}
	return 0;
}

void bw_msg_init(struct bw_msg *m, uint16_t type)
{
	m->type = type;
	m->len = 0;
	m->pos = 0;
	m->short_read = false;
}

void bw_put_bytes(struct bw_msg *m, const void *p, size_t n)
{
	if (m->len + n > BW_MSG_MAX)
		return; /* callers size messages well below the limit */
	memcpy(m->body + m->len, p, n);
	m->len += (uint32_t)n;
}

void bw_put_u8(struct bw_msg *m, uint8_t v)
{
	bw_put_bytes(m, &v, 1);
}

void bw_put_u16(struct bw_msg *m, uint16_t v)
{
	v = htobe16(v);
	bw_put_bytes(m, &v, 2);
}

void bw_put_u32(struct bw_msg *m, uint32_t v)
{
	v = htobe32(v);
	bw_put_bytes(m, &v, 4);
}

void bw_put_u64(struct bw_msg *m, uint64_t v)
{
	v = htobe64(v);
	bw_put_bytes(m, &v, 8);
}

void bw_put_double(struct bw_msg *m, double v)
{
	uint64_t u;

	memcpy(&u, &v, 8);
	bw_put_u64(m, u);
}

void bw_put_str(struct bw_msg *m, const char *s)
{
	size_t n = strlen(s);

	if (n > 1024)
		n = 1024;
	bw_put_u16(m, (uint16_t)n);
	bw_put_bytes(m, s, n);
}

void bw_get_bytes(struct bw_msg *m, void *p, size_t n)
{
	if (m->pos + n > m->len) {
		m->short_read = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, m->body + m->pos, n);
	m->pos += n;
}

uint8_t bw_get_u8(struct bw_msg *m)
{
	uint8_t v;

	bw_get_bytes(m, &v, 1);
	return v;
}

uint16_t bw_get_u16(struct bw_msg *m)
{
	uint16_t v;

	bw_get_bytes(m, &v, 2);
	return be16toh(v);
}

uint32_t bw_get_u32(struct bw_msg *m)
{
	uint32_t v;

	bw_get_bytes(m, &v, 4);
	return be32toh(v);
}

uint64_t bw_get_u64(struct bw_msg *m)
{
	uint64_t v;

	bw_get_bytes(m, &v, 8);
	return be64toh(v);
}

double bw_get_double(struct bw_msg *m)
{
	uint64_t u = bw_get_u64(m);
	double v;

	memcpy(&v, &u, 8);
	return v;
}

void bw_get_str(struct bw_msg *m, char *buf, size_t len)
{
	size_t n = bw_get_u16(m), k = n < len - 1 ? n : len - 1;

	if (m->pos + n > m->len) {
		m->short_read = true;
		buf[0] = 0;
		return;
	}
	memcpy(buf, m->body + m->pos, k);
	buf[k] = 0;
	m->pos += n;
}
