#pragma once
// Parsing of the five or six cron fields into a cron_spec. Internal to the cron module.

#include <cstdint>
#include <string_view>

#include "base/result.h"
#include "cron/spec.h"

namespace sundial::cron::detail {

// Parses "sec min hour dom month dow" (6 fields) or "min hour dom month dow" (5 fields;
// second 0). `hash_seed` fixes the values of H/~ forms. Errors name the field by its position
// in `text`, e.g. "field 4 (day of month): 32 is out of range 1-31".
base::result<cron_spec> parse_fields(std::string_view text, std::uint64_t hash_seed);

}  // namespace sundial::cron::detail
