#include <gtest/gtest.h>

#include "exec/shell_config.h"

namespace sundial::exec {
namespace {

using strings = std::vector<std::string>;
using namespace std::chrono_literals;

base::result<shell_spec> parse(std::map<std::string, std::string> config) {
  return shell_spec_from_config(config);
}

TEST(shell_config, shell_true_runs_sh_dash_c) {
  auto spec = parse({{"command", "echo $HOME | wc -c"}, {"shell", "true"}});
  ASSERT_TRUE(spec.ok()) << spec.err().message;
  EXPECT_EQ(spec->argv, (strings{"/bin/sh", "-c", "echo $HOME | wc -c"}));
  EXPECT_EQ(spec->timeout, 0ns);
  EXPECT_TRUE(spec->env.empty());
  EXPECT_TRUE(spec->cwd.empty());
  EXPECT_EQ(spec->output_limit, 256u * 1024);
}

TEST(shell_config, without_shell_the_command_is_split_and_exec_d) {
  for (const char* shell : {"false", "", "yes"}) {
    auto spec = parse({{"command", "echo $HOME | wc"}, {"shell", shell}});
    ASSERT_TRUE(spec.ok()) << spec.err().message;
    EXPECT_EQ(spec->argv, (strings{"echo", "$HOME", "|", "wc"})) << "shell=" << shell;
  }
  auto absent = parse({{"command", "  /bin/ls   -l\t/tmp  "}});
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(absent->argv, (strings{"/bin/ls", "-l", "/tmp"}));
}

TEST(shell_config, quoting_follows_the_shell) {
  struct example {
    const char* text;
    strings words;
  };
  for (const auto& [text, words] : {
           example{R"(a 'b c' d)", {"a", "b c", "d"}},
           example{R"(say "it's \"quoted\" \\ \$x \q")", {"say", R"(it's "quoted" \ $x \q)"}},
           example{R"(one\ word two)", {"one word", "two"}},
           example{R"(a"b"'c'd)", {"abcd"}},
           example{R"(x '' "" y)", {"x", "", "", "y"}},
           example{"a \\\n b", {"a", "b"}},
           example{"\"line\\\njoined\"", {"linejoined"}},
           example{R"('no \escape in single')", {R"(no \escape in single)"}},
       }) {
    auto got = split_words(text);
    ASSERT_TRUE(got.ok()) << text << ": " << got.err().message;
    EXPECT_EQ(*got, words) << text;
  }
}

TEST(shell_config, bad_quoting_is_refused_naming_the_key) {
  auto single = parse({{"command", "echo 'oops"}});
  ASSERT_FALSE(single.ok());
  EXPECT_EQ(single.err().code, base::errc::invalid_argument);
  EXPECT_EQ(single.err().message,
            "executor_config[command]: \"echo 'oops\" cannot be split: unterminated single "
            "quote starting at character 6");
  auto dbl = parse({{"command", R"(echo "a \" b)"}});
  ASSERT_FALSE(dbl.ok());
  EXPECT_NE(dbl.err().message.find("unterminated double quote starting at character 6"),
            std::string::npos)
      << dbl.err().message;
  auto slash = parse({{"command", "echo \\"}});
  ASSERT_FALSE(slash.ok());
  EXPECT_NE(slash.err().message.find("trailing backslash"), std::string::npos);
}

TEST(shell_config, command_must_be_there_and_not_blank) {
  auto missing = parse({{"shell", "true"}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.err().message.find("executor_config[command]: missing"), std::string::npos);
  for (const char* blank : {"", "   ", "\t\n"}) {
    for (const char* shell : {"true", "false"}) {
      auto r = parse({{"command", blank}, {"shell", shell}});
      ASSERT_FALSE(r.ok()) << "[" << blank << "] shell=" << shell;
      EXPECT_EQ(r.err().code, base::errc::invalid_argument);
      EXPECT_NE(r.err().message.find("is empty"), std::string::npos) << r.err().message;
    }
  }
  auto empty_word = parse({{"command", "'' arg"}});
  ASSERT_FALSE(empty_word.ok());
  EXPECT_NE(empty_word.err().message.find("names no program"), std::string::npos);
}

TEST(shell_config, env_is_k_equals_v_separated_by_commas) {
  auto spec = parse({{"command", "env"}, {"env", "FOO=bar,EMPTY=,URL=a=b,_X1=y,"}});
  ASSERT_TRUE(spec.ok()) << spec.err().message;
  EXPECT_EQ(spec->env, (strings{"FOO=bar", "EMPTY=", "URL=a=b", "_X1=y"}));
  auto none = parse({{"command", "env"}, {"env", ""}});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->env.empty());
}

TEST(shell_config, bad_env_names_the_entry) {
  auto no_eq = parse({{"command", "env"}, {"env", "A=1,FOO"}});
  ASSERT_FALSE(no_eq.ok());
  EXPECT_EQ(no_eq.err().code, base::errc::invalid_argument);
  EXPECT_EQ(no_eq.err().message, "executor_config[env]: \"FOO\" is not K=V");
  for (const char* bad : {"1A=x", "=x", "A-B=x", "A B=x"}) {
    auto r = parse({{"command", "env"}, {"env", bad}});
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.err().message, std::string("executor_config[env]: \"") + bad +
                                   "\" has an invalid variable name (use letters, digits and _)");
  }
  EXPECT_TRUE(valid_env_name("_"));
  EXPECT_TRUE(valid_env_name("PATH2"));
  EXPECT_FALSE(valid_env_name("2PATH"));
  EXPECT_FALSE(valid_env_name(""));
}

TEST(shell_config, cwd_is_taken_as_given) {
  auto spec = parse({{"command", "pwd"}, {"cwd", "/var/tmp"}});
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->cwd, "/var/tmp");
}

TEST(shell_config, timeout_is_a_go_duration) {
  auto thirty = parse({{"command", "x"}, {"timeout", "30s"}});
  ASSERT_TRUE(thirty.ok()) << thirty.err().message;
  EXPECT_EQ(thirty->timeout, 30s);
  auto long_one = parse({{"command", "x"}, {"timeout", "1h30m"}});
  ASSERT_TRUE(long_one.ok());
  EXPECT_EQ(long_one->timeout, 90min);
  auto fraction = parse({{"command", "x"}, {"timeout", "1.5s"}});
  ASSERT_TRUE(fraction.ok());
  EXPECT_EQ(fraction->timeout, 1500ms);
  auto empty = parse({{"command", "x"}, {"timeout", ""}});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->timeout, 0ns);

  auto bad = parse({{"command", "x"}, {"timeout", "soon"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, base::errc::invalid_argument);
  EXPECT_EQ(bad.err().message.rfind("executor_config[timeout]: \"soon\"", 0), 0u)
      << bad.err().message;
  auto negative = parse({{"command", "x"}, {"timeout", "-5s"}});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.err().message.find("negative"), std::string::npos);
}

TEST(shell_config, unknown_keys_are_ignored) {
  auto spec = parse({{"command", "true"}, {"mem_limit_kb", "1024"}, {"project", "x"}});
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->argv, strings{"true"});
}

}  // namespace
}  // namespace sundial::exec
