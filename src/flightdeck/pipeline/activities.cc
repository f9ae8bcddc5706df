#include "flightdeck/pipeline/activities.h"

#include <arrow/util/base64.h>
#include <nlohmann/json.hpp>

#include "flightdeck/pipeline/activity_keep_alive.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::pipeline {
namespace {

using temporal::ActivityContext;

// Invalid becomes the non-retryable InvalidPipeline error; others stay.
arrow::Status Classify(arrow::Status status) {
  if (status.IsInvalid()) {
    return temporal::ApplicationError(kInvalidPipelineError, status.message(),
                                      /*non_retryable=*/true);
  }
  return status;
}

template <typename T>
arrow::Result<T> Classify(arrow::Result<T> result) {
  if (!result.ok()) return Classify(result.status());
  return result;
}

arrow::Result<PipelineSpec> SpecOf(const std::string& yaml) {
  return Classify(ParsePipelineSpec(yaml, "pipeline spec"));
}

arrow::Status CheckRef(const DatasetRef& ref) {
  if (ref.ticket.empty() || ref.node.empty()) {
    return temporal::ApplicationError(kInvalidPipelineError,
                                      "dataset ref without a node or a valid base64 ticket",
                                      /*non_retryable=*/true);
  }
  return arrow::Status::OK();
}

arrow::Result<StageRange> RangeOf(const PipelineSpec& spec, int64_t begin, int64_t end) {
  if (begin < 0 || end < begin || static_cast<size_t>(end) > spec.stages.size()) {
    return temporal::ApplicationError(
        kInvalidPipelineError,
        "stage range [" + std::to_string(begin) + ", " + std::to_string(end) +
            ") does not fit the spec's " + std::to_string(spec.stages.size()) + " stages",
        /*non_retryable=*/true);
  }
  return StageRange{static_cast<size_t>(begin), static_cast<size_t>(end)};
}

}  // namespace

void to_json(nlohmann::json& json, const DatasetRef& ref) {
  json = nlohmann::json{{"node", ref.node},
                        {"ticket", arrow::util::base64_encode(ref.ticket)},
                        {"rows", ref.rows},
                        {"bytes", ref.bytes},
                        {"schema_fingerprint", ref.schema_fingerprint},
                        {"checksum", ref.checksum}};
}

void from_json(const nlohmann::json& json, DatasetRef& ref) {
  json.at("node").get_to(ref.node);
  auto ticket = arrow::util::base64_decode(json.at("ticket").get<std::string>());
  ref.ticket = ticket.ok() ? *ticket : std::string();
  json.at("rows").get_to(ref.rows);
  json.at("bytes").get_to(ref.bytes);
  json.at("schema_fingerprint").get_to(ref.schema_fingerprint);
  json.at("checksum").get_to(ref.checksum);
}

arrow::Status RegisterPipelineActivities(temporal::Worker& worker) {
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kExtractActivity,
      [](ActivityContext& ctx, std::string yaml, std::string run,
         int32_t partition) -> arrow::Result<DatasetRef> {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(yaml));
        return Classify(Extract(spec, run, partition));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kTransformActivity,
      [](ActivityContext& ctx, std::string yaml, std::string run, int32_t partition,
         DatasetRef input, int64_t begin, int64_t end) -> arrow::Result<DatasetRef> {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(yaml));
        ARROW_RETURN_NOT_OK(CheckRef(input));
        ARROW_ASSIGN_OR_RAISE(auto range, RangeOf(spec, begin, end));
        return Classify(TransformPartition(spec, run, partition, input, range));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kCombineActivity,
      [](ActivityContext& ctx, std::string yaml, std::string run, std::vector<DatasetRef> inputs,
         int64_t begin, int64_t end) -> arrow::Result<DatasetRef> {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(yaml));
        for (const auto& input : inputs) ARROW_RETURN_NOT_OK(CheckRef(input));
        ARROW_ASSIGN_OR_RAISE(auto range, RangeOf(spec, begin, end));
        return Classify(Combine(spec, run, inputs, range));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kLoadActivity,
      [](ActivityContext& ctx, std::string yaml, std::string run, int32_t part,
         DatasetRef input) -> arrow::Result<std::string> {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(yaml));
        ARROW_RETURN_NOT_OK(CheckRef(input));
        return Classify(Load(spec, run, part, input));
      }));
  return worker.RegisterActivity(
      kCommitActivity,
      [](ActivityContext& ctx, std::string yaml, std::string run,
         std::vector<std::string> staged) -> arrow::Status {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(yaml));
        return Classify(Commit(spec, run, staged));
      });
}

}  // namespace flightdeck::pipeline
