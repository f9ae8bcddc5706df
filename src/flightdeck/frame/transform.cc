#include "flightdeck/frame/transform.h"

#include <utility>

#include "flightdeck/frame/data_frame.h"

namespace flightdeck::frame {

arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> ApplyTransform(
    std::shared_ptr<arrow::RecordBatchReader> input, const SelectSpec& spec) {
  if (!input) return arrow::Status::Invalid("ApplyTransform: null input");
  auto schema = input->schema();
  DataFrame frame = DataFrame::FromReader(std::move(input));
  if (spec.predicate) frame = frame.Filter(*spec.predicate);
  if (!spec.columns.empty()) {
    std::vector<std::pair<std::string, Expr>> columns;
    for (const auto& item : spec.columns) {
      if (!item.value) {
        for (const auto& field : schema->fields()) columns.emplace_back(field->name(), col(field->name()));
      } else {
        columns.emplace_back(item.name, *item.value);
      }
    }
    frame = frame.Project(columns);
  }
  ARROW_RETURN_NOT_OK(frame.status());
  return frame.Stream();
}

arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> ApplyTransform(
    std::shared_ptr<arrow::RecordBatchReader> input, std::string_view spec) {
  ARROW_ASSIGN_OR_RAISE(SelectSpec parsed, ParseSelect(spec));
  return ApplyTransform(std::move(input), parsed);
}

}  // namespace flightdeck::frame
