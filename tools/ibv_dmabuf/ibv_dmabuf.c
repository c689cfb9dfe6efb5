// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * ibv_dmabuf: ask what backs a dma-buf, list DMA endpoints of RDMA devices,
 * and see which endpoint (and device) the library would choose and why --
 * for a real dma-buf (inherited fd or one made here) or a described source,
 * on this machine or on any sysfs tree (--sysfs-root).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <infiniband/verbs.h>
#include <infiniband/verbs_ext.h>

#include "ibv_dmabuf.h"
#include "json.h"
#include "opts.h"


static struct json js;
const char *const prog = "ibv_dmabuf";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [--sysfs-root DIR [--local-view]] [--json] COMMAND [OPTIONS]\n"
		"\n"
		"Commands:\n"
		"  info      BUFFER                 what backs a dma-buf\n"
		"  endpoints [DEVICE...]            DMA endpoints of RDMA devices\n"
		"  select    BUFFER|--source SPEC [-d DEV] [--path POLICY]\n"
		"                                   the endpoint (and device) chosen\n"
		"  explain   BUFFER|--source SPEC [-d DEV] [--path POLICY]\n"
		"                                   every candidate ranked, with reasons\n"
		"  topology                         NUMA nodes, RDMA devices, skipped files\n"
		"  reg       BUFFER -d DEV [--path POLICY] [--offset N]\n"
		"            [--length N] [--iova N] [--access FLAGS]\n"
		"                                   register, report, deregister\n"
		"\n"
		"BUFFER:\n"
		"  --fd N                 an inherited dma-buf file descriptor\n"
		"  --create KIND[:OPTS]   make one:\n"
		"                         udmabuf[:size=2M,node=N,interleave,hugetlb],\n"
		"                         heap[:size=2M,node=N] (/dev/dma_heap/system)\n"
		"                         or vfio:PCI[,bar=N,offset=0,size=2M] (vfio-pci)\n"
		"SPEC:   system[:node=N] | p2p:DDDD:BB:DD.F | private | unknown\n"
		"POLICY: auto | default | numa=N | endpoint=N\n"
		"--node-hint N: the buffer's NUMA node when the kernel cannot tell\n"
		"        (implied by --create ...,node=N)\n"
		"FLAGS:  comma list of local_write,remote_write,remote_read,remote_atomic,\n"
		"        relaxed_ordering (default local_write,remote_write,remote_read)\n"
		"\n"
		"The sysfs tree defaults to /sys, or $%s. Another tree describes\n"
		"another machine: what depends on this host's libraries is assumed\n"
		"there (\"assumed\"); --local-view judges it by this host's instead.\n",
		prog, IBV_EXT_SYSFS_ROOT_ENV);
}

int fail_err(const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s (%s)\n", prog, what,
		*ibv_ext_last_error() ? ibv_ext_last_error() : strerror(err),
		strerror(err));
	return EXIT_FAIL;
}

/* For calls that return NULL or -1 and set errno. */
int fail(const char *what)
{
	return fail_err(what, errno);
}

static int parse_access(const char *s, unsigned int *out)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} flags[] = {
		{ "local_write", IBV_ACCESS_LOCAL_WRITE },
		{ "remote_write", IBV_ACCESS_REMOTE_WRITE },
		{ "remote_read", IBV_ACCESS_REMOTE_READ },
		{ "remote_atomic", IBV_ACCESS_REMOTE_ATOMIC },
		{ "relaxed_ordering", IBV_ACCESS_RELAXED_ORDERING },
		{ "on_demand", IBV_ACCESS_ON_DEMAND },
		{ "mw_bind", IBV_ACCESS_MW_BIND },
	};
	char buf[256], *tok, *save;
	size_t i;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	*out = 0;
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			if (!strcmp(tok, flags[i].name))
				break;
		if (i == sizeof(flags) / sizeof(flags[0]))
			return -1;
		*out |= flags[i].bit;
	}
	return 0;
}

static void print_info_text(const struct ibv_dmabuf_info *i)
{
	printf("source:   %s", ibv_dmabuf_source_str(i->source));
	if (i->provider[0])
		printf(" (provider %s)", i->provider);
	printf("\n");
	printf("origin:   %s\n", ibv_dmabuf_origin_str(i->origin));
	if (i->numa_node >= 0)
		printf("node:     %d%s\n", i->numa_node,
		       i->flags & IBV_DMABUF_INFO_NUMA_MIXED ?
			       " (majority; pages span nodes)" : "");
	else
		printf("node:     unknown\n");
	if (i->size)
		printf("size:     %" PRIu64 "\n", i->size);
	printf("exporter: %s\n", i->exporter);
}

static void json_info(const char *key, const struct ibv_dmabuf_info *i)
{
	json_obj_begin(&js, key);
	json_str(&js, "source", ibv_dmabuf_source_str(i->source));
	json_str(&js, "origin", ibv_dmabuf_origin_str(i->origin));
	if (i->numa_node >= 0)
		json_int(&js, "numa_node", i->numa_node);
	else
		json_null(&js, "numa_node");
	json_bool(&js, "numa_mixed", i->flags & IBV_DMABUF_INFO_NUMA_MIXED);
	json_uint(&js, "size", i->size);
	json_str(&js, "exporter", i->exporter);
	if (i->provider[0])
		json_str(&js, "provider", i->provider);
	else
		json_null(&js, "provider");
	json_uint(&js, "inode", i->inode);
	json_obj_end(&js);
}

static void json_ep(const char *key, const struct ibv_dma_endpoint *e)
{
	json_obj_begin(&js, key);
	json_str(&js, "device", e->ibdev);
	json_uint(&js, "index", e->index);
	json_str(&js, "kind", ibv_dma_endpoint_kind_str(e->kind));
	if (e->pci_addr[0])
		json_str(&js, "pci", e->pci_addr);
	else
		json_null(&js, "pci");
	if (e->numa_node >= 0)
		json_int(&js, "numa_node", e->numa_node);
	else
		json_null(&js, "numa_node");
	json_uint(&js, "link_speed_mts", e->link_speed);
	json_uint(&js, "link_width", e->link_width);
	json_str(&js, "via", e->via);
	json_bool(&js, "default", e->flags & IBV_DMA_EP_FLAG_DEFAULT);
	json_bool(&js, "kernel_listed", e->flags & IBV_DMA_EP_FLAG_KERNEL_LISTED);
	json_bool(&js, "needs_kernel_attr",
		  e->flags & IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR);
	json_bool(&js, "available", !(e->flags & IBV_DMA_EP_FLAG_UNAVAILABLE));
	/* Availability assumed on the machine the tree describes: what. */
	if (e->flags & IBV_DMA_EP_FLAG_ASSUMED)
		json_str(&js, "assumed", e->assumed);
	else
		json_null(&js, "assumed");
	json_obj_end(&js);
}

static void json_choice(const char *key, const struct ibv_dma_choice *c)
{
	json_obj_begin(&js, key);
	json_ep("endpoint", &c->ep);
	json_str(&js, "path_class", ibv_dma_path_class_str(c->path_class));
	if (c->numa_distance >= 0)
		json_int(&js, "numa_distance", c->numa_distance);
	else
		json_null(&js, "numa_distance");
	json_bool(&js, "tied", c->flags & IBV_DMA_CHOICE_TIED);
	json_bool(&js, "fallback", c->flags & IBV_DMA_CHOICE_FALLBACK);
	json_bool(&js, "reachable", !(c->flags & IBV_DMA_CHOICE_UNREACHABLE));
	json_bool(&js, "p2p_via_host_bridge",
		  c->flags & IBV_DMA_CHOICE_P2P_HOST_BRIDGE);
	json_bool(&js, "hint_used", c->flags & IBV_DMA_CHOICE_HINT_USED);
	json_bool(&js, "kernel_reported",
		  c->flags & IBV_DMA_CHOICE_KERNEL_REPORTED);
	json_str(&js, "reason", c->reason);
	json_obj_end(&js);
}

static void print_ep_text(const struct ibv_dma_endpoint *e)
{
	char link[32] = "-";

	if (e->link_speed)
		snprintf(link, sizeof(link), "%u.%u GT/s x%u",
			 e->link_speed / 1000, e->link_speed % 1000 / 100,
			 e->link_width);
	printf("  %-10s %2u  %-11s %-13s node %-3d %-16s %s%s%s%s%s%s%s\n",
	       e->ibdev, e->index, ibv_dma_endpoint_kind_str(e->kind),
	       e->pci_addr[0] ? e->pci_addr : "-", e->numa_node, link,
	       e->flags & IBV_DMA_EP_FLAG_DEFAULT ? "default " : "",
	       e->flags & IBV_DMA_EP_FLAG_KERNEL_LISTED ? "kernel " : "",
	       e->flags & IBV_DMA_EP_FLAG_UNAVAILABLE ? "unavailable " : "",
	       e->flags & IBV_DMA_EP_FLAG_ASSUMED ? "assumed (" : "",
	       e->flags & IBV_DMA_EP_FLAG_ASSUMED ? e->assumed : "",
	       e->flags & IBV_DMA_EP_FLAG_ASSUMED ? ") " : "",
	       e->via[0] ? e->via : "");
}

static int cmd_info(struct opts *o)
{
	struct ibv_dmabuf_info info = { 0 };
	int rc = 0, fd, ret;

	fd = open_buffer(o, &rc);
	if (fd == -1)
		return rc;
	if (fd == -2)
		return tool_usage_error("%s", "info needs --fd N or --create KIND");
	ret = ibv_query_dmabuf(fd, &info);
	if (ret)
		rc = fail_err("query", ret);
	else if (o->json)
		json_info(NULL, &info);
	else
		print_info_text(&info);
	close_buffer(o, fd);
	return rc;
}

/* Names of every RDMA device of the tree, through the ranking API. */
static int all_devices(char names[][IBV_EXT_NAME_LEN], size_t *n)
{
	struct ibv_dma_choice *c;
	size_t i, cap = 256;
	int ret;

	c = calloc(cap, sizeof(*c));
	if (!c)
		return ENOMEM;
	ret = ibv_rank_dmabuf_devices(NULL, 0, NULL, NULL, c, &cap);
	if (ret) {
		free(c);
		return ret;
	}
	for (i = 0; i < cap && i < *n; i++)
		snprintf(names[i], IBV_EXT_NAME_LEN, "%s", c[i].ep.ibdev);
	*n = i;
	free(c);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int cmd_endpoints(struct opts *o, int argc, char **argv)
{
	static char names[256][IBV_EXT_NAME_LEN];
	struct ibv_dma_endpoint eps[16];
	size_t n = 0, i, k;
	int ret;

	if (argc) {
		for (i = 0; i < (size_t)argc && i < 256; i++)
			snprintf(names[i], IBV_EXT_NAME_LEN, "%s", argv[i]);
		n = i;
	} else {
		n = 256;
		ret = all_devices(names, &n);
		if (ret)
			return fail_err("listing devices", ret);
		qsort(names, n, IBV_EXT_NAME_LEN, cmp_name);
	}
	if (o->json)
		json_arr_begin(&js, NULL);
	else
		printf("  %-10s %2s  %-11s %-13s %-8s %-16s %s\n", "device",
		       "ep", "kind", "pci", "node", "link", "flags / via");
	for (i = 0; i < n; i++) {
		size_t num = 16;

		ret = ibv_query_dma_endpoints(names[i], eps, &num);
		if (ret) {
			if (o->json)
				json_arr_end(&js);
			return fail_err(names[i], ret);
		}
		for (k = 0; k < num; k++) {
			if (o->json)
				json_ep(NULL, &eps[k]);
			else
				print_ep_text(&eps[k]);
		}
	}
	if (o->json)
		json_arr_end(&js);
	return 0;
}

static int get_source(struct opts *o, struct ibv_dmabuf_info *info, int *fdp)
{
	int rc = 0, fd;

	*fdp = -1;
	memset(info, 0, sizeof(*info));
	fd = open_buffer(o, &rc);
	if (fd == -1)
		return rc;
	if (fd >= 0 && o->source) {
		close_buffer(o, fd);
		return tool_usage_error("%s", "give a buffer or --source, not both");
	}
	if (fd >= 0) {
		*fdp = fd;
		rc = ibv_query_dmabuf(fd, info);
		return rc ? fail_err("query", rc) : 0;
	}
	if (!o->source)
		return tool_usage_error("%s", "needs --fd N, --create KIND or --source SPEC");
	rc = ibv_describe_dmabuf_source(o->source, info);
	return rc ? fail_err("--source", rc) : 0;
}

static int cmd_select(struct opts *o, bool explain)
{
	struct ibv_dma_path_hints hints;
	struct ibv_dmabuf_info info;
	struct ibv_dma_choice *c = NULL;
	size_t n = 256, i;
	int rc, fd;

	if (tool_parse_path(o->path, &hints))
		return tool_usage_error("bad --path '%s'", o->path);
	rc = get_source(o, &info, &fd);
	if (rc)
		goto out;
	tool_hint_node(&hints, o->node_hint);
	c = calloc(n, sizeof(*c));
	if (!c) {
		rc = fail_err("select", ENOMEM);
		goto out;
	}
	if (o->device) {
		n = 16;
		if (explain)
			rc = ibv_rank_dma_endpoints(o->device, &info, &hints,
						    c, &n);
		else
			rc = ibv_select_dma_endpoint(o->device, &info, &hints,
						     c);
		if (!explain)
			n = 1;
	} else {
		rc = ibv_rank_dmabuf_devices(NULL, 0, &info, &hints, c, &n);
		if (!rc && !explain)
			n = 1;
	}
	if (rc) {
		rc = fail_err(o->device ? o->device : "ranking devices", rc);
		goto out;
	}
	/* A head that cannot be used: say so (select refuses it). */
	if (!o->device && !explain &&
	    (c[0].flags & IBV_DMA_CHOICE_UNREACHABLE ||
	     c[0].ep.flags & IBV_DMA_EP_FLAG_UNAVAILABLE)) {
		fprintf(stderr, "%s: no device can use this memory: %s\n",
			prog, c[0].reason);
		rc = EXIT_FAIL;
		goto out;
	}
	if (o->json) {
		json_obj_begin(&js, NULL);
		json_info("source", &info);
		if (explain) {
			json_arr_begin(&js, o->device ? "endpoints" : "devices");
			for (i = 0; i < n; i++)
				json_choice(NULL, &c[i]);
			json_arr_end(&js);
		} else {
			json_choice("choice", &c[0]);
		}
		json_obj_end(&js);
	} else if (explain) {
		print_info_text(&info);
		printf("%s, best first:\n",
		       o->device ? "endpoints" : "devices (best endpoint each)");
		for (i = 0; i < n; i++)
			printf("  %zu. %s %u [%s] %s\n", i + 1, c[i].ep.ibdev,
			       c[i].ep.index,
			       ibv_dma_path_class_str(c[i].path_class),
			       c[i].reason);
	} else {
		printf("%s endpoint %u (%s %s, node %d): %s\n", c[0].ep.ibdev,
		       c[0].ep.index, ibv_dma_endpoint_kind_str(c[0].ep.kind),
		       c[0].ep.pci_addr[0] ? c[0].ep.pci_addr : "-",
		       c[0].ep.numa_node,
		       ibv_dma_path_class_str(c[0].path_class));
		printf("why: %s\n", c[0].reason);
	}
out:
	free(c);
	close_buffer(o, fd);
	return rc;
}

static int cmd_topology(struct opts *o)
{
	static char names[256][IBV_EXT_NAME_LEN];
	const char *note;
	size_t n = 256, i;
	int ret;

	ret = all_devices(names, &n);
	if (ret && ret != ENODEV)
		return fail_err("topology", ret);
	if (ret)
		n = 0;
	qsort(names, n, IBV_EXT_NAME_LEN, cmp_name);
	if (o->json) {
		json_obj_begin(&js, NULL);
		json_arr_begin(&js, "devices");
		for (i = 0; i < n; i++)
			json_str(&js, NULL, names[i]);
		json_arr_end(&js);
		json_arr_begin(&js, "skipped");
		for (i = 0; (note = ibv_ext_sysfs_note(i)); i++)
			json_str(&js, NULL, note);
		json_arr_end(&js);
		json_obj_end(&js);
		return 0;
	}
	printf("RDMA devices:");
	for (i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("%s\n", n ? "" : " none");
	for (i = 0; (note = ibv_ext_sysfs_note(i)); i++)
		printf("skipped: %s\n", note);
	return 0;
}

static int cmd_reg(struct opts *o)
{
	struct ibv_reg_dmabuf_mr_ex_attr attr = { 0 };
	struct ibv_dma_path_hints hints;
	struct ibv_dmabuf_info src;
	struct ibv_dma_choice choice;
	struct ibv_device **list;
	struct ibv_context *ctx = NULL;
	struct ibv_pd *pd = NULL;
	struct ibv_mr *mr;
	int rc = 0, fd, num, i;

	if (!o->device)
		return tool_usage_error("%s", "reg needs -d/--ib-dev DEV");
	if (tool_parse_path(o->path, &hints))
		return tool_usage_error("bad --path '%s'", o->path);
	fd = open_buffer(o, &rc);
	if (fd == -1)
		return rc;
	if (fd == -2)
		return tool_usage_error("%s", "reg needs --fd N or --create KIND");
	tool_hint_node(&hints, o->node_hint);
	attr.hints = &hints;

	list = ibv_get_device_list(&num);
	for (i = 0; list && i < num; i++)
		if (!strcmp(ibv_get_device_name(list[i]), o->device))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!ctx) {
		fprintf(stderr, "%s: cannot open RDMA device %s\n", prog,
			o->device);
		rc = EXIT_FAIL;
		goto out;
	}
	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		rc = fail("ibv_alloc_pd");
		goto out;
	}
	attr.comp_mask = IBV_REG_DMABUF_MR_EX_HINTS | IBV_REG_DMABUF_MR_EX_CHOICE |
			 IBV_REG_DMABUF_MR_EX_SOURCE;
	attr.fd = fd;
	attr.offset = o->offset;
	attr.iova = o->have_iova ? o->iova : o->offset;
	attr.access = o->access;
	attr.choice = &choice;
	attr.source = &src;
	if (o->have_length) {
		attr.length = o->length;
	} else {
		struct ibv_dmabuf_info q = { 0 };

		rc = ibv_query_dmabuf(fd, &q);
		if (rc) {
			rc = fail_err("query", rc);
			goto out;
		}
		attr.length = q.size > o->offset ? q.size - o->offset : 0;
	}
	mr = ibv_reg_dmabuf_mr_ex(pd, &attr);
	if (!mr) {
		rc = fail("ibv_reg_dmabuf_mr_ex");
		goto out;
	}
	if (o->json) {
		json_obj_begin(&js, NULL);
		json_info("source", &src);
		json_choice("choice", &choice);
		json_uint(&js, "lkey", mr->lkey);
		json_uint(&js, "rkey", mr->rkey);
		json_uint(&js, "length", mr->length);
	} else {
		printf("registered %" PRIu64 " bytes on %s: lkey 0x%x rkey 0x%x\n",
		       attr.length, o->device, mr->lkey, mr->rkey);
		printf("endpoint %u (%s %s): %s\n", choice.ep.index,
		       ibv_dma_endpoint_kind_str(choice.ep.kind),
		       choice.ep.pci_addr[0] ? choice.ep.pci_addr : "-",
		       choice.reason);
	}
	rc = ibv_dereg_mr(mr);
	if (rc) {
		rc = fail_err("ibv_dereg_mr", rc);
		if (o->json)
			json_obj_end(&js);
		goto out;
	}
	if (o->json) {
		json_bool(&js, "deregistered", true);
		json_obj_end(&js);
	} else {
		printf("deregistered\n");
	}
out:
	if (pd)
		ibv_dealloc_pd(pd);
	if (ctx)
		ibv_close_device(ctx);
	close_buffer(o, fd);
	return rc;
}

int main(int argc, char **argv)
{
	enum {
		OPT_SYSFS = 256, OPT_JSON, OPT_FD, OPT_CREATE, OPT_SOURCE,
		OPT_PATH, OPT_OFFSET, OPT_LENGTH, OPT_IOVA,
		OPT_ACCESS, OPT_NODE_HINT, OPT_LOCAL_VIEW,
	};
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "sysfs-root", required_argument, NULL, OPT_SYSFS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "fd", required_argument, NULL, OPT_FD },
		{ "create", required_argument, NULL, OPT_CREATE },
		{ "source", required_argument, NULL, OPT_SOURCE },
		TOOL_LONGOPTS_IB_DEV,
		TOOL_LONGOPT_VERSION,
		{ "path", required_argument, NULL, OPT_PATH },
		{ "offset", required_argument, NULL, OPT_OFFSET },
		{ "length", required_argument, NULL, OPT_LENGTH },
		{ "iova", required_argument, NULL, OPT_IOVA },
		{ "access", required_argument, NULL, OPT_ACCESS },
		{ "node-hint", required_argument, NULL, OPT_NODE_HINT },
		{ "local-view", no_argument, NULL, OPT_LOCAL_VIEW },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .access = IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_REMOTE_WRITE |
				    IBV_ACCESS_REMOTE_READ,
			  .node_hint = -1, .vfio_fd = -1 };
	const char *cmd;
	long v;
	int c;

	tool_set_prog(prog);
	while ((c = getopt_long(argc, argv, "hd:V", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			return tool_print_version();
		case OPT_SYSFS:
			if (access(optarg, R_OK | X_OK))
				return tool_usage_error("--sysfs-root %s: not a readable directory",
							optarg);
			setenv(IBV_EXT_SYSFS_ROOT_ENV, optarg, 1);
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_LOCAL_VIEW:
			setenv(IBV_EXT_LOCAL_VIEW_ENV, "1", 1);
			break;
		case OPT_FD:
			o.fd_arg = optarg;
			break;
		case OPT_CREATE:
			o.create = optarg;
			break;
		case OPT_SOURCE:
			o.source = optarg;
			break;
		case 'd':
			o.device = optarg;
			break;
		case OPT_PATH:
			o.path = optarg;
			break;
		case OPT_OFFSET:
			if (tool_parse_size(optarg, &o.offset))
				return tool_usage_error("bad --offset '%s'", optarg);
			break;
		case OPT_LENGTH:
			if (tool_parse_size(optarg, &o.length))
				return tool_usage_error("bad --length '%s'", optarg);
			o.have_length = true;
			break;
		case OPT_IOVA:
			if (tool_parse_size(optarg, &o.iova))
				return tool_usage_error("bad --iova '%s'", optarg);
			o.have_iova = true;
			break;
		case OPT_NODE_HINT:
			if (tool_parse_long(optarg, 0, 1023, &v))
				return tool_usage_error("bad --node-hint '%s'", optarg);
			o.node_hint = (int)v;
			break;
		case OPT_ACCESS:
			if (parse_access(optarg, &o.access))
				return tool_usage_error("bad --access '%s'", optarg);
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	json_init(&js, stdout);
	cmd = argv[optind++];
	if (strcmp(cmd, "endpoints") && tool_no_more_args(argc, argv))
		return EXIT_USAGE;
	if (!strcmp(cmd, "info"))
		return cmd_info(&o);
	if (!strcmp(cmd, "endpoints"))
		return cmd_endpoints(&o, argc - optind, argv + optind);
	if (!strcmp(cmd, "select"))
		return cmd_select(&o, false);
	if (!strcmp(cmd, "explain"))
		return cmd_select(&o, true);
	if (!strcmp(cmd, "topology"))
		return cmd_topology(&o);
	if (!strcmp(cmd, "reg"))
		return cmd_reg(&o);
	return tool_usage_error("unknown command '%s'", cmd);
}
