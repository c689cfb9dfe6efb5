/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * libibverbs-ext: dma-buf source description, DMA endpoint discovery and
 * endpoint-aware dma-buf memory registration on top of libibverbs.
 *
 * Conventions follow rdma-core: extensible structures carry a comp_mask,
 * constructors return NULL and set errno, other calls return 0 or an errno
 * value. Every failure also leaves a one-line reason that
 * ibv_ext_last_error() returns (per thread).
 *
 * Structures the library fills in arrays or through pointers can grow: the
 * calls that write them are inline wrappers passing the sizeof() this
 * header gives (as rdma-core's ibv_query_device_ex()), and new fields are
 * only ever added at the end. Devices are named by their ibv_device or an
 * ibv_context of them (_dev, _ctx), or by name (the CLI's way; a name can
 * be renamed away, an ibv_device keeps its uverbs index).
 */
#ifndef INFINIBAND_VERBS_EXT_H
#define INFINIBAND_VERBS_EXT_H

#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IBV_EXT_PCI_ADDR_LEN 16 /* "dddd:bb:dd.f" and NUL */
#define IBV_EXT_NAME_LEN 64
#define IBV_EXT_REASON_LEN 512
#define IBV_EXT_ASSUMED_LEN 128

/*
 * The sysfs tree the library reads. Defaults to /sys; the environment
 * variable IBV_EXT_SYSFS_ROOT redirects it (tests use fixture trees,
 * ibv_dmabuf --sysfs-root another machine's tree). Such a tree is taken to
 * describe another machine: what depends on this host's libraries is
 * assumed there (IBV_DMA_EP_FLAG_ASSUMED), unless IBV_EXT_LOCAL_VIEW is
 * set (to 1): then this host's libraries decide, as for /sys.
 */
#define IBV_EXT_SYSFS_ROOT_ENV "IBV_EXT_SYSFS_ROOT"
#define IBV_EXT_LOCAL_VIEW_ENV "IBV_EXT_LOCAL_VIEW"

/* Reason for the last failure of a call of this library in this thread. */
const char *ibv_ext_last_error(void);

/*
 * What the sysfs parser skipped (missing or malformed files), one line per
 * note, i from 0 until NULL; the string is the calling thread's until its
 * next call. The topology is parsed on first use and again when the RDMA
 * devices of the machine change.
 */
const char *ibv_ext_sysfs_note(size_t i);

/*
 * Forget the topology read so far; the next call reads sysfs again. Calls
 * in flight in other threads keep what they started with.
 */
void ibv_ext_drop_topology_cache(void);

/* ---------------------------------------------------------------------- */
/* What backs a dma-buf                                                     */
/* ---------------------------------------------------------------------- */

enum ibv_dmabuf_source {
	IBV_DMABUF_SOURCE_UNKNOWN = 0,	/* the library cannot tell */
	IBV_DMABUF_SOURCE_SYSTEM = 1,	/* CPU memory (struct pages) */
	IBV_DMABUF_SOURCE_P2P = 2,	/* PCI BAR memory of another device */
	IBV_DMABUF_SOURCE_PRIVATE = 3,	/* device memory no peer can reach */
	IBV_DMABUF_SOURCE_MIXED = 4,	/* several of the above */
};

enum ibv_dmabuf_origin {
	IBV_DMABUF_ORIGIN_KERNEL = 1,	/* the dma-buf describe ioctl answered */
	IBV_DMABUF_ORIGIN_INFERRED = 2,	/* fdinfo exporter name + exporter table */
	IBV_DMABUF_ORIGIN_DESCRIBED = 3, /* ibv_describe_dmabuf_source() */
};

enum ibv_dmabuf_info_flags {
	/* System pages span several nodes; numa_node is the majority node. */
	IBV_DMABUF_INFO_NUMA_MIXED = 1 << 0,
	/* P2P memory is mapped write-combined / uncached by the exporter. */
	IBV_DMABUF_INFO_MMIO_WC = 1 << 1,
	IBV_DMABUF_INFO_MMIO_UC = 1 << 2,
	/*
	 * The kernel can describe dma-bufs but this exporter does not
	 * describe its memory: origin is INFERRED from the exporter name.
	 */
	IBV_DMABUF_INFO_EXPORTER_UNDESCRIBED = 1 << 3,
};

struct ibv_dmabuf_info {
	uint32_t comp_mask;	/* in: must be 0 */
	uint32_t source;	/* enum ibv_dmabuf_source */
	uint32_t origin;	/* enum ibv_dmabuf_origin */
	uint32_t flags;		/* enum ibv_dmabuf_info_flags */
	uint32_t types;		/* 1 << enum ibv_dmabuf_source, each type present */
	int32_t numa_node;	/* -1: unknown or not applicable */
	uint64_t size;		/* bytes; 0 when described, not queried */
	uint64_t inode;		/* dma-buf inode number; 0 when described */
	char provider[IBV_EXT_PCI_ADDR_LEN]; /* P2P provider PCI function */
	char exporter[IBV_EXT_NAME_LEN];     /* exporter name, e.g. "udmabuf" */
};

int ibv_query_dmabuf(int fd, struct ibv_dmabuf_info *info);

/*
 * Describe a source without a buffer: "system", "system:node=N",
 * "p2p:DDDD:BB:DD.F" (or "p2p:BB:DD.F"), "private", "unknown".
 */
int ibv_describe_dmabuf_source(const char *spec, struct ibv_dmabuf_info *info);

const char *ibv_dmabuf_source_str(enum ibv_dmabuf_source source);
const char *ibv_dmabuf_origin_str(enum ibv_dmabuf_origin origin);

/* ---------------------------------------------------------------------- */
/* DMA endpoints of an RDMA device                                          */
/* ---------------------------------------------------------------------- */

enum ibv_dma_endpoint_kind {
	IBV_DMA_EP_PF = 1,		/* the device's own PCI function */
	IBV_DMA_EP_DATA_DIRECT = 2,	/* mlx5 data-direct function */
	IBV_DMA_EP_PEER_PF = 3,		/* another PF of a multi-PF card */
	IBV_DMA_EP_NETDEV = 4,		/* software device: netdev's PCI parent */
	IBV_DMA_EP_VIRTUAL = 5,		/* no PCI function behind the device */
};

enum ibv_dma_endpoint_flags {
	/* Used by plain ibv_reg_dmabuf_mr(). */
	IBV_DMA_EP_FLAG_DEFAULT = 1 << 0,
	/* Listed by the kernel (sysfs dma_endpoints/), not derived. */
	IBV_DMA_EP_FLAG_KERNEL_LISTED = 1 << 1,
	/* Registration through it needs the kernel's endpoint attribute. */
	IBV_DMA_EP_FLAG_NEEDS_KERNEL_ATTR = 1 << 2,
	/*
	 * This host cannot register through it now (kernel or installed
	 * provider library lacks the entry point). AUTO skips it; an
	 * explicit request for it fails.
	 */
	IBV_DMA_EP_FLAG_UNAVAILABLE = 1 << 3,
	/*
	 * The sysfs tree describes another machine, and whether it can
	 * register through this endpoint depends on a library of that
	 * machine (mlx5 data direct: rdma-core 54 or later): assumed, not
	 * checked; the choice's reason says what. Not with a context.
	 */
	IBV_DMA_EP_FLAG_ASSUMED = 1 << 4,
};

struct ibv_dma_endpoint {
	uint32_t comp_mask;
	uint32_t index;		/* stable per device; 0 is the default */
	uint32_t kind;		/* enum ibv_dma_endpoint_kind */
	uint32_t flags;		/* enum ibv_dma_endpoint_flags */
	int32_t numa_node;	/* -1: unknown */
	uint32_t link_speed;	/* PCIe link rate, MT/s per lane; 0 unknown */
	uint32_t link_width;	/* PCIe lanes; 0 unknown */
	uint32_t reserved;
	char ibdev[IBV_EXT_NAME_LEN];	/* owning RDMA device */
	char pci_addr[IBV_EXT_PCI_ADDR_LEN]; /* empty for IBV_DMA_EP_VIRTUAL */
	char via[IBV_EXT_NAME_LEN];	/* netdev or peer RDMA device, if any */
	/* IBV_DMA_EP_FLAG_ASSUMED: what that machine is assumed to have. */
	char assumed[IBV_EXT_ASSUMED_LEN];	/* since IBVERBS_EXT_1.1 */
};

/*
 * In: *num_eps is the capacity of eps. Out: the number of endpoints the
 * device has. Returns ENOSPC (with *num_eps set) if eps was too small.
 * The device: by name, by ibv_device, or by an ibv_context of it (with a
 * context the provider library can add what sysfs cannot tell, e.g. an
 * mlx5 data-direct function for a user who may not read its VPD).
 */
int _ibv_query_dma_endpoints(const char *ibdev_name,
			     struct ibv_dma_endpoint *eps, size_t *num_eps,
			     size_t ep_size);
int _ibv_query_dma_endpoints_dev(struct ibv_device *device,
				 struct ibv_dma_endpoint *eps, size_t *num_eps,
				 size_t ep_size);
int _ibv_query_dma_endpoints_ctx(struct ibv_context *context,
				 struct ibv_dma_endpoint *eps, size_t *num_eps,
				 size_t ep_size);

static inline int ___ibv_query_dma_endpoints(const char *ibdev_name,
					     struct ibv_dma_endpoint *eps,
					     size_t *num_eps)
{
	return _ibv_query_dma_endpoints(ibdev_name, eps, num_eps,
					sizeof(*eps));
}
#define ibv_query_dma_endpoints(ibdev_name, eps, num_eps) \
	___ibv_query_dma_endpoints(ibdev_name, eps, num_eps)

static inline int ibv_query_dma_endpoints_dev(struct ibv_device *device,
					      struct ibv_dma_endpoint *eps,
					      size_t *num_eps)
{
	return _ibv_query_dma_endpoints_dev(device, eps, num_eps,
					    sizeof(*eps));
}

static inline int ibv_query_dma_endpoints_ctx(struct ibv_context *context,
					      struct ibv_dma_endpoint *eps,
					      size_t *num_eps)
{
	return _ibv_query_dma_endpoints_ctx(context, eps, num_eps,
					    sizeof(*eps));
}

const char *ibv_dma_endpoint_kind_str(enum ibv_dma_endpoint_kind kind);

/* ---------------------------------------------------------------------- */
/* Choosing the endpoint                                                    */
/* ---------------------------------------------------------------------- */

enum ibv_dma_path_policy {
	IBV_DMA_PATH_AUTO = 0,		/* choose from the source description */
	IBV_DMA_PATH_DEFAULT = 1,	/* the default endpoint, nothing else */
	IBV_DMA_PATH_NUMA = 2,		/* nearest to hints.numa_node */
	IBV_DMA_PATH_ENDPOINT = 3,	/* exactly hints.endpoint, or fail */
};

enum ibv_dma_path_hints_mask {
	/* AUTO: NUMA node of the buffer when the source cannot tell. */
	IBV_DMA_PATH_HINTS_NUMA_NODE = 1 << 0,
	IBV_DMA_PATH_HINTS_SPREAD_KEY = 1 << 1,
};

struct ibv_dma_path_hints {
	uint32_t comp_mask;	/* enum ibv_dma_path_hints_mask */
	uint32_t policy;	/* enum ibv_dma_path_policy */
	int32_t numa_node;	/* NUMA policy, or AUTO with NUMA_NODE bit */
	uint32_t endpoint;	/* ENDPOINT policy */
	uint64_t spread_key;	/* tie-break between equal endpoints */
};

/* Path classes between memory and an endpoint, best first (as NCCL). */
enum ibv_dma_path_class {
	IBV_DMA_PATH_CLASS_LOC = 0,	/* the endpoint is the provider itself */
	IBV_DMA_PATH_CLASS_PIX = 1,	/* through one PCIe switch */
	IBV_DMA_PATH_CLASS_PXB = 2,	/* through several PCIe switches */
	IBV_DMA_PATH_CLASS_PHB = 3,	/* through a host bridge; CPU memory local */
	IBV_DMA_PATH_CLASS_NODE = 4,	/* between host bridges of one node */
	IBV_DMA_PATH_CLASS_SYS = 5,	/* across the inter-socket link */
	IBV_DMA_PATH_CLASS_UNKNOWN = 6,	/* not enough topology to tell */
};

enum ibv_dma_choice_flags {
	IBV_DMA_CHOICE_TIED = 1 << 0,	   /* equal candidates; spread_key chose */
	IBV_DMA_CHOICE_FALLBACK = 1 << 1,  /* source unknown: default endpoint */
	IBV_DMA_CHOICE_UNREACHABLE = 1 << 2, /* P2P provider not reachable */
	IBV_DMA_CHOICE_P2P_HOST_BRIDGE = 1 << 3, /* P2P via host bridge: kernel decides */
	IBV_DMA_CHOICE_KERNEL_REPORTED = 1 << 4, /* kernel confirmed the endpoint */
	IBV_DMA_CHOICE_HINT_USED = 1 << 5, /* a NUMA hint stood in for the source */
};

struct ibv_dma_choice {
	uint32_t comp_mask;
	uint32_t path_class;	/* enum ibv_dma_path_class */
	uint32_t flags;		/* enum ibv_dma_choice_flags */
	int32_t numa_distance;	/* SLIT distance memory->endpoint; -1 n/a */
	char reason[IBV_EXT_REASON_LEN]; /* the decision in words */
	struct ibv_dma_endpoint ep;	/* last: it grows with this struct */
};

/* The best endpoint of one device for a source. */
int _ibv_select_dma_endpoint(const char *ibdev_name,
			     const struct ibv_dmabuf_info *source,
			     const struct ibv_dma_path_hints *hints,
			     struct ibv_dma_choice *choice, size_t choice_size);
int _ibv_select_dma_endpoint_dev(struct ibv_device *device,
				 const struct ibv_dmabuf_info *source,
				 const struct ibv_dma_path_hints *hints,
				 struct ibv_dma_choice *choice,
				 size_t choice_size);
int _ibv_select_dma_endpoint_ctx(struct ibv_context *context,
				 const struct ibv_dmabuf_info *source,
				 const struct ibv_dma_path_hints *hints,
				 struct ibv_dma_choice *choice,
				 size_t choice_size);

static inline int ___ibv_select_dma_endpoint(const char *ibdev_name,
					     const struct ibv_dmabuf_info *source,
					     const struct ibv_dma_path_hints *hints,
					     struct ibv_dma_choice *choice)
{
	return _ibv_select_dma_endpoint(ibdev_name, source, hints, choice,
					sizeof(*choice));
}
#define ibv_select_dma_endpoint(ibdev_name, source, hints, choice) \
	___ibv_select_dma_endpoint(ibdev_name, source, hints, choice)

static inline int ibv_select_dma_endpoint_dev(struct ibv_device *device,
					      const struct ibv_dmabuf_info *source,
					      const struct ibv_dma_path_hints *hints,
					      struct ibv_dma_choice *choice)
{
	return _ibv_select_dma_endpoint_dev(device, source, hints, choice,
					    sizeof(*choice));
}

static inline int ibv_select_dma_endpoint_ctx(struct ibv_context *context,
					      const struct ibv_dmabuf_info *source,
					      const struct ibv_dma_path_hints *hints,
					      struct ibv_dma_choice *choice)
{
	return _ibv_select_dma_endpoint_ctx(context, source, hints, choice,
					    sizeof(*choice));
}

/*
 * All endpoints of one device, best first, each with its own reason.
 * *num is capacity in, count out (ENOSPC as ibv_query_dma_endpoints).
 */
int _ibv_rank_dma_endpoints(const char *ibdev_name,
			    const struct ibv_dmabuf_info *source,
			    const struct ibv_dma_path_hints *hints,
			    struct ibv_dma_choice *ranked, size_t *num,
			    size_t choice_size);
int _ibv_rank_dma_endpoints_dev(struct ibv_device *device,
				const struct ibv_dmabuf_info *source,
				const struct ibv_dma_path_hints *hints,
				struct ibv_dma_choice *ranked, size_t *num,
				size_t choice_size);
int _ibv_rank_dma_endpoints_ctx(struct ibv_context *context,
				const struct ibv_dmabuf_info *source,
				const struct ibv_dma_path_hints *hints,
				struct ibv_dma_choice *ranked, size_t *num,
				size_t choice_size);

static inline int ___ibv_rank_dma_endpoints(const char *ibdev_name,
					    const struct ibv_dmabuf_info *source,
					    const struct ibv_dma_path_hints *hints,
					    struct ibv_dma_choice *ranked,
					    size_t *num)
{
	return _ibv_rank_dma_endpoints(ibdev_name, source, hints, ranked, num,
				       sizeof(*ranked));
}
#define ibv_rank_dma_endpoints(ibdev_name, source, hints, ranked, num) \
	___ibv_rank_dma_endpoints(ibdev_name, source, hints, ranked, num)

static inline int ibv_rank_dma_endpoints_dev(struct ibv_device *device,
					     const struct ibv_dmabuf_info *source,
					     const struct ibv_dma_path_hints *hints,
					     struct ibv_dma_choice *ranked,
					     size_t *num)
{
	return _ibv_rank_dma_endpoints_dev(device, source, hints, ranked, num,
					   sizeof(*ranked));
}

static inline int ibv_rank_dma_endpoints_ctx(struct ibv_context *context,
					     const struct ibv_dmabuf_info *source,
					     const struct ibv_dma_path_hints *hints,
					     struct ibv_dma_choice *ranked,
					     size_t *num)
{
	return _ibv_rank_dma_endpoints_ctx(context, source, hints, ranked, num,
					   sizeof(*ranked));
}

/*
 * Rank RDMA devices for a source before a PD exists: one entry per device
 * (its best endpoint), best device first. names (devices, contexts) NULL
 * ranks every RDMA device of the sysfs tree. *num is capacity in, count
 * out.
 */
int _ibv_rank_dmabuf_devices(const char *const *names, size_t num_names,
			     const struct ibv_dmabuf_info *source,
			     const struct ibv_dma_path_hints *hints,
			     struct ibv_dma_choice *ranked, size_t *num,
			     size_t choice_size);
int _ibv_rank_dmabuf_devices_dev(struct ibv_device *const *devices,
				 size_t num_devices,
				 const struct ibv_dmabuf_info *source,
				 const struct ibv_dma_path_hints *hints,
				 struct ibv_dma_choice *ranked, size_t *num,
				 size_t choice_size);
int _ibv_rank_dmabuf_devices_ctx(struct ibv_context *const *contexts,
				 size_t num_contexts,
				 const struct ibv_dmabuf_info *source,
				 const struct ibv_dma_path_hints *hints,
				 struct ibv_dma_choice *ranked, size_t *num,
				 size_t choice_size);

static inline int ___ibv_rank_dmabuf_devices(const char *const *names,
					     size_t num_names,
					     const struct ibv_dmabuf_info *source,
					     const struct ibv_dma_path_hints *hints,
					     struct ibv_dma_choice *ranked,
					     size_t *num)
{
	return _ibv_rank_dmabuf_devices(names, num_names, source, hints, ranked,
					num, sizeof(*ranked));
}
#define ibv_rank_dmabuf_devices(names, num_names, source, hints, ranked, num) \
	___ibv_rank_dmabuf_devices(names, num_names, source, hints, ranked, num)

static inline int ibv_rank_dmabuf_devices_dev(struct ibv_device *const *devices,
					      size_t num_devices,
					      const struct ibv_dmabuf_info *source,
					      const struct ibv_dma_path_hints *hints,
					      struct ibv_dma_choice *ranked,
					      size_t *num)
{
	return _ibv_rank_dmabuf_devices_dev(devices, num_devices, source, hints,
					    ranked, num, sizeof(*ranked));
}

static inline int ibv_rank_dmabuf_devices_ctx(struct ibv_context *const *contexts,
					      size_t num_contexts,
					      const struct ibv_dmabuf_info *source,
					      const struct ibv_dma_path_hints *hints,
					      struct ibv_dma_choice *ranked,
					      size_t *num)
{
	return _ibv_rank_dmabuf_devices_ctx(contexts, num_contexts, source,
					    hints, ranked, num, sizeof(*ranked));
}

const char *ibv_dma_path_class_str(enum ibv_dma_path_class cls);

/* ---------------------------------------------------------------------- */
/* Registration                                                             */
/* ---------------------------------------------------------------------- */

enum ibv_reg_dmabuf_mr_ex_mask {
	IBV_REG_DMABUF_MR_EX_HINTS = 1 << 0,	/* *attr.hints is valid */
	IBV_REG_DMABUF_MR_EX_CHOICE = 1 << 1,	/* fill *attr.choice */
	IBV_REG_DMABUF_MR_EX_SOURCE = 1 << 2,	/* fill *attr.source */
};

struct ibv_reg_dmabuf_mr_ex_attr {
	uint32_t comp_mask;	/* enum ibv_reg_dmabuf_mr_ex_mask */
	int fd;			/* the dma-buf */
	uint64_t offset;	/* into the dma-buf */
	uint64_t length;
	uint64_t iova;		/* same offset within a page as offset */
	uint32_t access;	/* enum ibv_access_flags */
	uint32_t reserved;
	/* The hints grow on their own, by their comp_mask. */
	const struct ibv_dma_path_hints *hints;
	struct ibv_dma_choice *choice;	   /* out: endpoint used and why */
	struct ibv_dmabuf_info *source;	   /* out: what backs the buffer */
};

/* Release the MR with ibv_dereg_mr(). */
struct ibv_mr *_ibv_reg_dmabuf_mr_ex(struct ibv_pd *pd,
				     struct ibv_reg_dmabuf_mr_ex_attr *attr,
				     size_t choice_size, size_t source_size);

static inline struct ibv_mr *
___ibv_reg_dmabuf_mr_ex(struct ibv_pd *pd,
			struct ibv_reg_dmabuf_mr_ex_attr *attr)
{
	return _ibv_reg_dmabuf_mr_ex(pd, attr, sizeof(*attr->choice),
				     sizeof(*attr->source));
}
#define ibv_reg_dmabuf_mr_ex(pd, attr) ___ibv_reg_dmabuf_mr_ex(pd, attr)

/* ---------------------------------------------------------------------- */
/* Test and benchmark buffers                                               */
/* ---------------------------------------------------------------------- */

enum ibv_dmabuf_alloc_type {
	IBV_DMABUF_ALLOC_UDMABUF = 1,	 /* memfd pages wrapped by /dev/udmabuf */
	IBV_DMABUF_ALLOC_HEAP_SYSTEM = 2, /* /dev/dma_heap/system */
};

enum ibv_dmabuf_alloc_flags {
	/* udmabuf: spread pages over all nodes (a "mixed" buffer). */
	IBV_DMABUF_ALLOC_INTERLEAVE = 1 << 0,
	/*
	 * udmabuf: a hugetlbfs memfd (MFD_HUGETLB) of the default huge page
	 * size, from the pool of vm.nr_hugepages; size a multiple of it.
	 */
	IBV_DMABUF_ALLOC_HUGETLB = 1 << 1,
};

struct ibv_dmabuf_alloc_attr {
	uint32_t comp_mask;	/* must be 0 */
	uint32_t type;		/* enum ibv_dmabuf_alloc_type */
	uint64_t size;		/* bytes, a (huge) page multiple */
	int32_t numa_node;	/* bind pages here; -1 anywhere */
	uint32_t flags;		/* enum ibv_dmabuf_alloc_flags */
};

/* Returns a dma-buf fd (close() it), or -1 with errno set. */
int ibv_alloc_dmabuf(const struct ibv_dmabuf_alloc_attr *attr);

/*
 * P2P memory of a real device: a dma-buf of a range of a PCI BAR, exported
 * by vfio-pci (VFIO_DEVICE_FEATURE_DMA_BUF, Linux 7.x). The function must
 * be bound to vfio-pci; its IOMMU group decides the container (type1v2, or
 * vfio's no-IOMMU mode for /dev/vfio/noiommu-N). The buffer lives while
 * device_fd is open: closing device_fd revokes it. vfio's dma-bufs cannot
 * be mmap()ed; the CPU reaches the buffer with pread()/pwrite() on
 * device_fd at region_offset + offset.
 */
#define IBV_VFIO_BAR_ANY (-1)	/* the lowest memory BAR that holds the range */

enum ibv_vfio_dmabuf_attr_mask {
	/*
	 * device_fd is in: an open vfio device file of pci_addr (from an
	 * earlier call) to export from; it stays the caller's. Without it the
	 * library opens the device, and one process can hold a vfio group
	 * only once.
	 */
	IBV_VFIO_DMABUF_DEVICE_FD = 1 << 0,
};

struct ibv_vfio_dmabuf_attr {
	uint32_t comp_mask;	/* in: enum ibv_vfio_dmabuf_attr_mask */
	int32_t bar;		/* in: BAR 0..5, or IBV_VFIO_BAR_ANY */
	const char *pci_addr;	/* in: "DDDD:BB:DD.F" (or "BB:DD.F") */
	uint64_t offset;	/* in: into the BAR, a page multiple */
	uint64_t size;		/* in: bytes, a non-zero page multiple */
	uint32_t open_flags;	/* in: the dma-buf's O_RDWR etc. | O_CLOEXEC */
	int device_fd;		/* out: the vfio device file (in: DEVICE_FD) */
	uint64_t region_offset;	/* out: where the BAR starts in device_fd */
	uint64_t region_size;	/* out: the BAR's size */
	uint32_t region_index;	/* out: the BAR used */
	uint32_t reserved;
};

/* Returns a dma-buf fd (close() it, and device_fd), or -1 with errno set. */
int ibv_alloc_vfio_dmabuf(struct ibv_vfio_dmabuf_attr *attr);

#ifdef __cplusplus
}
#endif

#endif /* INFINIBAND_VERBS_EXT_H */
