#pragma once
// The OpenAPI 3.0 description of the HTTP API. The document is src/api/openapi.json, kept
// readable and diffable in the repository and embedded into the binary at build time
// (cmake/embed_text.cmake).

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "api/http_server.h"

namespace sundial::api {

// The document's text, byte for byte as in src/api/openapi.json.
std::string_view openapi_json();

// Serves GET /v1/openapi.json.
void register_openapi_route(http_server& server);

// How the routes a server registered and the document's operations differ: one message per
// route served but not described, and per operation described but not served, each naming the
// method and path. A prefix route ("/v1/jobs/") stands for the templated paths under it
// ("/v1/jobs/{job}", "/v1/jobs/{job}/toggle"): it is described when some path under it has
// its method, and a described path is served by the longest prefix it starts with when the
// text after that prefix starts with a template parameter (or is empty).
std::vector<std::string> openapi_route_mismatches(const nlohmann::json& doc,
                                                  const std::vector<route_info>& routes);

}  // namespace sundial::api
