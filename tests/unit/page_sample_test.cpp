// The placement sampler's pure parts (proctable/page_sample.h) and the parser of
// /proc/<pid>/maps (kernel/proc_pid_maps.h), on inline strings.

#include "proctable/page_sample.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "framework/errors.h"
#include "kernel/proc_mountinfo.h"
#include "kernel/proc_pid_maps.h"
#include "tests/unit/test_util.h"

namespace pagescope {
namespace {

// Lines as this kernel prints them (a QEMU-like process: 4 KiB RAM, a hugetlb memfd, an
// anonymous MAP_HUGETLB mapping, a file on a hugetlbfs mount, a deleted file with a blank in its
// name, the special mappings).
constexpr const char* kMaps =
    "55d1c4a00000-55d1c4a2c000 r--p 00000000 fe:01 1311301                    "
    "/usr/bin/qemu-system-x86_64\n"
    "55d1c6e3f000-55d1c70e4000 rw-p 00000000 00:00 0                          [heap]\n"
    "7f0000000000-7f0040000000 rw-p 00000000 00:00 0 \n"
    "7f0040000000-7f0040200000 ---p 00000000 00:00 0 \n"
    "7f07afc00000-7f07afe00000 rw-p 00000000 00:11 42989                      /anon_hugepage "
    "(deleted)\n"
    "7f07afe00000-7f07b0200000 rw-s 00000000 00:11 42988                      /memfd:guest ram "
    "(deleted)\n"
    "7f07b0220000-7f07b0320000 rw-s 00000000 00:01 1042                       /memfd:plain "
    "(deleted)\n"
    "7f0800000000-7f0840000000 rw-s 00000000 00:2d 17                         /dev/hugepages/vm1\n"
    "7f0900000000-7f0900400000 rw-s 00000000 00:05 88                         "
    "/dev/vfio/devices/vfio0\n"
    "7ffd5a0e1000-7ffd5a102000 rw-p 00000000 00:00 0                          [stack]\n"
    "7ffd5a1b2000-7ffd5a1b6000 r--p 00000000 00:00 0                          [vvar]\n"
    "7ffd5a1b6000-7ffd5a1b8000 r-xp 00000000 00:00 0                          [vdso]\n"
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

TEST(ProcPidMaps, Fields) {
  auto m = ParseProcPidMaps(kMaps);
  ASSERT_EQ(m.size(), 13u);
  EXPECT_EQ(m[0].start, 0x55d1c4a00000u);
  EXPECT_EQ(m[0].end, 0x55d1c4a2c000u);
  EXPECT_TRUE(m[0].read);
  EXPECT_FALSE(m[0].write);
  EXPECT_FALSE(m[0].shared);
  EXPECT_EQ(m[0].dev_major, 0xfeu);
  EXPECT_EQ(m[0].dev_minor, 1u);
  EXPECT_EQ(m[0].inode, 1311301u);
  EXPECT_EQ(m[0].name, "/usr/bin/qemu-system-x86_64");
  EXPECT_EQ(m[1].name, "[heap]");
  EXPECT_EQ(m[2].name, "");  // anonymous: the kernel pads with one blank
  EXPECT_FALSE(m[3].read || m[3].write || m[3].exec);
  EXPECT_EQ(m[4].dev_minor, 0x11u);
  EXPECT_EQ(m[5].name, "/memfd:guest ram (deleted)");
  EXPECT_TRUE(m[5].shared);
  EXPECT_EQ(m[7].dev_minor, 0x2du);
  EXPECT_EQ(m[12].start, 0xffffffffff600000u);
  EXPECT_TRUE(m[12].exec);
  EXPECT_TRUE(ParseProcPidMaps("").empty());
}

TEST(ProcPidMaps, GarbageNamesTheLine) {
  auto line_of = [](const std::string& text) {
    return testing::LineOfError([&] { ParseProcPidMaps(text); });
  };
  const std::string good = "7f0000000000-7f0040000000 rw-p 00000000 00:00 0\n";
  EXPECT_EQ(line_of(good + "7f0000000000-7f0040000000 rw-p 00000000 00:00\n"), 2u);    // no inode
  EXPECT_EQ(line_of(good + "7f0000000000 rw-p 00000000 00:00 0\n"), 2u);               // no range
  EXPECT_EQ(line_of(good + "7f0040000000-7f0000000000 rw-p 00000000 00:00 0\n"), 2u);  // reversed
  EXPECT_EQ(line_of(good + "7f0000000000-7f0000000000 rw-p 00000000 00:00 0\n"), 2u);  // empty
  EXPECT_EQ(line_of(good + "7f00000g0000-7f0040000000 rw-p 00000000 00:00 0\n"), 2u);  // hex
  EXPECT_EQ(line_of(good + "7f0000000000-7f0040000000 rwz 00000000 00:00 0\n"), 2u);   // perms
  EXPECT_EQ(line_of(good + "7f0000000000-7f0040000000 rw-q 00000000 00:00 0\n"), 2u);
  EXPECT_EQ(line_of(good + "7f0000000000-7f0040000000 rw-p 0000000x 00:00 0\n"), 2u);   // offset
  EXPECT_EQ(line_of(good + "7f0000000000-7f0040000000 rw-p 00000000 0000 0\n"), 2u);    // dev
  EXPECT_EQ(line_of(good + "7f0000000000-7f0040000000 rw-p 00000000 00:00 -1\n"), 2u);  // inode
  EXPECT_EQ(line_of(good + "7f0000000000-17f0040000000000000 rw-p 00000000 00:00 0\n"),
            2u);  // beyond 64 bits
  EXPECT_EQ(line_of("7f0000000000-7f0040000000 rw-p 00000000 00:00 0 x\ngarbage\n"), 2u);
}

TEST(ProcMountinfo, DeviceNumbers) {
  auto m = ParseMountinfo(
      "40 22 0:45 / /dev/hugepages rw - hugetlbfs hugetlbfs rw,pagesize=2M\n"
      "41 22 259:3 / / rw - ext4 /dev/nvme0n1p3 rw\n");
  EXPECT_EQ(m[0].dev_major, 0u);
  EXPECT_EQ(m[0].dev_minor, 45u);
  EXPECT_EQ(m[1].dev_major, 259u);
  EXPECT_EQ(m[1].dev_minor, 3u);
  EXPECT_THROW(ParseMountinfo("40 22 0:4x5 / /mnt rw - tmpfs t rw\n"), ParseError);
  EXPECT_THROW(ParseMountinfo("40 22 0:99999999999 / /mnt rw - tmpfs t rw\n"), ParseError);
}

ListedMapping Listed(const ProcPidMapsEntry& e) { return ListedFromMaps(e); }

PageSizeClues Clues() {
  PageSizeClues c;
  c.base_page_size = 4096;
  c.mounts = ParseMountinfo(
      "22 1 0:21 / /dev rw - devtmpfs udev rw,size=4096k\n"
      "23 22 0:5 / /dev/vfio rw - devtmpfs udev rw\n"
      "40 22 0:45 / /dev/hugepages rw,relatime - hugetlbfs hugetlbfs rw,pagesize=1024M\n"
      "41 22 0:46 / /mnt/huge2m rw - hugetlbfs none rw\n"
      "42 22 0:47 / /dev/shm rw - tmpfs tmpfs rw\n");
  c.hugetlb_devices[{0, 0x11}] = 2u << 20;
  c.hugetlb_devices[{0, 0x12}] = 1u << 30;
  c.default_hugepage_size = 2u << 20;
  return c;
}

TEST(PageSample, WhichMappingsAreSampled) {
  auto entries = ParseProcPidMaps(kMaps);
  std::vector<bool> sampled;
  for (const auto& e : entries) sampled.push_back(SampledByName(Listed(e)));
  // binary (176 KiB): too small; heap (2.6 MiB): yes; 1 GiB anonymous: yes; PROT_NONE: no;
  // anon_hugepage and the hugetlb memfd (2 and 4 MiB): yes; plain memfd (1 MiB): yes, exactly
  // the threshold; hugetlbfs file: yes; the device (4 MiB): by name yes (its mount says no);
  // stack (132 KiB), vvar, vdso, vsyscall: no.
  EXPECT_EQ(sampled, (std::vector<bool>{false, true, true, false, true, true, true, true, true,
                                        false, false, false, false}));
  ListedMapping big;
  big.start = 0;
  big.end = 64u << 20;
  big.any_access = true;
  for (const char* name :
       {"[vvar]", "[vdso]", "[uprobes]", "anon_inode:[vfio-device]", "anon_inode:[io_uring]"}) {
    big.name = name;
    EXPECT_FALSE(SampledByName(big)) << name;
  }
  for (const char* name : {"[heap]", "[stack]", "[anon:guest-ram]", "[anon_shmem:x]",
                           "anon_inode:[kvm-gmem]", "/dev/shm/x", ""}) {
    big.name = name;
    EXPECT_TRUE(SampledByName(big)) << name;
  }
}

TEST(PageSample, PageSizeFromMountsAndInternalDevices) {
  auto e = ParseProcPidMaps(kMaps);
  auto c = Clues();
  EXPECT_EQ(MappingPageSize(Listed(e[2]), c), 4096u);         // anonymous
  EXPECT_EQ(MappingPageSize(Listed(e[4]), c), 2u << 20);      // /anon_hugepage: internal 00:11
  EXPECT_EQ(MappingPageSize(Listed(e[5]), c), 2u << 20);      // hugetlb memfd: internal 00:11
  EXPECT_EQ(MappingPageSize(Listed(e[6]), c), 4096u);         // plain memfd: shmem, 00:01
  EXPECT_EQ(MappingPageSize(Listed(e[7]), c), 1u << 30);      // /dev/hugepages: pagesize=1024M
  EXPECT_EQ(MappingPageSize(Listed(e[8]), c), std::nullopt);  // on devtmpfs: a device
  // A hugetlbfs mount without pagesize= has the default size.
  ListedMapping m = Listed(e[7]);
  m.dev_minor = 46;
  EXPECT_EQ(MappingPageSize(m, c), 2u << 20);
  // PROCMAP_QUERY's page size wins, except for a device.
  m = Listed(e[2]);
  m.page_size = 2u << 20;
  EXPECT_EQ(MappingPageSize(m, c), 2u << 20);
  m = Listed(e[8]);
  m.page_size = 4096;
  EXPECT_EQ(MappingPageSize(m, c), std::nullopt);
  // Without clues (the probe failed, no mountinfo): base pages, honestly sampled in 4 KiB steps.
  EXPECT_EQ(MappingPageSize(Listed(e[4]), PageSizeClues{}), 4096u);
  // A garbled pagesize= is an error.
  c.mounts[2].super_options = "rw,pagesize=huge";
  EXPECT_THROW(MappingPageSize(Listed(e[7]), c), ParseError);
}

std::uint64_t Total(const std::vector<PlannedClass>& plan) {
  std::uint64_t n = 0;
  for (const auto& c : plan) n += c.addresses.size();
  return n;
}

TEST(PageSample, PlanSharesEquallyStratifiedAndInsideTheMappings) {
  // 3 GiB and 1 GiB of base pages, 8 GiB of 2 MiB pages (4096 pages).
  std::vector<SampleMapping> maps = {{0x100000000, 0x1c0000000, 4096},
                                     {0x200000000, 0x240000000, 4096},
                                     {0x400000000, 0x600000000, 2u << 20}};
  auto plan = PlanSample(maps, 4097, 42);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].page_size, 4096u);
  EXPECT_EQ(plan[0].mapped_bytes, 4ull << 30);
  EXPECT_EQ(plan[1].page_size, 2u << 20);
  EXPECT_EQ(plan[1].mapped_bytes, 8ull << 30);
  EXPECT_EQ(Total(plan), 4097u);
  // Half each (each class is estimated on its own); the odd address goes to the larger class.
  EXPECT_EQ(plan[0].addresses.size(), 2048u);
  EXPECT_EQ(plan[1].addresses.size(), 2049u);
  for (const auto& c : plan) {
    std::set<std::uint64_t> unique(c.addresses.begin(), c.addresses.end());
    EXPECT_EQ(unique.size(), c.addresses.size()) << "one address per page";
    EXPECT_TRUE(std::is_sorted(c.addresses.begin(), c.addresses.end()));
    for (auto a : c.addresses) {
      EXPECT_EQ(a % c.page_size, 0u);
      bool inside = false;
      for (const auto& m : maps) inside |= m.page_size == c.page_size && a >= m.start && a < m.end;
      EXPECT_TRUE(inside) << std::hex << a;
    }
  }
  // The base class's addresses fall in each mapping in proportion to it (3:1, exactly by
  // strata: 2048 strata over 1 Mi pages, the first 3/4 of them in the first mapping).
  std::size_t in_first = 0;
  for (auto a : plan[0].addresses) in_first += a < 0x1c0000000;
  EXPECT_NEAR(static_cast<double>(in_first), 2048 * 0.75, 1.0);
}

TEST(PageSample, SmallClassIsCountedWhole) {
  // 1 GiB of 2 MiB pages is 512 pages, fewer than its share of half of 4096: every page is
  // asked, and the base class gets the rest. (In proportion to bytes it would get 1/5.)
  std::vector<SampleMapping> maps = {{0x100000000, 0x200000000, 4096},
                                     {0x400000000, 0x440000000, 2u << 20}};
  auto plan = PlanSample(maps, 4096, 1);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].addresses.size(), 512u);
  EXPECT_EQ(plan[1].addresses.front(), 0x400000000u);
  EXPECT_EQ(plan[1].addresses.back(), 0x440000000u - (2u << 20));
  EXPECT_EQ(plan[0].addresses.size(), 4096u - 512u);
  // A process smaller than the budget is counted whole.
  plan = PlanSample({{0x1000, 0x1000 + 100 * 4096, 4096}}, 4096, 1);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].addresses.size(), 100u);
}

TEST(PageSample, EveryClassGetsAnAddressAndTheDrawDependsOnTheSeed) {
  // A tiny hugetlb class (one page) beside a huge base class is counted whole.
  std::vector<SampleMapping> maps = {{0x100000000, 0x10100000000, 4096},
                                     {0x20000000000, 0x20000200000, 2u << 20}};
  auto plan = PlanSample(maps, 64, 7);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[1].addresses.size(), 1u);
  EXPECT_EQ(Total(plan), 64u);
  auto again = PlanSample(maps, 64, 7);
  EXPECT_EQ(again[0].addresses, plan[0].addresses);
  auto other = PlanSample(maps, 64, 8);
  EXPECT_NE(other[0].addresses, plan[0].addresses);
  // No budget, no mapping, mappings smaller than a page: nothing asked, classes still listed.
  plan = PlanSample(maps, 0, 7);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(Total(plan), 0u);
  EXPECT_TRUE(PlanSample({}, 4096, 7).empty());
  EXPECT_TRUE(PlanSample({{0x1000, 0x1800, 4096}}, 4096, 7).empty());
}

TEST(PageSample, StrataDoNotAlias) {
  // An interleave policy alternates nodes page by page: with 2 pages per stratum a fixed stride
  // would see one parity only; random draws see both about equally.
  std::vector<SampleMapping> maps = {{0x100000000, 0x100000000 + 8192ull * 4096, 4096}};
  auto plan = PlanSample(maps, 4096, 3);
  ASSERT_EQ(plan[0].addresses.size(), 4096u);
  std::size_t odd = 0;
  for (auto a : plan[0].addresses) odd += (a / 4096) % 2;
  EXPECT_GT(odd, 1800u);
  EXPECT_LT(odd, 2296u);
}

// Through SamplePages on a tree that is not procfs (PROCMAP_QUERY is refused there, so the maps
// text is read): garbage names the file and line before any page is asked; a process without
// a maps file is gone.
TEST(PageSample, GarbageInTheMapsFileNamesIt) {
  auto dir = std::filesystem::temp_directory_path() /
             ("pagescope-page-sample-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  testing::WriteText(dir / "proc" / "4242" / "maps",
                     "7f0000000000-7f0040000000 rw-p 00000000 00:00 0\nnot a mapping\n");
  FsRoot fs(dir / "proc", dir / "sys", dir);
  log::RateLimiter limiter(std::chrono::minutes(1));
  Context ctx(fs, limiter);
  try {
    SamplePages(ctx, 4242, PageSampleOptions{});
    ADD_FAILURE() << "no error";
  } catch (const CollectError& e) {
    EXPECT_EQ(std::string(e.what()).rfind((dir / "proc" / "4242" / "maps").string() + ":2: ", 0),
              0u)
        << e.what();
  }
  EXPECT_EQ(SamplePages(ctx, 4243, PageSampleOptions{}), std::nullopt);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pagescope
