// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Parsers: fdinfo and the exporter table, sysfs value formats. Run twice by
 * ctest: in the C locale and, through run-in-locale, under de_DE.UTF-8 (a
 * decimal comma): sysfs formats do not change with the caller's locale.
 */
#include <fcntl.h>
#include <locale.h>
#include <unistd.h>

#include "ext_internal.h"
#include "kernel-abi/dma_buf_describe.h"
#include "test.h"

static void fdinfo_udmabuf(void)
{
	struct ibv_dmabuf_info i = { 0 };
	const char *text = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t2071\n"
			   "size:\t2097152\ncount:\t1\nexp_name:\tudmabuf\n";

	CHECK_INT(vext_parse_fdinfo(text, &i), 0);
	CHECK_INT(i.source, IBV_DMABUF_SOURCE_SYSTEM);
	CHECK_INT(i.types, 1 << IBV_DMABUF_SOURCE_SYSTEM);
	CHECK_INT(i.origin, IBV_DMABUF_ORIGIN_INFERRED);
	CHECK_INT(i.size, 2097152);
	CHECK_INT(i.inode, 2071);
	CHECK_INT(i.numa_node, -1);
	CHECK_STR(i.exporter, "udmabuf");
}

static void fdinfo_heaps(void)
{
	static const char *const cpu[] = { "system", "system-uncached",
					   "reserved", "linux,cma",
					   "default_cma_region" };
	char text[256];
	size_t k;

	for (k = 0; k < sizeof(cpu) / sizeof(cpu[0]); k++) {
		struct ibv_dmabuf_info i = { 0 };

		snprintf(text, sizeof(text),
			 "size:\t4096\ncount:\t1\nexp_name:\t%s\nname:\tbuf\n",
			 cpu[k]);
		CHECK_INT(vext_parse_fdinfo(text, &i), 0);
		CHECK_INT(i.source, IBV_DMABUF_SOURCE_SYSTEM);
		CHECK_STR(i.exporter, cpu[k]);
	}
}

/* Ambiguous exporters are never guessed. */
static void fdinfo_ambiguous(void)
{
	static const char *const unknown[] = { "drm", "amdgpu", "i915", "xe",
					       "nvidia", "vgem", "udmabuf2", "" };
	char text[256];
	size_t k;

	for (k = 0; k < sizeof(unknown) / sizeof(unknown[0]); k++) {
		struct ibv_dmabuf_info i = { 0 };

		snprintf(text, sizeof(text), "size:\t8192\nexp_name:\t%s\n",
			 unknown[k]);
		CHECK_INT(vext_parse_fdinfo(text, &i), 0);
		CHECK_INT(i.source, IBV_DMABUF_SOURCE_UNKNOWN);
		CHECK_INT(i.types, 0);
		CHECK_INT(i.size, 8192);
	}
}

static void fdinfo_not_dmabuf(void)
{
	struct ibv_dmabuf_info i = { 0 };

	/* A regular file's fdinfo: no exporter. */
	CHECK_INT(vext_parse_fdinfo("pos:\t0\nflags:\t0100000\nmnt_id:\t25\n"
				    "ino:\t12\n", &i),
		  -ENOTTY);
	CHECK_INT(vext_parse_fdinfo("", &i), -ENOTTY);
	CHECK_INT(vext_parse_fdinfo("exp_name:\tudmabuf\n", &i), -ENOTTY);
	CHECK_INT(vext_parse_fdinfo("size:\tx\nexp_name:\tudmabuf\n", &i),
		  -ENOTTY);
	/* Overlong exporter names are cut, not overflowed. */
	{
		char text[512];

		memset(&i, 0, sizeof(i));
		snprintf(text, sizeof(text), "size:\t1\nexp_name:\t%0300d\n", 7);
		CHECK_INT(vext_parse_fdinfo(text, &i), 0);
		CHECK_INT(strlen(i.exporter), sizeof(i.exporter) - 1);
	}
}

/*
 * The buffer's name follows exp_name in fdinfo and is set by any holder of
 * the fd: lines it smuggles in never override the kernel's.
 */
static void fdinfo_hostile_name(void)
{
	struct ibv_dmabuf_info i = { 0 };
	const char *text = "pos:\t0\nflags:\t02\nmnt_id:\t16\nino:\t77\n"
			   "size:\t8192\ncount:\t1\nexp_name:\tamdgpu\n"
			   "name:\t\nexp_name:\tudmabuf\nsize:\t1\nino:\t5\n";

	CHECK_INT(vext_parse_fdinfo(text, &i), 0);
	CHECK_STR(i.exporter, "amdgpu");
	CHECK_INT(i.source, IBV_DMABUF_SOURCE_UNKNOWN);
	CHECK_INT(i.size, 8192);
	CHECK_INT(i.inode, 77);
}

/* The kernel's description: known kinds, none, and kinds from the future. */
static void kernel_description(void)
{
	struct dma_buf_range r[3];
	struct dma_buf_describe d;
	struct ibv_dmabuf_info i;

	/* System memory on node 1 (most bytes) and 0, P2P of 0000:44:01.1 (WC) */
	memset(&d, 0, sizeof(d));
	memset(r, 0, sizeof(r));
	memset(&i, 0, sizeof(i));
	d.size = 7 << 12;
	d.mem_types = 1u << DMA_BUF_MEM_SYSTEM | 1u << DMA_BUF_MEM_P2P;
	r[0] = (struct dma_buf_range){ .length = 1 << 12, .mem = DMA_BUF_MEM_SYSTEM,
				       .numa_node = 0 };
	r[1] = (struct dma_buf_range){ .length = 4 << 12, .mem = DMA_BUF_MEM_SYSTEM,
				       .numa_node = 1 };
	r[2] = (struct dma_buf_range){ .length = 2 << 12, .mem = DMA_BUF_MEM_P2P,
				       .flags = DMA_BUF_RANGE_WC, .numa_node = -1,
				       .provider_bus = 0x44, .provider_devfn = 0x09 };
	snprintf(i.exporter, sizeof(i.exporter), "mixed-exporter");
	vext_describe_to_info(&d, r, 3, &i);
	CHECK_INT(i.source, IBV_DMABUF_SOURCE_MIXED);
	CHECK_INT(i.origin, IBV_DMABUF_ORIGIN_KERNEL);
	CHECK_STR(i.provider, "0000:44:01.1");
	CHECK_INT(i.numa_node, 1);
	CHECK_INT(i.size, 7 << 12);
	CHECK_INT(i.flags, IBV_DMABUF_INFO_NUMA_MIXED | IBV_DMABUF_INFO_MMIO_WC);

	/* No describe op: the exporter table, flagged. */
	memset(&d, 0, sizeof(d));
	memset(&i, 0, sizeof(i));
	snprintf(i.exporter, sizeof(i.exporter), "udmabuf");
	vext_describe_to_info(&d, NULL, 0, &i);
	CHECK_INT(i.source, IBV_DMABUF_SOURCE_SYSTEM);
	CHECK_INT(i.origin, IBV_DMABUF_ORIGIN_INFERRED);
	CHECK(i.flags & IBV_DMABUF_INFO_EXPORTER_UNDESCRIBED);

	/* Described, but in words this library does not know yet. */
	memset(&d, 0, sizeof(d));
	memset(&i, 0, sizeof(i));
	d.mem_types = 1u << 7;
	snprintf(i.exporter, sizeof(i.exporter), "udmabuf");
	vext_describe_to_info(&d, NULL, 0, &i);
	CHECK_INT(i.source, IBV_DMABUF_SOURCE_UNKNOWN);
	CHECK_INT(i.origin, IBV_DMABUF_ORIGIN_KERNEL);
	CHECK(!(i.flags & IBV_DMABUF_INFO_EXPORTER_UNDESCRIBED));
	d.mem_types |= 1u << DMA_BUF_MEM_SYSTEM;
	memset(&i, 0, sizeof(i));
	vext_describe_to_info(&d, NULL, 0, &i);
	CHECK_INT(i.source, IBV_DMABUF_SOURCE_UNKNOWN);
	CHECK_INT(i.types, 1 << IBV_DMABUF_SOURCE_SYSTEM);
	/* ... and the kernel's "unknown" kind (0) is not a known one either */
	d.mem_types = 1u << DMA_BUF_MEM_UNKNOWN;
	memset(&i, 0, sizeof(i));
	vext_describe_to_info(&d, NULL, 0, &i);
	CHECK_INT(i.source, IBV_DMABUF_SOURCE_UNKNOWN);
}

/* The kernel's uAPI layouts (kernel-patches/SERIES.md): 40 bytes each. */
static void kernel_abi_sizes(void)
{
	CHECK_INT(sizeof(struct dma_buf_describe), 40);
	CHECK_INT(sizeof(struct dma_buf_range), 40);
	CHECK_INT(DMA_BUF_IOCTL_DESCRIBE, 0x6204);
}

static void exporter_table(void)
{
	CHECK_INT(vext_exporter_source("udmabuf"), IBV_DMABUF_SOURCE_SYSTEM);
	CHECK_INT(vext_exporter_source("system"), IBV_DMABUF_SOURCE_SYSTEM);
	CHECK_INT(vext_exporter_source("drm"), IBV_DMABUF_SOURCE_UNKNOWN);
	CHECK_INT(vext_exporter_source("System"), IBV_DMABUF_SOURCE_UNKNOWN);
}

static void link_speed(void)
{
	CHECK_INT(vext_parse_link_speed("16.0 GT/s PCIe"), 16000);
	CHECK_INT(vext_parse_link_speed("32.0 GT/s PCIe"), 32000);
	CHECK_INT(vext_parse_link_speed("2.5 GT/s PCIe"), 2500);
	CHECK_INT(vext_parse_link_speed("8 GT/s"), 8000);
	CHECK_INT(vext_parse_link_speed("Unknown"), 0);
	CHECK_INT(vext_parse_link_speed(""), 0);
	CHECK_INT(vext_parse_link_speed("16.0 MB/s"), 0);
	CHECK_INT(vext_parse_link_speed("-5 GT/s"), 0);
	CHECK_INT(vext_parse_link_speed("64.0 GT/s PCIe"), 64000);
	CHECK_INT(vext_parse_link_speed("5.0 GT/s"), 5000);
	CHECK_INT(vext_parse_link_speed("16,0 GT/s"), 0);
	CHECK_INT(vext_parse_link_speed(".5 GT/s"), 500);
	CHECK_INT(vext_parse_link_speed("1001 GT/s"), 0);
	CHECK_INT(vext_parse_link_speed("0 GT/s"), 0);
}

static void cpulist(void)
{
	int m[64];

	memset(m, 0, sizeof(m));
	CHECK_INT(vext_parse_cpulist("0-1", m, 64), 2);
	CHECK(m[0] && m[1] && !m[2]);
	memset(m, 0, sizeof(m));
	CHECK_INT(vext_parse_cpulist("0,2-3,7", m, 64), 4);
	CHECK(m[0] && !m[1] && m[2] && m[3] && m[7]);
	CHECK_INT(vext_parse_cpulist("3-1", m, 64), -EINVAL);
	CHECK_INT(vext_parse_cpulist("a", m, 64), -EINVAL);
	CHECK_INT(vext_parse_cpulist("0-100", m, 64), -ERANGE);
	CHECK_INT(vext_parse_cpulist("1,,", m, 64), -EINVAL);
}

static void pci_addr(void)
{
	CHECK(vext_is_pci_addr("0000:41:00.0"));
	CHECK(vext_is_pci_addr("abcd:ef:1f.7"));
	CHECK(!vext_is_pci_addr("0000:41:00"));
	CHECK(!vext_is_pci_addr("pci0000:40"));
	CHECK(!vext_is_pci_addr("0000:41:00.0x"));
	CHECK(!vext_is_pci_addr("0000-41:00.0"));
	CHECK(!vext_is_pci_addr("virtio1"));
}

static void strscpy(void)
{
	char buf[4];

	CHECK_INT(vext_strscpy(buf, "abcdef", sizeof(buf)), 3);
	CHECK_STR(buf, "abc");
	CHECK_INT(vext_strscpy(buf, "", sizeof(buf)), 0);
	CHECK_STR(buf, "");
}

static void strings(void)
{
	CHECK_STR(ibv_dmabuf_source_str(IBV_DMABUF_SOURCE_P2P), "p2p");
	CHECK_STR(ibv_dmabuf_source_str(99), "unknown");
	CHECK_STR(ibv_dmabuf_origin_str(IBV_DMABUF_ORIGIN_KERNEL), "kernel");
	CHECK_STR(ibv_dma_path_class_str(IBV_DMA_PATH_CLASS_PXB), "PXB");
	CHECK_STR(ibv_dma_path_class_str(42), "UNKNOWN");
	CHECK_STR(ibv_dma_endpoint_kind_str(IBV_DMA_EP_DATA_DIRECT),
		  "data_direct");
	CHECK_STR(ibv_dma_endpoint_kind_str(0), "unknown");
}

/* root/name holding text (no newline added). */
static void put(const char *root, const char *name, const char *text)
{
	char *path = vext_path(root, "%s", name);
	int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;

	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_INT(write(fd, text, strlen(text)), (long)strlen(text));
		close(fd);
	}
	free(path);
}

/*
 * vext_read_int and vext_read_hex, one reader with a base: the number with
 * its newline, sign and 0x rules; a bad value leaves *val alone.
 */
static void sysfs_numbers(void)
{
	static const struct {
		bool hex;
		const char *text;	/* NULL: no such file */
		int ret;
		long val;
	} t[] = {
		{ false, "42\n", 0, 42 },
		{ false, "-1\n", 0, -1 },
		{ false, "", -ENODATA, 0 },
		{ false, " \n", -ENODATA, 0 },
		{ false, "0x10\n", -EINVAL, 0 },
		{ false, "12abc\n", -EINVAL, 0 },
		{ false, "99999999999999999999\n", -EINVAL, 0 },
		{ false, NULL, -ENOENT, 0 },
		{ true, "0x15b3\n", 0, 0x15b3 },
		{ true, "ff", 0, 0xff },
		{ true, "0x030200\n", 0, 0x030200 },
		{ true, "42\n", 0, 0x42 },
		{ true, "-1\n", -EINVAL, 0 },
		{ true, "0xg\n", -EINVAL, 0 },
		{ true, "12 34\n", -EINVAL, 0 },
		{ true, "99999999999999999999\n", -EINVAL, 0 },
		{ true, "", -ENODATA, 0 },
		{ true, NULL, -ENOENT, 0 },
	};
	char root[] = "/tmp/dmp-test-sysfs-XXXXXX";
	char *path;
	size_t k;

	if (!mkdtemp(root)) {
		CHECK(0);
		return;
	}
	for (k = 0; k < sizeof(t) / sizeof(t[0]); k++) {
		const char *name = t[k].text ? "value" : "missing";
		int failures = test_failures, ret;
		unsigned long h = 7;
		long v = 7;

		if (t[k].text)
			put(root, name, t[k].text);
		if (t[k].hex) {
			ret = vext_read_hex(root, &h, "%s", name);
			v = (long)h;
		} else {
			ret = vext_read_int(root, &v, "%s", name);
		}
		CHECK_INT(ret, t[k].ret);
		CHECK_INT(v, t[k].ret ? 7 : t[k].val);
		if (test_failures != failures)
			fprintf(stderr, "  (read_%s of \"%.*s\")\n",
				t[k].hex ? "hex" : "int",
				t[k].text ? (int)strcspn(t[k].text, "\n") : 9,
				t[k].text ? t[k].text : "(no file)");
	}
	path = vext_path(root, "value");
	CHECK(path && !unlink(path));
	free(path);
	CHECK(!rmdir(root));
}

/* Under DMP_TEST_LOCALE the process really runs in that locale. */
static int enter_locale(void)
{
	const char *want = getenv("DMP_TEST_LOCALE");
	char *end;

	if (!want)
		return 0;
	if (!setlocale(LC_ALL, "")) {
		fprintf(stderr, "setlocale(%s) failed\n", want);
		return -1;
	}
	/* de_DE: "1,5" is one and a half, so strtod stops at a dot. */
	if (strtod("1,5", &end) != 1.5 || *end) {
		fprintf(stderr, "%s is not a decimal-comma locale here\n", want);
		return -1;
	}
	printf("locale %s\n", setlocale(LC_NUMERIC, NULL));
	return 0;
}

int main(void)
{
	if (enter_locale())
		return 1;
	RUN(fdinfo_udmabuf);
	RUN(fdinfo_heaps);
	RUN(fdinfo_ambiguous);
	RUN(fdinfo_not_dmabuf);
	RUN(fdinfo_hostile_name);
	RUN(kernel_description);
	RUN(kernel_abi_sizes);
	RUN(exporter_table);
	RUN(link_speed);
	RUN(cpulist);
	RUN(pci_addr);
	RUN(strscpy);
	RUN(sysfs_numbers);
	RUN(strings);
	return test_report();
}
