// next() and prev() against the brute-force oracle (oracle.h) over thousands of random
// expressions, zones and windows around DST transitions, month ends, leap days and year ends.
//
// SUNDIAL_PROPERTY_CASES scales the number of cases (make soak raises it);
// SUNDIAL_PROPERTY_SEED replays another seed.
#include <date/tz.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <sstream>

#include "base/time_format.h"
#include "cron/schedule.h"
#include "oracle.h"

namespace sundial::cron {
namespace {

using namespace std::chrono;

const char* const zones[] = {"America/New_York", "Europe/London", "Australia/Lord_Howe",
                             "Pacific/Chatham",  "Asia/Kolkata",  "UTC",
                             "America/Santiago", "Europe/Paris"};

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

class generator {
 public:
  explicit generator(std::uint64_t seed) : rng_(seed) {}

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(int percent) { return pick(1, 100) <= percent; }
  template <class T, std::size_t N>
  const T& one_of(const T (&a)[N]) {
    return a[pick(0, static_cast<int>(N) - 1)];
  }

  std::string value(int field, int lo, int hi) {
    static const char* const months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                         "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
    static const char* const days[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};
    const int v = pick(lo, hi);
    if (field == 4 && chance(30)) return months[v - 1];
    if (field == 5 && v < 7 && chance(30)) {
      std::string name = days[v];
      if (chance(50))
        name = {name[0], static_cast<char>(name[1] + 32), static_cast<char>(name[2] + 32)};
      return name;
    }
    return std::to_string(v);
  }

  // One item of a plain field: a value, a range, a step or a hash form.
  std::string item(int field, int lo, int hi) {
    switch (pick(0, 9)) {
      case 0:
        return "*";
      case 1:
        return "*/" + std::to_string(pick(1, std::max(1, (hi - lo + 1) / 2)));
      case 2:
      case 3: {
        int a = pick(lo, hi), b = pick(lo, hi);
        if (a > b) std::swap(a, b);
        return std::to_string(a) + "-" + std::to_string(b);
      }
      case 4: {
        int a = pick(lo, hi), b = pick(lo, hi);
        if (a > b) std::swap(a, b);
        return std::to_string(a) + "-" + std::to_string(b) + "/" + std::to_string(pick(1, 5));
      }
      case 5:
        return std::to_string(pick(lo, hi)) + "/" + std::to_string(pick(1, std::min(10, hi - lo)));
      case 6:
        if (chance(50)) return "H";
        if (chance(50)) return "H/" + std::to_string(pick(1, std::max(1, (hi - lo + 1) / 3)));
        {
          int a = pick(lo, hi), b = pick(lo, hi);
          if (a > b) std::swap(a, b);
          return chance(50) ? "H(" + std::to_string(a) + "-" + std::to_string(b) + ")"
                            : std::to_string(a) + "~" + std::to_string(b);
        }
      default:
        return value(field, lo, hi);
    }
  }

  std::string list(int field, int lo, int hi) {
    std::string out = item(field, lo, hi);
    if (out[0] == '*') return out;
    while (chance(30))
      out += "," + item(field, lo, hi);
    return out;
  }

  std::string dom() {
    if (chance(40)) return chance(80) ? "*" : "?";
    if (chance(40)) {
      static const char* const specials[] = {"L", "LW", "L-3", "15W", "1W", "31W", "L-0", "28W"};
      std::string out = one_of(specials);
      if (chance(30)) out += "," + std::to_string(pick(1, 31));
      return out;
    }
    return list(3, 1, 31);
  }

  std::string dow() {
    if (chance(50)) return chance(80) ? "*" : "?";
    if (chance(35)) {
      const int w = pick(0, 7);
      std::string out = chance(50) ? std::to_string(w) + "L"
                                   : std::to_string(w) + "#" + std::to_string(pick(1, 5));
      if (chance(30)) out += "," + std::to_string(pick(0, 6));
      return out;
    }
    return list(5, 0, 7);
  }

  // A whole expression; `dense` keeps seconds and minutes sparse enough for a day-long window.
  std::string expression(bool month_scale) {
    std::string sec, min, hour;
    if (month_scale) {
      sec = std::to_string(pick(0, 59));
      min = chance(70) ? std::to_string(pick(0, 59)) : "0,30";
      hour = chance(30) ? "*" : list(2, 0, 23);
    } else {
      sec = chance(70) ? "0" : (chance(50) ? "*/" + std::to_string(pick(7, 30)) : list(0, 0, 59));
      min = chance(30) ? "0" : list(1, 0, 59);
      hour = chance(35) ? "*" : list(2, 0, 23);
    }
    const std::string d = dom(), w = dow();
    const std::string mon = month_scale || chance(20) ? list(4, 1, 12) : "*";
    std::string fields = min + " " + hour + " " + d + " " + mon + " " + w;
    if (chance(80) || sec != "0") fields = sec + " " + fields;
    return fields;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

// The first instant after `t` at which `z` changes its offset (or t + 40 days if none soon).
sys_seconds next_transition(const date::time_zone* z, sys_seconds t) {
  const auto info = z->get_info(t);
  const sys_seconds end = time_point_cast<seconds>(info.end);
  return end - t > days{200} ? t + days{40} : end;
}

struct outcome {
  int failures = 0;
  long fires = 0;
};

void check_case(const std::string& expr, const std::string& zone_name, dst_policy pol,
                std::uint64_t seed, sys_seconds from, sys_seconds to, outcome& out) {
  parse_options opts{zone_name, seed, pol};
  auto s = parse(expr, opts);
  ASSERT_TRUE(s.ok()) << expr << ": " << s.err().message;
  const oracle::matcher m(expr, seed);
  const auto* z = date::locate_zone(zone_name);
  const auto expected = oracle::fires(
      m, z, pol == dst_policy::wall ? oracle::policy::wall : oracle::policy::cron, from, to);
  out.fires += static_cast<long>(expected.size());

  std::vector<instant> forward;
  instant cur = from - seconds{1};
  while (forward.size() <= expected.size() + 2) {
    auto n = s->next(cur);
    if (!n || *n >= to) break;
    forward.push_back(*n);
    cur = *n;
  }
  std::vector<instant> backward;
  cur = to;
  while (backward.size() <= expected.size() + 2) {
    auto p = s->prev(cur);
    if (!p || *p < from) break;
    backward.push_back(*p);
    cur = *p;
  }
  std::reverse(backward.begin(), backward.end());

  auto report = [&](const char* which, const std::vector<instant>& got) {
    if (got == expected) return;
    ++out.failures;
    std::ostringstream msg;
    msg << which << " differs from the oracle for \"" << expr << "\" zone=" << zone_name
        << " dst=" << to_string(pol) << " seed=" << seed << " window=["
        << base::format_rfc3339_utc(from) << ", " << base::format_rfc3339_utc(to) << ")\n";
    std::size_t i = 0;
    while (i < got.size() && i < expected.size() && got[i] == expected[i])
      ++i;
    msg << "  first difference at #" << i
        << ": engine=" << (i < got.size() ? base::format_rfc3339_utc(got[i]) : "(none)")
        << " oracle=" << (i < expected.size() ? base::format_rfc3339_utc(expected[i]) : "(none)")
        << " (engine " << got.size() << " instants, oracle " << expected.size() << ")";
    ADD_FAILURE() << msg.str();
  };
  report("next()", forward);
  report("prev()", backward);
}

TEST(cron_property, next_and_prev_match_the_oracle_around_dst_transitions) {
  const std::uint64_t seed = env_or("SUNDIAL_PROPERTY_SEED", 20261121);
  const std::uint64_t cases = env_or("SUNDIAL_PROPERTY_CASES", 2500);
  generator g(seed);
  outcome out;
  for (std::uint64_t i = 0; i < cases && out.failures < 5; ++i) {
    const std::string expr = g.expression(false);
    const std::string zone_name = g.one_of(zones);
    const dst_policy pol = g.chance(50) ? dst_policy::cron : dst_policy::wall;
    const std::uint64_t hseed = g.rng()();
    const auto* z = date::locate_zone(zone_name);
    const sys_seconds start = sys_days{year{g.pick(1996, 2035)} / g.pick(1, 12) / g.pick(1, 28)} +
                              seconds{g.pick(0, 86399)};
    const sys_seconds t = next_transition(z, start) - seconds{g.pick(0, 30 * 3600)};
    check_case(expr, zone_name, pol, hseed, t, t + hours{36}, out);
  }
  EXPECT_EQ(out.failures, 0);
  EXPECT_GT(out.fires, static_cast<long>(cases));  // the windows were not empty
  std::printf("checked %llu expressions, %ld instants\n", static_cast<unsigned long long>(cases),
              out.fires);
}

TEST(cron_property, month_day_forms_match_the_oracle_across_months_and_years) {
  const std::uint64_t seed = env_or("SUNDIAL_PROPERTY_SEED", 20261121) + 1;
  const std::uint64_t cases = env_or("SUNDIAL_PROPERTY_CASES", 2500) / 2;
  generator g(seed);
  outcome out;
  for (std::uint64_t i = 0; i < cases && out.failures < 5; ++i) {
    const std::string expr = g.expression(true);
    // Beyond 2037 the oracle's zone data lacks DST, so far years use zones without it.
    const bool far = g.chance(20);
    const std::string zone_name = far ? (g.chance(50) ? "UTC" : "Asia/Kolkata") : g.one_of(zones);
    const dst_policy pol = g.chance(50) ? dst_policy::cron : dst_policy::wall;
    const std::uint64_t hseed = g.rng()();
    static const int years[] = {1996, 1999, 2000, 2023, 2024, 2028, 2032, 2036};
    static const int far_years[] = {2099, 2100, 2399, 2400, 9998};
    const int y = far ? g.one_of(far_years) : g.one_of(years);
    // Start shortly before a year end or before the end of February.
    const sys_seconds start = g.chance(50) ? sys_days{year{y} / 12 / 1} : sys_days{year{y} / 2 / 1};
    check_case(expr, zone_name, pol, hseed, start, start + days{g.pick(40, 120)}, out);
  }
  EXPECT_EQ(out.failures, 0);
  std::printf("checked %llu expressions, %ld instants\n", static_cast<unsigned long long>(cases),
              out.fires);
}

}  // namespace
}  // namespace sundial::cron
