/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * REG_DMABUF_MR attributes added by this project's kernel series
 * (include/uapi/rdma/ib_user_ioctl_cmds.h): the DMA endpoint to map
 * through, and the endpoint the kernel used. They follow RESP_RKEY in
 * enum uverbs_attrs_reg_dmabuf_mr_cmd_attr_ids. Kept here so the library
 * builds against distro headers that predate them; must match the kernel.
 */
#ifndef VEXT_KERNEL_ABI_REG_DMABUF_MR_ENDPOINT_H
#define VEXT_KERNEL_ABI_REG_DMABUF_MR_ENDPOINT_H

#include <rdma/ib_user_ioctl_cmds.h>

#define VEXT_ATTR_REG_DMABUF_MR_DMA_ENDPOINT \
	(UVERBS_ATTR_REG_DMABUF_MR_RESP_RKEY + 1)
#define VEXT_ATTR_REG_DMABUF_MR_RESP_DMA_ENDPOINT \
	(UVERBS_ATTR_REG_DMABUF_MR_RESP_RKEY + 2)

#endif
