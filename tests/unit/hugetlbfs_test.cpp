#include "collectors/hugetlbfs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include "exporter/scraper.h"
#include "framework/errors.h"
#include "kernel/parse.h"
#include "test_util.h"

namespace pagescope {
namespace {

std::size_t LineOf(std::string_view text) {
  try {
    ParseMountinfo(text);
  } catch (const ParseError& e) {
    return e.line();
  }
  return 0;
}

TEST(Mountinfo, OptionalFieldsAndEscapes) {
  auto e = ParseMountinfo(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
      "41 21 0:41 / /mnt/huge\\0401g rw,relatime shared:16 master:3 - hugetlbfs none "
      "rw,pagesize=1024M,size=4294967296\n"
      "42 21 0:42 / /a\\134b\\011c rw - hugetlbfs none rw\n"
      "43 21 0:43 / /no-optional rw - tmpfs\n");
  ASSERT_EQ(e.size(), 4u);
  EXPECT_EQ(e[0].mount_point, "/mnt2");
  EXPECT_EQ(e[0].fs_type, "ext3");
  EXPECT_EQ(e[0].source, "/dev/root");
  EXPECT_EQ(e[0].mount_options, "rw,noatime");
  EXPECT_EQ(e[0].super_options, "rw,errors=continue");
  EXPECT_EQ(e[1].mount_point, "/mnt/huge 1g");
  EXPECT_EQ(e[1].fs_type, "hugetlbfs");
  EXPECT_EQ(e[1].super_options, "rw,pagesize=1024M,size=4294967296");
  EXPECT_EQ(e[2].mount_point, "/a\\b\tc");
  EXPECT_EQ(e[3].fs_type, "tmpfs");
  EXPECT_EQ(e[3].source, "");
}

TEST(Mountinfo, UnescapeLeavesOtherBackslashesAlone) {
  EXPECT_EQ(parse::UnescapeOctal("a\\040b"), "a b");
  EXPECT_EQ(parse::UnescapeOctal("a\\04"), "a\\04");    // truncated escape
  EXPECT_EQ(parse::UnescapeOctal("a\\x2d"), "a\\x2d");  // not octal
  EXPECT_EQ(parse::UnescapeOctal("\\012\\134"), "\n\\");
  EXPECT_EQ(parse::UnescapeOctal("a\\777"), "a\\777");  // above a byte
  EXPECT_EQ(parse::UnescapeOctal(""), "");
}

TEST(Mountinfo, MalformedLinesNameTheLine) {
  EXPECT_EQ(LineOf(""), 0u);
  EXPECT_EQ(LineOf("\n\n"), 0u);
  EXPECT_EQ(LineOf("21 1 253:1 / / rw - ext4 /dev/vda1 rw\ngarbage\n"), 2u);
  EXPECT_EQ(LineOf("21 1 253:1 / / rw ext4 /dev/vda1 rw\n"), 1u);   // no separator
  EXPECT_EQ(LineOf("21 1 253:1 / / rw -\n"), 1u);                   // no type
  EXPECT_EQ(LineOf("21 1 253:1 / /x\n"), 1u);                       // truncated
  EXPECT_EQ(LineOf("x 1 253:1 / / rw - ext4 /dev/vda1 rw\n"), 1u);  // bad id
  EXPECT_EQ(LineOf("21 1 2531 / / rw - ext4 /dev/vda1 rw\n"), 1u);  // bad dev
  EXPECT_EQ(LineOf("21 1 253:1 / / rw - ext4 /dev/vda1 rw"), 0u);   // no final newline
}

TEST(HugetlbfsOptions, PageSizeSizeAndMinSize) {
  auto o = ParseHugetlbfsOptions("rw,relatime,uid=107,pagesize=2M,size=8388608,min_size=4194304");
  EXPECT_EQ(o.page_size, 2u << 20);
  EXPECT_EQ(o.size, 8u << 20);
  EXPECT_EQ(o.min_size, 4u << 20);
  o = ParseHugetlbfsOptions("rw,pagesize=1024M");
  EXPECT_EQ(o.page_size, 1u << 30);
  EXPECT_FALSE(o.size);
  o = ParseHugetlbfsOptions("rw");
  EXPECT_FALSE(o.page_size);
  EXPECT_EQ(ParseHugetlbfsOptions("pagesize=1G").page_size, 1u << 30);
  EXPECT_EQ(ParseHugetlbfsOptions("").page_size, std::nullopt);
  EXPECT_THROW(ParseHugetlbfsOptions("rw,pagesize=huge"), ParseError);
  EXPECT_THROW(ParseHugetlbfsOptions("rw,size=50%"), ParseError);
  EXPECT_THROW(ParseHugetlbfsOptions("rw,pagesize=0"), ParseError);
}

// The collector with a fake statfs on a temporary mountinfo.
class HugetlbfsCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pagescope-hugetlbfs-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "proc" / "self");
    testing::WriteText(dir_ / "proc" / "meminfo", "Hugepagesize:    2048 kB\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Run(const std::string& mountinfo, std::map<std::string, StatfsResult> statfs,
                  std::vector<std::string>* errors = nullptr) {
    testing::WriteText(dir_ / "proc" / "self" / "mountinfo", mountinfo);
    FsRoot fs(dir_ / "proc", dir_ / "sys", dir_ / "root");
    log::RateLimiter limiter(std::chrono::minutes(1));
    Context ctx(fs, limiter);
    MetricSink sink;
    MakeHugetlbfsCollector(FakeStatfs(std::move(statfs)))->Collect(ctx, sink);
    if (errors) *errors = sink.errors();
    std::string out;
    for (const auto& f : sink.Take()) {
      for (const auto& m : f.metric) {
        out += f.name + "{";
        for (const auto& l : m.label) out += l.name + "=" + l.value + ",";
        out += "} " + std::to_string(static_cast<long long>(m.gauge.value)) + "\n";
      }
    }
    return out;
  }

  std::filesystem::path dir_;
};

TEST_F(HugetlbfsCollectorTest, LimitedMountHasSizeAndFree) {
  auto out = Run("40 24 0:40 / /huge rw - hugetlbfs none rw,pagesize=2M,size=8388608\n",
                 {{"/huge", {kHugetlbfsMagic, 2 << 20, 4, 1}}});
  EXPECT_NE(out.find("pagescope_hugetlbfs_size_bytes{mountpoint=/huge,page_size=2MiB,} 8388608"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("pagescope_hugetlbfs_free_bytes{mountpoint=/huge,page_size=2MiB,} 2097152"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("size_limited=true"), std::string::npos) << out;
}

TEST_F(HugetlbfsCollectorTest, UnlimitedMountHasOnlyInfo) {
  // No subpool: f_blocks 0; min_size only: f_blocks -1.
  auto out =
      Run("40 24 0:40 / /a rw - hugetlbfs none rw\n"
          "41 24 0:41 / /b rw - hugetlbfs none rw,pagesize=2M,min_size=2097152\n",
          {{"/a", {kHugetlbfsMagic, 2 << 20, 0, 0}},
           {"/b", {kHugetlbfsMagic, 2 << 20, UINT64_MAX, UINT64_MAX}}});
  EXPECT_EQ(out.find("hugetlbfs_size_bytes{"), std::string::npos) << out;
  EXPECT_EQ(out.find("free_bytes"), std::string::npos) << out;
  EXPECT_NE(out.find("pagescope_hugetlbfs_info{mountpoint=/a,page_size=2MiB,size_limited=false,}"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("pagescope_hugetlbfs_min_size_bytes{mountpoint=/b,page_size=2MiB,} 2097152"),
            std::string::npos)
      << out;
}

TEST_F(HugetlbfsCollectorTest, OtherFilesystemOrMissingPathGivesNoSize) {
  std::vector<std::string> errors;
  auto out =
      Run("40 24 0:40 / /a rw - hugetlbfs none rw,size=8388608\n"
          "41 24 0:41 / /b rw - hugetlbfs none rw,size=8388608\n",
          {{"/a", {0xEF53, 4096, 1000, 10}}}, &errors);
  EXPECT_EQ(out.find("hugetlbfs_size_bytes{"), std::string::npos) << out;
  EXPECT_NE(out.find("mountpoint=/a"), std::string::npos) << out;
  EXPECT_NE(out.find("mountpoint=/b"), std::string::npos) << out;
  EXPECT_TRUE(errors.empty());
}

TEST_F(HugetlbfsCollectorTest, HiddenMountAndBadOptions) {
  std::vector<std::string> errors;
  auto out =
      Run("40 24 0:40 / /hidden rw - hugetlbfs none rw,size=8388608\n"
          "41 24 0:41 / /hidden rw - tmpfs tmpfs rw\n"
          "42 24 0:42 / /bad rw - hugetlbfs none rw,pagesize=x\n"
          "43 24 0:43 / /ok rw - hugetlbfs none rw,pagesize=1G\n",
          {}, &errors);
  EXPECT_EQ(out.find("/hidden"), std::string::npos) << out;
  EXPECT_EQ(out.find("/bad"), std::string::npos) << out;
  EXPECT_NE(out.find("mountpoint=/ok,page_size=1GiB"), std::string::npos) << out;
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("/bad"), std::string::npos) << errors[0];
}

TEST(HugetlbfsRealStatfs, NonHugetlbfsPathIsRecognized) {
  FsRoot fs("/proc", "/sys", "/");
  ReadStatus status;
  std::string error;
  auto st = RealStatfs()->Statfs(fs, "/proc", &status, &error);
  ASSERT_TRUE(st);
  EXPECT_NE(st->type, kHugetlbfsMagic);
  EXPECT_FALSE(RealStatfs()->Statfs(fs, "/no/such/path", &status, &error));
  EXPECT_EQ(status, ReadStatus::kMissing);
}

// statfs results for tests come through the factory (MakeHugetlbfsCollector), never through
// the configuration: the collector has no such option.
TEST(HugetlbfsSpec, NoTestOnlyOption) {
  EXPECT_TRUE(HugetlbfsCollectorSpec().options.empty());
  EXPECT_THROW(Scraper(testing::FixtureConfig("two_nodes", {"hugetlbfs"},
                                              "collectors:\n  hugetlbfs:\n    statfs_overrides:\n"
                                              "      /x: {bsize: 2097152, blocks: 2, bfree: 1}\n")),
               ConfigError);
}

}  // namespace
}  // namespace pagescope
