// flightdeck/frame/api.h: everything a user of the frame layer needs: the
// DataFrame, its engine, expression builders and the transform of a node's
// exchanges.
#pragma once

#include "flightdeck/frame/data_frame.h"  // IWYU pragma: export
#include "flightdeck/frame/engine.h"      // IWYU pragma: export
#include "flightdeck/frame/expr.h"        // IWYU pragma: export
#include "flightdeck/frame/generate.h"    // IWYU pragma: export
#include "flightdeck/frame/transform.h"   // IWYU pragma: export
#include "flightdeck/frame/type_names.h"  // IWYU pragma: export
