#include "state/job_rules.h"

#include <gtest/gtest.h>

namespace sundial::state {
namespace {

pb::Job minimal(std::string name = "backup") {
  pb::Job j;
  j.set_name(std::move(name));
  j.set_schedule("0 30 2 * * *");
  j.set_executor("shell");
  (*j.mutable_executor_config())["command"] = "echo hi";
  return j;
}

std::string error_of(pb::Job j) {
  auto st = normalize_job(j);
  return st.ok() ? "" : st.err().message;
}

TEST(job_rules, names) {
  EXPECT_TRUE(validate_job_name("nightly-backup_2").ok());
  EXPECT_TRUE(validate_job_name("sauvegarde-données").ok()) << "lowercase letters of any script";
  EXPECT_TRUE(validate_job_name("задача").ok());
  EXPECT_FALSE(validate_job_name("").ok());
  EXPECT_FALSE(validate_job_name("Backup").ok());
  EXPECT_FALSE(validate_job_name("Задача").ok()) << "uppercase Cyrillic";
  EXPECT_FALSE(validate_job_name("a b").ok());
  EXPECT_FALSE(validate_job_name("a/b").ok());
  EXPECT_FALSE(validate_job_name("a.b").ok());
  EXPECT_FALSE(validate_job_name("\xff\xfe").ok()) << "invalid UTF-8";
  EXPECT_FALSE(validate_job_name("\xc3").ok()) << "truncated UTF-8";
  EXPECT_FALSE(validate_job_name(std::string(257, 'a')).ok());
  EXPECT_TRUE(validate_job_name(std::string(256, 'a')).ok());
  EXPECT_NE(validate_job_name("Bad").err().message.find("\"B\""), std::string::npos);
}

TEST(job_rules, defaults_are_filled_in) {
  pb::Job j = minimal();
  ASSERT_TRUE(normalize_job(j).ok());
  EXPECT_EQ(j.concurrency(), "allow");
  EXPECT_EQ(j.misfire_policy(), "run_once");
  EXPECT_EQ(j.dst_policy(), "cron");
  EXPECT_EQ(j.target(), "one");
  EXPECT_EQ(j.routing(), "random");
  EXPECT_EQ(j.retry_on(), "any_node");
  EXPECT_EQ(j.on_parent(), "success");
  EXPECT_EQ(j.history_limit(), 100u);
  EXPECT_EQ(j.output_limit(), 256u * 1024);
  EXPECT_EQ(j.catchup_window_s(), 3600);
  EXPECT_FALSE(j.disabled());
  EXPECT_EQ(j.retries(), 0u);
}

TEST(job_rules, bad_fields_are_named) {
  auto with = [](auto f) {
    pb::Job j = minimal();
    f(j);
    return error_of(j);
  };
  EXPECT_NE(with([](pb::Job& j) { j.set_schedule("0 0 0 32 * *"); }).find("day of month"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) { j.set_timezone("Mars/Olympus"); }).find("timezone"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) { j.set_concurrency("sometimes"); }).find("concurrency"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) { j.set_parent_job("backup"); }).find("own parent"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) { j.set_schedule(""); }).find("schedule is required"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) { (*j.mutable_tags())["role"] = "web:0"; }).find("tags[role]"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) {
              (*j.mutable_executor_config())["timeout"] = "soon";
            }).find("executor_config[timeout]"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) { j.set_dst_policy("sometimes"); }).find("dst_policy"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) { j.set_history_limit(1000000); }).find("history_limit"),
            std::string::npos);
  EXPECT_NE(with([](pb::Job& j) { j.set_retries(5000); }).find("retries"), std::string::npos);
  EXPECT_NE(with([](pb::Job& j) {
              j.set_starts_at_us(2000);
              j.set_expires_at_us(1000);
            }).find("expires_at"),
            std::string::npos);
  // A dependent job needs no schedule.
  EXPECT_EQ(with([](pb::Job& j) {
              j.set_schedule("");
              j.set_parent_job("nightly");
            }),
            "");
  EXPECT_EQ(with([](pb::Job& j) { (*j.mutable_tags())["role"] = "web:2"; }), "");
}

TEST(job_rules, next_fire_uses_the_zone_and_bounds) {
  pb::Job j = minimal();
  j.set_schedule("0 0 9 * * *");
  j.set_timezone("America/New_York");
  ASSERT_TRUE(normalize_job(j).ok());
  // 2026-11-21T12:00:00Z -> 09:00 New York (EST, UTC-5) is 14:00Z the same day.
  const std::int64_t now = 1795262400LL * 1000000;
  EXPECT_EQ(next_fire_us(j, now), (1795262400LL + 2 * 3600) * 1000000);
  j.set_expires_at_us(now + 3600LL * 1000000);
  EXPECT_EQ(next_fire_us(j, now), 0) << "past expires_at";
  j.set_schedule("@manually");
  j.set_expires_at_us(0);
  EXPECT_EQ(next_fire_us(j, now), 0);
}

}  // namespace
}  // namespace sundial::state
