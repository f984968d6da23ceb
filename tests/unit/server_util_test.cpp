#include <gtest/gtest.h>
#include <zlib.h>

#include "framework/log.h"
#include "framework/metric_sink.h"
#include "web/http.h"
#include "web/landing.h"
#include "web/listen.h"

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
  for (const char* yes :
       {"gzip", "deflate, gzip;q=1.0, *;q=0.5", "GZIP", "gzip;q=0.5", " x-gzip "}) {
    EXPECT_TRUE(AcceptsGzip(yes)) << yes;
  }
  for (const char* no : {"gzip;q=0", "gzip; q=0.000", "identity", "", "xgzip", "deflate,"}) {
    EXPECT_FALSE(AcceptsGzip(no)) << no;
  }
}

TEST(Server, GzipRoundTrip) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "pagescope_metric{a=\"" + std::to_string(i) + "\"} 1\n";
  std::string z = Gzip(text);
  EXPECT_LT(z.size(), text.size() / 4);
  EXPECT_EQ(Gunzip(z), text);
  EXPECT_EQ(Gunzip(Gzip("")), "");
}

// X-Prometheus-Scrape-Timeout-Seconds as Prometheus writes it (strconv.FormatFloat(s, 'f', -1,
// 64)), and nothing else.
TEST(Server, ScrapeTimeoutHeader) {
  using std::chrono::milliseconds;
  using std::chrono::nanoseconds;
  using std::chrono::seconds;
  EXPECT_EQ(ParseScrapeTimeoutHeader("10"), seconds(10));
  EXPECT_EQ(ParseScrapeTimeoutHeader("0.5"), milliseconds(500));
  EXPECT_EQ(ParseScrapeTimeoutHeader("2.25"), milliseconds(2250));
  EXPECT_EQ(ParseScrapeTimeoutHeader(" 1 "), seconds(1));
  EXPECT_EQ(ParseScrapeTimeoutHeader("1."), seconds(1));
  EXPECT_EQ(ParseScrapeTimeoutHeader(".25"), milliseconds(250));
  EXPECT_EQ(ParseScrapeTimeoutHeader("0.0000000015"), nanoseconds(1));  // beyond ns: cut
  EXPECT_EQ(ParseScrapeTimeoutHeader("86400"), seconds(86400));
  for (const char* bad : {"", " ", "0", "0.0", "-1", "+1", "1e3", "1s", "inf", "nan", "NaN", "0x10",
                          "1,5", "1.2.3", ".", "86400.5", "99999999999999999999", "10 s", "1\t2"}) {
    EXPECT_EQ(ParseScrapeTimeoutHeader(bad), std::nullopt) << bad;
  }
  // The offset counts at most half the timeout; no timeout, no deadline.
  EXPECT_EQ(ScrapeBudget(seconds(10), milliseconds(500)), milliseconds(9500));
  EXPECT_EQ(ScrapeBudget(seconds(1), milliseconds(500)), milliseconds(500));
  EXPECT_EQ(ScrapeBudget(milliseconds(600), milliseconds(500)), milliseconds(300));
  EXPECT_EQ(ScrapeBudget(seconds(1), milliseconds(0)), seconds(1));
  EXPECT_EQ(ScrapeBudget(seconds(0), milliseconds(500)), std::nullopt);
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

// A bad collect[] or exclude[] is a typed result (the server answers it 400), not an exception.
TEST(Server, SelectionOrBadRequest) {
  const std::vector<std::string> enabled = {"meminfo", "thp", "hugepages"};
  auto s = ParseSelection("collect[]=meminfo&exclude%5B%5D=thp&x=1", enabled);
  ASSERT_TRUE(std::holds_alternative<Selection>(s));
  EXPECT_EQ(std::get<Selection>(s).collect, (std::vector<std::string>{"meminfo"}));
  EXPECT_EQ(std::get<Selection>(s).exclude, (std::vector<std::string>{"thp"}));
  s = ParseSelection("", enabled);
  ASSERT_TRUE(std::holds_alternative<Selection>(s));
  EXPECT_TRUE(std::get<Selection>(s).collect.empty());
  EXPECT_TRUE(std::get<Selection>(s).exclude.empty());
  // The first unknown name, collect[] before exclude[]; the message is the 400's body.
  s = ParseSelection("exclude[]=nosuch&collect[]=meminfo&collect[]=numa", enabled);
  ASSERT_TRUE(std::holds_alternative<BadRequest>(s));
  EXPECT_EQ(std::get<BadRequest>(s).message, "collector \"numa\" is unknown or not enabled");
  s = ParseSelection("exclude[]=nosuch", enabled);
  ASSERT_TRUE(std::holds_alternative<BadRequest>(s));
  EXPECT_EQ(std::get<BadRequest>(s).message, "collector \"nosuch\" is unknown or not enabled");
}

TEST(Server, LandingPageEscapesAndListsCollectors) {
  std::string page = LandingPage("/m?a=1&b=\"2\"", {"meminfo", "<thp>"}, {"tlb"});
  EXPECT_EQ(page.rfind("<!DOCTYPE html>\n", 0), 0u);
  EXPECT_NE(page.find("<a href=\"/m?a=1&amp;b=&quot;2&quot;\">Metrics</a>"), std::string::npos);
  EXPECT_NE(page.find("<h2>Enabled collectors</h2>\n<ul>\n<li>meminfo</li>\n<li>&lt;thp&gt;</li>\n"
                      "</ul>\n<h2>Disabled collectors</h2>\n<ul>\n<li>tlb</li>\n</ul>\n"
                      "</body></html>\n"),
            std::string::npos);
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
