#pragma once
// Error codes and error values shared by every module. Modules never throw across their
// boundaries: a fallible call returns base::result<T> (see result.h) holding either a value
// or one of these.

#include <string>
#include <string_view>

namespace sundial::base {

// What went wrong, coarse enough that callers can branch on it (and the API can map it to an
// HTTP status), with the detail in error::message.
enum class errc {
  invalid_argument,  // the caller's input is malformed or out of range (HTTP 400)
  not_found,         // the named thing does not exist (404)
  conflict,          // the request contradicts current state (409)
  too_large,         // the input exceeds a size limit (413)
  unavailable,       // not now: no leader, shutting down, overloaded (503)
  not_leader,        // this node cannot serve it; another node can
  timeout,           // a deadline passed before the outcome was known
  io_error,          // the operating system refused a read or write
  corruption,        // stored bytes fail a checksum or do not decode
  internal,          // a bug: an invariant did not hold
};

// Stable lowercase name of a code, e.g. "invalid_argument".
std::string_view to_string(errc code);

// An error: a code plus a message written for the person who will read it, naming what was
// wrong and where (e.g. "field 4 (day of month): 32 is out of range 1-31").
struct error {
  errc code = errc::internal;
  std::string message;

  friend bool operator==(const error&, const error&) = default;
};

// "<code>: <message>", for logs.
std::string describe(const error& e);

}  // namespace sundial::base
