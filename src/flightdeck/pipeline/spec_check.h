// flightdeck/pipeline/spec_check.h: checks that a parsed spec can run,
// before anything runs.
//
// ParsePipelineSpec checks a spec's structure; CheckSpec checks its content
// against the data: it reads the source's schema (Parquet/IPC footers, a
// CSV sample, the Flight stream's schema; a generator's fixed schema), binds
// every stage through the frame layer on a frame of that schema and no rows
// (expressions, casts, column names and types, aggregate functions, join
// keys against the joined source's schema, sort keys), and checks that a
// file sink's folder can be created and written. It stops at the first
// Python stage: what follows depends on the Python code.
#pragma once

#include <string_view>

#include <arrow/status.h>

#include "flightdeck/pipeline/spec.h"

namespace flightdeck::pipeline {

/// OK when `spec` (parsed from `yaml`; `origin` names the text, usually its
/// path) can run. Otherwise the first problem as
///   "<origin>:<line>:<column>: <reason>\n<the spec's line>\n<caret under the token>"
/// with Invalid for a problem of the spec and the source's or sink's own
/// code (IOError, Unavailable, ...) when it cannot be read or written. An
/// unknown column names the closest existing ones. Needs an engine (the
/// thread's scoped one or the default) and, for Flight sources, the node.
arrow::Status CheckSpec(const PipelineSpec& spec, std::string_view yaml, std::string_view origin);

}  // namespace flightdeck::pipeline
