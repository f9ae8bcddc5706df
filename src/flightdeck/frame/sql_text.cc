#include "flightdeck/frame/sql_text.h"

#include <algorithm>
#include <cctype>

namespace flightdeck::frame {
namespace {

bool IdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Calls visit(kind, begin, end, contents) for each token of `text`: 'w'
// words, 'q' quoted names (contents without quotes), 's' string literals,
// '$' placeholders (name without '$'), 'c' comments, 'p' single punctuation
// characters. Returns the position of an unterminated quote or block
// comment, or npos.
template <typename Visit>
size_t Tokenize(std::string_view text, Visit visit) {
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : 0;
    if (c == '-' && next == '-') {
      const size_t start = i;
      while (i < text.size() && text[i] != '\n') ++i;
      visit('c', start, i, std::string(text.substr(start, i - start)));
    } else if (c == '/' && next == '*') {
      const size_t start = i;
      const size_t end = text.find("*/", i + 2);
      if (end == std::string_view::npos) return start;
      i = end + 2;
      visit('c', start, i, std::string(text.substr(start, i - start)));
    } else if (c == '\'' || c == '"') {
      const size_t start = i++;
      std::string contents;
      while (true) {
        if (i >= text.size()) return start;
        if (text[i] == c) {
          if (i + 1 < text.size() && text[i + 1] == c) {
            contents += c;
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        contents += text[i++];
      }
      visit(c == '\'' ? 's' : 'q', start, i, contents);
    } else if (IdentStart(c)) {
      const size_t start = i;
      while (i < text.size() && IdentChar(text[i])) ++i;
      visit('w', start, i, std::string(text.substr(start, i - start)));
    } else if (c == '$' && i + 1 < text.size() && IdentStart(text[i + 1])) {
      const size_t start = i++;
      while (i < text.size() && IdentChar(text[i])) ++i;
      visit('$', start, i, std::string(text.substr(start + 1, i - start - 1)));
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else {
      visit('p', i, i + 1, std::string(1, c));
      ++i;
    }
  }
  return std::string_view::npos;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string TextErrorDetail::ToString() const {
  return "at position " + std::to_string(position_ + 1) + " of '" + text_ + "'";
}

arrow::Status WithTextPosition(const arrow::Status& status, std::string text, size_t position) {
  if (status.ok() || position == std::string::npos) return status;
  return status.WithDetail(std::make_shared<TextErrorDetail>(std::move(text), position));
}

const TextErrorDetail* TextErrorOf(const arrow::Status& status) {
  auto detail = status.detail();
  if (!detail || std::string_view(detail->type_id()) != TextErrorDetail::kTypeId) return nullptr;
  return static_cast<const TextErrorDetail*>(detail.get());
}

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteString(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

namespace {

arrow::Status CheckText(std::string_view text, std::string_view what, bool allow_comments) {
  auto fail = [&](size_t at, const std::string& why) {
    return WithTextPosition(arrow::Status::Invalid(what, " '", text, "': at position ", at + 1, ": ", why),
                            std::string(text), at);
  };
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return arrow::Status::Invalid(what, ": the expression is empty");
  }
  std::vector<size_t> open;
  arrow::Status problem;
  const size_t unterminated = Tokenize(text, [&](char kind, size_t begin, size_t, const std::string& s) {
    if (!problem.ok()) return;
    if (kind == 'c' && !allow_comments) problem = fail(begin, "comments are not allowed in an expression");
    if (kind != 'p') return;
    const char c = s[0];
    if (c == '(') open.push_back(begin);
    if (c == ')') {
      if (open.empty()) problem = fail(begin, "')' closes nothing");
      else open.pop_back();
    }
    if (c == ';') problem = fail(begin, "';' would end the statement");
  });
  ARROW_RETURN_NOT_OK(problem);
  if (unterminated != std::string_view::npos) {
    if (text[unterminated] == '/') return fail(unterminated, "the comment is never closed");
    return fail(unterminated, std::string("the quote ") + text[unterminated] + " is never closed");
  }
  if (!open.empty()) return fail(open.back(), "'(' is never closed");
  return arrow::Status::OK();
}

}  // namespace

arrow::Status CheckExpressionText(std::string_view text, std::string_view what) {
  return CheckText(text, what, /*allow_comments=*/false);
}

arrow::Status CheckQueryText(std::string_view text, std::string_view what) {
  return CheckText(text, what, /*allow_comments=*/true);
}

std::set<std::string> MentionedIdentifiers(std::string_view text) {
  std::set<std::string> names;
  Tokenize(text, [&](char kind, size_t, size_t, const std::string& s) {
    if (kind == 'w' || kind == 'q') names.insert(s);
  });
  return names;
}

size_t FindTopLevelKeyword(std::string_view text, std::string_view keyword) {
  const std::string wanted = Lower(keyword);
  int depth = 0;
  size_t found = std::string_view::npos;
  Tokenize(text, [&](char kind, size_t begin, size_t, const std::string& s) {
    if (found != std::string_view::npos) return;
    if (kind == 'p') {
      if (s == "(") ++depth;
      if (s == ")") --depth;
    } else if (kind == 'w' && depth == 0 && Lower(s) == wanted) {
      found = begin;
    }
  });
  return found;
}

std::vector<std::string> SplitTopLevel(std::string_view text, char separator) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t start = 0;
  Tokenize(text, [&](char kind, size_t begin, size_t, const std::string& s) {
    if (kind != 'p') return;
    if (s[0] == '(') ++depth;
    if (s[0] == ')') --depth;
    if (s[0] == separator && depth == 0) {
      parts.emplace_back(text.substr(start, begin - start));
      start = begin + 1;
    }
  });
  parts.emplace_back(text.substr(start));
  return parts;
}

bool IsIdentifier(std::string_view text) {
  int tokens = 0;
  bool identifier = true;
  Tokenize(text, [&](char kind, size_t, size_t, const std::string&) {
    ++tokens;
    identifier = identifier && (kind == 'w' || kind == 'q');
  });
  return tokens == 1 && identifier;
}

arrow::Result<std::string> ReplacePlaceholders(std::string_view text,
                                               const std::map<std::string, std::string>& replacements) {
  std::string out;
  size_t copied = 0;
  arrow::Status missing;
  Tokenize(text, [&](char kind, size_t begin, size_t end, const std::string& name) {
    if (kind != '$' || !missing.ok()) return;
    auto it = replacements.find(name);
    if (it == replacements.end()) {
      missing = arrow::Status::Invalid("'", text, "' uses $", name, ", which names no scalar sub-plan");
      return;
    }
    out.append(text.substr(copied, begin - copied));
    out += it->second;
    copied = end;
  });
  ARROW_RETURN_NOT_OK(missing);
  out.append(text.substr(copied));
  return out;
}

std::vector<std::string> PlaceholderNames(std::string_view text) {
  std::vector<std::string> names;
  Tokenize(text, [&](char kind, size_t, size_t, const std::string& name) {
    if (kind == '$') names.push_back(name);
  });
  return names;
}

size_t ErrorPosition(std::string_view message, std::string_view sql) {
  // DuckDB: "...\n\nLINE 3: <excerpt of line 3>\n<spaces>^". The excerpt may
  // start with "..." when the line was cut.
  const size_t line_at = message.find("LINE ");
  if (line_at == std::string_view::npos) return std::string_view::npos;
  size_t colon = message.find(": ", line_at);
  const size_t newline = message.find('\n', line_at);
  if (colon == std::string_view::npos || newline == std::string_view::npos || colon > newline) {
    return std::string_view::npos;
  }
  int line = 0;
  try {
    line = std::stoi(std::string(message.substr(line_at + 5, colon - line_at - 5)));
  } catch (...) {
    return std::string_view::npos;
  }
  const size_t caret = message.find('^', newline);
  if (caret == std::string_view::npos) return std::string_view::npos;
  const size_t caret_column = caret - newline - 1;
  const size_t excerpt_start = colon + 2;
  if (caret_column < excerpt_start - line_at) return std::string_view::npos;
  std::string_view excerpt = message.substr(excerpt_start, newline - excerpt_start);
  size_t index_in_excerpt = caret_column - (excerpt_start - line_at);
  // The line of `sql`.
  size_t line_begin = 0;
  for (int i = 1; i < line && line_begin != std::string_view::npos; ++i) {
    line_begin = sql.find('\n', line_begin);
    if (line_begin != std::string_view::npos) ++line_begin;
  }
  if (line_begin == std::string_view::npos) return std::string_view::npos;
  std::string_view sql_line = sql.substr(line_begin, sql.find('\n', line_begin) - line_begin);
  if (excerpt.substr(0, 3) == "...") {
    excerpt.remove_prefix(3);
    if (index_in_excerpt < 3) return std::string_view::npos;
    index_in_excerpt -= 3;
  }
  if (excerpt.size() >= 3 && excerpt.substr(excerpt.size() - 3) == "...") excerpt.remove_suffix(3);
  const size_t at = sql_line.find(excerpt.substr(0, std::min<size_t>(excerpt.size(), 40)));
  if (at == std::string_view::npos) return std::string_view::npos;
  return line_begin + at + index_in_excerpt;
}

std::string CaretUnder(std::string_view text, size_t at) {
  at = std::min(at, text.size());
  const size_t begin = text.rfind('\n', at == 0 ? 0 : at - 1) == std::string_view::npos
                           ? 0
                           : text.rfind('\n', at == 0 ? 0 : at - 1) + 1;
  size_t end = text.find('\n', at);
  if (end == std::string_view::npos) end = text.size();
  std::string out(text.substr(begin, end - begin));
  out += "\n";
  for (size_t i = begin; i < at; ++i) out += text[i] == '\t' ? '\t' : ' ';
  return out + "^";
}

std::vector<std::string> ClosestNames(std::string_view name, const std::vector<std::string>& candidates,
                                      size_t limit) {
  const std::string a = Lower(name);
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& candidate : candidates) {
    const std::string b = Lower(candidate);
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        const size_t up = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
        diagonal = up;
      }
    }
    const size_t distance = row[b.size()];
    // One name inside the other ("amount" in "amount_eur"), not a letter or two.
    const bool contains = std::min(a.size(), b.size()) >= 3 &&
                          (b.find(a) != std::string::npos || a.find(b) != std::string::npos);
    if (distance <= std::max<size_t>(2, a.size() / 3) || contains) scored.emplace_back(distance, candidate);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < limit; ++i) out.push_back(scored[i].second);
  return out;
}

}  // namespace flightdeck::frame
