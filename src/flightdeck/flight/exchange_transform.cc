#include "flightdeck/flight/exchange_transform.h"

#include <map>
#include <string>
#include <vector>

#include <arrow/compute/api.h>
#include <arrow/compute/initialize.h>
#include <arrow/scalar.h>
#include <nlohmann/json.hpp>

namespace flightdeck::flight {

namespace cp = arrow::compute;
using json = nlohmann::json;

namespace {

struct Condition {
  int column_idx;
  std::string function;
  std::shared_ptr<arrow::Scalar> value;
};

arrow::Result<std::shared_ptr<arrow::Scalar>> ScalarOf(const json& value,
                                                       const arrow::Field& field) {
  std::shared_ptr<arrow::Scalar> scalar;
  if (value.is_boolean()) {
    scalar = arrow::MakeScalar(value.get<bool>());
  } else if (value.is_number_integer()) {
    scalar = arrow::MakeScalar(value.get<int64_t>());
  } else if (value.is_number()) {
    scalar = arrow::MakeScalar(value.get<double>());
  } else if (value.is_string()) {
    scalar = arrow::MakeScalar(value.get<std::string>());
  } else {
    return arrow::Status::Invalid("filter value for column '", field.name(),
                                  "' must be a number, string or boolean, got ", value.dump());
  }
  auto cast = cp::Cast(scalar, field.type());
  if (!cast.ok()) {
    return arrow::Status::Invalid("filter value ", value.dump(), " does not fit column '",
                                  field.name(), "' of type ", field.type()->ToString());
  }
  return cast->scalar();
}

}  // namespace

struct ExchangeTransform::Impl {
  std::vector<int> selected;
  std::vector<Condition> conditions;
  std::shared_ptr<arrow::Schema> output_schema;
};

ExchangeTransform::ExchangeTransform(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExchangeTransform::~ExchangeTransform() = default;

const std::shared_ptr<arrow::Schema>& ExchangeTransform::output_schema() const {
  return impl_->output_schema;
}

arrow::Result<std::shared_ptr<ExchangeTransform>> ExchangeTransform::Make(
    std::string_view spec, const std::shared_ptr<arrow::Schema>& input_schema) {
  static const std::map<std::string, std::string> kOps = {
      {"==", "equal"}, {"!=", "not_equal"}, {"<", "less"},
      {"<=", "less_equal"}, {">", "greater"}, {">=", "greater_equal"}};
  // Registers the compute kernels (a separate library since Arrow 21);
  // idempotent.
  ARROW_RETURN_NOT_OK(arrow::compute::Initialize());
  json j = json::parse(spec, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return arrow::Status::Invalid("exchange transform must be a JSON object, got '", spec, "'");
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "select" && key != "filter") {
      return arrow::Status::Invalid("exchange transform has unknown key '", key,
                                    "' (known: select, filter)");
    }
  }
  auto column_of = [&](const json& name) -> arrow::Result<int> {
    if (!name.is_string()) return arrow::Status::Invalid("column name ", name.dump(), " is not a string");
    int idx = input_schema->GetFieldIndex(name.get<std::string>());
    if (idx < 0) {
      return arrow::Status::Invalid("exchange transform names column '", name.get<std::string>(),
                                    "', which the input schema does not have");
    }
    return idx;
  };
  auto impl = std::make_unique<Impl>();
  if (j.contains("select")) {
    if (!j["select"].is_array()) return arrow::Status::Invalid("'select' must be a list of column names");
    for (const auto& name : j["select"]) {
      ARROW_ASSIGN_OR_RAISE(int idx, column_of(name));
      impl->selected.push_back(idx);
    }
  } else {
    for (int i = 0; i < input_schema->num_fields(); ++i) impl->selected.push_back(i);
  }
  if (j.contains("filter")) {
    json filter = j["filter"].is_object() ? json::array({j["filter"]}) : j["filter"];
    if (!filter.is_array()) return arrow::Status::Invalid("'filter' must be a condition or a list of them");
    for (const auto& c : filter) {
      if (!c.is_object() || !c.contains("column") || !c.contains("op") || !c.contains("value")) {
        return arrow::Status::Invalid("filter condition ", c.dump(),
                                      " needs 'column', 'op' and 'value'");
      }
      Condition condition;
      ARROW_ASSIGN_OR_RAISE(condition.column_idx, column_of(c["column"]));
      auto op = kOps.find(c["op"].is_string() ? c["op"].get<std::string>() : "");
      if (op == kOps.end()) {
        return arrow::Status::Invalid("filter op ", c["op"].dump(),
                                      " is not one of == != < <= > >=");
      }
      condition.function = op->second;
      ARROW_ASSIGN_OR_RAISE(condition.value,
                            ScalarOf(c["value"], *input_schema->field(condition.column_idx)));
      impl->conditions.push_back(std::move(condition));
    }
  }
  std::vector<std::shared_ptr<arrow::Field>> fields;
  for (int idx : impl->selected) fields.push_back(input_schema->field(idx));
  impl->output_schema = arrow::schema(std::move(fields), input_schema->metadata());
  return std::shared_ptr<ExchangeTransform>(new ExchangeTransform(std::move(impl)));
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ExchangeTransform::Apply(
    const arrow::RecordBatch& batch) const {
  ARROW_ASSIGN_OR_RAISE(auto selected, batch.SelectColumns(impl_->selected));
  if (impl_->conditions.empty()) return selected;
  arrow::Datum mask;
  for (const auto& condition : impl_->conditions) {
    ARROW_ASSIGN_OR_RAISE(arrow::Datum passes,
                          cp::CallFunction(condition.function,
                                           {batch.column(condition.column_idx), condition.value}));
    if (mask.is_value()) {
      ARROW_ASSIGN_OR_RAISE(mask, cp::CallFunction("and_kleene", {mask, passes}));
    } else {
      mask = std::move(passes);
    }
  }
  ARROW_ASSIGN_OR_RAISE(arrow::Datum filtered, cp::Filter(selected, mask));
  return filtered.record_batch();
}

}  // namespace flightdeck::flight
