// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_bw's report: perftest's table (or --json), each path's device,
 * memory and DMA endpoint with the library's reason, and the figures
 * (peak and average bandwidth, message rate) computed from the completion
 * timeline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw.h"

#define RULE "---------------------------------------------------------------------------------------\n"

void bw_endpoint_str(const struct bw_reg_info *r, char *buf, size_t len)
{
	const struct ibv_dma_endpoint *ep = &r->choice.ep;

	if (!r->have_ep) {
		snprintf(buf, len, "endpoint unknown (device not in sysfs)");
		return;
	}
	snprintf(buf, len, "endpoint %u (%s %s%s%s, node %d)%s%s", ep->index,
		 ibv_dma_endpoint_kind_str(ep->kind),
		 ep->pci_addr[0] ? ep->pci_addr : "-", ep->via[0] ? " via " : "",
		 ep->via, ep->numa_node, r->dmabuf ? ", " : "",
		 r->dmabuf ? ibv_dma_path_class_str(r->choice.path_class) : "");
}

static unsigned int bw_mtu_bytes(enum ibv_mtu m)
{
	return 128u << m;
}

void bw_print_header(struct state *s)
{
	const struct opts *o = s->o;
	char ep[160], title[64];
	int i, k;

	snprintf(title, sizeof(title), "%s BW Test (ibv_dmabuf_bw)",
		 bw_op_title[o->p.op]);
	printf(RULE);
	printf("%*s\n", (int)(43 + strlen(title) / 2), title);
	printf(" Role            : %-16s Peer           : %s\n",
	       o->host ? "client" : "server", s->conn.addr);
	printf(" Connection type : RC               Paths          : %u\n",
	       o->p.paths);
	printf(" Number of qps   : %-3u per path     TX depth       : %u\n",
	       o->p.qps, o->p.depth);
	printf(" CQ Moderation   : %-16u Iterations     : %llu per QP\n",
	       o->cq_mod, (unsigned long long)o->p.iters);
	printf(" Memory          : %-16s Data check     : %s\n", o->mem.text,
	       o->p.check ? "ON" : "OFF");
	for (i = 0; i < s->npaths; i++) {
		const struct path *P = &s->paths[i];

		bw_endpoint_str(&P->reg, ep, sizeof(ep));
		printf(" path %d: %s port %u, GID index %d, MTU %u, %s, %s (%s)\n",
		       i, P->dev.name, P->dev.port, P->dev.gid_index,
		       bw_mtu_bytes(P->dev.mtu), P->mem.desc,
		       P->reg.dmabuf ? "ibv_reg_dmabuf_mr_ex" : "ibv_reg_mr",
		       P->policy);
		printf("   %s\n", ep);
		printf("   why: %s\n", P->reg.choice.reason);
		if (P->reg.dmabuf)
			printf("   source: %s memory, node %d, exporter %s (%s)\n",
			       ibv_dmabuf_source_str(P->reg.source.source),
			       P->reg.source.numa_node,
			       P->reg.source.exporter,
			       ibv_dmabuf_origin_str(P->reg.source.origin));
		for (k = 0; k < (int)o->p.qps; k++)
			printf("   local  QPN 0x%04x PSN 0x%06x RKey 0x%08x VAddr 0x%016llx\n",
			       P->q[k].qp->qp_num, P->q[k].psn, P->mr->rkey,
			       (unsigned long long)(P->mem.iova + k * P->region));
		for (k = 0; k < (int)o->p.qps; k++)
			printf("   remote QPN 0x%04x PSN 0x%06x RKey 0x%08x VAddr 0x%016llx\n",
			       P->q[k].dest.qpn, P->q[k].dest.psn, P->rkey,
			       (unsigned long long)(P->raddr + k * P->rregion));
		printf("   remote: %s, %s, %s\n", P->rdev, P->rmem, P->rep);
	}
	printf(RULE);
	printf(" #bytes     #iterations    BW peak[MiB/sec]    BW average[MiB/sec]   MsgRate[Mpps]\n");
	fflush(stdout);
}

static void print_row(const char *first, uint64_t iters, const struct result *r)
{
	printf(" %-10s %-14llu %-19.2f %-21.2f %.6f\n", first,
	       (unsigned long long)iters, r->peak, r->avg, r->rate / 1e6);
}

void bw_json_begin(struct state *s)
{
	const struct opts *o = s->o;
	struct json *j = &s->j;
	int i;

	json_init(j, stdout);
	json_obj_begin(j, NULL);
	json_str(j, "tool", BW_PROG);
	json_str(j, "role", o->host ? "client" : "server");
	json_str(j, "peer", s->conn.addr);
	json_str(j, "op", bw_op_name[o->p.op]);
	json_str(j, "connection", "RC");
	json_uint(j, "iterations", o->p.iters);
	json_uint(j, "tx_depth", o->p.depth);
	json_uint(j, "cq_mod", o->cq_mod);
	json_uint(j, "qps_per_path", o->p.qps);
	json_bool(j, "check", o->p.check);
	json_str(j, "memory", o->mem.text);
	json_arr_begin(j, "paths");
	for (i = 0; i < s->npaths; i++) {
		const struct path *P = &s->paths[i];
		const struct bw_reg_info *r = &P->reg;

		json_obj_begin(j, NULL);
		json_int(j, "index", i);
		json_str(j, "device", P->dev.name);
		json_int(j, "port", P->dev.port);
		json_int(j, "gid_index", P->dev.gid_index);
		json_int(j, "mtu", bw_mtu_bytes(P->dev.mtu));
		json_str(j, "policy", P->policy);
		json_str(j, "memory", P->mem.desc);
		json_str(j, "registration",
			 r->dmabuf ? "ibv_reg_dmabuf_mr_ex" : "ibv_reg_mr");
		if (r->dmabuf) {
			json_obj_begin(j, "source");
			json_str(j, "type", ibv_dmabuf_source_str(r->source.source));
			json_str(j, "origin", ibv_dmabuf_origin_str(r->source.origin));
			json_int(j, "numa_node", r->source.numa_node);
			json_str(j, "exporter", r->source.exporter);
			json_obj_end(j);
		}
		if (r->have_ep) {
			json_obj_begin(j, "endpoint");
			json_uint(j, "index", r->choice.ep.index);
			json_str(j, "kind", ibv_dma_endpoint_kind_str(r->choice.ep.kind));
			json_str(j, "pci", r->choice.ep.pci_addr);
			json_str(j, "via", r->choice.ep.via);
			json_int(j, "numa_node", r->choice.ep.numa_node);
			json_obj_end(j);
			if (r->dmabuf) {
				json_str(j, "path_class",
					 ibv_dma_path_class_str(r->choice.path_class));
				json_int(j, "numa_distance", r->choice.numa_distance);
			}
		} else {
			json_null(j, "endpoint");
		}
		json_str(j, "reason", r->choice.reason);
		json_obj_begin(j, "remote");
		json_str(j, "device", P->rdev);
		json_str(j, "memory", P->rmem);
		json_str(j, "endpoint", P->rep);
		json_obj_end(j);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_arr_begin(j, "results");
	s->json_open = true;
}

static void json_result(struct json *j, uint64_t bytes, uint64_t iters,
			const struct result *r)
{
	json_uint(j, "bytes", bytes);
	json_uint(j, "iterations", iters);
	json_uint(j, "messages", r->msgs);
	json_double(j, "bw_peak_MiBps", r->peak);
	json_double(j, "bw_avg_MiBps", r->avg);
	json_double(j, "msg_rate_pps", r->rate);
}

void bw_report_size(struct state *s, uint64_t size,
			const struct result *total,
			const struct result *per_path, enum verdict v)
{
	char first[32];
	int i;

	if (s->o->json) {
		json_obj_begin(&s->j, NULL);
		json_result(&s->j, size, s->o->p.iters, total);
		json_str(&s->j, "check",
			 v == CHECK_OK ? "ok" : v == CHECK_FAILED ? "failed" : "off");
		/* The client's busy-poll loop: how often it found nothing to do. */
		json_uint(&s->j, "cq_polls", total->polls);
		json_uint(&s->j, "cq_polls_empty", total->empty);
		json_arr_begin(&s->j, "paths");
		for (i = 0; i < s->npaths; i++) {
			json_obj_begin(&s->j, NULL);
			json_int(&s->j, "index", i);
			json_str(&s->j, "device", s->paths[i].dev.name);
			json_result(&s->j, size, s->o->p.iters, &per_path[i]);
			json_obj_end(&s->j);
		}
		json_arr_end(&s->j);
		json_obj_end(&s->j);
		return;
	}
	snprintf(first, sizeof(first), "%llu", (unsigned long long)size);
	print_row(first, s->o->p.iters, total);
	if (s->npaths > 1)
		for (i = 0; i < s->npaths; i++) {
			snprintf(first, sizeof(first), "path%d", i);
			print_row(first, s->o->p.iters, &per_path[i]);
		}
	fflush(stdout);
}

void bw_report_end(struct state *s, bool done)
{
	const struct params *p = &s->o->p;

	if (s->o->json) {
		if (s->json_open) {
			json_arr_end(&s->j);
			json_obj_end(&s->j);
		}
		return;
	}
	printf(RULE);
	if (done && p->check)
		printf(" Data check      : every size verified byte for byte by the %s, through %s\n",
		       p->op == OP_READ ? "client" : "server",
		       s->o->mem.ops == &bw_mem_cuda ? "cuMemcpy" :
						       "the buffer's CPU mapping");
	fflush(stdout);
}

/*
 * average: all messages, from the first post to the last completion;
 * peak: the best completion rate over any span of at least `window`
 * messages (between two completion events, or from the first post).
 */
struct result bw_compute(const struct series *sr, uint64_t size,
			     uint64_t window)
{
	struct result r = { 0 };
	uint64_t i, first = 0, c0, w;
	double dt, t0, bw;

	if (!sr->nev || !sr->nposted)
		return r;
	r.msgs = sr->ev_c[sr->nev - 1];
	dt = sr->ev_t[sr->nev - 1] - sr->t_first;
	if (dt <= 0)
		return r;
	r.avg = (double)r.msgs * (double)size / dt / MiB;
	r.rate = (double)r.msgs / dt;
	r.peak = r.avg;
	w = window < r.msgs ? window : r.msgs;
	/* first: the latest start (event index + 1; 0 = first post) of a span >= w */
	for (i = 0; i < sr->nev; i++) {
		while (first < i && sr->ev_c[i] - sr->ev_c[first] >= w)
			first++;
		/* first - 1 is the latest event still w or more behind i */
		if (first) {
			c0 = sr->ev_c[first - 1];
			t0 = sr->ev_t[first - 1];
		} else {
			c0 = 0;
			t0 = sr->t_first;
		}
		if (sr->ev_c[i] - c0 < w)
			continue;
		dt = sr->ev_t[i] - t0;
		if (dt <= 0)
			continue;
		bw = (double)(sr->ev_c[i] - c0) * (double)size / dt / MiB;
		if (bw > r.peak)
			r.peak = bw;
	}
	return r;
}
