// The streaming writer and the job/multipart encodings: output always parses, strings are
// escaped, invalid UTF-8 is replaced, and multipart fields are found.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/job_json.h"
#include "api/json_writer.h"
#include "api/multipart.h"

namespace sundial::api {
namespace {

using nlohmann::json;

TEST(json_writer, nests_escapes_and_replaces_invalid_utf8) {
  json_writer w;
  w.begin_object();
  const std::string text = "quote\" back\\ nl\n tab\t ctl\x01 \xc3\xa9";
  w.key("s").value(text);
  w.key("bad").value(std::string_view("a\xff\xc3z\xed\xa0\x80", 7));  // stray, cut, surrogate
  w.key("n").value(std::int64_t{-5});
  w.key("u").value(std::uint64_t{18446744073709551615ull});
  w.key("b").value(true);
  w.key("z").null();
  w.key("arr").begin_array();
  w.value("x");
  w.begin_object();
  w.end_object();
  w.begin_array();
  w.end_array();
  w.end_array();
  w.end_object();
  const json j = json::parse(w.str());
  EXPECT_EQ(j["s"], text);
  EXPECT_EQ(j["bad"], "a\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(j["n"], -5);
  EXPECT_EQ(j["u"], 18446744073709551615ull);
  EXPECT_EQ(j["b"], true);
  EXPECT_TRUE(j["z"].is_null());
  EXPECT_EQ(j["arr"].dump(), R"(["x",{},[]])");
}

TEST(job_json, written_job_round_trips_through_the_parser) {
  json in = {{"name", "backup"},
             {"displayname", "Nightly \"db\""},
             {"schedule", "@every 1h"},
             {"executor", "shell"},
             {"executor_config", {{"command", "pg_dump"}, {"env", "A=1"}}},
             {"tags", {{"role", "db:1"}}},
             {"metadata", {{"b", "2"}, {"a", "1"}}},
             {"timeout", "90s"}};
  auto job = job_from_json(in);
  ASSERT_TRUE(job.ok()) << job.err().message;
  const json out = job_to_json(*job);
  EXPECT_EQ(out["displayname"], "Nightly \"db\"");
  EXPECT_EQ(out["executor_config"]["env"], "A=1");
  EXPECT_EQ(out["metadata"].dump(), R"({"a":"1","b":"2"})");
  EXPECT_EQ(out["timeout"], "1m30s");
  EXPECT_TRUE(out["last_success"].is_null());
  auto again = job_from_json(out);  // what GET returns is a valid job (a backup restores)
  ASSERT_TRUE(again.ok()) << again.err().message;
  EXPECT_EQ(job_to_json(*again), out);
}

TEST(multipart, finds_the_field_and_refuses_malformed_bodies) {
  const std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nnope\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.json\"\r\n"
      "Content-Type: application/json\r\n\r\n[1,\r\n2]\r\n--XyZ--\r\n";
  auto f = multipart_field("multipart/form-data; boundary=XyZ", body, "file");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ(**f, "[1,\r\n2]");
  auto quoted = multipart_field("multipart/form-data; boundary=\"XyZ\"", body, "other");
  ASSERT_TRUE(quoted.ok() && quoted->has_value());
  EXPECT_EQ(**quoted, "nope");
  auto missing = multipart_field("multipart/form-data; boundary=XyZ", body, "absent");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  EXPECT_FALSE(multipart_field("multipart/form-data", body, "file").ok()) << "no boundary";
  EXPECT_FALSE(multipart_field("application/json", body, "file").ok());
  EXPECT_FALSE(multipart_field("multipart/form-data; boundary=XyZ",
                               "--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n[1",
                               "file")
                   .ok())
      << "unterminated part";
}

}  // namespace
}  // namespace sundial::api
