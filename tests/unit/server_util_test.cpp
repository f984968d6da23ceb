#include <gtest/gtest.h>
#include <zlib.h>

#include "exporter/server.h"
#include "framework/log.h"

namespace pagescope {
namespace {

std::string Gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

TEST(Server, AcceptEncoding) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("GZIP"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip; q=0.000"));
  EXPECT_TRUE(AcceptsGzip("gzip;q=0.5"));
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("xgzip"));
}

TEST(Server, GzipRoundTrip) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "pagescope_metric{a=\"" + std::to_string(i) + "\"} 1\n";
  std::string z = Gzip(text);
  EXPECT_LT(z.size(), text.size() / 4);
  EXPECT_EQ(Gunzip(z), text);
  EXPECT_EQ(Gunzip(Gzip("")), "");
}

TEST(Server, ListenAddresses) {
  auto a = SplitListenAddress(":9724");
  EXPECT_EQ(a.host, "");
  EXPECT_EQ(a.port, "9724");
  a = SplitListenAddress("127.0.0.1:0");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, "0");
  a = SplitListenAddress("[::1]:65535");
  EXPECT_EQ(a.host, "::1");
  a = SplitListenAddress("localhost:80");
  EXPECT_EQ(a.host, "localhost");
  for (const char* bad : {"9724", "::1:9724", "host:", "host:65536", "host:9x", ":123456"}) {
    EXPECT_THROW(SplitListenAddress(bad), std::invalid_argument) << bad;
  }
}

TEST(Server, QueryValues) {
  EXPECT_EQ(QueryValues("collect[]=meminfo&collect[]=thp&x=1", "collect[]"),
            (std::vector<std::string>{"meminfo", "thp"}));
  EXPECT_EQ(QueryValues("collect%5B%5D=a%20b&collect[]=c+d&collect[]=", "collect[]"),
            (std::vector<std::string>{"a b", "c d"}));
  EXPECT_EQ(QueryValues("debug&exclude[]=%zz&&=", "exclude[]"), (std::vector<std::string>{"%zz"}));
  EXPECT_TRUE(QueryValues("", "collect[]").empty());
}

TEST(Log, Formats) {
  EXPECT_EQ(log::FormatLine(log::Format::kLogfmt, log::Level::kWarn, "T", "cannot read",
                            {{"path", "/proc/x"}, {"err", "Permission \"denied\""}}),
            "ts=T level=warn msg=\"cannot read\" path=/proc/x err=\"Permission \\\"denied\\\"\"");
  EXPECT_EQ(log::FormatLine(log::Format::kJson, log::Level::kInfo, "T", "a\nb", {{"k", "v"}}),
            "{\"ts\":\"T\",\"level\":\"info\",\"msg\":\"a\\nb\",\"k\":\"v\"}");
  EXPECT_EQ(log::FormatLine(log::Format::kLogfmt, log::Level::kInfo, "T", "x", {{"empty", ""}}),
            "ts=T level=info msg=x empty=\"\"");
}

TEST(Log, RateLimiter) {
  log::RateLimiter r(std::chrono::hours(1));
  EXPECT_TRUE(r.Allow("a"));
  EXPECT_FALSE(r.Allow("a"));
  EXPECT_TRUE(r.Allow("b"));
  log::RateLimiter zero(std::chrono::seconds(0));
  EXPECT_TRUE(zero.Allow("a"));
  EXPECT_TRUE(zero.Allow("a"));
}

}  // namespace
}  // namespace pagescope

namespace pagescope {
namespace {

TEST(MetricSink, LabelValuesAreValidUtf8) {
  EXPECT_EQ(ValidUtf8("plain"), "plain");
  EXPECT_EQ(ValidUtf8("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(ValidUtf8("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(ValidUtf8("a\xbb"
                      "b"),
            "a\xef\xbf\xbd"
            "b");
  EXPECT_EQ(ValidUtf8("\xc3"), "\xef\xbf\xbd");                                  // truncated
  EXPECT_EQ(ValidUtf8("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");                  // overlong
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");  // surrogate
  MetricSink sink;
  sink.Info("pagescope_x_info", "x", {{"name", "q\xff"}});
  auto fams = sink.Take();
  EXPECT_EQ(fams[0].metric[0].label[0].value, "q\xef\xbf\xbd");
}

}  // namespace
}  // namespace pagescope
