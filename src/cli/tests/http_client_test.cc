#include "cli/http_client.h"

#include <gtest/gtest.h>

namespace sundial::cli {
namespace {

TEST(http_client, url_encode_keeps_only_unreserved_characters) {
  EXPECT_EQ(url_encode("backup-db_1.x~"), "backup-db_1.x~");
  EXPECT_EQ(url_encode("a b&c=d/e?"), "a%20b%26c%3Dd%2Fe%3F");
  EXPECT_EQ(url_encode("été"), "%C3%A9t%C3%A9");
  EXPECT_EQ(url_encode(""), "");
}

TEST(http_client, an_unreachable_address_is_named_in_the_error) {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  auto r = http_call("GET", "127.0.0.1:1", "/v1/members");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.err().message.find("127.0.0.1:1"), std::string::npos) << r.err().message;
  auto bad = http_call("GET", "no-port", "/");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, base::errc::invalid_argument);
}

}  // namespace
}  // namespace sundial::cli
