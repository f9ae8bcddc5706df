// What a run owns on its nodes: the names of its datasets, their lease
// (renewed while it runs, released when it ends), lost inputs, and the spec
// stored on the node for the run's activities.
#include <cstdio>
#include <map>
#include <mutex>

#include <arrow/api.h>

#include "flightdeck/pipeline/stages_internal.h"

namespace flightdeck::pipeline {

using namespace internal;
using frame::DataFrame;

std::string TransformDataset(const std::string& run, StageRange range) {
  return range.begin == 0 ? run + "-transform" : run + "-transform-" + std::to_string(range.begin);
}

std::vector<std::string> RunDatasets(const PipelineSpec& spec, const std::string& run) {
  std::vector<std::string> names = {run + "-extract"};
  for (const auto& step : ChainSteps(spec)) {
    names.push_back(step.is_python() ? run + "-s" + std::to_string(step.python) : TransformDataset(run, step.range));
  }
  names.push_back(run + "-sample");
  names.push_back(run + "-bounds");
  names.push_back(run + "-shuffle");
  names.push_back(run + "-shuffle-right");
  names.push_back(run + "-reduce");
  names.push_back(run + "-combine");
  return names;
}

arrow::Result<int64_t> ExpireDatasets(const PipelineSpec& spec, const std::vector<std::string>& datasets,
                                      int64_t ttl_ms) {
  int64_t count = 0;
  arrow::Status first_error;
  for (const auto& node : spec.nodes) {
    auto done = [&]() -> arrow::Result<int64_t> {
      ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(node));
      return client->Expire(Who(spec), datasets, ttl_ms);
    }();
    // Every node is tried; the first failure is reported.
    if (done.ok()) {
      count += *done;
    } else if (first_error.ok()) {
      first_error = done.status().WithMessage("node ", node, ": ", done.status().message());
    }
  }
  ARROW_RETURN_NOT_OK(first_error);
  return count;
}

arrow::Status DatasetLost(const std::string& input, const arrow::Status& cause) {
  return flight::DatasetLost("input " + input, cause);
}

std::string LostInputOf(const arrow::Status& status) {
  const auto what = flight::LostDatasetOf(status);
  constexpr std::string_view kPrefix = "input ";
  if (!what || what->rfind(kPrefix, 0) != 0) return "";
  return what->substr(kPrefix.size());
}

namespace {

// FNV-1a, 64 bits: names a spec text (not a security boundary: the tenant's
// own specs share the key space).
std::string TextHash(const std::string& text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
  return hex;
}

// Parsed specs by key, for the life of the process (a key names one text).
class SpecCache {
 public:
  static SpecCache& Instance() {
    static SpecCache* instance = new SpecCache();
    return *instance;
  }
  std::shared_ptr<const PipelineSpec> Get(const std::string& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = specs_.find(key);
    return it == specs_.end() ? nullptr : it->second;
  }
  void Put(const std::string& key, std::shared_ptr<const PipelineSpec> spec) {
    std::lock_guard<std::mutex> lock(mutex_);
    specs_.emplace(key, std::move(spec));
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    specs_.clear();
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const PipelineSpec>> specs_;
};

struct SpecKey {
  std::string tenant;
  std::string dataset;
  std::string node;
};

// Left out of keys (they travel in every stage task).
constexpr std::string_view kDefaultScheme = "grpc+tcp://";

arrow::Result<SpecKey> ParseSpecKey(const std::string& key) {
  const size_t at = key.find('@');
  const size_t slash = key.find('/');
  const size_t run_end = at == std::string::npos ? std::string::npos : key.rfind('/', at);
  if (at == std::string::npos || slash == std::string::npos || slash == 0 || run_end == slash ||
      run_end == std::string::npos || run_end > at || at + 1 == key.size()) {
    return arrow::Status::Invalid("spec key '", key, "' is not <tenant>/<run>/<hash>@<node>");
  }
  std::string node = key.substr(at + 1);
  if (node.find("://") == std::string::npos) node = std::string(kDefaultScheme) + node;
  return SpecKey{key.substr(0, slash),
                 key.substr(slash + 1, run_end - slash - 1) + "-spec-" + key.substr(run_end + 1, at - run_end - 1),
                 std::move(node)};
}

}  // namespace

arrow::Result<std::string> SpecKeyOf(const PipelineSpec& spec, const std::string& yaml, const std::string& run) {
  ARROW_RETURN_NOT_OK(CheckRun(run));
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, 0));
  if (node.rfind(kDefaultScheme, 0) == 0) node = node.substr(kDefaultScheme.size());
  return spec.tenant + "/" + run + "/" + TextHash(yaml) + "@" + node;
}

arrow::Result<std::string> StoreSpec(const PipelineSpec& spec, const std::string& yaml, const std::string& run) {
  ARROW_ASSIGN_OR_RAISE(std::string key, SpecKeyOf(spec, yaml, run));
  ARROW_ASSIGN_OR_RAISE(std::string node, NodeFor(spec, 0));
  ARROW_ASSIGN_OR_RAISE(SpecKey parsed, ParseSpecKey(key));
  const std::string& dataset = parsed.dataset;
  ARROW_RETURN_NOT_OK(PutStageOutput(spec, node, dataset, "0", [&]() -> arrow::Result<DataFrame> {
                        arrow::StringBuilder builder;
                        ARROW_RETURN_NOT_OK(builder.Append(yaml));
                        ARROW_ASSIGN_OR_RAISE(auto column, builder.Finish());
                        auto schema = arrow::schema({arrow::field("spec", arrow::utf8())});
                        return DataFrame::FromTable(arrow::Table::Make(schema, {column}));
                      }).status());
  SpecCache::Instance().Put(key, std::make_shared<const PipelineSpec>(spec));
  return key;
}

arrow::Result<std::shared_ptr<const PipelineSpec>> LoadSpec(const std::string& key) {
  if (auto cached = SpecCache::Instance().Get(key)) return cached;
  ARROW_ASSIGN_OR_RAISE(SpecKey parsed, ParseSpecKey(key));
  PipelineSpec access;
  access.tenant = parsed.tenant;
  ARROW_ASSIGN_OR_RAISE(auto client, flight::NodeClient::For(parsed.node));
  ARROW_ASSIGN_OR_RAISE(auto ticket, client->Find(Who(access), {parsed.tenant, parsed.dataset, "0"}));
  if (!ticket) {
    return DatasetLost("spec", arrow::Status::KeyError("no spec ", key, " on ", parsed.node));
  }
  auto frame = DataFrame::FromFlight(parsed.node, *ticket, Who(access));
  if (!frame.ok() && flight::IsDatasetLost(frame.status())) return DatasetLost("spec", frame.status());
  ARROW_ASSIGN_OR_RAISE(auto table, frame->Collect());
  auto column = table->GetColumnByName("spec");
  if (!column || table->num_rows() != 1 || column->type()->id() != arrow::Type::STRING) {
    return arrow::Status::Invalid("spec dataset ", key, " is not one row of a 'spec' string");
  }
  ARROW_ASSIGN_OR_RAISE(auto scalar, column->GetScalar(0));
  const std::string yaml(static_cast<const arrow::StringScalar&>(*scalar).view());
  ARROW_ASSIGN_OR_RAISE(PipelineSpec spec, ParsePipelineSpec(yaml, key));
  auto shared = std::make_shared<const PipelineSpec>(std::move(spec));
  SpecCache::Instance().Put(key, shared);
  return shared;
}

void ForgetCachedSpecs() { SpecCache::Instance().Clear(); }

arrow::Result<int64_t> RenewRun(const PipelineSpec& spec, const std::string& spec_key, const std::string& run) {
  std::vector<std::string> datasets = RunDatasets(spec, run);
  ARROW_ASSIGN_OR_RAISE(SpecKey parsed, ParseSpecKey(spec_key));
  datasets.push_back(parsed.dataset);
  return ExpireDatasets(spec, datasets, spec.dataset_lease_ms);
}

arrow::Result<int64_t> ReleaseRun(const PipelineSpec& spec, const std::string& spec_key, const std::string& run) {
  std::vector<std::string> datasets = RunDatasets(spec, run);
  ARROW_ASSIGN_OR_RAISE(SpecKey parsed, ParseSpecKey(spec_key));
  datasets.push_back(parsed.dataset);
  return ExpireDatasets(spec, datasets, spec.retention_ms);
}

}  // namespace flightdeck::pipeline
