// Fuzzes the schedule parser and, for what parses, next()/prev() from arbitrary instants:
// no input may crash, hang or break the ordering contract.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cron/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 10) return 0;
  // The first 8 bytes choose the starting instant, the next one the zone and policy.
  std::int64_t seconds = 0;
  for (int i = 0; i < 8; ++i)
    seconds = (seconds << 8) | data[i];
  const std::uint8_t pick = data[8];
  static const char* const zones[] = {
      "UTC",           "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham",
      "Europe/London", "Asia/Kolkata",     "America/Santiago",    "Bad/Zone"};
  const std::string_view text(reinterpret_cast<const char*>(data + 9), size - 9);
  sundial::cron::parse_options opts{
      zones[pick & 7], static_cast<std::uint64_t>(seconds),
      (pick & 8) ? sundial::cron::dst_policy::wall : sundial::cron::dst_policy::cron};
  auto s = sundial::cron::parse(text, opts);
  if (!s.ok()) {
    if (s.err().message.empty()) std::abort();  // every error must say what is wrong
    return 0;
  }
  // Keep the start inside years 1-9999 (the engine's range) but anywhere in it.
  const std::int64_t span = 253402300799LL + 62135596800LL;
  const std::int64_t from = (seconds % span + span) % span - 62135596800LL;
  const sundial::cron::instant t{std::chrono::seconds{from}};
  if (auto n = s->next(t)) {
    if (*n <= t) std::abort();
    if (auto p = s->prev(*n); p && *p >= *n) std::abort();
  }
  if (auto p = s->prev(t); p && *p >= t) std::abort();
  (void)s->describe();
  return 0;
}
