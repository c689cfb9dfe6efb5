/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * The TCP side channel of ibv_dmabuf_bw: connect/accept with deadlines and
 * framed messages (magic, version, type, length) whose fields are written
 * big-endian by the put/get helpers. Every wait has a timeout; a closed
 * connection is reported as such, never waited on.
 */
#ifndef DMP_BW_NET_H
#define DMP_BW_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bw_util.h"

#define BW_MAGIC 0x444d4257u	/* "DMBW" */
#define BW_PROTO 2	/* 2: -D, --margin and -b in HELLO; DONE both ways */
#define BW_MSG_MAX 8192

struct bw_conn {
	int fd;
	const char *peer;	/* "server" or "client", for messages */
	char addr[96];		/* host:port of the other side */
	uint8_t rbuf[BW_MSG_MAX + 16];
	size_t rlen;
};

struct bw_msg {
	uint16_t type;
	uint32_t len;
	uint8_t body[BW_MSG_MAX];
	size_t pos;		/* read position of the get helpers */
	bool short_read;	/* a get ran past len */
};

/* Wait up to timeout s for one client on port; the listener is closed. */
int bw_accept(uint16_t port, double timeout, struct bw_conn *c,
	      struct bw_err *e);
/* Connect to host:port, retrying refused connections until timeout s. */
int bw_connect(const char *host, uint16_t port, double timeout,
	       struct bw_conn *c, struct bw_err *e);
void bw_close(struct bw_conn *c);

/*
 * Receive one message within timeout s (0: only what has arrived; EAGAIN
 * if no whole message). ETIMEDOUT, ECONNRESET (peer closed), EPROTO.
 */
int bw_recv(struct bw_conn *c, struct bw_msg *m, double timeout,
	    struct bw_err *e);
int bw_send(struct bw_conn *c, const struct bw_msg *m, double timeout,
	    struct bw_err *e);

void bw_msg_init(struct bw_msg *m, uint16_t type);
void bw_put_u8(struct bw_msg *m, uint8_t v);
void bw_put_u16(struct bw_msg *m, uint16_t v);
void bw_put_u32(struct bw_msg *m, uint32_t v);
void bw_put_u64(struct bw_msg *m, uint64_t v);
void bw_put_double(struct bw_msg *m, double v);
void bw_put_bytes(struct bw_msg *m, const void *p, size_t n);
void bw_put_str(struct bw_msg *m, const char *s);
uint8_t bw_get_u8(struct bw_msg *m);
uint16_t bw_get_u16(struct bw_msg *m);
uint32_t bw_get_u32(struct bw_msg *m);
uint64_t bw_get_u64(struct bw_msg *m);
double bw_get_double(struct bw_msg *m);
void bw_get_bytes(struct bw_msg *m, void *p, size_t n);
void bw_get_str(struct bw_msg *m, char *buf, size_t len);

#endif
