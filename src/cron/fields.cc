#include "cron/fields.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include "cron/hash.h"

namespace sundial::cron::detail {
namespace {

using base::errc;
using base::fail;
using base::failure;
using base::result;

enum class field_kind { second, minute, hour, day_of_month, month, day_of_week };

constexpr std::array<std::string_view, 12> month_names{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> day_names{"SUN", "MON", "TUE", "WED",
                                                    "THU", "FRI", "SAT"};

struct field {
  field_kind kind;
  std::string_view name;
  int lo;
  int hi;
  int position;        // 1-based, as the user counts the fields in their text
  std::uint64_t hash;  // drives H/~ for this field
  std::string_view text;

  bool is_dom() const { return kind == field_kind::day_of_month; }
  bool is_dow() const { return kind == field_kind::day_of_week; }
  // The range H and '*' cover: days of month stop at 28 for H so a hashed day exists in every
  // month (as Jenkins does); day of week stops at 6 since 7 repeats Sunday.
  int hash_hi() const { return is_dom() ? 28 : is_dow() ? 6 : hi; }
  int star_hi() const { return is_dow() ? 6 : hi; }

  failure error(const std::string& what) const {
    return fail(errc::invalid_argument, fmt::format("field {} ({}): {}", position, name, what));
  }
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A number, or for months and days of week a three-letter name; range-checked.
result<int> parse_value(const field& f, std::string_view text) {
  int value = -1;
  if (all_digits(text)) {
    if (text.size() > 6) return f.error(fmt::format("{} is out of range {}-{}", text, f.lo, f.hi));
    value = std::stoi(std::string(text));
  } else if (f.kind == field_kind::month || f.is_dow()) {
    const auto* names = f.kind == field_kind::month ? month_names.data() : day_names.data();
    const int count = f.kind == field_kind::month ? 12 : 7;
    for (int i = 0; i < count; ++i) {
      if (names[i] == text) value = f.kind == field_kind::month ? i + 1 : i;
    }
    if (value < 0) {
      return f.error(fmt::format("\"{}\" is not a number or a name ({})", text,
                                 f.kind == field_kind::month ? "JAN-DEC" : "SUN-SAT"));
    }
  } else {
    return f.error(fmt::format("\"{}\" is not a number", text));
  }
  if (value < f.lo || value > f.hi) {
    return f.error(fmt::format("{} is out of range {}-{}", value, f.lo, f.hi));
  }
  return value;
}

// Sets bits lo, lo+step, ... <= hi (7 in day of week folds onto Sunday, 0).
void set_range(const field& f, std::uint64_t& bits, int lo, int hi, int step) {
  for (int v = lo; v <= hi; v += step)
    bits |= 1ull << (f.is_dow() && v == 7 ? 0 : v);
}

// "H", "H(a-b)", "~" and "a~b" (OpenBSD's form), with an optional step, all derived from the
// job's hash. Returns false when `base` is not a hash form.
result<bool> parse_hash_form(const field& f, std::string_view base, int step, bool has_step,
                             std::uint64_t& bits) {
  int lo = f.lo;
  int hi = f.hash_hi();
  if (base == "H" || base == "~") {
    // whole range
  } else if (base.size() > 3 && base.substr(0, 2) == "H(" && base.back() == ')') {
    const auto inner = base.substr(2, base.size() - 3);
    const auto dash = inner.find('-');
    if (dash == std::string_view::npos) {
      return f.error(fmt::format("\"{}\" needs a range inside H(), e.g. H(0-29)", base));
    }
    auto a = parse_value(f, inner.substr(0, dash));
    if (!a) return a.err();
    auto b = parse_value(f, inner.substr(dash + 1));
    if (!b) return b.err();
    lo = *a;
    hi = *b;
  } else if (auto tilde = base.find('~');
             tilde != std::string_view::npos && tilde > 0 && tilde + 1 < base.size()) {
    auto a = parse_value(f, base.substr(0, tilde));
    if (!a) return a.err();
    auto b = parse_value(f, base.substr(tilde + 1));
    if (!b) return b.err();
    lo = *a;
    hi = *b;
  } else {
    return false;
  }
  if (lo > hi) return f.error(fmt::format("range start {} is after its end {}", lo, hi));
  const std::uint64_t span = static_cast<std::uint64_t>(hi - lo + 1);
  if (has_step) {
    const std::uint64_t window = std::min<std::uint64_t>(static_cast<std::uint64_t>(step), span);
    set_range(f, bits, lo + static_cast<int>(f.hash % window), hi, step);
  } else {
    set_range(f, bits, lo + static_cast<int>(f.hash % span), lo + static_cast<int>(f.hash % span),
              1);
  }
  return true;
}

// Quartz's day-of-month forms: L, L-n, LW, nW. Returns false if `base` is none of them.
result<bool> parse_dom_special(const field& f, std::string_view base, cron_spec& spec) {
  if (base == "L") {
    spec.dom_last_minus |= 1u;
  } else if (base == "LW") {
    spec.dom_last_weekday = true;
  } else if (base.size() > 2 && base.substr(0, 2) == "L-") {
    const auto n = base.substr(2);
    if (!all_digits(n) || n.size() > 2 || std::stoi(std::string(n)) > 30) {
      return f.error(fmt::format("\"{}\": the offset in L-n must be 0-30", base));
    }
    spec.dom_last_minus |= 1u << std::stoi(std::string(n));
  } else if (base.size() > 1 && base.back() == 'W') {
    const auto day = base.substr(0, base.size() - 1);
    if (!all_digits(day)) {
      return f.error(fmt::format("\"{}\": W takes one day of the month, e.g. 15W", base));
    }
    auto d = parse_value(f, day);
    if (!d) return d.err();
    spec.dom_nearest_weekday |= 1u << *d;
  } else {
    return false;
  }
  return true;
}

// Quartz's day-of-week forms: wL (last w-day of the month) and w#k (k-th w-day).
result<bool> parse_dow_special(const field& f, std::string_view base, cron_spec& spec) {
  if (base == "L") {
    return f.error("\"L\" in day of week needs a day before it, e.g. 5L (the last Friday)");
  }
  if (base.size() > 1 && base.back() == 'L') {
    auto w = parse_value(f, base.substr(0, base.size() - 1));
    if (!w) return w.err();
    spec.dow_last |= static_cast<std::uint8_t>(1u << (*w % 7));
    return true;
  }
  if (const auto hash = base.find('#'); hash != std::string_view::npos) {
    auto w = parse_value(f, base.substr(0, hash));
    if (!w) return w.err();
    const auto k = base.substr(hash + 1);
    if (!all_digits(k) || k.size() > 1 || k[0] < '1' || k[0] > '5') {
      return f.error(fmt::format("\"{}\": the week in w#k must be 1-5", base));
    }
    spec.dow_nth |= 1ull << ((*w % 7) * 5 + (k[0] - '1'));
    return true;
  }
  return false;
}

base::status parse_item(const field& f, std::string_view item, cron_spec& spec,
                        std::uint64_t& bits) {
  if (item.empty()) return f.error("empty list item (a doubled or trailing comma?)");
  const auto slash = item.find('/');
  const std::string_view base = item.substr(0, slash);
  bool has_step = false;
  int step = 1;
  if (slash != std::string_view::npos) {
    const auto step_text = item.substr(slash + 1);
    if (step_text.find('/') != std::string_view::npos) {
      return f.error(fmt::format("\"{}\" has more than one '/'", item));
    }
    if (!all_digits(step_text) || step_text.size() > 6) {
      return f.error(fmt::format("step \"{}\" is not a number", step_text));
    }
    step = std::stoi(std::string(step_text));
    const int span = f.star_hi() - f.lo + 1;
    if (step < 1) return f.error(fmt::format("step {} must be at least 1", step));
    if (step > span) {
      return f.error(
          fmt::format("step {} is larger than the range {}-{}", step, f.lo, f.star_hi()));
    }
    has_step = true;
    if (base.empty()) return f.error(fmt::format("\"{}\" needs a value before '/'", item));
  }

  bool special = false;
  if (f.is_dom()) {
    auto r = parse_dom_special(f, base, spec);
    if (!r) return r.err();
    special = *r;
  } else if (f.is_dow()) {
    auto r = parse_dow_special(f, base, spec);
    if (!r) return r.err();
    special = *r;
  }
  if (special) {
    if (has_step) return f.error(fmt::format("a step cannot follow \"{}\"", base));
    return {};
  }

  auto hashed = parse_hash_form(f, base, step, has_step, bits);
  if (!hashed) return hashed.err();
  if (*hashed) return {};

  if (base == "*" || base == "?") {
    if (base == "?" && !f.is_dom() && !f.is_dow()) {
      return f.error("'?' is only allowed in day of month and day of week");
    }
    set_range(f, bits, f.lo, f.star_hi(), step);
    return {};
  }
  if (const auto dash = base.find('-'); dash != std::string_view::npos) {
    auto a = parse_value(f, base.substr(0, dash));
    if (!a) return a.err();
    auto b = parse_value(f, base.substr(dash + 1));
    if (!b) return b.err();
    if (*a > *b) return f.error(fmt::format("range start {} is after its end {}", *a, *b));
    set_range(f, bits, *a, *b, step);
    return {};
  }
  auto v = parse_value(f, base);
  if (!v) return v.err();
  // "a/n" means a, a+n, ... up to the end of the range (Vixie and robfig).
  set_range(f, bits, *v, has_step ? f.star_hi() : *v, step);
  return {};
}

base::status parse_field(const field& f, cron_spec& spec, std::uint64_t& bits) {
  if (f.text.size() > 256) return f.error("longer than 256 characters");
  std::string upper(f.text);
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view rest(upper);
  while (true) {
    const auto comma = rest.find(',');
    if (auto st = parse_item(f, rest.substr(0, comma), spec, bits); !st) return st;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return {};
}

std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size() && out.size() < 8) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t'))
      ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t')
      ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

}  // namespace

result<cron_spec> parse_fields(std::string_view text, std::uint64_t hash_seed) {
  const auto parts = split_fields(text);
  if (parts.size() != 5 && parts.size() != 6) {
    return fail(errc::invalid_argument,
                fmt::format("expected 5 fields (minute hour day-of-month month day-of-week) or 6 "
                            "(with seconds first), got {}{}",
                            parts.size() >= 8 ? "more than 7" : std::to_string(parts.size()),
                            parts.empty() ? " (the schedule is empty)" : ""));
  }
  const bool with_seconds = parts.size() == 6;
  const int shift = with_seconds ? 0 : -1;
  auto make = [&](field_kind kind, std::string_view name, int lo, int hi, std::string_view t) {
    const int index = static_cast<int>(kind);
    return field{
        kind, name, lo, hi, index + 1 + shift, mix(hash_seed, static_cast<std::uint64_t>(index)),
        t};
  };
  const std::size_t o = with_seconds ? 1 : 0;

  cron_spec spec;
  std::uint64_t bits = 0;
  if (with_seconds) {
    if (auto st = parse_field(make(field_kind::second, "second", 0, 59, parts[0]), spec, bits); !st)
      return st.err();
    spec.seconds = bits;
  } else {
    spec.seconds = 1;
  }
  bits = 0;
  if (auto st = parse_field(make(field_kind::minute, "minute", 0, 59, parts[o]), spec, bits); !st)
    return st.err();
  spec.minutes = bits;
  bits = 0;
  if (auto st = parse_field(make(field_kind::hour, "hour", 0, 23, parts[o + 1]), spec, bits); !st)
    return st.err();
  spec.hours = static_cast<std::uint32_t>(bits);
  bits = 0;
  const auto dom_text = parts[o + 2];
  if (auto st =
          parse_field(make(field_kind::day_of_month, "day of month", 1, 31, dom_text), spec, bits);
      !st)
    return st.err();
  spec.dom = static_cast<std::uint32_t>(bits);
  bits = 0;
  if (auto st = parse_field(make(field_kind::month, "month", 1, 12, parts[o + 3]), spec, bits); !st)
    return st.err();
  spec.months = static_cast<std::uint16_t>(bits);
  bits = 0;
  const auto dow_text = parts[o + 4];
  if (auto st =
          parse_field(make(field_kind::day_of_week, "day of week", 0, 7, dow_text), spec, bits);
      !st)
    return st.err();
  spec.dow = static_cast<std::uint8_t>(bits);
  spec.dom_star = dom_text[0] == '*' || dom_text[0] == '?';
  spec.dow_star = dow_text[0] == '*' || dow_text[0] == '?';
  return spec;
}

}  // namespace sundial::cron::detail
