// flightdeck/frame/api.h: everything a user of the frame layer needs: the
// DataFrame, expression builders and the expression language.
#pragma once

#include "flightdeck/frame/data_frame.h"      // IWYU pragma: export
#include "flightdeck/frame/expr.h"            // IWYU pragma: export
#include "flightdeck/frame/expression_parser.h"  // IWYU pragma: export
#include "flightdeck/frame/generate.h"        // IWYU pragma: export
#include "flightdeck/frame/transform.h"       // IWYU pragma: export
