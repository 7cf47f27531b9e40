#include "api/json_writer.h"

#include <fmt/format.h>

#include <cmath>

#include "base/utf8.h"

namespace sundial::api {

void json_writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!need_comma_.empty()) {
    if (need_comma_.back()) out_.push_back(',');
    need_comma_.back() = true;
  }
}

void json_writer::begin_object() {
  before_value();
  out_.push_back('{');
  need_comma_.push_back(false);
}

void json_writer::end_object() {
  out_.push_back('}');
  need_comma_.pop_back();
}

void json_writer::begin_array() {
  before_value();
  out_.push_back('[');
  need_comma_.push_back(false);
}

void json_writer::end_array() {
  out_.push_back(']');
  need_comma_.pop_back();
}

json_writer& json_writer::key(std::string_view name) {
  if (need_comma_.back()) out_.push_back(',');
  need_comma_.back() = true;
  escaped(name);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

void json_writer::value(std::string_view s) {
  before_value();
  escaped(s);
}

void json_writer::value(bool v) {
  before_value();
  out_ += v ? "true" : "false";
}

void json_writer::value(std::int64_t v) {
  before_value();
  fmt::format_to(std::back_inserter(out_), "{}", v);
}

void json_writer::value(std::uint64_t v) {
  before_value();
  fmt::format_to(std::back_inserter(out_), "{}", v);
}

void json_writer::value(double v) {
  before_value();
  if (!std::isfinite(v)) {
    out_ += "null";
    return;
  }
  fmt::format_to(std::back_inserter(out_), "{}", v);
}

void json_writer::null() {
  before_value();
  out_ += "null";
}

void json_writer::escaped(std::string_view s) {
  out_.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = base::utf8_sequence_length(s, i);
      if (n == 0) {
        out_ += "\xef\xbf\xbd";  // U+FFFD for each invalid byte
        ++i;
      } else {
        out_.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      case '\b':
        out_ += "\\b";
        break;
      case '\f':
        out_ += "\\f";
        break;
      default:
        if (c < 0x20) {
          fmt::format_to(std::back_inserter(out_), "\\u{:04x}", c);
        } else {
          out_.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out_.push_back('"');
}

}  // namespace sundial::api
