#include "flightdeck/pipeline/activities.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <arrow/util/base64.h>
#include <nlohmann/json.hpp>

#include "flightdeck/pipeline/activity_keep_alive.h"
#include "flightdeck/pipeline/stages.h"
#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/worker/worker.h"

namespace flightdeck::pipeline {
namespace {

using temporal::ActivityContext;

// Invalid becomes the non-retryable InvalidPipeline error, a lost input the
// non-retryable DatasetLost error; others stay.
arrow::Status Classify(arrow::Status status) {
  if (status.IsInvalid()) {
    return temporal::ApplicationError(kInvalidPipelineError, status.message(),
                                      /*non_retryable=*/true);
  }
  if (status.IsKeyError() && !LostInputOf(status.message()).empty()) {
    return temporal::ApplicationError(kDatasetLostError, status.message(),
                                      /*non_retryable=*/true);
  }
  return status;
}

template <typename T>
arrow::Result<T> Classify(arrow::Result<T> result) {
  if (!result.ok()) return Classify(result.status());
  return result;
}

arrow::Status Invalid(const std::string& message) {
  return temporal::ApplicationError(kInvalidPipelineError, message, /*non_retryable=*/true);
}

arrow::Result<std::shared_ptr<const PipelineSpec>> SpecOf(const StageTask& task) {
  return Classify(LoadSpec(task.spec));
}

// The ref of `ticket`, input of partition `partition`.
arrow::Result<DatasetRef> RefOf(const PipelineSpec& spec, int32_t partition,
                                const std::string& ticket) {
  if (ticket.empty()) return Invalid("stage task without a valid base64 input ticket");
  if (partition < 0 || partition >= std::max<int32_t>(spec.partitions, 1)) {
    return Invalid("partition " + std::to_string(partition) + " out of range [0, " +
                   std::to_string(spec.partitions) + ")");
  }
  ARROW_ASSIGN_OR_RAISE(std::string node, Classify(NodeFor(spec, partition)));
  DatasetRef ref;
  ref.node = std::move(node);
  ref.ticket = ticket;
  return ref;
}

std::string Base64(const std::string& bytes) { return arrow::util::base64_encode(bytes); }

std::string Unbase64(const std::string& text) {
  auto decoded = arrow::util::base64_decode(text);
  return decoded.ok() ? *decoded : std::string();
}

}  // namespace

void to_json(nlohmann::json& json, const StageTask& task) {
  json = nlohmann::json{{"spec", task.spec}, {"run", task.run}, {"partition", task.partition}};
  if (!task.input.empty()) json["input"] = Base64(task.input);
  if (!task.inputs.empty()) {
    auto& inputs = json["inputs"] = nlohmann::json::array();
    for (const auto& ticket : task.inputs) inputs.push_back(Base64(ticket));
  }
  if (!task.parts.empty()) json["parts"] = task.parts;
  if (!task.yaml.empty()) json["yaml"] = task.yaml;
  if (!task.origin.empty()) json["origin"] = task.origin;
}

void from_json(const nlohmann::json& json, StageTask& task) {
  json.at("spec").get_to(task.spec);
  json.at("run").get_to(task.run);
  task.partition = json.value("partition", int32_t{0});
  task.input = json.contains("input") ? Unbase64(json.at("input").get<std::string>()) : "";
  task.inputs.clear();
  if (json.contains("inputs")) {
    for (const auto& ticket : json.at("inputs")) task.inputs.push_back(Unbase64(ticket.get<std::string>()));
  }
  task.parts = json.value("parts", std::vector<std::string>{});
  task.yaml = json.value("yaml", std::string());
  task.origin = json.value("origin", std::string());
}

void to_json(nlohmann::json& json, const DatasetRef& ref) {
  json = nlohmann::json::object();
  if (!ref.node.empty()) json["node"] = ref.node;
  json["ticket"] = Base64(ref.ticket);
  json["rows"] = ref.rows;
  json["bytes"] = ref.bytes;
  if (!ref.schema_fingerprint.empty()) json["schema_fingerprint"] = ref.schema_fingerprint;
  json["checksum"] = ref.checksum;
}

void from_json(const nlohmann::json& json, DatasetRef& ref) {
  ref.node = json.value("node", std::string());
  ref.ticket = Unbase64(json.at("ticket").get<std::string>());
  json.at("rows").get_to(ref.rows);
  json.at("bytes").get_to(ref.bytes);
  ref.schema_fingerprint = json.value("schema_fingerprint", std::string());
  json.at("checksum").get_to(ref.checksum);
}

// What a stage activity answers: its output's ref without what the workflow
// knows already (the node is NodeFor(partition)) or does not need (the
// schema fingerprint), to keep history small.
DatasetRef ForHistory(DatasetRef ref) {
  ref.node.clear();
  ref.schema_fingerprint.clear();
  return ref;
}

arrow::Status RegisterPipelineActivities(temporal::Worker& worker) {
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kPrepareActivity,
      [](ActivityContext&, std::string yaml, std::string origin) -> arrow::Result<std::string> {
        ARROW_ASSIGN_OR_RAISE(auto spec, Classify(ParsePipelineSpec(yaml, origin)));
        return Classify(StoreSpec(spec, yaml));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kExtractActivity, [](ActivityContext& ctx, StageTask task) -> arrow::Result<DatasetRef> {
        const ActivityKeepAlive keep_alive(ctx);
        if (!task.yaml.empty()) {
          // No prepare ran: store the spec first, as prepare would have.
          ARROW_ASSIGN_OR_RAISE(auto parsed, Classify(ParsePipelineSpec(task.yaml, task.origin)));
          ARROW_ASSIGN_OR_RAISE(std::string key, Classify(SpecKeyOf(parsed, task.yaml)));
          if (key != task.spec) {
            return Invalid("extract: spec key '" + task.spec + "' does not name the spec text given (" +
                           key + ")");
          }
          ARROW_RETURN_NOT_OK(Classify(StoreSpec(parsed, task.yaml)));
        }
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
        ARROW_ASSIGN_OR_RAISE(auto output, Classify(Extract(*spec, task.run, task.partition)));
        return ForHistory(std::move(output));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kTransformActivity, [](ActivityContext& ctx, StageTask task) -> arrow::Result<DatasetRef> {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
        ARROW_ASSIGN_OR_RAISE(DatasetRef input, RefOf(*spec, task.partition, task.input));
        const StagePlan plan = PlanStages(*spec);
        ARROW_ASSIGN_OR_RAISE(auto output,
                              Classify(TransformPartition(*spec, task.run, task.partition, input,
                                                          plan.per_partition,
                                                          plan.partial_aggregate)));
        return ForHistory(std::move(output));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kCombineActivity, [](ActivityContext& ctx, StageTask task) -> arrow::Result<DatasetRef> {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
        std::vector<DatasetRef> inputs;
        for (size_t i = 0; i < task.inputs.size(); ++i) {
          ARROW_ASSIGN_OR_RAISE(auto ref,
                                RefOf(*spec, static_cast<int32_t>(i), task.inputs[i]));
          inputs.push_back(std::move(ref));
        }
        const StagePlan plan = PlanStages(*spec);
        ARROW_ASSIGN_OR_RAISE(
            auto output,
            Classify(Combine(*spec, task.run, inputs, plan.global, plan.partial_aggregate)));
        return ForHistory(std::move(output));
      }));
  ARROW_RETURN_NOT_OK(worker.RegisterActivity(
      kLoadActivity, [](ActivityContext& ctx, StageTask task) -> arrow::Result<std::string> {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
        ARROW_ASSIGN_OR_RAISE(DatasetRef input, RefOf(*spec, task.partition, task.input));
        ARROW_ASSIGN_OR_RAISE(std::string staged,
                              Classify(Load(*spec, task.run, task.partition, input)));
        if (spec->sink.kind == SinkSpec::Kind::kFlight) return staged;
        return std::filesystem::path(staged).filename().string();
      }));
  return worker.RegisterActivity(
      kCommitActivity, [](ActivityContext& ctx, StageTask task) -> arrow::Status {
        const ActivityKeepAlive keep_alive(ctx);
        ARROW_ASSIGN_OR_RAISE(auto spec, SpecOf(task));
        std::vector<std::string> staged;
        for (const auto& name : task.parts) {
          if (name.find('/') != std::string::npos && spec->sink.kind != SinkSpec::Kind::kFlight) {
            return Invalid("staged part name '" + name + "' must not contain '/'");
          }
          staged.push_back((std::filesystem::path(StagingFolder(*spec, task.run)) / name).string());
        }
        return Classify(Commit(*spec, task.run, staged));
      });
}

}  // namespace flightdeck::pipeline
