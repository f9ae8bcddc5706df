// flightdeck/frame/sql_text.h: the little the frame layer needs to know about
// SQL text it did not write: quoting, where an expression ends, which names
// it mentions, and where in it an engine error points.
//
// Expressions are SQL in DuckDB's dialect, parsed and bound by DuckDB. The
// frame layer embeds each one in a generated statement as "(text)", so
// CheckExpressionText makes sure the text cannot end that parenthesis early
// or comment out what follows it.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <memory>

#include <arrow/result.h>
#include <arrow/status.h>

namespace flightdeck::frame {

/// The status detail of an error in SQL text a user wrote (an expression,
/// a query): the text and the 0-based position in it the error is at, so
/// that a caller that knows where the text came from (a spec file) can
/// point there. Attached by the frame layer's checks and binds.
class TextErrorDetail : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "flightdeck::frame::TextErrorDetail";
  TextErrorDetail(std::string text, size_t position) : text_(std::move(text)), position_(position) {}
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override;
  const std::string& text() const { return text_; }
  size_t position() const { return position_; }

 private:
  std::string text_;
  size_t position_;
};

/// `status` with a TextErrorDetail for `text` at `position`.
arrow::Status WithTextPosition(const arrow::Status& status, std::string text, size_t position);
/// The TextErrorDetail of `status`, or null.
const TextErrorDetail* TextErrorOf(const arrow::Status& status);

/// `name` as a SQL identifier: "name", with embedded quotes doubled.
std::string QuoteIdentifier(std::string_view name);
/// `text` as a SQL string literal: 'text', with embedded quotes doubled.
std::string QuoteString(std::string_view text);

/// OK when `text` is one SQL expression's worth of tokens: not blank, quotes
/// and parentheses balanced, no ';' and no comments outside string literals.
/// Otherwise Invalid naming `what`, the 1-based position and the reason, e.g.
///   "filter 'a > (1': at position 5: '(' is never closed".
/// Says nothing about whether DuckDB can parse or bind it.
arrow::Status CheckExpressionText(std::string_view text, std::string_view what);

/// CheckExpressionText for a whole query (DataFrame::Sql): comments are
/// allowed, a ';' is not (strip a trailing one first).
arrow::Status CheckQueryText(std::string_view text, std::string_view what);

/// The identifiers `text` mentions outside string literals: bare words
/// (lower-case keywords included, so this is a superset of the columns it
/// reads) and "quoted" names, as written. Used to find the columns an
/// expression may read, e.g. for projection pushdown into a generator.
std::set<std::string> MentionedIdentifiers(std::string_view text);

/// Where `keyword` (case-insensitive, a whole word) first occurs in `text`
/// outside string literals, quoted names and parentheses; npos if nowhere.
size_t FindTopLevelKeyword(std::string_view text, std::string_view keyword);

/// `text` split at each `separator` outside string literals, quoted names
/// and parentheses (e.g. the items of a SELECT list at ','), untrimmed.
std::vector<std::string> SplitTopLevel(std::string_view text, char separator);

/// Whether `text` (trimmed) is one bare or "quoted" identifier.
bool IsIdentifier(std::string_view text);

/// `text` with each `$name` outside string literals replaced by
/// replacements.at(name). Fails with Invalid naming the first `$name` that
/// has no replacement.
arrow::Result<std::string> ReplacePlaceholders(std::string_view text,
                                               const std::map<std::string, std::string>& replacements);

/// The names of the `$name` placeholders in `text`, in order of appearance.
std::vector<std::string> PlaceholderNames(std::string_view text);

/// The 0-based position in `sql` that a DuckDB error message points at with
/// its "LINE n: ...excerpt...\n   ^" trailer, or npos when it has none.
size_t ErrorPosition(std::string_view message, std::string_view sql);

/// `text` with a second line holding a caret under position `at`, e.g.
///   amount >> 10
///           ^
/// (for one-line texts; multi-line texts show the line holding `at`).
std::string CaretUnder(std::string_view text, size_t at);

/// The names in `candidates` closest to `name` by edit distance (case-
/// insensitive), best first, at most `limit`, only those plausibly meant.
std::vector<std::string> ClosestNames(std::string_view name, const std::vector<std::string>& candidates,
                                      size_t limit = 3);

}  // namespace flightdeck::frame
