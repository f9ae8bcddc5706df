#include "flightdeck/flight/dataset_descriptor.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "flightdeck/flight/ticket.h"

namespace flightdeck::flight {

namespace fl = arrow::flight;
using json = nlohmann::json;

namespace {

// `value` with control characters and quotes escaped, at most 80 of them:
// safe to put in an error message and a log line.
std::string Printable(const std::string& value) {
  std::string out;
  for (unsigned char c : value.substr(0, 80)) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return value.size() > 80 ? out + "..." : out;
}

// A path element: 1 to 256 bytes, no '/' or '\\', no control characters,
// not "." or "..", so that no name can reach outside its place when it
// becomes part of a file name, a log line or a glob.
arrow::Status CheckElement(const char* what, const std::string& value) {
  const bool bad_length = value.empty() || value.size() > 256;
  const bool bad_char = std::any_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return c == '/' || c == '\\' || u < 0x20 || u == 0x7f;
  });
  if (bad_length || bad_char || value == "." || value == "..") {
    return arrow::Status::Invalid("descriptor ", what, " '", Printable(value),
                                  "' must have 1 to 256 characters, no '/', '\\' or control characters, and "
                                  "not be '.' or '..'");
  }
  return arrow::Status::OK();
}

arrow::Result<DatasetDescriptor> FromCommand(const std::string& cmd) {
  if (cmd.size() > kMaxCommandBytes) {
    return arrow::Status::Invalid("command descriptor has ", cmd.size(), " bytes; at most ", kMaxCommandBytes);
  }
  json j = json::parse(cmd, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return arrow::Status::Invalid(
        "command descriptor must be a JSON object such as "
        "{\"tenant\":\"t\",\"dataset\":\"d\",\"partition\":\"0\"}, got '",
        cmd.substr(0, 200), "'");
  }
  DatasetDescriptor out;
  for (const auto& [key, value] : j.items()) {
    if (key == "tenant" || key == "dataset" || key == "partition") {
      if (!value.is_string()) {
        return arrow::Status::Invalid("command descriptor field '", key, "' must be a string");
      }
      (key == "tenant" ? out.tenant : key == "dataset" ? out.dataset : out.partition) =
          value.get<std::string>();
    } else if (key == "durable") {
      if (!value.is_boolean()) return arrow::Status::Invalid("'durable' must be true or false");
      out.durable = value.get<bool>();
    } else if (key == "ttl_seconds") {
      if (!value.is_number() || value.get<double>() < 0) {
        return arrow::Status::Invalid("'ttl_seconds' must be a number >= 0");
      }
      out.ttl = std::chrono::milliseconds(static_cast<int64_t>(value.get<double>() * 1000));
    } else if (key == "endpoints") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1 ||
          value.get<int64_t>() > kMaxTicketParts) {
        return arrow::Status::Invalid("'endpoints' must be a whole number from 1 to ",
                                      kMaxTicketParts, ", got ", value.dump());
      }
      out.endpoints = value.get<int>();
    } else {
      return arrow::Status::Invalid(
          "command descriptor has unknown field '", key,
          "' (known: tenant, dataset, partition, durable, ttl_seconds, endpoints)");
    }
  }
  for (const char* required : {"tenant", "dataset", "partition"}) {
    if (!j.contains(required)) {
      return arrow::Status::Invalid("command descriptor lacks '", required, "'");
    }
  }
  return out;
}

}  // namespace

arrow::Result<DatasetDescriptor> ParseDatasetDescriptor(const fl::FlightDescriptor& descriptor) {
  DatasetDescriptor out;
  if (descriptor.type == fl::FlightDescriptor::PATH) {
    if (descriptor.path.size() != 3) {
      return arrow::Status::Invalid(
          "path descriptor must have 3 elements (tenant, dataset, partition), got ",
          descriptor.path.size());
    }
    out.tenant = descriptor.path[0];
    out.dataset = descriptor.path[1];
    out.partition = descriptor.path[2];
  } else if (descriptor.type == fl::FlightDescriptor::CMD) {
    ARROW_ASSIGN_OR_RAISE(out, FromCommand(descriptor.cmd));
  } else {
    return arrow::Status::Invalid("descriptor must be a path or a command");
  }
  ARROW_RETURN_NOT_OK(CheckElement("tenant", out.tenant));
  ARROW_RETURN_NOT_OK(CheckElement("dataset", out.dataset));
  ARROW_RETURN_NOT_OK(CheckElement("partition", out.partition));
  ARROW_RETURN_NOT_OK(ValidateTenant(out.tenant));
  return out;
}

}  // namespace flightdeck::flight
