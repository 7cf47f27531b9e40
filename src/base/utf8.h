#pragma once
// UTF-8 validity (RFC 3629): the one decoder used for job names, JSON output and every string
// a client sends in a path, a query or a header.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sundial::base {

// Length (1-4) of the valid UTF-8 sequence at s[i], or 0 if there is none: overlong forms,
// surrogates (U+D800-DFFF), code points past U+10FFFF and truncated sequences are invalid.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// Decodes the code point at s[i] and advances i past it; nullopt (i unchanged) if invalid.
std::optional<char32_t> next_code_point(std::string_view s, std::size_t& i);

// Why `s` is not acceptable client text, or nullopt: invalid UTF-8 or a NUL byte, with the
// byte offset (e.g. "byte 3 is not valid UTF-8").
std::optional<std::string> text_problem(std::string_view s);

}  // namespace sundial::base
