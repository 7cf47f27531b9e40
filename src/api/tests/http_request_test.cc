// Decoding a request target: what handlers may rely on, and the errors for what they may not.
#include "api/http_request.h"

#include <gtest/gtest.h>

namespace sundial::api {
namespace {

TEST(decode_target, splits_and_decodes_path_and_query) {
  auto t = decode_target("/v1/kv/a%20b?cas=3&flag&x=a+b&y=%E2%82%AC&=ignored");
  ASSERT_TRUE(t.ok()) << t.err().message;
  EXPECT_EQ(t->path, "/v1/kv/a b");
  EXPECT_EQ(t->query.at("cas"), "3");
  EXPECT_EQ(t->query.at("flag"), "");
  EXPECT_EQ(t->query.at("x"), "a b");  // '+' is a space in the query only
  EXPECT_EQ(t->query.at("y"), "\xe2\x82\xac");
  EXPECT_EQ(t->query.count(""), 0u);
  auto plus = decode_target("/a+b");
  ASSERT_TRUE(plus.ok());
  EXPECT_EQ(plus->path, "/a+b");
}

TEST(decode_target, refuses_bytes_that_are_not_text_naming_the_part) {
  struct bad_case {
    const char* target;
    const char* names;
  };
  for (const auto& c : std::initializer_list<bad_case>{
           {"/no-such-route/%FF", "the path"},
           {"/v1/jobs/%C0%AF", "the path"},        // overlong '/'
           {"/v1/jobs/%ED%A0%80", "the path"},     // a surrogate
           {"/v1/jobs/%F4%90%80%80", "the path"},  // past U+10FFFF
           {"/v1/kv/a%00b", "the path"},           // NUL
           {"/v1/kv/%E2%82", "the path"},          // truncated
           {"/v1/jobs?q=%FF", "query parameter \"q\""},
           {"/v1/jobs?%FF=1", "query parameter name"},
           {"/v1/jobs?q=%zz", "malformed percent-encoding"},
           {"/v1/jobs/%4", "malformed percent-encoding"},
           {"*", "not an absolute path"},
           {"ftp://host/x", "not an absolute path"},
       }) {
    auto t = decode_target(c.target);
    ASSERT_FALSE(t.ok()) << c.target;
    EXPECT_EQ(t.err().code, base::errc::invalid_argument);
    EXPECT_NE(t.err().message.find(c.names), std::string::npos)
        << c.target << ": " << t.err().message;
    // The message itself is printable ASCII: safe to put in any answer or log.
    for (char ch : t.err().message)
      EXPECT_TRUE(ch >= 0x20 && ch < 0x7f) << c.target << ": " << t.err().message;
  }
}

TEST(decode_target, accepts_the_absolute_form_and_drops_fragments) {
  auto a = decode_target("http://example.com:8080/v1/jobs?q=x#frag");
  ASSERT_TRUE(a.ok()) << a.err().message;
  EXPECT_EQ(a->path, "/v1/jobs");
  EXPECT_EQ(a->query.at("q"), "x");
  auto bare = decode_target("https://example.com?x=1");
  ASSERT_TRUE(bare.ok()) << bare.err().message;
  EXPECT_EQ(bare->path, "/");
  EXPECT_EQ(bare->query.at("x"), "1");
  auto frag = decode_target("/health#top");
  ASSERT_TRUE(frag.ok());
  EXPECT_EQ(frag->path, "/health");
}

TEST(names_unsupported_version, tells_other_versions_from_garbage) {
  EXPECT_TRUE(names_unsupported_version("GET / HTTP/2.0\r\nHost: x"));
  EXPECT_TRUE(names_unsupported_version("GET / HTTP/3"));
  EXPECT_FALSE(names_unsupported_version("GET / HTTP/1.1\r\n"));
  EXPECT_FALSE(names_unsupported_version("NOT HTTP AT ALL\r\n"));
  EXPECT_FALSE(names_unsupported_version("GET / HTTP/x.y"));
}

TEST(method_label, keeps_the_label_set_bounded) {
  EXPECT_EQ(method_label("GET"), "GET");
  EXPECT_EQ(method_label("PATCH"), "PATCH");
  EXPECT_EQ(method_label("BREW"), "OTHER");
  EXPECT_EQ(method_label("get"), "OTHER");
}

}  // namespace
}  // namespace sundial::api
