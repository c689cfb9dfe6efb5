// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * CUDA backend: cuMemAlloc on a GPU, exported as a dma-buf with
 * cuMemGetHandleForAddressRange(CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD), the
 * way perftest's --use_cuda_dmabuf does. libcuda.so.1 is opened with
 * dlopen at run time, so the tool builds and runs without the CUDA
 * toolkit or driver; the few driver API types it needs are declared here.
 * There is no CPU mapping: --check copies through cuMemcpyHtoD/DtoH.
 *
 * This project's machines have no GPU: this path is compile-tested only.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bw_mem.h"

typedef int cu_result;		/* CUresult, CUDA_SUCCESS == 0 */
typedef int cu_device;		/* CUdevice */
typedef void *cu_context;	/* CUcontext */
typedef unsigned long long cu_ptr; /* CUdeviceptr */

#define CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED 124
#define CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD 1
#define CU_POINTER_ATTRIBUTE_SYNC_MEMOPS 6
#define CU_GPU_PAGE (2ULL << 20)

struct cuda_api {
	void *lib;
	cu_result (*init)(unsigned int);
	cu_result (*device_get_count)(int *);
	cu_result (*device_get)(cu_device *, int);
	cu_result (*device_get_attribute)(int *, int, cu_device);
	cu_result (*device_get_name)(char *, int, cu_device);
	cu_result (*primary_ctx_retain)(cu_context *, cu_device);
	cu_result (*primary_ctx_release)(cu_device);
	cu_result (*ctx_set_current)(cu_context);
	cu_result (*mem_alloc)(cu_ptr *, size_t);
	cu_result (*mem_free)(cu_ptr);
	cu_result (*memcpy_htod)(cu_ptr, const void *, size_t);
	cu_result (*memcpy_dtoh)(void *, cu_ptr, size_t);
	cu_result (*get_handle)(void *, cu_ptr, size_t, int,
				unsigned long long);
	cu_result (*pointer_set_attribute)(const void *, int, cu_ptr);
	cu_result (*get_error_string)(cu_result, const char **);
};

struct cuda_priv {
	cu_device dev;
	cu_ptr ptr;
	uint64_t alloc;
};

static struct cuda_api cu;

static const char *cu_str(cu_result r)
{
	const char *s = NULL;

	if (cu.get_error_string && !cu.get_error_string(r, &s) && s)
		return s;
	return "CUDA error";
}

#define BIND(field, sym)                                                    \
	do {                                                                \
		*(void **)&cu.field = dlsym(cu.lib, sym);                   \
		if (!cu.field)                                              \
			return bw_fail(e, EOPNOTSUPP,                       \
				       "libcuda.so.1 lacks %s (driver too old for dma-buf export?)", \
				       sym);                                \
	} while (0)

static int cuda_load(struct bw_err *e)
{
	cu_result r;

	if (cu.lib)
		return 0;
	cu.lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!cu.lib)
		return bw_fail(e, EOPNOTSUPP,
			       "libcuda.so.1 not found: no NVIDIA driver on this machine (%s)",
			       dlerror());
	BIND(init, "cuInit");
	BIND(device_get_count, "cuDeviceGetCount");
	BIND(device_get, "cuDeviceGet");
	BIND(device_get_attribute, "cuDeviceGetAttribute");
	BIND(device_get_name, "cuDeviceGetName");
	BIND(primary_ctx_retain, "cuDevicePrimaryCtxRetain");
	BIND(primary_ctx_release, "cuDevicePrimaryCtxRelease_v2");
	BIND(ctx_set_current, "cuCtxSetCurrent");
	BIND(mem_alloc, "cuMemAlloc_v2");
	BIND(mem_free, "cuMemFree_v2");
	BIND(memcpy_htod, "cuMemcpyHtoD_v2");
	BIND(memcpy_dtoh, "cuMemcpyDtoH_v2");
	BIND(get_handle, "cuMemGetHandleForAddressRange");
	BIND(get_error_string, "cuGetErrorString");
	/* Optional: perftest sets it so that copies and RDMA stay ordered. */
	*(void **)&cu.pointer_set_attribute = dlsym(cu.lib, "cuPointerSetAttribute");
	r = cu.init(0);
	if (r)
		return bw_fail(e, ENODEV, "cuInit: %s", cu_str(r));
	return 0;
}

static int cuda_device(const struct bw_mem_spec *spec, cu_device *dev,
		       struct bw_err *e)
{
	int count = 0, dmabuf = 0;
	cu_result r;

	r = cu.device_get_count(&count);
	if (r)
		return bw_fail(e, ENODEV, "cuDeviceGetCount: %s", cu_str(r));
	if (spec->gpu >= count)
		return bw_fail(e, ENODEV, "no GPU %d (this machine has %d)",
			       spec->gpu, count);
	r = cu.device_get(dev, spec->gpu);
	if (r)
		return bw_fail(e, ENODEV, "cuDeviceGet(%d): %s", spec->gpu,
			       cu_str(r));
	r = cu.device_get_attribute(&dmabuf,
				    CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED, *dev);
	if (r || !dmabuf)
		return bw_fail(e, EOPNOTSUPP,
			       "GPU %d cannot export dma-bufs (CU_DEVICE_ATTRIBUTE_DMA_BUF_SUPPORTED is 0: needs the open kernel modules and Linux >= 5.12)",
			       spec->gpu);
	return 0;
}

static int cuda_probe(const struct bw_mem_spec *spec, struct bw_err *e)
{
	cu_device dev;
	int ret = cuda_load(e);

	return ret ? ret : cuda_device(spec, &dev, e);
}

static int cuda_alloc(const struct bw_mem_spec *spec, uint64_t size,
		      struct bw_mem *m, struct bw_err *e)
{
	struct cuda_priv *p;
	cu_context ctx;
	unsigned int one = 1;
	char name[128] = "";
	int fd = -1, ret;
	cu_result r;

	ret = cuda_probe(spec, e);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p)
		return bw_fail(e, ENOMEM, "out of memory");
	cuda_device(spec, &p->dev, e);
	r = cu.primary_ctx_retain(&ctx, p->dev);
	if (!r)
		r = cu.ctx_set_current(ctx);
	if (r) {
		free(p);
		return bw_fail(e, ENODEV, "GPU %d context: %s", spec->gpu,
			       cu_str(r));
	}
	/* dma-buf export wants whole GPU pages. */
	p->alloc = (size + CU_GPU_PAGE - 1) & ~(CU_GPU_PAGE - 1);
	r = cu.mem_alloc(&p->ptr, p->alloc);
	if (r) {
		ret = bw_fail(e, ENOMEM, "cuMemAlloc of %llu bytes: %s",
			      (unsigned long long)p->alloc, cu_str(r));
		goto release;
	}
	if (cu.pointer_set_attribute)
		cu.pointer_set_attribute(&one, CU_POINTER_ATTRIBUTE_SYNC_MEMOPS,
					 p->ptr);
	r = cu.get_handle(&fd, p->ptr, p->alloc,
			  CU_MEM_RANGE_HANDLE_TYPE_DMA_BUF_FD, 0);
	if (r || fd < 0) {
		ret = bw_fail(e, EOPNOTSUPP,
			      "cuMemGetHandleForAddressRange(DMA_BUF_FD): %s",
			      cu_str(r));
		cu.mem_free(p->ptr);
		goto release;
	}
	cu.device_get_name(name, sizeof(name), p->dev);
	m->fd = fd;
	m->map = NULL;
	m->size = size;
	m->iova = p->ptr;
	m->priv = p;
	snprintf(m->desc, sizeof(m->desc), "CUDA memory on GPU %d (%s)",
		 spec->gpu, name);
	return 0;
release:
	cu.primary_ctx_release(p->dev);
	free(p);
	return ret;
}

static void cuda_free(struct bw_mem *m)
{
	struct cuda_priv *p = m->priv;

	bw_mem_unmap(m);
	if (p) {
		cu.mem_free(p->ptr);
		cu.primary_ctx_release(p->dev);
		free(p);
	}
	m->priv = NULL;
}

static int cuda_write(struct bw_mem *m, uint64_t off, const void *src,
		      uint64_t len, struct bw_err *e)
{
	struct cuda_priv *p = m->priv;
	cu_result r = cu.memcpy_htod(p->ptr + off, src, len);

	return r ? bw_fail(e, EIO, "cuMemcpyHtoD: %s", cu_str(r)) : 0;
}

static int cuda_read(struct bw_mem *m, uint64_t off, void *dst, uint64_t len,
		     struct bw_err *e)
{
	struct cuda_priv *p = m->priv;
	cu_result r = cu.memcpy_dtoh(dst, p->ptr + off, len);

	return r ? bw_fail(e, EIO, "cuMemcpyDtoH: %s", cu_str(r)) : 0;
}

const struct bw_mem_ops bw_mem_cuda = {
	.name = "cuda",
	.synopsis = "cuda[:GPU]",
	.dmabuf = true,
	.probe = cuda_probe,
	.alloc = cuda_alloc,
	.free = cuda_free,
	.write = cuda_write,
	.read = cuda_read,
};
