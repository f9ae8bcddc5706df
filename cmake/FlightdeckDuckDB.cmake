# The frame layer's engine: DuckDB, reached through Arrow's ADBC API.
#
#   FLIGHTDECK_DUCKDB_LIBRARY      libduckdb.so (from the pinned npm package
#                                  @duckdb/node-bindings-linux-x64)
#   FLIGHTDECK_ADBC_INCLUDE_DIR    the folder holding arrow-adbc/adbc.h (from
#                                  the pinned PyPI package adbc-driver-manager)
#
# scripts/fetch-duckdb puts both into the user cache and scripts/setup passes
# them here. Nothing links against libduckdb.so: the frame layer dlopens it
# (see frame/duckdb_driver.cc), so its ~57,000 exported symbols, vendored ICU
# among them, never interpose with Arrow's. The path is compiled in;
# FLIGHTDECK_DUCKDB_LIBRARY in the environment overrides it at run time.
set(FLIGHTDECK_DUCKDB_LIBRARY "" CACHE FILEPATH "libduckdb.so the frame layer loads")
set(FLIGHTDECK_ADBC_INCLUDE_DIR "" CACHE PATH "folder holding arrow-adbc/adbc.h")

if(NOT EXISTS "${FLIGHTDECK_DUCKDB_LIBRARY}")
  message(FATAL_ERROR
    "FLIGHTDECK_DUCKDB_LIBRARY='${FLIGHTDECK_DUCKDB_LIBRARY}' is not a file. "
    "Run scripts/setup (it fetches the pinned DuckDB and passes its path).")
endif()
if(NOT EXISTS "${FLIGHTDECK_ADBC_INCLUDE_DIR}/arrow-adbc/adbc.h")
  message(FATAL_ERROR
    "no arrow-adbc/adbc.h under FLIGHTDECK_ADBC_INCLUDE_DIR='${FLIGHTDECK_ADBC_INCLUDE_DIR}'. "
    "Run scripts/setup (it fetches the pinned ADBC header and passes its folder).")
endif()

add_library(fd::duckdb_adbc INTERFACE IMPORTED)
target_include_directories(fd::duckdb_adbc SYSTEM INTERFACE "${FLIGHTDECK_ADBC_INCLUDE_DIR}")
target_link_libraries(fd::duckdb_adbc INTERFACE ${CMAKE_DL_LIBS})
message(STATUS "DuckDB engine: ${FLIGHTDECK_DUCKDB_LIBRARY}")
