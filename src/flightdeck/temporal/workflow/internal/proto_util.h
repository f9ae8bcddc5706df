// flightdeck/temporal/workflow/internal/proto_util.h: small conversions
// between the runtime's option structs and Temporal protos, and the marker
// names the runtime records (a permanent compatibility contract).
#pragma once

#include <google/protobuf/duration.pb.h>

#include "flightdeck/temporal/workflow/options.h"
#include "temporal/api/common/v1/message.pb.h"
#include "temporal/api/history/v1/message.pb.h"

namespace flightdeck::temporal::workflow::internal {

/// Go SDK convention: details "side-effect-id" (json int) and "data".
inline constexpr char kSideEffectMarker[] = "SideEffect";
inline constexpr char kSideEffectIdKey[] = "side-effect-id";
inline constexpr char kSideEffectDataKey[] = "data";
/// Core SDK convention: details "patch-data" = json {"id", "deprecated"}.
inline constexpr char kPatchMarker[] = "core_patch";
inline constexpr char kPatchDataKey[] = "patch-data";

/// Sets `out` unless `duration` is zero (unset).
void SetDuration(Duration duration, google::protobuf::Duration* out);
void ToProto(const RetryPolicy& policy, ::temporal::api::common::v1::RetryPolicy* out);

/// WorkflowExecution{Completed,Failed,TimedOut,Canceled,ContinuedAsNew,Terminated}.
bool IsCloseEvent(const ::temporal::api::history::v1::HistoryEvent& event);

}  // namespace flightdeck::temporal::workflow::internal
