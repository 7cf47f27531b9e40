#include "api/openapi.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

namespace sundial::api {
namespace {

using nlohmann::json;

json document() {
  return json::parse(openapi_json(), nullptr, false);
}

// Every "$ref" in `node`, with where it was found.
void collect_refs(const json& node, const std::string& at,
                  std::vector<std::pair<std::string, std::string>>& out) {
  if (node.is_object()) {
    for (const auto& [k, v] : node.items()) {
      if (k == "$ref" && v.is_string()) out.emplace_back(v.get<std::string>(), at);
      collect_refs(v, at + "/" + k, out);
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i)
      collect_refs(node[i], at + "/" + std::to_string(i), out);
  }
}

const json& resolve(const json& doc, const json& maybe_ref) {
  if (!maybe_ref.contains("$ref")) return maybe_ref;
  return doc.at(json::json_pointer(maybe_ref["$ref"].get<std::string>().substr(1)));
}

TEST(openapi, the_document_is_openapi_3_0) {
  const json doc = document();
  ASSERT_FALSE(doc.is_discarded()) << "src/api/openapi.json is not valid JSON";
  ASSERT_TRUE(doc["openapi"].is_string());
  EXPECT_EQ(doc["openapi"].get<std::string>().rfind("3.0.", 0), 0u) << doc["openapi"];
  EXPECT_TRUE(doc["info"]["title"].is_string());
  EXPECT_TRUE(doc["info"]["version"].is_string());
  ASSERT_TRUE(doc["paths"].is_object());
  EXPECT_GT(doc["paths"].size(), 10u);
}

TEST(openapi, every_reference_resolves) {
  const json doc = document();
  std::vector<std::pair<std::string, std::string>> refs;
  collect_refs(doc, "", refs);
  EXPECT_GT(refs.size(), 50u);
  for (const auto& [ref, at] : refs) {
    ASSERT_EQ(ref.rfind("#/", 0), 0u) << ref << " at " << at;
    EXPECT_TRUE(doc.contains(json::json_pointer(ref.substr(1)))) << ref << " at " << at;
  }
}

TEST(openapi, operations_have_responses_and_declare_their_path_parameters) {
  const json doc = document();
  const std::regex param("\\{([^}]+)\\}");
  for (const auto& [path, item] : doc["paths"].items()) {
    std::vector<std::string> in_path;
    for (auto it = std::sregex_iterator(path.begin(), path.end(), param);
         it != std::sregex_iterator(); ++it)
      in_path.push_back((*it)[1]);
    for (const auto& [method, op] : item.items()) {
      const std::string where = method + " " + path;
      ASSERT_TRUE(op["responses"].is_object()) << where;
      EXPECT_FALSE(op["responses"].empty()) << where;
      for (const auto& [code, r] : op["responses"].items()) {
        EXPECT_TRUE(std::regex_match(code, std::regex("[1-5][0-9][0-9]"))) << where << " " << code;
        EXPECT_TRUE(resolve(doc, r)["description"].is_string()) << where << " " << code;
      }
      for (const auto& name : in_path) {
        bool declared = false;
        for (const auto& p : op.value("parameters", json::array())) {
          const json& q = resolve(doc, p);
          declared = declared || (q["in"] == "path" && q["name"] == name && q["required"] == true);
        }
        EXPECT_TRUE(declared) << where << " does not declare path parameter " << name;
      }
    }
  }
}

json doc_with(std::initializer_list<std::pair<const char*, const char*>> ops) {
  json d{{"openapi", "3.0.3"}, {"paths", json::object()}};
  for (const auto& [method, path] : ops)
    d["paths"][path][method] = json{{"responses", {{"200", {{"description", "ok"}}}}}};
  return d;
}

std::string all(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v)
    out += s + "\n";
  return out;
}

TEST(openapi_route_mismatches, agreeing_routes_and_document_have_none) {
  const json d = doc_with({{"get", "/v1/jobs"},
                           {"get", "/v1/jobs/{job}"},
                           {"post", "/v1/jobs/{job}/toggle"},
                           {"get", "/v1/"},
                           {"get", "/v1/members"}});
  const std::vector<route_info> routes = {{"GET", "/v1/jobs", false},
                                          {"GET", "/v1/jobs/", true},
                                          {"POST", "/v1/jobs/", true},
                                          {"GET", "/v1/", true},
                                          {"GET", "/v1/members", false}};
  EXPECT_EQ(all(openapi_route_mismatches(d, routes)), "");
}

TEST(openapi_route_mismatches, name_each_missing_route_and_operation) {
  const json d = doc_with({{"get", "/v1/jobs/{job}"}, {"get", "/v1/busy"}, {"put", "/v1/jobs"}});
  const std::vector<route_info> routes = {{"GET", "/v1/jobs", false},
                                          {"GET", "/v1/jobs/", true},
                                          {"DELETE", "/v1/jobs/", true},
                                          {"GET", "/metrics", false}};
  const std::string p = all(openapi_route_mismatches(d, routes));
  EXPECT_NE(p.find("GET /v1/jobs is served, but openapi.json does not describe it"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("GET /metrics is served"), std::string::npos) << p;
  EXPECT_NE(p.find("DELETE /v1/jobs/* (a prefix route) is served"), std::string::npos) << p;
  EXPECT_NE(p.find("GET /v1/busy is described in openapi.json, but no route serves it"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("PUT /v1/jobs is described in openapi.json, but the server serves only GET"),
            std::string::npos)
      << p;
  EXPECT_EQ(p.find("GET /v1/jobs/{job}"), std::string::npos) << p;
}

TEST(openapi_route_mismatches, a_catch_all_prefix_does_not_serve_literal_paths_under_it) {
  // "/v1/" as a prefix route serves GET /v1/ itself, not a documented /v1/members.
  const json d = doc_with({{"get", "/v1/"}, {"get", "/v1/members"}, {"get", "/v1/kv/{key}"}});
  const std::vector<route_info> routes = {{"GET", "/v1/", true}, {"GET", "/v1/kv/", true}};
  const std::string p = all(openapi_route_mismatches(d, routes));
  EXPECT_NE(p.find("GET /v1/members is described in openapi.json, but only the prefix route /v1/"),
            std::string::npos)
      << p;
  EXPECT_EQ(p.find("/v1/kv"), std::string::npos) << p;
}

TEST(openapi_route_mismatches, a_document_without_paths_is_one_problem) {
  EXPECT_EQ(openapi_route_mismatches(json::object(), {}).size(), 1u);
}

}  // namespace
}  // namespace sundial::api
