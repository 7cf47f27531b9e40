#include "cli/tables.h"

#include <gtest/gtest.h>

namespace sundial::cli {
namespace {

using nlohmann::json;

TEST(tables, columns_align_on_the_widest_cell_without_trailing_blanks) {
  EXPECT_EQ(render_table({"A", "BB"}, {{"long", "x"}, {"y", ""}}),
            "A     BB\n"
            "long  x\n"
            "y\n");
}

TEST(tables, widths_count_code_points_and_control_characters_become_spaces) {
  // "été" is 5 bytes but 3 columns wide.
  EXPECT_EQ(render_table({"N", "V"}, {{"été", "1"}, {"a\tb", "2"}}),
            "N    V\n"
            "été  1\n"
            "a b  2\n");
}

TEST(tables, cells_show_absent_null_and_empty_as_a_dash) {
  const json j{{"s", "x"}, {"n", nullptr}, {"e", ""}, {"b", true}, {"i", 3}};
  EXPECT_EQ(cell(j, "s"), "x");
  EXPECT_EQ(cell(j, "n"), "-");
  EXPECT_EQ(cell(j, "e"), "-");
  EXPECT_EQ(cell(j, "missing"), "-");
  EXPECT_EQ(cell(j, "b"), "yes");
  EXPECT_EQ(cell(j, "i"), "3");
  EXPECT_EQ(cell(json::array(), "s"), "-");  // an odd answer is never a throw
}

TEST(tables, jobs_table_has_the_list_columns) {
  const json jobs = json::array({json{{"name", "backup"},
                                      {"schedule", "@every 1h"},
                                      {"next", "2026-01-01T01:00:00Z"},
                                      {"last_success", nullptr},
                                      {"last_error", "2025-12-31T23:00:00Z"},
                                      {"disabled", false},
                                      {"success_count", 0},
                                      {"error_count", 2}}});
  EXPECT_EQ(jobs_table(jobs),
            "NAME    SCHEDULE   NEXT                  LAST SUCCESS  LAST ERROR            "
            "DISABLED  SUCCESS  ERROR\n"
            "backup  @every 1h  2026-01-01T01:00:00Z  -             2025-12-31T23:00:00Z  "
            "no        0        2\n");
}

TEST(tables, executions_table_shows_each_state_and_exit_code_once_ended) {
  const json execs = json::array({json{{"id", "e3"},
                                       {"state", "pending"},
                                       {"scheduled_at", "2026-01-01T00:00:01Z"},
                                       {"started_at", nullptr},
                                       {"finished_at", nullptr},
                                       {"exit_code", 0},
                                       {"node_name", "s1"},
                                       {"attempt", 1}},
                                  json{{"id", "e2"},
                                       {"state", "failed"},
                                       {"scheduled_at", "2026-01-01T00:00:00Z"},
                                       {"started_at", "2026-01-01T00:00:00Z"},
                                       {"finished_at", "2026-01-01T00:00:02Z"},
                                       {"exit_code", 3},
                                       {"node_name", "s1"},
                                       {"attempt", 2}},
                                  json{{"id", "e1"},
                                       {"started_at", "2025-12-31T00:00:00Z"},
                                       {"finished_at", nullptr},
                                       {"success", false},
                                       {"node_name", "s2"},
                                       {"attempt", 1}}});
  EXPECT_EQ(executions_table(execs),
            "ID  STATE    SCHEDULED             STARTED               FINISHED              EXIT  "
            "NODE  ATTEMPT\n"
            "e3  pending  2026-01-01T00:00:01Z  -                     -                     -     "
            "s1    1\n"
            "e2  failed   2026-01-01T00:00:00Z  2026-01-01T00:00:00Z  2026-01-01T00:00:02Z  3     "
            "s1    2\n"
            "e1  running  -                     2025-12-31T00:00:00Z  -                     -     "
            "s2    1\n");
}

TEST(tables, members_table_marks_the_leader) {
  auto member = [](const char* name, const char* id, const char* status) {
    return json{{"Name", name},
                {"id", id},
                {"statusText", status},
                {"Tags", {{"rpc_addr", std::string("h:1") + id}, {"http_addr", "h:80"}}}};
  };
  const json ms = json::array({member("s1", "1", "alive"), member("s2", "2", "failed")});
  EXPECT_EQ(members_table(ms, "s2"),
            "NAME  ID  RPC   HTTP  STATUS  LEADER\n"
            "s1    1   h:11  h:80  alive\n"
            "s2    2   h:12  h:80  failed  yes\n");
  EXPECT_EQ(member_details(ms[0]),
            "name:    s1\n"
            "id:      1\n"
            "rpc:     h:11\n"
            "http:    h:80\n"
            "status:  alive\n"
            "version: -\n");
}

TEST(tables, job_details_render_maps_and_lists) {
  const json j{{"name", "child"},
               {"tags", {{"b", "2"}, {"a", "1"}}},
               {"dependent_jobs", json::array({"x", "y"})},
               {"executor_config", json::object()}};
  const std::string out = job_details(j);
  EXPECT_NE(out.find("tags:            a=1, b=2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("dependent jobs:  x, y\n"), std::string::npos) << out;
  EXPECT_NE(out.find("executor config: -\n"), std::string::npos) << out;
  EXPECT_EQ(out.rfind("name:", 0), 0u) << out;
}

}  // namespace
}  // namespace sundial::cli
