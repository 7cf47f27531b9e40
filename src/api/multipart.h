#pragma once
// multipart/form-data bodies (RFC 7578), enough for file uploads such as POST /v1/restore.

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace sundial::api {

// The content of the form field `field` in a multipart/form-data `body` whose Content-Type
// header is `content_type` (it carries the boundary): a view into `body`. nullopt: the body has
// no such field. A malformed body (no boundary, unterminated part) is an invalid_argument error.
base::result<std::optional<std::string_view>> multipart_field(std::string_view content_type,
                                                              std::string_view body,
                                                              std::string_view field);

}  // namespace sundial::api
