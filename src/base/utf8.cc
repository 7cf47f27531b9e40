#include "base/utf8.h"

#include <cstdint>

namespace sundial::base {

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  if (i >= s.size()) return 0;
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;  // a continuation byte, 0xc0/0xc1 (always overlong) or 0xf5-0xff
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i) {
  const std::size_t n = utf8_sequence_length(s, i);
  if (n == 0) return std::nullopt;
  static constexpr unsigned char lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
  char32_t cp = static_cast<unsigned char>(s[i]) & lead_mask[n];
  for (std::size_t k = 1; k < n; ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  i += n;
  return cp;
}

std::optional<std::string> text_problem(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] == '\0') return "byte " + std::to_string(i) + " is NUL";
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) return "byte " + std::to_string(i) + " is not valid UTF-8";
    i += n;
  }
  return std::nullopt;
}

}  // namespace sundial::base
