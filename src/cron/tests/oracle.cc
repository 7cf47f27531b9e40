#include "oracle.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "cron/hash.h"

namespace sundial::cron::oracle {
namespace {

const char* const months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                              "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
const char* const days[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

// field index: 0 second, 1 minute, 2 hour, 3 dom, 4 month, 5 dow
const int lows[] = {0, 0, 0, 1, 1, 0};
const int highs[] = {59, 59, 23, 31, 12, 7};

int value_of(int field, const std::string& s) {
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) return std::stoi(s);
  if (field == 4) {
    for (int i = 0; i < 12; ++i)
      if (s == months[i]) return i + 1;
  }
  if (field == 5) {
    for (int i = 0; i < 7; ++i)
      if (s == days[i]) return i;
  }
  return -1000;
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}
unsigned month_length(int y, unsigned m) {
  const unsigned l[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : l[m - 1];
}
unsigned weekday(int y, unsigned m, unsigned d) {
  return date::weekday{date::sys_days{date::year{y} / date::month{m} / date::day{d}}}.c_encoding();
}
bool is_weekday(int y, unsigned m, unsigned d) {
  const unsigned w = weekday(y, m, d);
  return w >= 1 && w <= 5;
}

}  // namespace

matcher::matcher(const std::string& fields_text, std::uint64_t hash_seed) : seed_(hash_seed) {
  std::istringstream in(fields_text);
  std::vector<std::string> fields;
  std::string f;
  while (in >> f) {
    for (char& c : f)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    fields.push_back(f);
  }
  if (fields.size() == 5) fields.insert(fields.begin(), "0");
  for (const auto& field : fields) {
    std::vector<std::string> items;
    std::string cur;
    for (char c : field) {
      if (c == ',') {
        items.push_back(cur);
        cur.clear();
      } else {
        cur += c;
      }
    }
    items.push_back(cur);
    items_.push_back(items);
  }
  // Quartz's forms are kept apart; value_in() sees only the plain items.
  std::vector<std::string> plain;
  for (const auto& it : items_[3]) {
    const bool special =
        it == "L" || it == "LW" || it.rfind("L-", 0) == 0 || (it.size() > 1 && it.back() == 'W');
    (special ? dom_special_ : plain).push_back(it);
  }
  items_[3] = plain;
  plain.clear();
  for (const auto& it : items_[5]) {
    const bool special = (it.size() > 1 && it.back() == 'L') || it.find('#') != std::string::npos;
    (special ? dow_special_ : plain).push_back(it);
  }
  items_[5] = plain;
  dom_star_ = fields[3][0] == '*' || fields[3][0] == '?';
  dow_star_ = fields[5][0] == '*' || fields[5][0] == '?';
}

// A plain item (no L/W/#) against a value: *, ?, a, a-b, with /step, or an H form.
bool matcher::value_in(int field, int value) const {
  for (const auto& it : items_[field]) {
    std::string base = it;
    int step = 1;
    bool has_step = false;
    if (auto slash = it.find('/'); slash != std::string::npos) {
      base = it.substr(0, slash);
      step = std::stoi(it.substr(slash + 1));
      has_step = true;
    }
    int lo = lows[field], hi = highs[field];
    if (field == 5) hi = 6;
    bool hashed = false;
    if (base == "H" || base == "~") {
      hashed = true;
      if (field == 3) hi = 28;
    } else if (base.rfind("H(", 0) == 0) {
      hashed = true;
      auto dash = base.find('-');
      lo = value_of(field, base.substr(2, dash - 2));
      hi = value_of(field, base.substr(dash + 1, base.size() - dash - 2));
    } else if (auto t = base.find('~'); t != std::string::npos) {
      hashed = true;
      lo = value_of(field, base.substr(0, t));
      hi = value_of(field, base.substr(t + 1));
    }
    if (hashed) {
      const std::uint64_t h = detail::mix(seed_, static_cast<std::uint64_t>(field));
      const int span = hi - lo + 1;
      if (has_step) {
        const int start =
            lo + static_cast<int>(h % static_cast<std::uint64_t>(std::min(step, span)));
        for (int v = start; v <= hi; v += step)
          if (v == value || (field == 5 && v == 7 && value == 0)) return true;
      } else {
        const int v = lo + static_cast<int>(h % static_cast<std::uint64_t>(span));
        if (v == value || (field == 5 && v == 7 && value == 0)) return true;
      }
      continue;
    }
    int a, b;
    if (base == "*" || base == "?") {
      a = lo;
      b = hi;
    } else if (auto dash = base.find('-'); dash != std::string::npos) {
      a = value_of(field, base.substr(0, dash));
      b = value_of(field, base.substr(dash + 1));
    } else {
      a = value_of(field, base);
      b = has_step ? hi : a;
    }
    for (int v = a; v <= b; v += step) {
      if (v == value || (field == 5 && v == 7 && value == 0)) return true;
    }
  }
  return false;
}

bool matcher::dom_item(const std::string& it, int year, unsigned month, unsigned day) const {
  const unsigned last = month_length(year, month);
  if (it == "L") return day == last;
  if (it == "LW") {
    unsigned lw = last;
    while (!is_weekday(year, month, lw))
      --lw;
    return day == lw;
  }
  if (it.rfind("L-", 0) == 0)
    return static_cast<int>(day) == static_cast<int>(last) - std::stoi(it.substr(2));
  if (it.size() > 1 && it.back() == 'W') {
    const unsigned d = static_cast<unsigned>(std::stoi(it));
    if (d > last) return false;
    // The weekday of the month closest to d.
    unsigned best = 0;
    int best_dist = 100;
    for (unsigned x = 1; x <= last; ++x) {
      const int dist = std::abs(static_cast<int>(x) - static_cast<int>(d));
      if (is_weekday(year, month, x) && dist < best_dist) {
        best = x;
        best_dist = dist;
      }
    }
    return day == best;
  }
  return false;
}

bool matcher::dow_item(const std::string& it, int year, unsigned month, unsigned day) const {
  const unsigned w = weekday(year, month, day);
  if (it.size() > 1 && it.back() == 'L') {
    const int want = value_of(5, it.substr(0, it.size() - 1)) % 7;
    return static_cast<int>(w) == want && day + 7 > month_length(year, month);
  }
  if (auto hash = it.find('#'); hash != std::string::npos) {
    const int want = value_of(5, it.substr(0, hash)) % 7;
    const unsigned k = static_cast<unsigned>(std::stoi(it.substr(hash + 1)));
    return static_cast<int>(w) == want && (day - 1) / 7 + 1 == k;
  }
  return false;
}

bool matcher::day_matches(int year, unsigned month, unsigned day) const {
  if (!value_in(4, static_cast<int>(month))) return false;
  bool dom = value_in(3, static_cast<int>(day));
  for (const auto& it : dom_special_)
    dom = dom || dom_item(it, year, month, day);
  bool dow = value_in(5, static_cast<int>(weekday(year, month, day)));
  for (const auto& it : dow_special_)
    dow = dow || dow_item(it, year, month, day);
  if (dom_star_ || dow_star_) return dom && dow;
  return dom || dow;
}

bool matcher::hour_matches(int h) const {
  return value_in(2, h);
}
bool matcher::minute_matches(int m) const {
  return value_in(1, m);
}
bool matcher::second_matches(int s) const {
  return value_in(0, s);
}

bool matcher::every_hour() const {
  for (int h = 0; h < 24; ++h)
    if (!value_in(2, h)) return false;
  return true;
}

bool matcher::matches(const local_fields& f) const {
  return day_matches(f.year, f.month, f.day) && hour_matches(f.hour) && minute_matches(f.minute) &&
         second_matches(f.second);
}

namespace {

local_fields split(std::int64_t local) {
  const auto day = date::floor<date::days>(date::sys_seconds{std::chrono::seconds{local}});
  const date::year_month_day ymd{day};
  const std::int64_t rem =
      local - static_cast<std::int64_t>(day.time_since_epoch().count()) * 86400;
  return local_fields{static_cast<int>(ymd.year()),     static_cast<unsigned>(ymd.month()),
                      static_cast<unsigned>(ymd.day()), date::weekday{day}.c_encoding(),
                      static_cast<int>(rem / 3600),     static_cast<int>(rem / 60 % 60),
                      static_cast<int>(rem % 60)};
}

std::int64_t local_of(const date::time_zone* z, std::int64_t t) {
  return t + z->get_info(date::sys_seconds{std::chrono::seconds{t}}).offset.count();
}

}  // namespace

std::vector<instant> fires(const matcher& m, const date::time_zone* z, policy p, instant from,
                           instant to) {
  std::vector<instant> out;
  const bool fixed = p == policy::cron && !m.every_hour();
  std::int64_t t = from.time_since_epoch().count();
  const std::int64_t end = to.time_since_epoch().count();
  // The largest local time shown before `from` (within two days is enough for any overlap).
  std::int64_t max_seen = std::numeric_limits<std::int64_t>::min();
  for (std::int64_t back = t - 2 * 86400; back < t;) {
    const auto info = z->get_info(date::sys_seconds{std::chrono::seconds{back}});
    const std::int64_t seg_end = std::min<std::int64_t>(info.end.time_since_epoch().count(), t);
    max_seen = std::max(max_seen, seg_end - 1 + info.offset.count());
    back = seg_end;
  }
  while (t < end) {
    const auto info = z->get_info(date::sys_seconds{std::chrono::seconds{t}});
    const std::int64_t seg_end = std::min<std::int64_t>(info.end.time_since_epoch().count(), end);
    const std::int64_t local = t + info.offset.count();
    const std::int64_t local_before = local_of(z, t - 1);
    bool fire = false;
    if (m.matches(split(local)) && (!fixed || local > max_seen)) fire = true;
    if (fixed && local - local_before > 1) {
      // Wall times skipped by a forward jump fire at the first instant after it.
      for (std::int64_t x = std::max(local_before + 1, max_seen + 1); x < local && !fire; ++x) {
        if (m.matches(split(x))) fire = true;
      }
    }
    if (fire) out.push_back(instant{std::chrono::seconds{t}});
    max_seen = std::max(max_seen, local);

    // Next second to look at: skip seconds of a day/hour/minute that cannot match, staying
    // inside this segment so that every transition is visited exactly.
    const local_fields f = split(local);
    std::int64_t skip = 1;
    if (!m.day_matches(f.year, f.month, f.day)) {
      skip = 86400 - (f.hour * 3600 + f.minute * 60 + f.second);
    } else if (!m.hour_matches(f.hour)) {
      skip = 3600 - (f.minute * 60 + f.second);
    } else if (!m.minute_matches(f.minute)) {
      skip = 60 - f.second;
    }
    const std::int64_t next = std::min(t + skip, std::max(seg_end, t + 1));
    max_seen = std::max(max_seen, local + (next - t) - 1);
    t = next;
  }
  return out;
}

}  // namespace sundial::cron::oracle
