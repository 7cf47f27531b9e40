#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace sundial::storage::testing {

// A fresh directory under $TMPDIR, removed at the end of the test.
class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sundial-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace sundial::storage::testing
