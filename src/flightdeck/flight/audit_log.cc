#include "flightdeck/flight/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "flightdeck/common/clock.h"
#include "flightdeck/common/crypto.h"
#include "flightdeck/common/durable_file.h"
#include "flightdeck/common/random.h"

namespace flightdeck::flight {

using json = nlohmann::json;

namespace {

// The chain link of `line` (its JSON without "hmac") after `previous`.
std::string Link(const std::string& key, const std::string& previous, const std::string& line) {
  return ToHex(HmacSha256(key, previous + "\n" + line));
}

arrow::Result<std::string> ReadKey(const std::string& key_file) {
  std::ifstream in(key_file, std::ios::binary);
  if (in) {
    std::stringstream text;
    text << in.rdbuf();
    std::string key = text.str();
    if (key.size() < 16) return arrow::Status::IOError("audit key file '", key_file, "' holds under 16 bytes");
    return key;
  }
  std::string key = RandomHex(32);
  ARROW_RETURN_NOT_OK(WriteFileAtomically(key_file, key));
  ::chmod(key_file.c_str(), 0600);
  return key;
}

}  // namespace

AuditLog::AuditLog(int fd, std::string key, int64_t seq, std::string last_hmac)
    : fd_(fd), key_(std::move(key)), seq_(seq), last_hmac_(std::move(last_hmac)) {}

AuditLog::~AuditLog() { ::close(fd_); }

arrow::Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, const std::string& key_file) {
  ARROW_ASSIGN_OR_RAISE(std::string key, ReadKey(key_file));
  // Continue the chain: the last line's seq and hmac.
  int64_t seq = 0;
  std::string last;
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) {  // not a device or a pipe
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!record.is_object() || !record["seq"].is_number_integer() || !record["hmac"].is_string()) {
        return arrow::Status::IOError("audit log '", path, "': line ", seq + 1,
                                      " is not an audit record; verify it with `flightdeck audit verify`");
      }
      seq = record["seq"].get<int64_t>();
      last = record["hmac"].get<std::string>();
    }
  }
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return arrow::Status::IOError("cannot open audit log '", path, "': ", std::strerror(errno));
  return std::unique_ptr<AuditLog>(new AuditLog(fd, std::move(key), seq, std::move(last)));
}

arrow::Status AuditLog::Append(json record) {
  std::lock_guard<std::mutex> lock(mutex_);
  ARROW_RETURN_NOT_OK(failed_);
  record["seq"] = seq_ + 1;
  record["time"] = UtcTimestampMillis();
  std::string body = record.dump();
  const std::string hmac = Link(key_, last_hmac_, body);
  record["hmac"] = hmac;
  const std::string line = record.dump() + "\n";
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd_, line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failed_ = arrow::Status::IOError("cannot write the audit log: ", std::strerror(errno));
      return failed_;
    }
    written += static_cast<size_t>(n);
  }
  ++seq_;
  last_hmac_ = hmac;
  return arrow::Status::OK();
}

bool AuditLog::healthy() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return failed_.ok();
}

arrow::Result<AuditVerdict> VerifyAuditLog(const std::string& path, const std::string& key_file) {
  std::ifstream key_in(key_file, std::ios::binary);
  if (!key_in) return arrow::Status::IOError("cannot read the audit key file '", key_file, "'");
  std::stringstream key_text;
  key_text << key_in.rdbuf();
  const std::string key = key_text.str();
  std::ifstream in(path);
  if (!in) return arrow::Status::IOError("cannot read the audit log '", path, "'");
  std::vector<json> records;
  std::string line;
  while (std::getline(in, line)) {
    json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
    records.push_back(record.is_object() ? std::move(record) : json());
  }
  AuditVerdict verdict;
  verdict.lines = static_cast<int64_t>(records.size());
  std::string previous;
  int64_t expected_seq = 1;
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string where = "line " + std::to_string(i + 1) + ": ";
    json record = records[i];
    if (!record.is_object() || !record["hmac"].is_string() || !record["seq"].is_number_integer()) {
      verdict.problem = where + "edited: not an audit record";
      return verdict;
    }
    const std::string hmac = record["hmac"].get<std::string>();
    const int64_t seq = record["seq"].get<int64_t>();
    record.erase("hmac");
    if (!ConstantTimeEquals(Link(key, previous, record.dump()), hmac)) {
      // What broke the chain here: the line itself (edited), lines missing
      // before it, or lines in another order.
      bool expected_later = false;
      for (size_t j = i + 1; j < records.size(); ++j) {
        expected_later = expected_later || (records[j].is_object() && records[j]["seq"] == expected_seq);
      }
      if (seq == expected_seq) {
        verdict.problem = where + "edited: its hmac does not match its content";
      } else if (seq < expected_seq || expected_later) {
        verdict.problem = where + "reordered: seq " + std::to_string(seq) + " where seq " +
                          std::to_string(expected_seq) + " belongs";
      } else {
        verdict.problem = where + "deleted: " + std::to_string(seq - expected_seq) + " line(s) before it are missing";
      }
      return verdict;
    }
    previous = hmac;
    expected_seq = seq + 1;
  }
  return verdict;
}

}  // namespace flightdeck::flight
