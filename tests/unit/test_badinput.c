// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Every bad input of the public API that can be tried without a dma-buf:
 * each gets its documented errno and a one-line reason, and leaves no fd
 * or registration behind. ibv_reg_dmabuf_mr_ex() answers with the errno
 * the kernel and plain ibv_reg_dmabuf_mr() give for the same input (mostly
 * EINVAL); its reason tells the cases apart. (Inputs that need a real dma-buf, such as a
 * range beyond the buffer, are tried in the VM lab.)
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mempolicy.h>

#include "ext_internal.h"
#include "test.h"

static int count_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* A reason is one line, not empty. */
static void check_reason(const char *frag)
{
	const char *r = ibv_ext_last_error();

	CHECK(r[0] != '\0');
	CHECK(!strchr(r, '\n'));
	CHECK_HAS(r, frag);
}

static int closed_fd(void)
{
	int fd = open("/dev/null", O_RDONLY);

	close(fd);
	return fd;
}

static void query_bad_fds(void)
{
	struct ibv_dmabuf_info info = { 0 };
	int sv[2], fds = count_fds();
	int file, devnull, dir, pipefd[2];
	char tmpl[] = "/tmp/dmp-badinput-XXXXXX";

	file = mkstemp(tmpl);
	unlink(tmpl);
	devnull = open("/dev/null", O_RDONLY);
	dir = open("/", O_RDONLY | O_DIRECTORY);
	CHECK(pipe(pipefd) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);

	CHECK_ERR(ibv_query_dmabuf(-1, &info), EBADF);
	check_reason("fd -1 is not a file descriptor");
	CHECK_ERR(ibv_query_dmabuf(closed_fd(), &info), EBADF);
	check_reason("is not open");
	CHECK_ERR(ibv_query_dmabuf(file, &info), ENOTTY);
	check_reason("a regular file, not a dma-buf");
	CHECK_ERR(ibv_query_dmabuf(devnull, &info), ENOTTY);
	check_reason("is a character device (1:3), not a dma-buf");
	CHECK_ERR(ibv_query_dmabuf(dir, &info), ENOTTY);
	check_reason("a directory");
	CHECK_ERR(ibv_query_dmabuf(pipefd[0], &info), ENOTTY);
	check_reason("a pipe");
	CHECK_ERR(ibv_query_dmabuf(sv[0], &info), ENOTTY);
	check_reason("a socket");
	CHECK_ERR(ibv_query_dmabuf(file, NULL), EINVAL);
	check_reason("info is NULL");
	info.comp_mask = 1;
	CHECK_ERR(ibv_query_dmabuf(file, &info), EOPNOTSUPP);
	check_reason("unknown comp_mask bits 0x1");

	close(file);
	close(devnull);
	close(dir);
	close(pipefd[0]);
	close(pipefd[1]);
	close(sv[0]);
	close(sv[1]);
	CHECK_INT(count_fds(), fds);
}

static struct ibv_mr *reg(struct ibv_reg_dmabuf_mr_ex_attr *a)
{
	/*
	 * Validation happens before the PD is touched; a PD that cannot be
	 * used makes any validation hole crash the test rather than pass.
	 */
	static char not_a_pd[1];

	errno = 0;
	return ibv_reg_dmabuf_mr_ex((struct ibv_pd *)not_a_pd, a);
}

static void reg_expect(struct ibv_reg_dmabuf_mr_ex_attr *a, int err,
		       const char *frag, const char *desc, int line)
{
	struct ibv_mr *mr = reg(a);

	test_row("ibv_reg_dmabuf_mr_ex", desc, err, mr ? 0 : errno);
	test_checks++;
	if (mr || errno != err) {
		fprintf(stderr, "line %d: ibv_reg_dmabuf_mr_ex gave %p errno %d (%s), expected %d\n",
			line, (void *)mr, errno, strerror(errno), err);
		test_failures++;
	}
	check_reason(frag);
}

#define REG_EXPECT(a, err, frag, desc) reg_expect(a, err, frag, desc, __LINE__)

static struct ibv_reg_dmabuf_mr_ex_attr good_attr(int fd)
{
	struct ibv_reg_dmabuf_mr_ex_attr a = { 0 };

	a.fd = fd;
	a.offset = 4096;
	a.length = 8192;
	a.iova = 0x10000;
	a.access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		   IBV_ACCESS_REMOTE_READ;
	return a;
}

static void reg_bad_attrs(void)
{
	struct ibv_reg_dmabuf_mr_ex_attr a;
	struct ibv_dma_path_hints hints = { 0 };
	int devnull = open("/dev/null", O_RDONLY);
	int fds = count_fds();
	char tmpl[] = "/tmp/dmp-badinput-XXXXXX";
	int file = mkstemp(tmpl);

	unlink(tmpl);
	CHECK(ibv_reg_dmabuf_mr_ex(NULL, &a) == NULL && errno == EINVAL);
	test_row("ibv_reg_dmabuf_mr_ex", "pd NULL", EINVAL, errno);
	check_reason("pd or attr is NULL");
	CHECK(reg(NULL) == NULL && errno == EINVAL);
	test_row("ibv_reg_dmabuf_mr_ex", "attr NULL", EINVAL, errno);

	a = good_attr(devnull);
	a.comp_mask = 1u << 12;
	REG_EXPECT(&a, EOPNOTSUPP, "unknown comp_mask bits 0x1000",
		   "fd=devnull; a.comp_mask = 1u << 12");

	a = good_attr(devnull);
	a.comp_mask = IBV_REG_DMABUF_MR_EX_CHOICE;
	REG_EXPECT(&a, EINVAL, "IBV_REG_DMABUF_MR_EX_CHOICE set but choice is NULL",
		   "fd=devnull; a.comp_mask = IBV_REG_DMABUF_MR_EX_CHOICE");
	a.comp_mask = IBV_REG_DMABUF_MR_EX_SOURCE;
	REG_EXPECT(&a, EINVAL, "IBV_REG_DMABUF_MR_EX_SOURCE set but source is NULL",
		   "a.comp_mask = IBV_REG_DMABUF_MR_EX_SOURCE");

	a = good_attr(devnull);
	a.comp_mask = IBV_REG_DMABUF_MR_EX_HINTS;
	REG_EXPECT(&a, EINVAL, "IBV_REG_DMABUF_MR_EX_HINTS set but hints is NULL",
		   "fd=devnull; a.comp_mask = IBV_REG_DMABUF_MR_EX_HINTS");
	a.hints = &hints;
	hints.comp_mask = 1u << 9;
	REG_EXPECT(&a, EOPNOTSUPP, "path hints: unknown comp_mask bits 0x200",
		   "fd=devnull; a.comp_mask = IBV_REG_DMABUF_MR_EX_HINTS; a.hints->comp_mask = 1u << 9");
	hints.comp_mask = 0;
	hints.policy = 17;
	REG_EXPECT(&a, EINVAL, "unknown policy 17",
		   "a.hints->comp_mask = 0; a.hints->policy = 17");

	a = good_attr(-1);
	REG_EXPECT(&a, EBADF, "fd -1 is not a file descriptor",
		   "fd=-1");
	a = good_attr(closed_fd());
	REG_EXPECT(&a, EBADF, "is not open",
		   "fd=closed_fd()");
	a = good_attr(file);
	REG_EXPECT(&a, EINVAL, "a regular file, not a dma-buf",
		   "fd=file");
	a = good_attr(devnull);
	REG_EXPECT(&a, EINVAL, "character device",
		   "fd=devnull");

	a = good_attr(devnull);
	a.length = 0;
	REG_EXPECT(&a, EINVAL, "length is 0",
		   "fd=devnull; a.length = 0");

	a = good_attr(devnull);
	a.offset = UINT64_MAX - 4095;
	a.iova = a.offset;
	REG_EXPECT(&a, EINVAL, "offset 0xfffffffffffff000 + length 0x2000 overflows",
		   "fd=devnull; a.offset = UINT64_MAX - 4095; a.iova = a.offset");
	a = good_attr(devnull);
	a.iova = UINT64_MAX - 4095;
	REG_EXPECT(&a, EINVAL, "iova 0xfffffffffffff000 + length 0x2000 overflows",
		   "fd=devnull; a.iova = UINT64_MAX - 4095");

	a = good_attr(devnull);
	a.iova = 0x10010;
	REG_EXPECT(&a, EINVAL, "differ within a page",
		   "fd=devnull; a.iova = 0x10010");

	a = good_attr(devnull);
	a.access |= IBV_ACCESS_ON_DEMAND;
	REG_EXPECT(&a, EINVAL, "IBV_ACCESS_ON_DEMAND is not allowed for dma-buf MRs",
		   "fd=devnull; a.access |= IBV_ACCESS_ON_DEMAND");
	a = good_attr(devnull);
	a.access |= IBV_ACCESS_MW_BIND;
	REG_EXPECT(&a, EINVAL, "IBV_ACCESS_MW_BIND",
		   "fd=devnull; a.access |= IBV_ACCESS_MW_BIND");
	a = good_attr(devnull);
	a.access |= IBV_ACCESS_ZERO_BASED;
	REG_EXPECT(&a, EINVAL, "IBV_ACCESS_ZERO_BASED",
		   "fd=devnull; a.access |= IBV_ACCESS_ZERO_BASED");
	a = good_attr(devnull);
	a.access |= IBV_ACCESS_HUGETLB;
	REG_EXPECT(&a, EINVAL, "IBV_ACCESS_HUGETLB",
		   "fd=devnull; a.access |= IBV_ACCESS_HUGETLB");
	a = good_attr(devnull);
	a.access = IBV_ACCESS_REMOTE_WRITE;
	REG_EXPECT(&a, EINVAL, "requires IBV_ACCESS_LOCAL_WRITE",
		   "fd=devnull; a.access = IBV_ACCESS_REMOTE_WRITE");
	a = good_attr(devnull);
	a.access = IBV_ACCESS_REMOTE_ATOMIC;
	REG_EXPECT(&a, EINVAL, "requires IBV_ACCESS_LOCAL_WRITE",
		   "fd=devnull; a.access = IBV_ACCESS_REMOTE_ATOMIC");
	a = good_attr(devnull);
	a.access |= 1u << 15;
	REG_EXPECT(&a, EINVAL, "unknown bits 0x8000",
		   "fd=devnull; a.access |= 1u << 15");
	/* Optional-range bits other than relaxed ordering are dropped. */
	a = good_attr(devnull);
	a.access |= IBV_ACCESS_RELAXED_ORDERING | (1u << 25);
	REG_EXPECT(&a, EINVAL, "character device",
		   "fd=devnull; a.access |= IBV_ACCESS_RELAXED_ORDERING | (1u << 25)");

	close(file);
	CHECK_INT(count_fds(), fds);
	close(devnull);
}

static void describe_bad(void)
{
	struct ibv_dmabuf_info info = { 0 };

	CHECK_ERR(ibv_describe_dmabuf_source(NULL, &info), EINVAL);
	CHECK_ERR(ibv_describe_dmabuf_source("system", NULL), EINVAL);
	info.comp_mask = 2;
	CHECK_ERR(ibv_describe_dmabuf_source("system", &info), EOPNOTSUPP);
	info.comp_mask = 0;
	CHECK_ERR(ibv_describe_dmabuf_source("gpu", &info), EINVAL);
	check_reason("expected system[:node=N], p2p:ADDR, private or unknown");
	CHECK_ERR(ibv_describe_dmabuf_source("system:node=", &info), EINVAL);
	CHECK_ERR(ibv_describe_dmabuf_source("system:node=x", &info), EINVAL);
	CHECK_ERR(ibv_describe_dmabuf_source("system:node=-1", &info), EINVAL);
	CHECK_ERR(ibv_describe_dmabuf_source("system:nod=1", &info), EINVAL);
	check_reason("expected system:node=N");
	CHECK_ERR(ibv_describe_dmabuf_source("system:node=9", &info), ENODEV);
	check_reason("NUMA node 9 is not online");
	CHECK_ERR(ibv_describe_dmabuf_source("p2p:", &info), EINVAL);
	CHECK_ERR(ibv_describe_dmabuf_source("p2p:0000:zz:00.0", &info),
		  EINVAL);
	check_reason("expected p2p:DDDD:BB:DD.F");
	CHECK_ERR(ibv_describe_dmabuf_source("p2p:0000:ee:1f.7", &info),
		  ENODEV);
	check_reason("no PCI function 0000:ee:1f.7");

	/* And the good forms. */
	CHECK_ERR(ibv_describe_dmabuf_source("system:node=1", &info), 0);
	CHECK_INT(info.numa_node, 1);
	CHECK_INT(info.origin, IBV_DMABUF_ORIGIN_DESCRIBED);
	CHECK_ERR(ibv_describe_dmabuf_source("private", &info), 0);
	CHECK_INT(info.source, IBV_DMABUF_SOURCE_PRIVATE);
	CHECK_ERR(ibv_describe_dmabuf_source("unknown", &info), 0);
	CHECK_INT(info.source, IBV_DMABUF_SOURCE_UNKNOWN);
}

static void endpoints_bad(void)
{
	struct ibv_dma_endpoint eps[4];
	struct ibv_dma_choice c[4];
	size_t n = 4;

	CHECK_ERR(ibv_query_dma_endpoints(NULL, eps, &n), EINVAL);
	CHECK_ERR(ibv_query_dma_endpoints("rxe0", eps, NULL), EINVAL);
	CHECK_ERR(ibv_query_dma_endpoints("rxe0", NULL, &n), EINVAL);
	CHECK_ERR(ibv_query_dma_endpoints("nosuchdev", eps, &n), ENODEV);
	check_reason("no RDMA device nosuchdev");
	n = 0;
	CHECK_ERR(ibv_query_dma_endpoints("rxe0", NULL, &n), ENOSPC);
	CHECK_INT(n, 1);
	check_reason("room for 0");

	n = 4;
	CHECK_ERR(ibv_select_dma_endpoint("rxe0", NULL, NULL, NULL), EINVAL);
	CHECK_ERR(ibv_select_dma_endpoint("nosuchdev", NULL, NULL, c), ENODEV);
	CHECK_ERR(ibv_rank_dma_endpoints("rxe0", NULL, NULL, c, NULL), EINVAL);
	CHECK_ERR(ibv_rank_dmabuf_devices(NULL, 0, NULL, NULL, c, NULL),
		  EINVAL);
	{
		const char *names[] = { "rxe0", "nosuchdev" };

		CHECK_ERR(ibv_rank_dmabuf_devices(names, 0, NULL, NULL, c, &n),
			  EINVAL);
		CHECK_ERR(ibv_rank_dmabuf_devices(names, 2, NULL, NULL, c, &n),
			  ENODEV);
		n = 1;
		CHECK_ERR(ibv_rank_dmabuf_devices(NULL, 0, NULL, NULL, c, &n),
			  ENOSPC);
		CHECK_INT(n, 2);
	}
}

/* The default huge page size of MFD_HUGETLB memfds, 0 without hugetlbfs. */
static uint64_t huge_page_size(void)
{
	int fd = memfd_create("test", MFD_HUGETLB | MFD_CLOEXEC);
	struct stat st;
	uint64_t size = 0;

	if (fd < 0)
		return 0;
	if (!fstat(fd, &st))
		size = (uint64_t)st.st_blksize;
	close(fd);
	return size;
}

/* A line "NAME: N" of /proc/meminfo, or a one-number file; -1 unknown. */
static long long read_count(const char *path, const char *name)
{
	char line[256];
	long long v = -1, n;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!name) {
			if (sscanf(line, "%lld", &n) == 1)
				v = n;
			break;
		}
		if (!strncmp(line, name, strlen(name)) &&
		    sscanf(line + strlen(name), ": %lld", &n) == 1) {
			v = n;
			break;
		}
	}
	fclose(f);
	return v;
}

#define ALLOC_BAD(attr, err, desc)                                            \
	do {                                                                  \
		int _fd = ibv_alloc_dmabuf(attr);                             \
		CHECK(_fd == -1 && errno == (err));                           \
		test_row("ibv_alloc_dmabuf", desc, err, _fd == -1 ? errno : 0); \
	} while (0)

/*
 * IBV_DMABUF_ALLOC_HUGETLB: a size not of whole huge pages, and (where the
 * pool is empty and cannot grow) no huge pages, both before /dev/udmabuf.
 */
static void alloc_bad_hugetlb(void)
{
	struct ibv_dmabuf_alloc_attr a = { .type = IBV_DMABUF_ALLOC_UDMABUF,
					   .numa_node = -1,
					   .flags = IBV_DMABUF_ALLOC_HUGETLB };
	uint64_t huge = huge_page_size();
	int mode = -1, before = -1;
	char want[128];

	if (!huge) {
		SKIP(alloc_bad_hugetlb, "this kernel makes no MFD_HUGETLB memfd");
		return;
	}
	a.size = huge + 4096;
	ALLOC_BAD(&a, EINVAL, "udmabuf, HUGETLB, size a huge page + 4096");
	snprintf(want, sizeof(want),
		 "size %llu is not a multiple of the huge page size %llu",
		 (unsigned long long)a.size, (unsigned long long)huge);
	check_reason(want);
	if (read_count("/proc/meminfo", "HugePages_Free") != 0 ||
	    read_count("/proc/sys/vm/nr_overcommit_hugepages", NULL) != 0) {
		SKIP(alloc_bad_hugetlb_empty_pool,
		     "this machine has free or overcommit huge pages (the lab tries an empty pool)");
		return;
	}
	a.size = huge;
	ALLOC_BAD(&a, ENOMEM, "udmabuf, HUGETLB, the huge page pool empty");
	check_reason("too few free in the pool (vm.nr_hugepages)");
	/* The thread's policy is the library's only while it allocates. */
	CHECK_INT(syscall(SYS_get_mempolicy, &before, NULL, 0, NULL, 0), 0);
	a.numa_node = 0;
	ALLOC_BAD(&a, ENOMEM, "udmabuf, HUGETLB on node 0, the pool empty");
	check_reason("huge pages on node 0: too few free in the pool");
	CHECK_INT(syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL, 0), 0);
	CHECK_INT(mode, before);
}

static void alloc_bad(void)
{
	struct ibv_dmabuf_alloc_attr a = { .type = IBV_DMABUF_ALLOC_UDMABUF,
					   .size = 1 << 20, .numa_node = -1 };
	int fds = count_fds();

	ALLOC_BAD(NULL, EINVAL, "attr NULL");
	a.comp_mask = 4;
	ALLOC_BAD(&a, EOPNOTSUPP, "comp_mask 4");
	a.comp_mask = 0;
	a.flags = 4;
	ALLOC_BAD(&a, EINVAL, "flags 4");
	check_reason("unknown flags 0x4");
	a.flags = 0;
	a.size = 0;
	ALLOC_BAD(&a, EINVAL, "size 0");
	check_reason("not a non-zero multiple of the page size");
	a.size = 4097;
	ALLOC_BAD(&a, EINVAL, "size 4097 (not page aligned)");
	a.size = UINT64_MAX & ~4095ULL;
	ALLOC_BAD(&a, EINVAL, "size 0xfffffffffffff000 (beyond off_t)");
	check_reason("does not fit");
	a.size = 1 << 20;
	a.numa_node = -2;
	ALLOC_BAD(&a, EINVAL, "numa_node -2");
	check_reason("NUMA node -2 out of range");
	a.numa_node = -1;
	a.type = 9;
	ALLOC_BAD(&a, EINVAL, "type 9");
	check_reason("unknown type 9");
	a.type = IBV_DMABUF_ALLOC_HEAP_SYSTEM;
	a.flags = IBV_DMABUF_ALLOC_INTERLEAVE;
	ALLOC_BAD(&a, EINVAL, "heap with IBV_DMABUF_ALLOC_INTERLEAVE");
	check_reason("interleaving is only for udmabuf");
	a.flags = IBV_DMABUF_ALLOC_HUGETLB;
	ALLOC_BAD(&a, EINVAL, "heap with IBV_DMABUF_ALLOC_HUGETLB");
	check_reason("huge pages (IBV_DMABUF_ALLOC_HUGETLB) are only for udmabuf");
	alloc_bad_hugetlb();
	/* Whatever the kernel has, a failure leaves no fd behind. */
	a.flags = 0;
	a.type = IBV_DMABUF_ALLOC_UDMABUF;
	if (access("/dev/udmabuf", F_OK)) {
		ALLOC_BAD(&a, ENOENT, "udmabuf on a kernel without /dev/udmabuf");
		check_reason("/dev/udmabuf");
	}
	CHECK_INT(count_fds(), fds);
}

int main(void)
{
	char root[4096];
	const char *fx = getenv("DMP_FIXTURES");

	RUN(query_bad_fds);
	RUN(reg_bad_attrs);
	RUN(alloc_bad);
	if (!fx) {
		SKIP(describe_bad, "DMP_FIXTURES is not set (run through ctest)");
		SKIP(endpoints_bad, "DMP_FIXTURES is not set (run through ctest)");
		return test_report();
	}
	snprintf(root, sizeof(root), "%s/lab-vm", fx);
	setenv(IBV_EXT_SYSFS_ROOT_ENV, root, 1);
	RUN(describe_bad);
	RUN(endpoints_bad);
	return test_report();
}
