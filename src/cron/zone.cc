#include "cron/zone.h"

#include "cron/posix_tz.h"

#include <date/tz.h>

#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

namespace sundial::cron {
namespace {

using std::chrono::seconds;

constexpr const char* zoneinfo_dir = "/usr/share/zoneinfo/";

// The POSIX TZ rule in a TZif (v2+) file's footer: the text between the last two newlines.
std::optional<std::string> read_footer(const std::string& zone_name) {
  if (zone_name.find("..") != std::string::npos) return std::nullopt;
  std::ifstream in(zoneinfo_dir + zone_name, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream buf;
  buf << in.rdbuf();
  const std::string data = buf.str();
  if (data.size() < 5 || data.compare(0, 4, "TZif") != 0 || data[4] < '2') return std::nullopt;
  if (data.back() != '\n') return std::nullopt;
  const auto start = data.rfind('\n', data.size() - 2);
  if (start == std::string::npos) return std::nullopt;
  std::string footer = data.substr(start + 1, data.size() - start - 2);
  if (footer.empty()) return std::nullopt;
  return footer;
}

}  // namespace

class zone::impl {
 public:
  const date::time_zone* db = nullptr;
  // Instants at or after `cutoff` are answered by `rule`, when the file has one.
  std::optional<detail::posix_rule> rule;
  instant cutoff = instant::max();

  segment from_db(instant t) const {
    const date::sys_info i = db->get_info(t);
    return segment{i.begin, i.end, i.offset, i.abbrev};
  }

  segment at(instant t) const {
    if (!rule || t < cutoff) {
      segment s = from_db(t);
      if (rule && s.end > cutoff) s.end = cutoff;
      return s;
    }
    segment s = rule->at(t);
    if (s.begin < cutoff) s.begin = cutoff;
    return s;
  }
};

zone::zone(std::string name, std::unique_ptr<impl> i)
    : name_(std::move(name)), impl_(std::move(i)) {
  utc_ = impl_->db == nullptr;
}
zone::~zone() = default;

base::result<std::shared_ptr<const zone>> zone::locate(std::string_view name) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const zone>, std::less<>> cache;

  const std::string key = (name.empty() || name == "UTC" || name == "Etc/UTC" || name == "Z")
                              ? std::string("UTC")
                              : std::string(name);
  std::lock_guard lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() > 4096) cache.clear();  // bounded: there are ~600 real zones

  auto i = std::make_unique<impl>();
  if (key != "UTC") {
    if (key.size() > 64 || key.find_first_of(" \t\n\r\0") != std::string::npos) {
      return base::fail(base::errc::invalid_argument,
                        "unknown time zone \"" + key.substr(0, 64) + "\"");
    }
    try {
      i->db = date::locate_zone(key);
    } catch (const std::exception&) {
      return base::fail(base::errc::invalid_argument,
                        "unknown time zone \"" + key +
                            "\" (use an IANA name such as Europe/Paris or America/New_York)");
    }
    if (auto footer = read_footer(key)) {
      // An unreadable footer leaves the database's own answer in force.
      if (auto rule = detail::posix_rule::parse(*footer)) {
        // The last explicit transition is where the database's final segment begins.
        const auto last = i->db->get_info(date::sys_days{date::year{9999} / 1 / 1});
        i->cutoff = std::chrono::time_point_cast<seconds>(last.begin);
        i->rule = std::move(rule);
      }
    }
  }
  auto z = std::make_shared<const zone>(key, std::move(i));
  cache.emplace(key, z);
  return z;
}

segment zone::segment_at(instant t) const {
  if (utc_) return segment{instant::min(), instant::max(), seconds{0}, "UTC"};
  return impl_->at(t);
}

seconds zone::offset_at(instant t) const {
  if (utc_) return seconds{0};
  return impl_->at(t).offset;
}

}  // namespace sundial::cron
