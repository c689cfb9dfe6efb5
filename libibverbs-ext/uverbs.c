// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * dma-buf registrations sent on the context's command fd by the library
 * itself, for what no installed provider entry point can express: dma-buf
 * MRs on rxe/siw with an rdma-core that has no op for them, and the DMA
 * endpoint of this project's kernel series. A kernel that lists DMA
 * endpoints gets UVERBS_METHOD_REG_MR with the FD, the endpoint when one is
 * named, and is asked which it used; other kernels get
 * UVERBS_METHOD_REG_DMABUF_MR, as plain ibv_reg_dmabuf_mr() sends it.
 *
 * The resulting MR must be released by plain ibv_dereg_mr(). libibverbs
 * treats it as a struct verbs_mr (rdma-core's private libibverbs/driver.h):
 * { struct ibv_mr; enum ibv_mr_type; int access; }, unchanged from v44 to
 * v65, freed with free() by the providers' dereg_mr after the kernel
 * destroys the object. The allocation is padded to cover the providers'
 * own MR structs (mlx5: verbs_mr + u32). Tests pin this layout against the
 * installed rxe provider.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/ib_user_ioctl_verbs.h>
#include <rdma/rdma_user_ioctl.h>

#include "ext_internal.h"
#include "kernel-abi/reg_mr_endpoint.h"

void vext_ucmd_init(struct vext_ucmd *cmd, uint16_t object, uint16_t method,
		    uint32_t driver_id)
{
	memset(&cmd->hdr, 0, sizeof(cmd->hdr));
	cmd->hdr.object_id = object;
	cmd->hdr.method_id = method;
	cmd->hdr.driver_id = driver_id;
	cmd->overflow = false;
}

/* The next attribute, or NULL (and the command refused) when full. */
static struct ib_uverbs_attr *next_attr(struct vext_ucmd *cmd, uint16_t id,
					uint16_t flags)
{
	struct ib_uverbs_attr *a;

	if (cmd->hdr.num_attrs >= VEXT_UCMD_MAX_ATTRS) {
		cmd->overflow = true;
		return NULL;
	}
	a = &cmd->hdr.attrs[cmd->hdr.num_attrs++];
	memset(a, 0, sizeof(*a));
	a->attr_id = id;
	a->flags = flags;
	return a;
}

struct ib_uverbs_attr *vext_ucmd_in(struct vext_ucmd *cmd, uint16_t id,
				    uint64_t val, uint16_t len, uint16_t flags)
{
	struct ib_uverbs_attr *a = next_attr(cmd, id, flags);

	/* Inputs of up to 8 bytes travel inline in data. */
	if (a) {
		a->len = len;
		a->data = val;
	}
	return a;
}

struct ib_uverbs_attr *vext_ucmd_out(struct vext_ucmd *cmd, uint16_t id,
				     void *ptr, uint16_t len)
{
	struct ib_uverbs_attr *a = next_attr(cmd, id, 0);

	if (a) {
		a->len = len;
		a->data = (uintptr_t)ptr;
	}
	return a;
}

int vext_ucmd_exec(struct vext_ucmd *cmd, int cmd_fd)
{
	if (cmd->overflow)
		return vext_err(E2BIG,
				"uverbs command %u/%u: more than %d attributes (library bug)",
				cmd->hdr.object_id, cmd->hdr.method_id,
				VEXT_UCMD_MAX_ATTRS);
	cmd->hdr.length = (uint16_t)(sizeof(cmd->hdr) +
				     cmd->hdr.num_attrs * sizeof(cmd->hdr.attrs[0]));
	if (ioctl(cmd_fd, RDMA_VERBS_IOCTL, &cmd->hdr))
		return errno;
	return 0;
}

/* UVERBS_METHOD_REG_DMABUF_MR: kernels without DMA endpoints. */
static struct ib_uverbs_attr *put_reg_dmabuf_mr(struct vext_ucmd *cmd,
						const struct vext_reg_req *req,
						uint32_t driver_id,
						uint32_t *lkey, uint32_t *rkey)
{
	const struct ibv_reg_dmabuf_mr_ex_attr *a = req->attr;
	struct ib_uverbs_attr *handle;

	vext_ucmd_init(cmd, UVERBS_OBJECT_MR, UVERBS_METHOD_REG_DMABUF_MR,
		       driver_id);
	handle = vext_ucmd_in(cmd, UVERBS_ATTR_REG_DMABUF_MR_HANDLE, 0, 0,
			      UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, UVERBS_ATTR_REG_DMABUF_MR_PD_HANDLE, req->pd->handle,
		     0, UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, UVERBS_ATTR_REG_DMABUF_MR_OFFSET, a->offset, 8,
		     UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, UVERBS_ATTR_REG_DMABUF_MR_LENGTH, a->length, 8,
		     UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, UVERBS_ATTR_REG_DMABUF_MR_IOVA, a->iova, 8,
		     UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, UVERBS_ATTR_REG_DMABUF_MR_FD, (uint32_t)a->fd, 4,
		     UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, UVERBS_ATTR_REG_DMABUF_MR_ACCESS_FLAGS, req->access,
		     4, UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_out(cmd, UVERBS_ATTR_REG_DMABUF_MR_RESP_LKEY, lkey, 4);
	vext_ucmd_out(cmd, UVERBS_ATTR_REG_DMABUF_MR_RESP_RKEY, rkey, 4);
	return handle;
}

/*
 * UVERBS_METHOD_REG_MR with the FD: the DMA endpoint to map through, when
 * one is named (sent as mandatory, so that a kernel that does not know it
 * refuses with EPROTONOSUPPORT instead of silently ignoring it), and the
 * endpoint the kernel used. The one place that knows that uAPI.
 */
static struct ib_uverbs_attr *put_reg_mr(struct vext_ucmd *cmd,
					 const struct vext_reg_req *req,
					 uint32_t driver_id, bool send_endpoint,
					 uint32_t *lkey, uint32_t *rkey,
					 uint32_t *used_ep,
					 struct ib_uverbs_attr **resp_ep)
{
	const struct ibv_reg_dmabuf_mr_ex_attr *a = req->attr;
	struct ib_uverbs_attr *handle;

	vext_ucmd_init(cmd, UVERBS_OBJECT_MR, VEXT_METHOD_REG_MR, driver_id);
	handle = vext_ucmd_in(cmd, VEXT_REG_MR_HANDLE, 0, 0,
			      UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, VEXT_REG_MR_PD_HANDLE, req->pd->handle, 0,
		     UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, VEXT_REG_MR_IOVA, a->iova, 8, UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, VEXT_REG_MR_LENGTH, a->length, 8,
		     UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, VEXT_REG_MR_ACCESS_FLAGS, req->access, 4,
		     UVERBS_ATTR_F_MANDATORY);
	/* A raw fd travels in data, with no length. */
	vext_ucmd_in(cmd, VEXT_REG_MR_FD, (uint64_t)(int64_t)a->fd, 0,
		     UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_in(cmd, VEXT_REG_MR_FD_OFFSET, a->offset, 8,
		     UVERBS_ATTR_F_MANDATORY);
	vext_ucmd_out(cmd, VEXT_REG_MR_RESP_LKEY, lkey, 4);
	vext_ucmd_out(cmd, VEXT_REG_MR_RESP_RKEY, rkey, 4);
	if (send_endpoint)
		vext_ucmd_in(cmd, VEXT_REG_MR_DMA_ENDPOINT, req->ep->pub.index, 4,
			     UVERBS_ATTR_F_MANDATORY);
	/* Optional: a kernel without endpoints leaves it unwritten. */
	*resp_ep = vext_ucmd_out(cmd, VEXT_REG_MR_RESP_DMA_ENDPOINT, used_ep, 4);
	return handle;
}

struct ibv_mr *vext_reg_uverbs(struct vext_reg_req *req, uint32_t driver_id,
			       bool send_endpoint)
{
	const struct ibv_reg_dmabuf_mr_ex_attr *a = req->attr;
	struct ibv_pd *pd = req->pd;
	struct ib_uverbs_attr *handle, *resp_ep = NULL;
	struct vext_verbs_mr *vmr;
	struct vext_ucmd cmd;
	uint32_t lkey = 0, rkey = 0, used_ep = 0;
	int err;

	vmr = calloc(1, VEXT_MR_ALLOC_SIZE);
	if (!vmr) {
		errno = vext_err(ENOMEM, "out of memory");
		return NULL;
	}

	if (send_endpoint || req->dev->kernel_eps)
		handle = put_reg_mr(&cmd, req, driver_id, send_endpoint, &lkey,
				    &rkey, &used_ep, &resp_ep);
	else
		handle = put_reg_dmabuf_mr(&cmd, req, driver_id, &lkey, &rkey);

	err = vext_ucmd_exec(&cmd, pd->context->cmd_fd);
	if (err) {
		free(vmr);
		errno = cmd.overflow ? err :
				     vext_reason_reg_failure(req, err, send_endpoint);
		return NULL;
	}

	vmr->ibv_mr.context = pd->context;
	vmr->ibv_mr.pd = pd;
	vmr->ibv_mr.handle = (uint32_t)handle->data;
	vmr->ibv_mr.lkey = lkey;
	vmr->ibv_mr.rkey = rkey;
	/* As libibverbs does for dma-buf MRs: addr is the offset. */
	vmr->ibv_mr.addr = (void *)(uintptr_t)a->offset;
	vmr->ibv_mr.length = a->length;
	vmr->mr_type = VEXT_MR_TYPE_DMABUF_MR;
	vmr->access = (int)req->access;

	if (resp_ep && (resp_ep->flags & UVERBS_ATTR_F_VALID_OUTPUT)) {
		req->kernel_ep = used_ep;
		req->kernel_reported = true;
	}
	return &vmr->ibv_mr;
}
