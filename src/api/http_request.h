#pragma once
// Turning a request's target into a path and query that handlers can trust: percent-decoding
// (RFC 3986 section 2.1; '+' is a space in the query only) and UTF-8 validity, with an error
// that names what is wrong. Pure functions: the server, its tests and the fuzzer share them.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sundial::api {

struct decoded_target {
  std::string path;
  std::map<std::string, std::string> query;
};

// Decodes "/a%20b?x=1&y" into its path and query. Fails (invalid_argument, the message names
// the part: "the path", "query parameter \"k\"") on malformed percent-encoding, invalid UTF-8 or
// NUL after decoding, and on a target that is not an absolute path.
base::result<decoded_target> decode_target(std::string_view target);

// %XX-decoding; nullopt on a '%' not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

// Whether the request line that starts `request` names an HTTP version this server does not
// speak ("HTTP/2.0", "HTTP/3"), which is a 505 (RFC 9110 15.6.6), unlike a malformed line (400).
bool names_unsupported_version(std::string_view request);

// A method label from a fixed set: clients may send any token as a method.
std::string_view method_label(std::string_view method);

}  // namespace sundial::api
