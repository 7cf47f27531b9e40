#include <date/tz.h>
#include <gtest/gtest.h>

#include "cron/posix_tz.h"
#include "cron/zone.h"
#include "test_util.h"

namespace sundial::cron {
namespace {

using namespace std::chrono;
using testing::at;

TEST(zone, unknown_names_are_refused) {
  for (const char* name : {"Mars/Olympus", "europe/paris", "../etc", "Europe/Paris ", "A\nB"}) {
    auto z = zone::locate(name);
    ASSERT_FALSE(z.ok()) << name;
    EXPECT_NE(z.err().message.find("unknown time zone"), std::string::npos);
  }
}

TEST(zone, empty_and_utc_mean_utc) {
  for (const char* name : {"", "UTC", "Etc/UTC"}) {
    auto z = zone::locate(name);
    ASSERT_TRUE(z.ok());
    EXPECT_TRUE((*z)->is_utc());
    EXPECT_EQ((*z)->offset_at(at("2026-07-01T00:00:00Z")), seconds{0});
  }
}

TEST(zone, offsets_follow_the_footer_rule_after_2037) {
  auto ny = zone::locate("America/New_York").value();
  EXPECT_EQ(ny->offset_at(at("2040-07-01T00:00:00Z")), -hours{4});
  EXPECT_EQ(ny->offset_at(at("2040-01-01T00:00:00Z")), -hours{5});
  EXPECT_EQ(ny->offset_at(at("2500-07-01T00:00:00Z")), -hours{4});
  auto lh = zone::locate("Australia/Lord_Howe").value();
  EXPECT_EQ(lh->offset_at(at("2040-07-01T00:00:00Z")), hours{10} + minutes{30});
  EXPECT_EQ(lh->offset_at(at("2040-01-01T00:00:00Z")), hours{11});
  auto ch = zone::locate("Pacific/Chatham").value();
  EXPECT_EQ(ch->offset_at(at("2050-01-01T00:00:00Z")), hours{13} + minutes{45});
  EXPECT_EQ(ch->offset_at(at("2050-07-01T00:00:00Z")), hours{12} + minutes{45});
}

TEST(zone, segments_are_contiguous_across_the_cutoff) {
  auto ny = zone::locate("America/New_York").value();
  instant t = at("2035-01-01T00:00:00Z");
  int changes = 0;
  while (t < at("2045-01-01T00:00:00Z")) {
    const segment s = ny->segment_at(t);
    ASSERT_LE(s.begin, t);
    ASSERT_GT(s.end, t);
    const segment after = ny->segment_at(s.end);
    ASSERT_EQ(after.begin, s.end);
    ASSERT_NE(after.offset, s.offset);
    t = s.end;
    ++changes;
  }
  EXPECT_EQ(changes, 21);  // two changes a year, plus the segment holding the start
}

// The footer rule must agree with the database's explicit transitions where both exist.
TEST(posix_rule, agrees_with_tzdata_for_2025_to_2037) {
  struct zone_rule {
    const char* zone;
    const char* rule;
  };
  for (auto [name, text] :
       {zone_rule{"America/New_York", "EST5EDT,M3.2.0,M11.1.0"},
        zone_rule{"Europe/London", "GMT0BST,M3.5.0/1,M10.5.0"},
        zone_rule{"Australia/Lord_Howe", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"},
        zone_rule{"Pacific/Chatham", "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45"},
        zone_rule{"America/Santiago", "<-04>4<-03>,M9.1.6/24,M4.1.6/24"},
        zone_rule{"Europe/Paris", "CET-1CEST,M3.5.0,M10.5.0/3"}}) {
    auto rule = detail::posix_rule::parse(text);
    ASSERT_TRUE(rule.has_value()) << text;
    const auto* db = date::locate_zone(name);
    for (instant t = at("2025-01-01T00:00:00Z"); t < at("2037-06-01T00:00:00Z");) {
      const auto info = db->get_info(t);
      const segment s = rule->at(t);
      ASSERT_EQ(s.offset, info.offset) << name << " at " << base::format_rfc3339_utc(t);
      ASSERT_EQ(s.end, time_point_cast<seconds>(info.end)) << name;
      t = s.end;
    }
  }
}

TEST(posix_rule, parses_fixed_and_refuses_garbage) {
  auto fixed = detail::posix_rule::parse("<+0530>-5:30");
  ASSERT_TRUE(fixed.has_value());
  EXPECT_EQ(fixed->at(at("2040-01-01T00:00:00Z")).offset, hours{5} + minutes{30});
  for (const char* bad : {"", "E", "EST", "EST5EDT", "EST5EDT,M3.2.0", "EST5EDT,M13.2.0,M11.1.0",
                          "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "<EST5",
                          "EST5EDT,J0,J100", "EST5EDT,M3.2.0,M11.1.0junk", "EST999"}) {
    EXPECT_FALSE(detail::posix_rule::parse(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace sundial::cron
