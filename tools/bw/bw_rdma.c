// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bw_rdma.h"

const char *bw_dev_names(char *buf, size_t len)
{
	struct ibv_device **list;
	size_t used = 0;
	int n = 0, i;

	buf[0] = 0;
	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
					 i ? ", " : "",
					 ibv_get_device_name(list[i]));
	if (list)
		ibv_free_device_list(list);
	if (!n)
		snprintf(buf, len, "none");
	return buf;
}

static int pick_gid(struct bw_dev *d, int want, struct bw_err *e)
{
	struct ibv_port_attr pa;
	int i, best = -1;

	if (ibv_query_port(d->ctx, d->port, &pa))
		return bw_fail(e, errno, "%s port %u: ibv_query_port: %s",
			       d->name, d->port, strerror(errno));
	if (pa.state != IBV_PORT_ACTIVE)
		return bw_fail(e, ENETDOWN, "%s port %u is %s, not ACTIVE",
			       d->name, d->port, ibv_port_state_str(pa.state));
	d->lid = pa.lid;
	d->mtu = pa.active_mtu;
	d->active_mtu = pa.active_mtu;
	d->link_layer = pa.link_layer;
	if (want >= 0) {
		if (want >= pa.gid_tbl_len ||
		    ibv_query_gid(d->ctx, d->port, want, &d->gid))
			return bw_fail(e, EINVAL,
				       "%s port %u has no GID index %d (table of %d)",
				       d->name, d->port, want, pa.gid_tbl_len);
		d->gid_index = want;
		return 0;
	}
	for (i = 0; i < pa.gid_tbl_len; i++) {
		struct ibv_gid_entry g;

		if (ibv_query_gid_ex(d->ctx, d->port, (uint32_t)i, &g, 0))
			continue;
		if (g.gid_type == IBV_GID_TYPE_ROCE_V2 &&
		    !memcmp(g.gid.raw, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
			best = i;
			break;
		}
		if (best < 0 &&
		    (g.gid.global.subnet_prefix || g.gid.global.interface_id))
			best = i;
	}
	if (best < 0) {
		if (pa.link_layer == IBV_LINK_LAYER_INFINIBAND) {
			d->gid_index = -1; /* LID routing, no GRH */
			return 0;
		}
		return bw_fail(e, ENODEV, "%s port %u: no usable GID", d->name,
			       d->port);
	}
	d->gid_index = best;
	if (ibv_query_gid(d->ctx, d->port, best, &d->gid))
		return bw_fail(e, errno, "%s: ibv_query_gid(%d): %s", d->name,
			       best, strerror(errno));
	return 0;
}

int bw_dev_open(const char *name, int port, int gid_index, struct bw_dev *d,
		struct bw_err *e)
{
	struct ibv_device_attr da;
	struct ibv_device **list;
	char names[256];
	int n = 0, i, ret;

	memset(d, 0, sizeof(*d));
	d->qp_timeout = 14;	/* as perftest */
	list = ibv_get_device_list(&n);
	for (i = 0; list && i < n; i++) {
		if (name && strcmp(ibv_get_device_name(list[i]), name))
			continue;
		snprintf(d->name, sizeof(d->name), "%s",
			 ibv_get_device_name(list[i]));
		d->ctx = ibv_open_device(list[i]);
		if (!d->ctx) {
			ret = errno;
			ibv_free_device_list(list);
			return bw_fail(e, ret, "cannot open RDMA device %s: %s",
				       d->name, strerror(ret));
		}
		break;
	}
	if (list)
		ibv_free_device_list(list);
	if (!d->ctx) {
		if (name)
			return bw_fail(e, ENODEV,
				       "no RDMA device '%s' (this host has: %s)",
				       name, bw_dev_names(names, sizeof(names)));
		return bw_fail(e, ENODEV, "no RDMA device on this host");
	}
	if (ibv_query_device(d->ctx, &da)) {
		ret = bw_fail(e, errno, "%s: ibv_query_device: %s", d->name,
			      strerror(errno));
		goto fail;
	}
	if (port < 1 || port > da.phys_port_cnt) {
		ret = bw_fail(e, EINVAL, "%s has no port %d (ports 1..%u)",
			      d->name, port, da.phys_port_cnt);
		goto fail;
	}
	d->port = (uint8_t)port;
	i = da.max_qp_rd_atom < da.max_qp_init_rd_atom ? da.max_qp_rd_atom :
							  da.max_qp_init_rd_atom;
	d->max_rd_atomic = (uint8_t)(i > 255 ? 255 : (i < 1 ? 1 : i));
	d->max_qp_wr = (uint32_t)da.max_qp_wr;
	ret = pick_gid(d, gid_index, e);
	if (ret)
		goto fail;
	return 0;
fail:
	ibv_close_device(d->ctx);
	d->ctx = NULL;
	return ret;
}

bool bw_dev_set_mtu(struct bw_dev *d, int bytes)
{
	enum ibv_mtu want = IBV_MTU_256;

	if (!bytes) {
		d->mtu = d->active_mtu;
		return false;
	}
	while (want < IBV_MTU_4096 && (128 << want) < bytes)
		want++;
	d->mtu = want < d->active_mtu ? want : d->active_mtu;
	return want > d->active_mtu;
}

void bw_dev_close(struct bw_dev *d)
{
	if (d->ctx)
		ibv_close_device(d->ctx);
	d->ctx = NULL;
}

static int qp_to_init(struct bw_dev *d, struct ibv_qp *qp, struct bw_err *e)
{
	struct ibv_qp_attr a = { 0 };

	a.qp_state = IBV_QPS_INIT;
	a.port_num = d->port;
	a.pkey_index = 0;
	a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			    IBV_ACCESS_LOCAL_WRITE;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return bw_fail(e, errno, "%s: QP 0x%x to INIT: %s", d->name,
			       qp->qp_num, strerror(errno));
	return 0;
}

struct ibv_qp *bw_qp_create(struct bw_dev *d, struct ibv_pd *pd,
			    struct ibv_cq *cq, uint32_t send_wr,
			    uint32_t recv_wr, struct bw_err *e)
{
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_qp *qp;

	qa.send_cq = cq;
	qa.recv_cq = cq;
	qa.qp_type = IBV_QPT_RC;
	qa.sq_sig_all = 0;
	qa.cap.max_send_wr = send_wr;
	qa.cap.max_recv_wr = recv_wr ? recv_wr : 1;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	qp = ibv_create_qp(pd, &qa);
	if (!qp) {
		bw_fail(e, errno,
			"%s: ibv_create_qp (send %u, recv %u WRs): %s", d->name,
			send_wr, recv_wr, strerror(errno));
		return NULL;
	}
	if (qp_to_init(d, qp, e)) {
		ibv_destroy_qp(qp);
		return NULL;
	}
	return qp;
}

int bw_qp_loopback(struct bw_dev *d, struct ibv_qp *qp[2], struct bw_err *e)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	int i, ret;

	for (i = 0; i < 2; i++) {
		if (ibv_modify_qp(qp[i], &a, IBV_QP_STATE))
			return bw_fail(e, errno, "%s: QP 0x%x to RESET: %s",
				       d->name, qp[i]->qp_num, strerror(errno));
		ret = qp_to_init(d, qp[i], e);
		if (ret)
			return ret;
	}
	for (i = 0; i < 2; i++) {
		struct bw_qp_dest dest = {
			.qpn = qp[!i]->qp_num, .psn = 0, .lid = d->lid,
			.mtu = (uint8_t)d->mtu, .rd_atomic = d->max_rd_atomic,
			.gid = d->gid, .gid_index = d->gid_index,
		};

		ret = bw_qp_connect(d, qp[i], 0, &dest, e);
		if (ret)
			return ret;
	}
	return 0;
}

int bw_qp_connect(struct bw_dev *d, struct ibv_qp *qp, uint32_t my_psn,
		  const struct bw_qp_dest *dest, struct bw_err *e)
{
	struct ibv_qp_attr a = { 0 };

	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = d->mtu < dest->mtu ? d->mtu : (enum ibv_mtu)dest->mtu;
	a.dest_qp_num = dest->qpn;
	a.rq_psn = dest->psn;
	a.max_dest_rd_atomic = d->max_rd_atomic;
	a.min_rnr_timer = 12;
	a.ah_attr.dlid = dest->lid;
	a.ah_attr.port_num = d->port;
	if (d->gid_index >= 0) {
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = dest->gid;
		a.ah_attr.grh.sgid_index = (uint8_t)d->gid_index;
		a.ah_attr.grh.hop_limit = 64;
	}
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return bw_fail(e, errno, "%s: QP 0x%x to RTR (remote QP 0x%x): %s",
			       d->name, qp->qp_num, dest->qpn, strerror(errno));
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = d->qp_timeout;	/* 14: 4.096 us * 2^14 = 67 ms */
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.sq_psn = my_psn;
	a.max_rd_atomic = dest->rd_atomic < d->max_rd_atomic ?
				  dest->rd_atomic :
				  d->max_rd_atomic;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			  IBV_QP_MAX_QP_RD_ATOMIC))
		return bw_fail(e, errno, "%s: QP 0x%x to RTS: %s", d->name,
			       qp->qp_num, strerror(errno));
	return 0;
}
