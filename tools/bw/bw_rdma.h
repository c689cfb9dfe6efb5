/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Opening an RDMA device port and connecting RC QPs (the verbs side of
 * ibv_dmabuf_bw; ibv_dmabuf_regbench uses the device part).
 */
#ifndef DMP_BW_RDMA_H
#define DMP_BW_RDMA_H

#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#include "bw_util.h"

struct bw_dev {
	struct ibv_context *ctx;
	char name[64];
	uint8_t port;
	int gid_index;		/* -1: no GID (InfiniBand without GRH) */
	union ibv_gid gid;
	uint16_t lid;
	enum ibv_mtu mtu;	/* the MTU offered: active, or -m when lower */
	enum ibv_mtu active_mtu; /* active MTU of the port */
	uint8_t link_layer;
	uint8_t max_rd_atomic;	/* min(max_qp_rd_atom, max_qp_init_rd_atom) */
	uint32_t max_qp_wr;
	uint8_t qp_timeout;	/* RC local ACK timeout: 4.096 us * 2^N (14) */
};

/* The device names of this host, comma-separated, for error messages. */
const char *bw_dev_names(char *buf, size_t len);

/*
 * Open device name (NULL: the first one), port, GID index (-1: the first
 * RoCE v2 GID of an IPv4 address, else the first populated one).
 */
int bw_dev_open(const char *name, int port, int gid_index, struct bw_dev *d,
		struct bw_err *e);
void bw_dev_close(struct bw_dev *d);
/*
 * Offer an MTU of bytes (256 .. 4096; 0: the port's active MTU), never
 * more than the active MTU (as perftest's -m). Returns whether it was
 * lowered to the active MTU.
 */
bool bw_dev_set_mtu(struct bw_dev *d, int bytes);

/* What the peer needs to reach one QP. */
struct bw_qp_dest {
	uint32_t qpn;
	uint32_t psn;
	uint16_t lid;
	uint8_t mtu;		/* enum ibv_mtu */
	uint8_t rd_atomic;
	union ibv_gid gid;
	int gid_index;
};

struct ibv_qp *bw_qp_create(struct bw_dev *d, struct ibv_pd *pd,
			    struct ibv_cq *cq, uint32_t send_wr,
			    uint32_t recv_wr, struct bw_err *e);
/* INIT -> RTR -> RTS towards dest; MTU is the smaller of both sides. */
int bw_qp_connect(struct bw_dev *d, struct ibv_qp *qp, uint32_t my_psn,
		  const struct bw_qp_dest *dest, struct bw_err *e);
/*
 * Connect two QPs of one device to each other (loopback), from any state:
 * RESET, INIT, RTR, RTS. Also how a pair recovers after an error completion.
 */
int bw_qp_loopback(struct bw_dev *d, struct ibv_qp *qp[2], struct bw_err *e);

#endif
