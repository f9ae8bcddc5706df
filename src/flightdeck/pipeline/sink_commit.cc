// A file sink's exactly-once commit: parts staged per run, moved into a
// complete next sink with its _SUCCESS marker, published with one rename.
#include <fcntl.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "flightdeck/common/durable_file.h"
#include "flightdeck/pipeline/stages_internal.h"

namespace flightdeck::pipeline {

using namespace internal;
namespace fs = std::filesystem;

namespace {

// The sink folder without a trailing separator.
fs::path SinkFolder(const PipelineSpec& spec) {
  fs::path sink = fs::path(spec.sink.path).lexically_normal();
  if (sink.filename().empty()) sink = sink.parent_path();
  return sink;
}

bool Published(const fs::path& sink, const std::string& run) {
  std::error_code ec;
  const fs::path success = sink / "_SUCCESS";
  return fs::exists(success, ec) && ReadSmallFile(success) == run + "\n";
}

// Swaps two existing folders atomically (renameat2 RENAME_EXCHANGE). Where
// the file system cannot, moves `to` aside to `aside` first: a crash between
// the two renames leaves no sink (never a partial one), and the retried
// commit publishes `from` (it still has every part).
arrow::Status Exchange(const fs::path& from, const fs::path& to, const fs::path& aside) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) {
    return arrow::Status::OK();
  }
  const int error = errno;
  if (error != EINVAL && error != ENOSYS && error != EOPNOTSUPP) {
    return arrow::Status::IOError("cannot publish ", from.string(), " as ", to.string(), ": ",
                                  std::strerror(error));
  }
  std::error_code ec;
  fs::remove_all(aside, ec);
  fs::rename(to, aside, ec);
  if (!ec) fs::rename(from, to, ec);
  if (ec) {
    return arrow::Status::IOError("cannot publish ", from.string(), " as ", to.string(), ": ",
                                  ec.message());
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Status Commit(const PipelineSpec& spec, const std::string& run,
                     const std::vector<std::string>& staged) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  if (spec.sink.kind == SinkSpec::Kind::kFlight) return arrow::Status::OK();
  const fs::path sink = SinkFolder(spec);
  const fs::path staging_root = sink / "_staging";
  const fs::path staging = staging_root / run;
  const fs::path next = CommitFolder(spec, run);
  const fs::path aside = next.string() + ".old";
  std::set<std::string> names;
  for (const auto& path : staged) {
    const fs::path p = path;
    if (p.parent_path().lexically_normal() != staging.lexically_normal()) {
      return arrow::Status::Invalid("staged part ", path, " is not in the staging folder ",
                                    staging.string(), " of run ", run);
    }
    names.insert(p.filename().string());
  }
  std::error_code ec;
  // What a commit leaves behind besides the published sink: this run's
  // staging (a retried load may have staged a part again), the swapped-out
  // old sink.
  const auto clean_up = [&] {
    fs::remove_all(staging, ec);
    fs::remove(staging_root, ec);  // only when empty
    fs::remove_all(next, ec);
    fs::remove_all(aside, ec);
  };
  if (Published(sink, run)) {
    clean_up();  // committed before (a retry after the swap)
    return arrow::Status::OK();
  }
  // The next sink, complete, in `next`: the parts (moved from staging, or
  // moved by an earlier attempt already) and _SUCCESS.
  fs::create_directories(next, ec);
  if (ec) {
    return arrow::Status::IOError("cannot create commit folder ", next.string(), ": ",
                                  ec.message());
  }
  for (const auto& name : names) {
    const fs::path from = staging / name;
    const fs::path to = next / name;
    if (fs::exists(from, ec)) {
      fs::rename(from, to, ec);
      if (ec) {
        return arrow::Status::IOError("cannot move ", from.string(), " to ", next.string(), ": ",
                                      ec.message());
      }
    } else if (!fs::exists(to, ec)) {
      return arrow::Status::Invalid("staged part ", from.string(),
                                    " is missing: it was neither staged nor published");
    }
  }
  // Every part's data reached the disk when it was written; the moves into
  // `next` and the marker are made durable before `next` is published.
  ARROW_RETURN_NOT_OK(SyncPath(next.string()));
  if (fs::exists(staging, ec)) ARROW_RETURN_NOT_OK(SyncPath(staging.string()));
  ARROW_RETURN_NOT_OK(WriteFileAtomically((next / "_SUCCESS").string(), run + "\n"));
  // Publish with one rename: readers see the old sink or the new one, never
  // a mix. Other runs' staging moves along with the sink.
  if (fs::exists(sink, ec)) {
    if (fs::exists(staging_root, ec) && !fs::exists(next / "_staging", ec)) {
      fs::rename(staging_root, next / "_staging", ec);
      if (ec) {
        return arrow::Status::IOError("cannot move ", staging_root.string(), ": ", ec.message());
      }
    }
    ARROW_RETURN_NOT_OK(Exchange(next, sink, aside));
  } else {
    fs::create_directories(sink.parent_path(), ec);
    fs::rename(next, sink, ec);
    if (ec) {
      return arrow::Status::IOError("cannot publish ", next.string(), " as ", sink.string(), ": ",
                                    ec.message());
    }
  }
  // The publishing rename is durable before the commit reports success.
  ARROW_RETURN_NOT_OK(SyncPath(fs::absolute(sink, ec).parent_path().string()));
  clean_up();
  return arrow::Status::OK();
}

std::string CommitFolder(const PipelineSpec& spec, const std::string& run) {
  const fs::path sink = SinkFolder(spec);
  return (sink.parent_path() / ("." + sink.filename().string() + ".commit-" + run)).string();
}

int32_t PartCount(const PipelineSpec& spec) {
  const StagePlan plan = PlanStages(spec);
  if (!plan.global.empty()) return 1;
  return plan.shuffle > 0 ? plan.shuffle : std::max<int32_t>(1, spec.partitions);
}

std::string PartName(const PipelineSpec& spec, int32_t part) {
  // As wide as the last part's number, so that names sort as parts do.
  std::string number = std::to_string(part);
  const size_t width = std::to_string(std::max<int32_t>(0, PartCount(spec) - 1)).size();
  if (number.size() < width) number.insert(0, width - number.size(), '0');
  if (spec.sink.kind == SinkSpec::Kind::kFlight) return "part-" + number;
  return "part-" + number + "." + ExtensionOf(spec.sink.kind);
}

std::string StagingFolder(const PipelineSpec& spec, const std::string& run) {
  return (fs::path(spec.sink.path) / "_staging" / run).string();
}

}  // namespace flightdeck::pipeline
