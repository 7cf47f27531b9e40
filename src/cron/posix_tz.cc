#include "cron/posix_tz.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace sundial::cron::detail {
namespace {

using std::chrono::seconds;

class reader {
 public:
  explicit reader(std::string_view s) : s_(s) {}
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[pos_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  // "EST" (3+ letters) or "<+0530>" (3+ of letters, digits, '+', '-').
  std::optional<std::string> name() {
    std::string out;
    if (eat('<')) {
      while (!done() && peek() != '>')
        out += s_[pos_++];
      if (!eat('>')) return std::nullopt;
    } else {
      while (!done() && std::isalpha(static_cast<unsigned char>(peek())))
        out += s_[pos_++];
    }
    if (out.size() < 3) return std::nullopt;
    return out;
  }

  std::optional<int> number(int max) {
    int v = 0;
    int digits = 0;
    while (!done() && std::isdigit(static_cast<unsigned char>(peek()))) {
      v = v * 10 + (s_[pos_++] - '0');
      if (++digits > 3 || v > max) return std::nullopt;
    }
    if (digits == 0) return std::nullopt;
    return v;
  }

  // [+-]hh[:mm[:ss]], hours up to 167.
  std::optional<seconds> duration() {
    int sign = 1;
    if (eat('-')) {
      sign = -1;
    } else {
      eat('+');
    }
    auto h = number(167);
    if (!h) return std::nullopt;
    int total = *h * 3600;
    if (eat(':')) {
      auto m = number(59);
      if (!m) return std::nullopt;
      total += *m * 60;
      if (eat(':')) {
        auto sec = number(59);
        if (!sec) return std::nullopt;
        total += *sec;
      }
    }
    return seconds{sign * total};
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

std::chrono::sys_days civil(int y, unsigned m, unsigned d) {
  return std::chrono::sys_days{std::chrono::year_month_day{
      std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}}};
}

}  // namespace

std::optional<posix_rule> posix_rule::parse(std::string_view text) {
  reader r(text);
  posix_rule p;
  auto std_name = r.name();
  if (!std_name) return std::nullopt;
  auto std_off = r.duration();
  if (!std_off) return std::nullopt;
  p.std_abbrev_ = *std_name;
  p.std_offset_ = -*std_off;  // POSIX counts hours west of Greenwich
  if (r.done()) return p;

  auto dst_name = r.name();
  if (!dst_name) return std::nullopt;
  p.dst_abbrev_ = *dst_name;
  p.has_dst_ = true;
  p.dst_offset_ = p.std_offset_ + seconds{3600};
  if (r.peek() != ',') {
    auto dst_off = r.duration();
    if (!dst_off) return std::nullopt;
    p.dst_offset_ = -*dst_off;
  }
  auto rule = [&r](day_rule& out) -> bool {
    if (!r.eat(',')) return false;
    if (r.eat('J')) {
      auto n = r.number(365);
      if (!n || *n < 1) return false;
      out.kind = day_rule::form::julian_1;
      out.day = *n;
    } else if (r.eat('M')) {
      auto m = r.number(12);
      if (!m || *m < 1 || !r.eat('.')) return false;
      auto w = r.number(5);
      if (!w || *w < 1 || !r.eat('.')) return false;
      auto d = r.number(6);
      if (!d) return false;
      out.kind = day_rule::form::month_week_day;
      out.month = *m;
      out.week = *w;
      out.weekday = *d;
    } else {
      auto n = r.number(365);
      if (!n) return false;
      out.kind = day_rule::form::zero_based;
      out.day = *n;
    }
    if (r.eat('/')) {
      auto t = r.duration();
      if (!t) return false;
      out.time = *t;
    }
    return true;
  };
  // Without rules POSIX leaves the dates to the implementation; US rules are the usual
  // default, but TZif footers always carry explicit rules, so refuse instead of guessing.
  if (!rule(p.start_) || !rule(p.end_) || !r.done()) return std::nullopt;
  return p;
}

instant posix_rule::transition(const day_rule& r, int year, seconds offset_before) const {
  std::chrono::sys_days day;
  switch (r.kind) {
    case day_rule::form::julian_1: {
      int n = r.day;  // 1-365 in a year without Feb 29
      if (leap(year) && n >= 60) ++n;
      day = civil(year, 1, 1) + std::chrono::days{n - 1};
      break;
    }
    case day_rule::form::zero_based:
      day = civil(year, 1, 1) + std::chrono::days{r.day};
      break;
    case day_rule::form::month_week_day: {
      const auto first = civil(year, static_cast<unsigned>(r.month), 1);
      const unsigned first_wd = std::chrono::weekday{first}.c_encoding();
      int d = 1 + (r.weekday - static_cast<int>(first_wd) + 7) % 7 + 7 * (r.week - 1);
      const int dim = static_cast<int>(static_cast<unsigned>(std::chrono::year_month_day_last{
          std::chrono::year{year},
          std::chrono::month_day_last{std::chrono::month{
              static_cast<unsigned>(r.month)}}}.day()));
      while (d > dim)
        d -= 7;  // week 5 means "last"
      day = first + std::chrono::days{d - 1};
      break;
    }
  }
  return instant{day} + r.time - offset_before;
}

segment posix_rule::at(instant t) const {
  if (!has_dst_) return segment{instant::min(), instant::max(), std_offset_, std_abbrev_};
  struct change {
    instant when;
    bool to_dst;
  };
  const int y = static_cast<int>(
      std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(t)}.year());
  std::vector<change> changes;
  changes.reserve(10);
  for (int year = y - 2; year <= y + 2; ++year) {
    changes.push_back({transition(start_, year, std_offset_), true});
    changes.push_back({transition(end_, year, dst_offset_), false});
  }
  std::stable_sort(changes.begin(), changes.end(),
                   [](const change& a, const change& b) { return a.when < b.when; });
  // Drop changes that change nothing (e.g. all-year DST written as back-to-back rules).
  std::vector<change> real;
  for (const auto& c : changes) {
    if (!real.empty() && real.back().when == c.when) real.pop_back();
    if (real.empty() || real.back().to_dst != c.to_dst) real.push_back(c);
  }
  segment s{instant::min(), instant::max(), std_offset_, std_abbrev_};
  for (std::size_t i = 0; i < real.size(); ++i) {
    if (real[i].when <= t) {
      s.begin = real[i].when;
      s.offset = real[i].to_dst ? dst_offset_ : std_offset_;
      s.abbrev = real[i].to_dst ? dst_abbrev_ : std_abbrev_;
      s.end = i + 1 < real.size() ? real[i + 1].when : instant::max();
    }
  }
  return s;
}

}  // namespace sundial::cron::detail
