#include "api/openapi.h"

#include <algorithm>
#include <map>
#include <set>

namespace sundial::api {

namespace {

// The OpenAPI 3.0 operation keys of a path item; other keys (parameters, summary) are not
// operations.
const std::set<std::string> operation_keys = {"get",   "put",     "post", "delete",
                                              "patch", "options", "head", "trace"};

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool under_prefix(const std::string& prefix, const std::string& path) {
  if (path.size() < prefix.size() || path.compare(0, prefix.size(), prefix) != 0) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '{';
}

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& i : items)
    out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

void register_openapi_route(http_server& server) {
  server.route("GET", "/v1/openapi.json", [](const request&) {
    return response{200, "application/json", std::string(openapi_json()), {}};
  });
}

std::vector<std::string> openapi_route_mismatches(const nlohmann::json& doc,
                                                  const std::vector<route_info>& routes) {
  std::vector<std::string> problems;
  auto paths = doc.find("paths");
  if (!doc.is_object() || paths == doc.end() || !paths->is_object())
    return {"the document has no \"paths\" object"};

  std::vector<std::pair<std::string, std::string>> operations;  // (METHOD, path)
  for (const auto& [path, item] : paths->items()) {
    if (!item.is_object()) {
      problems.push_back("paths[\"" + path + "\"] is not an object");
      continue;
    }
    for (const auto& [key, op] : item.items()) {
      if (operation_keys.count(key)) operations.emplace_back(upper(key), path);
    }
  }

  // pattern -> methods, as the router keeps them.
  std::map<std::string, std::set<std::string>> exact, prefixes;
  for (const auto& r : routes)
    (r.prefix ? prefixes : exact)[r.pattern].insert(r.method);

  for (const auto& r : routes) {
    const bool described = std::any_of(operations.begin(), operations.end(), [&](const auto& op) {
      return op.first == r.method &&
             (r.prefix ? under_prefix(r.pattern, op.second) : op.second == r.pattern);
    });
    if (described) continue;
    if (r.prefix) {
      problems.push_back(r.method + " " + r.pattern +
                         "* (a prefix route) is served, but openapi.json describes no " + r.method +
                         " operation on a path under " + r.pattern);
    } else {
      problems.push_back(r.method + " " + r.pattern +
                         " is served, but openapi.json does not describe it");
    }
  }

  for (const auto& [method, path] : operations) {
    const std::string what = method + " " + path + " is described in openapi.json, but ";
    if (auto it = exact.find(path); it != exact.end()) {
      if (!it->second.count(method))
        problems.push_back(what + "the server serves only " + join(it->second) + " there");
      continue;
    }
    // The router's choice: the longest registered prefix the path starts with.
    const std::string* best = nullptr;
    for (const auto& [prefix, methods] : prefixes) {
      if (path.compare(0, prefix.size(), prefix) == 0 && (!best || prefix.size() > best->size()))
        best = &prefix;
    }
    if (!best) {
      problems.push_back(what + "no route serves it");
    } else if (!under_prefix(*best, path)) {
      problems.push_back(what + "only the prefix route " + *best +
                         " matches it, which serves templated paths under it, not \"" +
                         path.substr(best->size()) + "\"");
    } else if (!prefixes.at(*best).count(method)) {
      problems.push_back(what + "the prefix route " + *best + " serves only " +
                         join(prefixes.at(*best)));
    }
  }
  return problems;
}

}  // namespace sundial::api
