// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * libibverbs-ext's copy of struct ibv_mr_init_attr (ext_internal.h: it
 * binds ibv_reg_mr_ex() at run time and builds against rdma-core 44) must
 * be the patched rdma-core's own: compiled against the patched build's
 * headers, every field at the same offset with the same size, the same
 * size in all, the same comp_mask bits. A mismatch fails the compile.
 */
#include <stddef.h>

#include "ext_internal.h"

#define FIELD(s, f) (((struct s *)0)->f)
#define SAME(f)                                                               \
	_Static_assert(offsetof(struct ibv_mr_init_attr, f) ==                \
				       offsetof(struct vext_mr_init_attr, f) && \
			       sizeof(FIELD(ibv_mr_init_attr, f)) ==          \
				       sizeof(FIELD(vext_mr_init_attr, f)),   \
		       "field " #f)

SAME(length);
SAME(access);
SAME(comp_mask);
SAME(iova);
SAME(addr);
SAME(fd);
SAME(fd_offset);
SAME(dmah);
SAME(buf);
SAME(dma_ep);
SAME(dma_ep_used);
_Static_assert(sizeof(struct ibv_mr_init_attr) ==
		       sizeof(struct vext_mr_init_attr),
	       "size");
_Static_assert((int)IBV_REG_MR_MASK_IOVA == (int)VEXT_REG_MR_MASK_IOVA &&
		       (int)IBV_REG_MR_MASK_FD == (int)VEXT_REG_MR_MASK_FD &&
		       (int)IBV_REG_MR_MASK_FD_OFFSET ==
			       (int)VEXT_REG_MR_MASK_FD_OFFSET &&
		       (int)IBV_REG_MR_MASK_DMA_EP == (int)VEXT_REG_MR_MASK_DMA_EP,
	       "comp_mask bits");

int main(void)
{
	return 0;
}
