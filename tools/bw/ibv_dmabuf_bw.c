// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf_bw: perftest-style RC bandwidth between a server and a client
 * (RDMA WRITE, RDMA READ or SEND), with the buffers in host memory or in a
 * dma-buf (udmabuf, system heap, DRM, CUDA) registered through
 * ibv_reg_dmabuf_mr_ex(), over one or several paths (devices/endpoints)
 * at once.
 *
 * Flow, both sides:
 *   parse -> probe the memory backend -> TCP connect/accept
 *   -> HELLO: exchange and compare the parameters (mismatch: both stop)
 *   -> open devices, allocate + register buffers, create QPs
 *   -> SETUP: QP numbers, GIDs, buffer addresses/keys, endpoint reports
 *      (or ERROR with the one-line reason, and both stop)
 *   -> connect QPs, READY barrier
 *   -> per size: START/GO, the client drives the traffic (heartbeats on
 *      TCP), DONE with the figures, CHECK with the server's verdict
 *   -> BYE.
 * Every wait has a deadline (--timeout); a peer that goes away is noticed
 * through TCP (EOF) or the QPs (retry exceeded), never waited on.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "bw.h"
#include "opts.h"

int main(int argc, char **argv)
{
	static struct state s;
	struct opts o;
	uint64_t sz;
	int ret;

	ret = bw_parse_options(argc, argv, &o);
	if (ret)
		return ret < 0 ? 0 : ret;
	signal(SIGPIPE, SIG_IGN);
	srand48((long)getpid() ^ (long)(bw_now() * 1e6));
	s.o = &o;
	s.conn.fd = -1;
	if (o.p.all)
		for (sz = 2; sz <= o.p.size && s.nsizes < 32; sz *= 2)
			s.sizes[s.nsizes++] = sz;
	else
		s.sizes[s.nsizes++] = o.p.size;
	ret = bw_run(&s);
	bw_teardown(&s);
	return ret;
}
