// flightdeck/temporal/workflow/api.h: everything a workflow author includes.
//
// Workflows are C++20 coroutines `Task<R>(WorkflowContext&, Args...)`,
// replayed from history on every workflow task. Rules (as in the Go SDK's
// workflow/doc.go):
// - Take time, randomness, timers, activities, children and signals only from
//   WorkflowContext; never read clocks, spawn threads, do I/O or iterate
//   unordered containers whose order can change between runs.
// - Report errors by co_return of a Status/Result (FLIGHTDECK_CO_RETURN_NOT_OK,
//   FLIGHTDECK_CO_ASSIGN_OR_RAISE). An application error fails the workflow;
//   a C++ exception fails only the workflow task (a bug: fix and redeploy).
// - Change code that already has running workflows behind ctx.Patched(id).
// - Keep histories short with ContinueAsNew (each task replays all of it).
#pragma once

#include "flightdeck/temporal/converter/failure.h"
#include "flightdeck/temporal/workflow/future.h"
#include "flightdeck/temporal/workflow/options.h"
#include "flightdeck/temporal/workflow/when.h"
#include "flightdeck/temporal/workflow/workflow_context.h"
#include "flightdeck/temporal/workflow/workflow_registry.h"
