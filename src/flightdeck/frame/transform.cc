#include "flightdeck/frame/transform.h"

#include <cctype>
#include <string>
#include <utility>

#include "flightdeck/frame/data_frame.h"
#include "flightdeck/frame/sql_text.h"

namespace flightdeck::frame {

arrow::Result<std::unique_ptr<arrow::RecordBatchReader>> ApplyTransform(
    std::shared_ptr<arrow::RecordBatchReader> input, std::string_view command,
    std::shared_ptr<Engine> engine) {
  if (!input) return arrow::Status::Invalid("transform: null input");
  std::string text(command);
  ARROW_RETURN_NOT_OK(CheckExpressionText(text, "transform"));
  std::string items = text, predicate;
  if (const size_t where = FindTopLevelKeyword(text, "where"); where != std::string::npos) {
    items = text.substr(0, where);
    predicate = text.substr(where + 5);
    if (predicate.find_first_not_of(" \t\r\n") == std::string::npos) {
      return arrow::Status::Invalid("transform '", text, "': WHERE needs a predicate");
    }
  }
  if (const size_t select = FindTopLevelKeyword(items, "select"); select != std::string::npos) {
    if (items.find_first_not_of(" \t\r\n") != select) {
      return arrow::Status::Invalid("transform '", text, "': SELECT must come first");
    }
    items = items.substr(select + 6);
  }
  if (items.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (predicate.empty()) {
      return arrow::Status::Invalid("transform '", text, "': expected a column list, a WHERE, or both");
    }
    items.assign(1, '*');
  }
  if (FindTopLevelKeyword(items, "from") != std::string::npos) {
    return arrow::Status::Invalid("transform '", text,
                                  "': there is no FROM: the items and the predicate read the input stream");
  }
  // An item without AS is named after its text (DuckDB would call
  // `amount * 2` "(amount * 2)"); a star, with its modifiers (`* exclude
  // (a)`, `* replace (x::int as x)`, `* rename (a as b)`), keeps its columns'
  // names.
  std::string named;
  for (const auto& item : SplitTopLevel(items, ',')) {
    const size_t first = item.find_first_not_of(" \t\r\n");
    const size_t last = item.find_last_not_of(" \t\r\n");
    if (first == std::string::npos) {
      return arrow::Status::Invalid("transform '", text, "': an empty item in the column list");
    }
    const std::string trimmed = item.substr(first, last - first + 1);
    named += named.empty() ? "" : ", ";
    const bool aliased = FindTopLevelKeyword(trimmed, "as") != std::string::npos;
    const bool star = trimmed.front() == '*';
    named += aliased || star || IsIdentifier(trimmed) ? trimmed : trimmed + " AS " + QuoteIdentifier(trimmed);
  }
  items = named;
  DataFrame frame = DataFrame::FromReader(std::move(input));
  if (engine) frame = frame.WithEngine(std::move(engine));
  if (!predicate.empty()) frame = frame.Filter(predicate);
  ARROW_RETURN_NOT_OK(frame.status());
  frame = DataFrame::Sql("SELECT " + items + " FROM input", {{"input", frame}});
  ARROW_RETURN_NOT_OK(frame.status());
  return frame.Stream();
}

}  // namespace flightdeck::frame
