/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * Internal interfaces of libibverbs-ext shared by the library, its provider
 * backends (providers/) and the unit tests. Not installed.
 */
#ifndef VEXT_INTERNAL_H
#define VEXT_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <infiniband/verbs_ext.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/rdma_user_ioctl_cmds.h>

#define VEXT_MAX_NODES 64
#define VEXT_MAX_EPS 16
#define VEXT_MAX_NOTES 64
#define VEXT_NOTE_LEN 256
#define VEXT_PCI_ADDR_CHARS 12 /* "dddd:bb:dd.f" */
/* A change of the machine's devices is seen by calls this much later. */
#define VEXT_LISTING_NS (10 * 1000 * 1000ULL)

#define VEXT_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define VEXT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VEXT_PRINTF(a, b)
#endif

/* error.c: record the reason for a failure; returns err for chaining. */
int vext_err(int err, const char *fmt, ...) VEXT_PRINTF(2, 3);
void vext_clear_err(void);

/* One PCI function as seen in sysfs. Immutable once published. */
struct vext_pci {
	struct vext_pci *next;
	char addr[IBV_EXT_PCI_ADDR_LEN];
	char *path;		/* root-relative, "devices/pci0000:40/.../0000:41:00.0" */
	int numa_node;
	uint32_t link_speed;	/* MT/s per lane */
	uint32_t link_width;
	uint32_t class_code;
	uint16_t vendor;
	uint16_t device;
	char driver[32];
	char serial[48];	/* VPD "SN", board serial; "" if unknown */
	int vpd_err;		/* errno opening vpd (EACCES: root only), 0 */
};

struct vext_ep {
	struct ibv_dma_endpoint pub;
	const struct vext_pci *pci;	/* NULL for IBV_DMA_EP_VIRTUAL */
	bool kernel_unmappable;		/* dma_endpoints/N/mappable is 0 */
	const char *here;		/* ASSUMED: what this host has */
};

struct vext_ibdev {
	char name[IBV_EXT_NAME_LEN];
	int uverbs;			/* uverbsN of the device, -1 none */
	/*
	 * Its uverbs device node when the topology was read (live tree,
	 * /dev/infiniband on devtmpfs): inode and device number, 0 unknown.
	 */
	uint64_t node_ino, node_rdev;
	const struct vext_provider *prov; /* the backend that drives it */
	uint32_t driver_id;		/* RDMA_DRIVER_* where a backend needs it */
	const struct vext_pci *pci;	/* own function, or netdev's parent */
	char netdev[IBV_EXT_NAME_LEN];
	uint64_t sys_image_guid;
	bool kernel_eps;		/* endpoints came from dma_endpoints/ */
	size_t nr_eps;
	struct vext_ep eps[VEXT_MAX_EPS];
};

struct vext_topo {
	atomic_int refs;	/* the cache's and each call's */
	uint64_t listing;	/* class/infiniband when it was read */
	uint64_t checked_ns;	/* when listed last (cache lock) */
	char *root;		/* as given, e.g. "/sys" */
	char *root_real;	/* realpath of root */
	bool live;		/* root is this machine's /sys */
	int nr_nodes;		/* online nodes */
	int max_node;		/* highest node id + 1 */
	int node_online[VEXT_MAX_NODES];
	int distance[VEXT_MAX_NODES][VEXT_MAX_NODES];
	size_t nr_ibdevs;
	struct vext_ibdev *ibdevs;
	/* Data-direct functions found under drivers/mlx5_data_direct. */
	size_t nr_dd;
	const struct vext_pci *dd[VEXT_MAX_EPS];
	/* PCI functions parsed so far; grows lazily under lock. */
	pthread_mutex_t lock;
	struct vext_pci *pcis;
	size_t nr_notes;		/* grows under lock after load */
	char *notes[VEXT_MAX_NOTES];	/* what was skipped and why */
};

/* strings.c: the kind named in dma_endpoints/<i>/kind, 0 if none. */
enum ibv_dma_endpoint_kind vext_kind_of_str(const char *s);
/* strings.c: what an exporter's memory is, by its name; UNKNOWN if unsure. */
int vext_exporter_source(const char *exp_name);

/* sysfs.c: copy a string, truncating; returns the length copied. */
size_t vext_strscpy(char *dst, const char *src, size_t size);

/*
 * sysfs.c: small readers of root/<printf-formatted relative path>. 0 or the
 * length read, or a negative errno.
 */
int vext_read_str(const char *root, char *buf, size_t len, const char *fmt,
		  ...) VEXT_PRINTF(4, 5);
int vext_read_int(const char *root, long *val, const char *fmt, ...)
	VEXT_PRINTF(3, 4);
int vext_read_hex(const char *root, unsigned long *val, const char *fmt, ...)
	VEXT_PRINTF(3, 4);
/* "root/<rel>" on the heap; NULL when out of memory. */
char *vext_path(const char *root, const char *fmt, ...) VEXT_PRINTF(2, 3);
/*
 * Resolve root/<rel> to a root-relative path on the heap (free() it); NULL
 * with *err -ENOENT, -EXDEV (it leaves the tree), -ENOMEM.
 */
char *vext_resolve(const struct vext_topo *t, int *err, const char *fmt, ...)
	VEXT_PRINTF(3, 4);
bool vext_is_pci_addr(const char *s);
uint32_t vext_parse_link_speed(const char *s);
int vext_parse_cpulist(const char *s, int *mask, int max);

/*
 * topology.c: the topology of the configured root (IBV_EXT_SYSFS_ROOT,
 * else /sys), cached per root and read again when the machine's RDMA
 * devices changed. get returns a reference (NULL + errno): put it.
 */
struct vext_topo *vext_topo_get(void);
/* The configured root: $IBV_EXT_SYSFS_ROOT (not for AT_SECURE), else /sys. */
const char *vext_sysfs_root(void);
struct vext_topo *vext_topo_get_root(const char *root);
/*
 * Does t describe another machine for this call? Not when it is this
 * machine's /sys, nor given a context (a device of this machine), nor with
 * IBV_EXT_LOCAL_VIEW set.
 */
bool vext_topo_remote(const struct vext_topo *t, const struct ibv_context *ctx);
/* Put stale and get a topology read now. */
struct vext_topo *vext_topo_reload(struct vext_topo *stale);
void vext_topo_put(struct vext_topo *t);
struct vext_topo *vext_topo_load(const char *root);	/* uncached */
/* The parts of a load: topo_numa.c, topo_ibdev.c. */
void vext_parse_nodes(struct vext_topo *t);
void vext_parse_ibdev(struct vext_topo *t, const char *name);
int vext_cmp_ibdev(const void *a, const void *b);
void vext_parse_uverbs(struct vext_topo *t);
void vext_parse_data_direct(struct vext_topo *t);
void vext_topo_free(struct vext_topo *t);

/* A device named by the caller: by name, or by its ibv_device. */
struct vext_dev_key {
	const char *name;
	const struct ibv_device *device;
};

/*
 * The topology (a reference: put it) and the device of key, read again
 * once if the cached topology does not have it. ENODEV with the reason.
 */
int vext_dev_get(const struct vext_dev_key *key, struct vext_topo **tp,
		 const struct vext_ibdev **dp);
/*
 * vext_dev_get() for the device of an open context: the cached topology,
 * unlisted, when the context's command fd is the device node the topology
 * recorded for that device (vext_same_node()) and the device still has the
 * name read then (vext_same_name()); else vext_dev_get(), after listing the
 * tree again for a renamed device.
 */
int vext_dev_get_ctx(struct ibv_context *ctx, struct vext_topo **tp,
		     const struct vext_ibdev **dp);
/* Is the open @fd the node of @dev recorded when its topology was read? */
bool vext_same_node(const struct vext_ibdev *dev, int fd);
/* Does @dev's uverbs device still carry the name @t read? */
bool vext_same_name(const struct vext_topo *t, const struct vext_ibdev *dev);
/* Record the node at @path (on devtmpfs) as @dev's; 0 when unknown. */
void vext_record_node(struct vext_ibdev *dev, const char *path);

/* The device of key in t, NULL if it has none; the name key stands for. */
const struct vext_ibdev *vext_topo_find(const struct vext_topo *t,
					const struct vext_dev_key *key);
const char *vext_key_name(const struct vext_dev_key *key);

/* The smallest versions: the endpoint of 0.1, the choice of 1.1. */
#define VEXT_EP_SIZE_MIN offsetof(struct ibv_dma_endpoint, assumed)
#define VEXT_CHOICE_SIZE_MIN sizeof(struct ibv_dma_choice)
#define VEXT_INFO_SIZE_MIN sizeof(struct ibv_dmabuf_info)
/*
 * endpoints.c: element i of an array of the caller's element size: min(size,
 * ours) bytes of ours, zeros after.
 */
void vext_put_elem(void *arr, size_t i, size_t size, const void *ours,
		   size_t our_size);
void vext_topo_note(struct vext_topo *t, const char *fmt, ...)
	VEXT_PRINTF(2, 3);
const struct vext_ibdev *vext_topo_ibdev(const struct vext_topo *t,
					 const char *name);
/* PCI function by address, parsed on first use; NULL if absent. */
const struct vext_pci *vext_topo_pci(struct vext_topo *t, const char *addr);
/* The PCI function a netdev sits on; NULL (noted if missing) if none. */
const struct vext_pci *vext_topo_pci_of_netdev(struct vext_topo *t,
					       const char *netdev);
/* PCI function owning a root-relative sysfs path (nearest ancestor). */
const struct vext_pci *vext_topo_pci_of_path(struct vext_topo *t,
					     const char *path);
int vext_topo_distance(const struct vext_topo *t, int a, int b);

/* Path class between two PCI functions (policy.c). */
enum ibv_dma_path_class vext_pci_path_class(const struct vext_topo *t,
					    const struct vext_pci *a,
					    const struct vext_pci *b);

/*
 * How the policy sees the memory (policy.c decides, reason.c words it):
 * its kind for the ranking, and the story its words tell.
 */
enum vext_src_kind { VEXT_SRC_NONE, VEXT_SRC_CPU, VEXT_SRC_P2P, VEXT_SRC_PRIVATE };

enum vext_src_story {
	VEXT_STORY_UNKNOWN,		/* no source information */
	VEXT_STORY_UNKNOWN_HINT,	/* none, a NUMA hint stands in */
	VEXT_STORY_STEERED,		/* NUMA policy: the hint's node */
	VEXT_STORY_PRIVATE,
	VEXT_STORY_P2P,
	VEXT_STORY_MIXED_P2P,		/* CPU and P2P memory */
	VEXT_STORY_SYSTEM,		/* CPU memory, node known */
	VEXT_STORY_SYSTEM_HINT,		/* CPU memory, node from the hint */
	VEXT_STORY_SYSTEM_NODE_UNKNOWN,
};

struct vext_src_view {
	enum vext_src_kind kind;
	enum vext_src_story story;
	int node;			/* VEXT_SRC_CPU: -1 if unknown */
	const struct vext_pci *prov;	/* VEXT_SRC_P2P */
	const struct ibv_dmabuf_info *src;
	char words[160];		/* "system memory on node 1 (kernel)" */
};

/* An endpoint's rank keys, best first in this order. */
struct vext_score {
	int usable;		/* 1 good */
	int reach;		/* 2 yes, 1 kernel decides, 0 no */
	int cls;
	int dist;
	uint64_t bw;
	int is_default;
	uint32_t index;
	const char *assumed;	/* usable if that machine has this */
	const char *here;	/* ... which this host has or not */
};

/* policy.c: the pure choice function. */
int vext_policy_rank(const struct vext_topo *t,
		     const struct ibv_dmabuf_info *src,
		     const struct ibv_dma_path_hints *hints,
		     const struct vext_ep *eps, size_t nr_eps,
		     struct ibv_dma_choice *out, size_t *nr_out);
/* The same choice with no reason written (a caller that writes its own). */
int vext_policy_rank_unexplained(const struct vext_topo *t,
				 const struct ibv_dmabuf_info *src,
				 const struct ibv_dma_path_hints *hints,
				 const struct vext_ep *eps, size_t nr_eps,
				 struct ibv_dma_choice *out, size_t *nr_out);
/* 0, or EXDEV/EOPNOTSUPP with the reason if a head choice can't be used. */
int vext_choice_check(const struct ibv_dma_choice *c);
/* Sort devices' best choices, spread ties by key. */
void vext_policy_rank_devices(struct ibv_dma_choice *best, size_t n,
			      uint64_t key);

/* reg.c: EINVAL unless offset and length fit the given limits. */
int vext_check_reg_fits(uint64_t offset, uint64_t length, uint64_t size_max,
			uint64_t ptr_max);

/* query.c */
int vext_validate_hints(const struct ibv_dma_path_hints *hints);
int vext_dmabuf_size(int fd, uint64_t *size);
int vext_parse_fdinfo(const char *text, struct ibv_dmabuf_info *info);

/*
 * kernel_describe.c: the kernel's describe ioctl, over what fdinfo said.
 * 0 (info filled), ENOTTY when the kernel has none, another errno with the
 * reason.
 */
struct dma_buf_describe;
struct dma_buf_range;
int vext_kernel_describe(int fd, struct ibv_dmabuf_info *info);
/* The description a choice needs (no exporter name where the kernel describes). */
int vext_describe_for_choice(int fd, struct ibv_dmabuf_info *info);
void vext_describe_to_info(const struct dma_buf_describe *d,
			   const struct dma_buf_range *r, size_t n,
			   struct ibv_dmabuf_info *info);

/* providers/: endpoint discovery and registration backends. */
struct vext_reg_req;

/* reason.c: the words of choices and of refused registrations. */
void vext_reason_source(struct vext_src_view *v);
void vext_reason_explain(const struct vext_src_view *v,
			 struct ibv_dma_choice *c, const struct vext_score *s,
			 const char *lead, const struct ibv_dma_choice *runner,
			 const struct vext_score *rs);
void vext_reason_only_endpoint(struct ibv_dma_choice *c, const char *devname);
void vext_reason_kernel_ep(struct ibv_dma_choice *c, uint32_t kernel_ep,
			   bool kernel_chose);
/* The reason of a refused ibv_reg_dmabuf_mr(); returns err. */
int vext_reason_plain_failure(const struct vext_reg_req *req, int err);
/* The reason of a registration the kernel refused with err; returns err. */
int vext_reason_reg_failure(const struct vext_reg_req *req, int err,
			    bool sent_endpoint);

struct vext_reg_req {
	struct ibv_pd *pd;
	const struct ibv_reg_dmabuf_mr_ex_attr *attr;
	const struct vext_ibdev *dev;
	const struct vext_ep *ep;
	const struct ibv_dmabuf_info *src;	/* what backs the buffer */
	uint32_t access;	/* validated access flags */
	/*
	 * The caller named the endpoint (policy other than AUTO): the kernel
	 * must use exactly it, so backends send it even when it is the default.
	 */
	bool named;
	uint32_t kernel_ep;	/* out: endpoint the kernel reports */
	bool kernel_reported;
};

struct vext_provider {
	const char *name;
	/*
	 * Does this backend drive the device at devpath (root-relative;
	 * has_device: it has a device link, dev->pci is its function if PCI)?
	 * It may fill dev->pci, netdev and driver_id from sysfs.
	 */
	bool (*match)(struct vext_topo *t, struct vext_ibdev *dev,
		      const char *devpath, bool has_device);
	/* Fill dev->eps from sysfs (no kernel list). */
	void (*endpoints)(struct vext_topo *t, struct vext_ibdev *dev);
	/*
	 * Optional: endpoints only the provider library can tell, given a
	 * context of the device; appended to eps[*nr] (room VEXT_MAX_EPS).
	 */
	void (*ctx_endpoints)(struct vext_topo *t, const struct vext_ibdev *dev,
			      struct ibv_context *ctx, struct vext_ep *eps,
			      size_t *nr);
	/* Can this host register through ep now? 0 or errno + reason. */
	/*
	 * Can this host register through ep now? 0 or errno + reason. For a
	 * tree describing another machine (remote), what depends on this
	 * host's libraries is not checked: 0 with *assumed saying what that
	 * machine is assumed to have, *here whether this host has it.
	 */
	int (*available)(const struct vext_ibdev *dev, const struct vext_ep *ep,
			 bool remote, const char **assumed,
			 const char **here);
	/* Register through req->ep. NULL + errno (reason set) on failure. */
	struct ibv_mr *(*reg)(struct vext_reg_req *req);
};

extern const struct vext_provider vext_provider_generic;
extern const struct vext_provider vext_provider_mlx5;
extern const struct vext_provider vext_provider_soft;	/* rxe, siw */
/* providers.c: the backend of a device, the first of the table to match. */
const struct vext_provider *vext_provider_match(struct vext_topo *t,
						struct vext_ibdev *dev,
						const char *devpath,
						bool has_device);

/* Helpers shared by providers. */
void vext_ep_init(struct vext_ep *ep, const struct vext_ibdev *dev,
		  size_t index, enum ibv_dma_endpoint_kind kind,
		  const struct vext_pci *pci, uint32_t flags, const char *via);
void vext_ep_add(struct vext_ibdev *dev, enum ibv_dma_endpoint_kind kind,
		 const struct vext_pci *pci, uint32_t flags, const char *via);
/*
 * The device's endpoints on the heap (free() it; room for VEXT_MAX_EPS),
 * *nr of them: those of the topology, plus what the provider library
 * tells given a context of the device; UNAVAILABLE set as this host
 * stands, *usable (if given) how many are not. NULL + errno.
 */
struct vext_ep *vext_current_eps(struct vext_topo *t,
				 const struct vext_ibdev *dev,
				 struct ibv_context *ctx, size_t *nr,
				 size_t *usable);
/*
 * Mirrors rdma-core's private enum ibv_mr_type and struct verbs_mr
 * (libibverbs/driver.h, unchanged v44..v65): what ibv_dereg_mr() expects
 * behind a struct ibv_mr. tests/unit/test_mr_layout.c pins it against the
 * installed provider.
 */
enum vext_mr_type {
	VEXT_MR_TYPE_MR,
	VEXT_MR_TYPE_NULL_MR,
	VEXT_MR_TYPE_IMPORTED_MR,
	VEXT_MR_TYPE_DMABUF_MR,
};

struct vext_verbs_mr {
	struct ibv_mr ibv_mr;
	enum vext_mr_type mr_type;
	int access;
};

/* Covers the providers' own MR structs (mlx5: verbs_mr + u32). */
#define VEXT_MR_ALLOC_SIZE 128
_Static_assert(sizeof(struct vext_verbs_mr) + sizeof(uint32_t) <=
		       VEXT_MR_ALLOC_SIZE,
	       "MR allocation must cover the providers' MR structs");

/*
 * uverbs.c: an ioctl command of the uverbs ioctl interface, built in place
 * with room for VEXT_UCMD_MAX_ATTRS attributes. Adding past it marks the
 * command, which exec then refuses (E2BIG) without entering the kernel.
 */
#define VEXT_UCMD_MAX_ATTRS 12
struct vext_ucmd {
	union {	/* the header and room for its flexible array */
		struct ib_uverbs_ioctl_hdr hdr;
		uint64_t buf[(sizeof(struct ib_uverbs_ioctl_hdr) +
			      VEXT_UCMD_MAX_ATTRS *
				      sizeof(struct ib_uverbs_attr)) /
			     sizeof(uint64_t)];
	};
	bool overflow;
};

void vext_ucmd_init(struct vext_ucmd *cmd, uint16_t object, uint16_t method,
		    uint32_t driver_id);
/* The attribute added, NULL when the command is full. */
struct ib_uverbs_attr *vext_ucmd_in(struct vext_ucmd *cmd, uint16_t id,
				    uint64_t val, uint16_t len, uint16_t flags);
struct ib_uverbs_attr *vext_ucmd_out(struct vext_ucmd *cmd, uint16_t id,
				     void *ptr, uint16_t len);
/* 0, or the errno of the ioctl (E2BIG with the reason when overfull). */
int vext_ucmd_exec(struct vext_ucmd *cmd, int cmd_fd);

/* uverbs.c: REG_DMABUF_MR through the library's own ioctl. */
struct ibv_mr *vext_reg_uverbs(struct vext_reg_req *req, uint32_t driver_id,
			       bool send_endpoint);

/*
 * rdma-core's struct ibv_mr_init_attr as rdma-core-patches/ extends it
 * (v65 fields, then dma_ep and dma_ep_used), for ibv_reg_mr_ex() of a
 * libibverbs bound at run time; this build's verbs.h may not have it.
 */
struct vext_mr_init_attr {
	size_t length;
	int access;
	uint64_t comp_mask;
	uint64_t iova;
	void *addr;
	int fd;
	uint64_t fd_offset;
	void *dmah;
	void *buf;
	uint32_t dma_ep;
	uint32_t *dma_ep_used;
};

enum {
	VEXT_REG_MR_MASK_IOVA = 1 << 0,
	VEXT_REG_MR_MASK_FD = 1 << 2,
	VEXT_REG_MR_MASK_FD_OFFSET = 1 << 3,
	VEXT_REG_MR_MASK_DMA_EP = 1 << 6,
};

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(offsetof(struct vext_mr_init_attr, dma_ep) == 72 &&
		       offsetof(struct vext_mr_init_attr, dma_ep_used) == 80 &&
		       sizeof(struct vext_mr_init_attr) == 88,
	       "struct ibv_mr_init_attr of rdma-core-patches (LP64)");
#endif

typedef struct ibv_mr *(*vext_reg_mr_ex_fn)(struct ibv_pd *pd,
					    struct vext_mr_init_attr *attr);

/*
 * The rdma-core versions whose private struct verbs_mr the lab tests run
 * against (Debian 12's 44, the built 65; struct verbs_mr and enum
 * ibv_mr_type read the same in libibverbs/driver.h of every release tag
 * v44.0..v65.0, and rxe and siw free a bare verbs_mr in all of them): the
 * hand-built MR of uverbs.c is made for them only.
 */
#define VEXT_VERBS_MR_FIRST 44
#define VEXT_VERBS_MR_LAST 65

/* ibverbs_rt.c: the libibverbs this process runs with. */
struct vext_ibverbs {
	char path[PATH_MAX];		/* resolved; "" when unknown */
	unsigned int major, minor;	/* rdma-core version; 0 when unknown */
	/* ibv_reg_mr_ex of a libibverbs that carries the DMA endpoint */
	vext_reg_mr_ex_fn reg_mr_ex;
};

const struct vext_ibverbs *vext_ibverbs(void);
/* rdma-core's version from libibverbs' file name: 0 or EINVAL. */
int vext_ibverbs_version(const char *path, unsigned int *major,
			 unsigned int *minor);
/* 0, or EOPNOTSUPP with the reason: no hand-built MR for this libibverbs. */
int vext_verbs_mr_allowed(const struct vext_ibverbs *v, const char *devname);

/*
 * providers/common.c: register through the request's endpoint, the one way
 * for every backend. hand_built_driver: the uverbs driver id for the
 * library's own ioctl where the provider's MR is a bare struct verbs_mr
 * (rxe, siw); 0 where it is not (the MR must then be the provider's).
 */
struct ibv_mr *vext_reg_endpoint(struct vext_reg_req *req, bool send_endpoint,
				 uint32_t hand_built_driver);
/*
 * For backends whose MR is the provider's own: 0 when ep is the default or
 * this libibverbs can name an endpoint, else EOPNOTSUPP with the reason.
 */
int vext_ep_needs_verbs_ep(const struct vext_ibdev *dev,
			   const struct vext_ep *ep);

#endif /* VEXT_INTERNAL_H */
