#include "exec/shell_config.h"

#include <fmt/format.h>

#include "cron/schedule.h"

namespace sundial::exec {
namespace {

base::failure bad_key(std::string_view key, std::string_view value, std::string_view why) {
  return base::fail(base::errc::invalid_argument,
                    fmt::format("executor_config[{}]: \"{}\" {}", key, value, why));
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\n';
}

bool is_blank_text(std::string_view s) {
  for (char c : s) {
    if (!is_blank(c) && c != '\r') return false;
  }
  return true;
}

}  // namespace

bool valid_env_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// POSIX shell quoting (XCU 2.2) without expansions: a word ends at an unquoted blank; quotes
// may join parts into one word ("a"'b'c is abc); a quoted empty string is an empty word.
base::result<std::vector<std::string>> split_words(std::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  std::size_t i = 0;
  const auto unterminated = [&](char quote, std::size_t at) {
    return base::fail(base::errc::invalid_argument,
                      fmt::format("unterminated {} quote starting at character {}",
                                  quote == '\'' ? "single" : "double", at + 1));
  };
  while (i < command.size()) {
    const char c = command[i];
    if (is_blank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    const bool was_in_word = in_word;
    in_word = true;
    if (c == '\'') {
      const std::size_t end = command.find('\'', i + 1);
      if (end == std::string_view::npos) return unterminated('\'', i);
      word.append(command.substr(i + 1, end - i - 1));
      i = end + 1;
    } else if (c == '"') {
      const std::size_t start = i;
      ++i;
      while (true) {
        if (i >= command.size()) return unterminated('"', start);
        const char d = command[i];
        if (d == '"') break;
        if (d == '\\' && i + 1 < command.size()) {
          const char e = command[i + 1];
          // Inside double quotes a backslash escapes only these; before a newline it joins
          // lines; before anything else it is itself.
          if (e == '$' || e == '`' || e == '"' || e == '\\') {
            word.push_back(e);
            i += 2;
            continue;
          }
          if (e == '\n') {
            i += 2;
            continue;
          }
        }
        word.push_back(d);
        ++i;
      }
      ++i;  // the closing quote
    } else if (c == '\\') {
      if (i + 1 >= command.size()) {
        return base::fail(base::errc::invalid_argument,
                          fmt::format("trailing backslash at character {}", i + 1));
      }
      if (command[i + 1] != '\n') {
        word.push_back(command[i + 1]);
      } else {
        in_word = was_in_word;  // a line continuation between words starts no word
      }
      i += 2;
    } else {
      word.push_back(c);
      ++i;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

base::result<shell_spec> shell_spec_from_config(const std::map<std::string, std::string>& config) {
  shell_spec spec;
  const auto find = [&](const char* key) -> const std::string* {
    auto it = config.find(key);
    return it == config.end() ? nullptr : &it->second;
  };

  const std::string* command = find("command");
  if (command == nullptr) {
    return base::fail(base::errc::invalid_argument,
                      "executor_config[command]: missing (the shell executor needs a command)");
  }
  if (is_blank_text(*command)) return bad_key("command", *command, "is empty");

  const std::string* shell = find("shell");
  if (shell != nullptr && *shell == "true") {
    spec.argv = {"/bin/sh", "-c", *command};
  } else {
    auto words = split_words(*command);
    if (!words) return bad_key("command", *command, "cannot be split: " + words.err().message);
    if (words->empty() || (*words)[0].empty()) {
      return bad_key("command", *command, "names no program");
    }
    spec.argv = std::move(*words);
  }

  if (const std::string* env = find("env"); env != nullptr) {
    std::string_view rest = *env;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      if (item.empty()) continue;  // "A=1," or ",,": nothing there
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) return bad_key("env", item, "is not K=V");
      if (!valid_env_name(item.substr(0, eq))) {
        return bad_key("env", item, "has an invalid variable name (use letters, digits and _)");
      }
      spec.env.emplace_back(item);
    }
  }

  if (const std::string* cwd = find("cwd"); cwd != nullptr) spec.cwd = *cwd;

  if (const std::string* timeout = find("timeout"); timeout != nullptr && !timeout->empty()) {
    auto d = cron::parse_go_duration(*timeout);
    if (!d) {
      return base::fail(base::errc::invalid_argument,
                        "executor_config[timeout]: " + d.err().message);
    }
    spec.timeout = *d;
  }
  return spec;
}

}  // namespace sundial::exec
