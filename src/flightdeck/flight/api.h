// flightdeck/flight/api.h: everything a user of the flight layer needs: the
// data node, its store, tickets, dataset descriptors and the tenant header.
#pragma once

#include "flightdeck/flight/batch_store.h"         // IWYU pragma: export
#include "flightdeck/flight/data_node.h"           // IWYU pragma: export
#include "flightdeck/flight/dataset_descriptor.h"  // IWYU pragma: export
#include "flightdeck/flight/exchange_transform.h"  // IWYU pragma: export
#include "flightdeck/flight/caller.h"   // IWYU pragma: export
#include "flightdeck/flight/ticket.h"              // IWYU pragma: export
