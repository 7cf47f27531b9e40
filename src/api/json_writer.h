#pragma once
// A streaming JSON writer: appends to one string, no tree. Job listings are serialized with
// it because building an nlohmann tree per job (40 fields, nested maps) spent most of a page's
// time in malloc and free. Strings are escaped per RFC 8259; invalid UTF-8 becomes U+FFFD (as
// json_ok does with nlohmann's replace handler), so any stored bytes produce valid JSON.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sundial::api {

class json_writer {
 public:
  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  // An object member's name; the next call writes its value.
  json_writer& key(std::string_view name);
  void value(std::string_view s);
  void value(const char* s) { value(std::string_view(s)); }
  void value(const std::string& s) { value(std::string_view(s)); }
  void value(bool b);
  void value(std::int64_t v);
  void value(std::uint64_t v);
  void value(double v);  // shortest form that reads back exactly; non-finite as null
  void value(std::int32_t v) { value(static_cast<std::int64_t>(v)); }
  void value(std::uint32_t v) { value(static_cast<std::uint64_t>(v)); }
  void null();
  // A string map as an object (keys in the map's order).
  template <class Map>
  void object(const Map& m) {
    begin_object();
    for (const auto& [k, v] : m)
      key(k).value(v);
    end_object();
  }

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void before_value();
  void escaped(std::string_view s);
  std::string out_;
  std::vector<bool> need_comma_;  // per open container
  bool after_key_ = false;
};

}  // namespace sundial::api
