// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_bw's report: perftest's table (or --json), each path's device,
 * memory and DMA endpoint with the library's reason, and the figures
 * (peak and average bandwidth, message rate) computed from the completion
 * timeline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The path MTU the QPs use: the smaller of both sides' offers. */
static unsigned int path_mtu(const struct path *P)
{
	enum ibv_mtu m = P->dev.mtu;

	if (P->q[0].qp && P->q[0].dest.mtu && P->q[0].dest.mtu < m)
		m = (enum ibv_mtu)P->q[0].dest.mtu;
	return bw_mtu_bytes(m);
}

/* MiB/s (the unit of the figures) in the units of the report. */
static double in_units(const struct opts *o, double mibps)
{
	return o->units == UNITS_GBIT ? mibps * MiB * 8 / 1e9 : mibps;
}

void bw_print_header(struct state *s)
{
	const struct opts *o = s->o;
	char ep[160], title[64];
	const char *unit;
	int i, k;

	snprintf(title, sizeof(title), "%s%s BW Test (ibv_dmabuf_bw)",
		 bw_op_title[o->p.op], o->p.bidir ? " Bidirectional" : "");
	printf(RULE);
	printf("%*s\n", (int)(43 + strlen(title) / 2), title);
	printf(" Role            : %-16s Peer           : %s\n",
	       o->host ? "client" : "server", s->conn.addr);
	printf(" Connection type : RC               Paths          : %u\n",
	       o->p.paths);
	printf(" Number of qps   : %-3u per path     TX depth       : %u\n",
	       o->p.qps, o->p.depth);
	if (o->p.duration)
		printf(" CQ Moderation   : %-16u Duration       : %u s (measured: %u s after %u s)\n",
		       o->cq_mod, o->p.duration,
		       o->p.duration - 2 * o->p.margin, o->p.margin);
	else
		printf(" CQ Moderation   : %-16u Iterations     : %llu per QP\n",
		       o->cq_mod, (unsigned long long)o->p.iters);
	printf(" Memory          : %-16s Data check     : %s\n", o->mem.text,
	       o->p.check ? "ON" : "OFF");
	for (i = 0; i < s->npaths; i++) {
		const struct path *P = &s->paths[i];

		bw_endpoint_str(&P->reg, ep, sizeof(ep));
		printf(" path %d: %s port %u, GID index %d, MTU %u%s, %s, %s (%s)\n",
		       i, P->dev.name, P->dev.port, P->dev.gid_index,
		       path_mtu(P),
		       P->mtu_capped ? " (-m is above the port's active MTU)" : "",
		       P->mem.desc,
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
	/*
	 * perftest's titles say MB/sec for 2^20 bytes a second; this table
	 * says MiB/sec unless --perftest-header asks for perftest's words.
	 */
	unit = o->units == UNITS_GBIT ? "Gb/sec" :
	       o->perftest_header     ? "MB/sec" :
					"MiB/sec";
	printf(" #bytes     #iterations    BW peak[%s]    BW average[%s]   MsgRate[Mpps]\n",
	       unit, unit);
	fflush(stdout);
}

static void print_row(const struct opts *o, const char *first, uint64_t iters,
		      const struct result *r)
{
	printf(" %-10s %-14llu %-19.2f %-21.2f %.6f\n", first,
	       (unsigned long long)iters, in_units(o, r->peak),
	       in_units(o, r->avg), r->rate / 1e6);
}

/*
 * --perftest-header: a row laid out as perftest lays its rows out, with
 * its count (the messages measured, of all QPs) and, in Gb/sec below 0.1,
 * its six decimals.
 */
static void print_perftest_row(const struct opts *o, const struct row *r)
{
	double peak = in_units(o, r->total.peak), avg = in_units(o, r->total.avg);

	if (o->units == UNITS_GBIT && avg < 0.1)
		printf(" %-7llu    %llu           %-7.6f            %-7.6f            %-7.6f\n",
		       (unsigned long long)r->size,
		       (unsigned long long)r->msgs, peak, avg,
		       r->total.rate / 1e6);
	else
		printf(" %-7llu    %-10llu       %-7.2f            %-7.2f\t\t   %-7.6f\n",
		       (unsigned long long)r->size,
		       (unsigned long long)r->msgs, peak, avg,
		       r->total.rate / 1e6);
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
	if (o->p.duration) {
		json_uint(j, "duration_s", o->p.duration);
		json_uint(j, "margin_s", o->p.margin);
	} else {
		json_uint(j, "iterations", o->p.iters);
	}
	json_bool(j, "bidirectional", o->p.bidir);
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
		json_int(j, "mtu", path_mtu(P));
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

static void json_result(struct json *j, const struct opts *o, uint64_t bytes,
			const struct result *r)
{
	json_uint(j, "bytes", bytes);
	if (!o->p.duration)
		json_uint(j, "iterations", o->p.iters);
	json_uint(j, "messages", r->msgs);
	if (o->p.duration)
		json_null(j, "bw_peak_MiBps"); /* as perftest: no peak with -D */
	else
		json_double(j, "bw_peak_MiBps", r->peak);
	json_double(j, "bw_avg_MiBps", r->avg);
	json_double(j, "msg_rate_pps", r->rate);
}

static void json_row(struct state *s, const struct row *r, enum verdict v)
{
	static const char *const from[] = { "client", "server" };
	const struct opts *o = s->o;
	struct json *j = &s->j;
	int i;

	json_obj_begin(j, NULL);
	json_result(j, o, r->size, &r->total);
	json_str(j, "check",
		 v == CHECK_OK ? "ok" : v == CHECK_FAILED ? "failed" : "off");
	/* The sender's busy-poll loop: how often it found nothing to do. */
	json_uint(j, "cq_polls", r->total.polls);
	json_uint(j, "cq_polls_empty", r->total.empty);
	if (o->p.bidir) {
		json_arr_begin(j, "directions");
		for (i = 0; i < 2; i++) {
			json_obj_begin(j, NULL);
			json_str(j, "from", from[i]);
			json_result(j, o, r->size, &r->dir[i]);
			json_obj_end(j);
		}
		json_arr_end(j);
	}
	json_arr_begin(j, "paths");
	for (i = 0; i < s->npaths; i++) {
		json_obj_begin(j, NULL);
		json_int(j, "index", i);
		json_str(j, "device", s->paths[i].dev.name);
		json_result(j, o, r->size, &r->per_path[i]);
		json_obj_end(j);
	}
	json_arr_end(j);
	json_obj_end(j);
}

void bw_report_size(struct state *s, const struct row *r, enum verdict v)
{
	const struct opts *o = s->o;
	char first[32];
	int i;

	if (o->json) {
		json_row(s, r, v);
		return;
	}
	if (o->perftest_header) {
		/* perftest's rows only: per-path figures are in --json. */
		print_perftest_row(o, r);
		fflush(stdout);
		return;
	}
	snprintf(first, sizeof(first), "%llu", (unsigned long long)r->size);
	print_row(o, first, o->p.duration ? r->msgs : o->p.iters, &r->total);
	if (s->npaths > 1)
		for (i = 0; i < s->npaths; i++) {
			snprintf(first, sizeof(first), "path%d", i);
			print_row(o, first,
				  o->p.duration ? r->per_path[i].msgs : o->p.iters,
				  &r->per_path[i]);
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

/*
 * --out_json: the report file perftest writes with the same option, as
 * valid JSON (perftest's own is since its keys were quoted): "test_info",
 * "results" with the last size (perftest rewrites the file per size), in
 * the units of the table, and "all_results" with every size so far. Both
 * sides write their own.
 */
int bw_out_json_open(const struct opts *o, struct bw_err *e)
{
	int fd = open(o->out_json, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		      0644);

	/* Can it be written? Without truncating what is there before the run. */
	if (fd >= 0) {
		close(fd);
		unlink(o->out_json);
		return 0;
	}
	if (errno == EEXIST)
		fd = open(o->out_json, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return bw_fail(e, errno, "cannot write the --out_json file %s: %s",
			       o->out_json, strerror(errno));
	close(fd);
	return 0;
}

static void out_json_result(struct json *j, const struct opts *o,
			    const struct row *r)
{
	json_uint(j, "MsgSize", r->size);
	json_uint(j, "n_iterations", r->msgs);
	json_double(j, "BW_peak", in_units(o, r->total.peak));
	json_double(j, "BW_average", in_units(o, r->total.avg));
	json_double(j, "MsgRate", r->total.rate / 1e6);
}

static void out_json_info(struct json *j, const struct state *s)
{
	const struct opts *o = s->o;
	const struct path *P = &s->paths[0];
	char test[64], devs[MAX_PATHS * 65] = "";
	size_t used = 0;
	int i;

	snprintf(test, sizeof(test), "%s_%sBW_Test",
		 o->p.op == OP_SEND ? "Send" : bw_op_title[o->p.op],
		 o->p.bidir ? "Bidirectional_" : "");
	for (i = 0; i < s->npaths && used < sizeof(devs); i++)
		used += (size_t)snprintf(devs + used, sizeof(devs) - used,
					 "%s%s", i ? "," : "",
					 s->paths[i].dev.name);
	json_obj_begin(j, "test_info");
	json_str(j, "test", test);
	json_str(j, "Dual_port", "OFF");
	json_str(j, "Device", devs);
	json_uint(j, "Number_of_qps", (uint64_t)o->p.qps * s->npaths);
	json_str(j, "Transport_type",
		 P->dev.ctx->device->transport_type == IBV_TRANSPORT_IWARP ?
			 "IW" : "IB");
	json_str(j, "Connection_type", "RC");
	json_str(j, "Using_SRQ", "OFF");
	json_uint(j, "TX_depth", o->p.depth);
	json_uint(j, "CQ_Moderation", o->cq_mod);
	json_uint(j, "Mtu", path_mtu(P));
	json_str(j, "Link_type",
		 P->dev.link_layer == IBV_LINK_LAYER_ETHERNET ? "Ethernet" :
								"IB");
	if (P->dev.gid_index >= 0)
		json_int(j, "GID_index", P->dev.gid_index);
	json_str(j, "Data_ex_method", "Ethernet");
	if (o->p.duration)
		json_uint(j, "Duration", o->p.duration);
	json_str(j, "units", o->units == UNITS_GBIT ? "Gb/sec" : "MB/sec");
	json_obj_end(j);
}

int bw_out_json_write(struct state *s, struct bw_err *e)
{
	FILE *f = fopen(s->o->out_json, "we");
	struct json j;
	int i, err;

	if (!f)
		return bw_fail(e, errno, "cannot write the --out_json file %s: %s",
			       s->o->out_json, strerror(errno));
	json_init(&j, f);
	json_obj_begin(&j, NULL);
	out_json_info(&j, s);
	json_obj_begin(&j, "results");
	out_json_result(&j, s->o, &s->rows[s->nrows - 1]);
	json_obj_end(&j);
	json_arr_begin(&j, "all_results");
	for (i = 0; i < s->nrows; i++) {
		json_obj_begin(&j, NULL);
		out_json_result(&j, s->o, &s->rows[i]);
		json_obj_end(&j);
	}
	json_arr_end(&j);
	json_obj_end(&j);
	err = ferror(f) ? EIO : 0;
	if (fclose(f) && !err)
		err = errno;
	if (err)
		return bw_fail(e, err, "writing the --out_json file %s: %s",
			       s->o->out_json, strerror(err));
	return 0;
}
