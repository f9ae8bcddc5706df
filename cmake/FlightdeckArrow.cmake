# Finds Arrow C++ (Arrow, Flight, Acero, Dataset, Parquet) and defines the
# targets flightdeck links against:
#   fd::arrow fd::arrow_flight fd::arrow_acero fd::arrow_dataset fd::parquet
#   fd::arrow_s3 (Arrow's S3 filesystem: its own library in recent wheels)
#
# A system install (Apache's packages, conda) wins when find_package(Arrow
# CONFIG) succeeds. Otherwise the headers and shared libraries bundled in the
# pyarrow wheel of FLIGHTDECK_PYTHON are used. Either way binaries carry an
# RPATH to the libraries, so they run without LD_LIBRARY_PATH.

option(FLIGHTDECK_USE_SYSTEM_ARROW "Prefer a system Arrow C++ install" ON)

set(_fd_arrow_found FALSE)
if(FLIGHTDECK_USE_SYSTEM_ARROW)
  find_package(Arrow CONFIG QUIET)
  if(Arrow_FOUND)
    find_package(ArrowFlight CONFIG QUIET)
    find_package(ArrowAcero CONFIG QUIET)
    find_package(ArrowDataset CONFIG QUIET)
    find_package(Parquet CONFIG QUIET)
    if(ArrowFlight_FOUND AND ArrowAcero_FOUND AND ArrowDataset_FOUND AND Parquet_FOUND)
      add_library(fd::arrow INTERFACE IMPORTED)
      target_link_libraries(fd::arrow INTERFACE Arrow::arrow_shared)
      # Arrow >= 21 ships compute kernels in their own library.
      find_package(ArrowCompute CONFIG QUIET)
      add_library(fd::arrow_compute INTERFACE IMPORTED)
      if(ArrowCompute_FOUND)
        target_link_libraries(fd::arrow_compute INTERFACE ArrowCompute::arrow_compute_shared)
      else()
        target_link_libraries(fd::arrow_compute INTERFACE Arrow::arrow_shared)
      endif()
      add_library(fd::arrow_flight INTERFACE IMPORTED)
      target_link_libraries(fd::arrow_flight INTERFACE ArrowFlight::arrow_flight_shared)
      add_library(fd::arrow_acero INTERFACE IMPORTED)
      target_link_libraries(fd::arrow_acero INTERFACE ArrowAcero::arrow_acero_shared)
      add_library(fd::arrow_dataset INTERFACE IMPORTED)
      target_link_libraries(fd::arrow_dataset INTERFACE ArrowDataset::arrow_dataset_shared)
      add_library(fd::parquet INTERFACE IMPORTED)
      target_link_libraries(fd::parquet INTERFACE Parquet::parquet_shared)
      add_library(fd::arrow_s3 INTERFACE IMPORTED)
      find_package(ArrowS3 CONFIG QUIET)
      if(ArrowS3_FOUND)
        target_link_libraries(fd::arrow_s3 INTERFACE ArrowS3::arrow_s3_shared)
      else()
        target_link_libraries(fd::arrow_s3 INTERFACE Arrow::arrow_shared)
      endif()
      set(_fd_arrow_found TRUE)
      set(FLIGHTDECK_ARROW_ORIGIN "system install (Arrow ${Arrow_VERSION})")
    else()
      message(STATUS "System Arrow lacks Flight/Acero/Dataset/Parquet; using pyarrow")
    endif()
  endif()
endif()

if(NOT _fd_arrow_found)
  if(NOT EXISTS "${FLIGHTDECK_PYTHON}")
    message(FATAL_ERROR
      "No system Arrow C++ found and no Python at FLIGHTDECK_PYTHON=${FLIGHTDECK_PYTHON}. "
      "Run scripts/setup, which creates .venv with the pinned pyarrow.")
  endif()
  execute_process(
    COMMAND "${FLIGHTDECK_PYTHON}" -c
            "import pyarrow as pa; print(pa.get_include()); print(pa.get_library_dirs()[0]); print(pa.__version__)"
    OUTPUT_VARIABLE _fd_pa_out RESULT_VARIABLE _fd_pa_rc ERROR_VARIABLE _fd_pa_err
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _fd_pa_rc EQUAL 0)
    message(FATAL_ERROR "pyarrow is not importable from ${FLIGHTDECK_PYTHON}: ${_fd_pa_err}")
  endif()
  string(REPLACE "\n" ";" _fd_pa_out "${_fd_pa_out}")
  list(GET _fd_pa_out 0 _fd_pa_include)
  list(GET _fd_pa_out 1 _fd_pa_libdir)
  list(GET _fd_pa_out 2 _fd_pa_version)
  file(STRINGS "${_fd_pa_include}/arrow/util/config.h" _fd_so_line
       REGEX "define ARROW_SO_VERSION ")
  string(REGEX MATCH "\"([0-9]+)\"" _ "${_fd_so_line}")
  set(_fd_so "${CMAKE_MATCH_1}")

  # name -> file, and the fd:: libraries each one needs.
  function(_fd_import target file)
    set(_path "${_fd_pa_libdir}/${file}.so.${_fd_so}")
    if(NOT EXISTS "${_path}")
      message(FATAL_ERROR "pyarrow ${_fd_pa_version} lacks ${_path}")
    endif()
    add_library(${target} SHARED IMPORTED GLOBAL)
    set_target_properties(${target} PROPERTIES
      IMPORTED_LOCATION "${_path}"
      INTERFACE_INCLUDE_DIRECTORIES "${_fd_pa_include}"
      INTERFACE_LINK_LIBRARIES "${ARGN}")
  endfunction()
  _fd_import(fd::arrow libarrow)
  _fd_import(fd::arrow_compute libarrow_compute fd::arrow)
  _fd_import(fd::arrow_flight libarrow_flight fd::arrow)
  _fd_import(fd::arrow_acero libarrow_acero "fd::arrow;fd::arrow_compute")
  _fd_import(fd::parquet libparquet fd::arrow)
  _fd_import(fd::arrow_dataset libarrow_dataset "fd::arrow_acero;fd::parquet")
  if(EXISTS "${_fd_pa_libdir}/libarrow_s3.so.${_fd_so}")
    _fd_import(fd::arrow_s3 libarrow_s3 fd::arrow)
  else()
    add_library(fd::arrow_s3 INTERFACE IMPORTED)
    target_link_libraries(fd::arrow_s3 INTERFACE fd::arrow)
  endif()
  set(FLIGHTDECK_ARROW_ORIGIN "pyarrow ${_fd_pa_version} wheel (${_fd_pa_libdir})")
endif()
message(STATUS "Arrow C++: ${FLIGHTDECK_ARROW_ORIGIN}")

# The C++ ABI must match: a libstdc++ dual-ABI mismatch (or another standard
# library) only shows up as undefined std::string symbols at link time, so
# link a probe now and say what is wrong in words.
set(_fd_probe_dir "${CMAKE_BINARY_DIR}/arrow_abi_probe")
file(WRITE "${_fd_probe_dir}/probe.cc" [=[
#include <arrow/api.h>
#include <arrow/flight/api.h>
int main() {
  std::string s = arrow::Status::Invalid("probe").ToString();
  auto d = arrow::flight::FlightDescriptor::Path({"a", "b"});
  return static_cast<int>(s.size() + d.ToString().size() + arrow::int64()->ToString().size()) > 0 ? 0 : 1;
}
]=])
try_compile(_fd_abi_ok
  SOURCES "${_fd_probe_dir}/probe.cc"
  LINK_LIBRARIES fd::arrow_flight
  CXX_STANDARD 20
  OUTPUT_VARIABLE _fd_abi_out)
if(NOT _fd_abi_ok)
  message(FATAL_ERROR
    "Cannot link against Arrow C++ from ${FLIGHTDECK_ARROW_ORIGIN} with "
    "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}. The C++ ABI most likely "
    "differs (_GLIBCXX_USE_CXX11_ABI or standard library). Use a compiler matching "
    "the Arrow build, or point CMake at a matching Arrow install "
    "(CMAKE_PREFIX_PATH). Probe output:\n${_fd_abi_out}")
endif()
