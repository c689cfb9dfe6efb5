/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR Linux-OpenIB) */
/*
 * UVERBS_METHOD_REG_MR and its attributes (include/uapi/rdma/
 * ib_user_ioctl_cmds.h): upstream since Linux 6.17 (method and attributes
 * up to RESP_RKEY), and the DMA endpoint that this project's kernel series
 * (kernel-patches/) appends after RESP_RKEY. Kept here with their values
 * because the distro's headers predate both; they must match the kernel's.
 * A kernel without the method or the attributes refuses them with
 * EPROTONOSUPPORT (the library sends the endpoint as mandatory).
 */
#ifndef VEXT_KERNEL_ABI_REG_MR_ENDPOINT_H
#define VEXT_KERNEL_ABI_REG_MR_ENDPOINT_H

/* enum uverbs_methods_mr */
#define VEXT_METHOD_REG_MR 5

/* enum uverbs_attrs_reg_mr_cmd_attr_ids */
enum {
	VEXT_REG_MR_HANDLE,
	VEXT_REG_MR_PD_HANDLE,
	VEXT_REG_MR_DMA_HANDLE,
	VEXT_REG_MR_IOVA,
	VEXT_REG_MR_ADDR,
	VEXT_REG_MR_LENGTH,
	VEXT_REG_MR_ACCESS_FLAGS,
	VEXT_REG_MR_FD,
	VEXT_REG_MR_FD_OFFSET,
	VEXT_REG_MR_RESP_LKEY,
	VEXT_REG_MR_RESP_RKEY,
	/* kernel-patches/ */
	VEXT_REG_MR_DMA_ENDPOINT,
	VEXT_REG_MR_RESP_DMA_ENDPOINT,
};

#endif
