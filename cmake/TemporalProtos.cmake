# Compiles the Temporal API protos into the static library
# `temporal_api_protos` (messages plus gRPC stubs for the services).
#
# The .proto files come from FLIGHTDECK_TEMPORAL_PROTO_DIR, filled by
# scripts/fetch-temporal-protos from a pinned npm package; they are copied into
# the build tree, never into git. Two packages are renamed in that copy:
# `temporal.api.namespace.v1` and `temporal.api.export.v1` would become C++
# namespaces named after the keywords `namespace` and `export` with protoc 3.21,
# so they become `namespace_` and `export_`. The wire format and the gRPC method
# paths do not change (only Any type URLs of those two packages would, and the
# API never packs them into Any).

set(FLIGHTDECK_TEMPORAL_PROTO_DIR "$ENV{HOME}/.cache/flightdeck/temporal-protos-1.24.0"
    CACHE PATH "Folder holding temporal/api/**.proto (see scripts/fetch-temporal-protos)")
if(NOT EXISTS "${FLIGHTDECK_TEMPORAL_PROTO_DIR}/temporal/api/workflowservice/v1/service.proto")
  execute_process(COMMAND "${CMAKE_CURRENT_SOURCE_DIR}/scripts/fetch-temporal-protos"
                  RESULT_VARIABLE _fd_fetch_rc)
  if(NOT _fd_fetch_rc EQUAL 0 OR NOT EXISTS
     "${FLIGHTDECK_TEMPORAL_PROTO_DIR}/temporal/api/workflowservice/v1/service.proto")
    message(FATAL_ERROR "Temporal API protos missing in ${FLIGHTDECK_TEMPORAL_PROTO_DIR}; "
                        "run scripts/fetch-temporal-protos")
  endif()
endif()

find_program(FLIGHTDECK_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

set(_fd_proto_src "${FLIGHTDECK_TEMPORAL_PROTO_DIR}")
set(_fd_proto_copy "${CMAKE_BINARY_DIR}/temporal_protos")
set(_fd_proto_gen "${CMAKE_BINARY_DIR}/temporal_protos_gen")
file(MAKE_DIRECTORY "${_fd_proto_gen}")

file(GLOB_RECURSE _fd_protos RELATIVE "${_fd_proto_src}"
     "${_fd_proto_src}/temporal/api/*.proto"
     "${_fd_proto_src}/google/api/*.proto"
     "${_fd_proto_src}/google/rpc/*.proto"
     "${_fd_proto_src}/grpc/health/*.proto"
     "${_fd_proto_src}/nexusannotations/*.proto")

set(_fd_proto_cc)
foreach(_rel IN LISTS _fd_protos)
  file(READ "${_fd_proto_src}/${_rel}" _text)
  string(REPLACE "temporal.api.namespace.v1" "temporal.api.namespace_.v1" _text "${_text}")
  string(REPLACE "temporal.api.export.v1" "temporal.api.export_.v1" _text "${_text}")
  # Only rewrite when the content changed, so a re-configure rebuilds nothing.
  set(_dst "${_fd_proto_copy}/${_rel}")
  if(EXISTS "${_dst}")
    file(READ "${_dst}" _old)
  else()
    set(_old "")
  endif()
  if(NOT _old STREQUAL _text)
    file(WRITE "${_dst}" "${_text}")
  endif()

  string(REGEX REPLACE "\\.proto$" "" _stem "${_rel}")
  set(_outs "${_fd_proto_gen}/${_stem}.pb.cc" "${_fd_proto_gen}/${_stem}.pb.h")
  set(_grpc_args)
  if(_text MATCHES "\nservice [A-Za-z]+ *{")
    list(APPEND _outs "${_fd_proto_gen}/${_stem}.grpc.pb.cc" "${_fd_proto_gen}/${_stem}.grpc.pb.h")
    set(_grpc_args "--grpc_out=${_fd_proto_gen}"
                   "--plugin=protoc-gen-grpc=${FLIGHTDECK_GRPC_CPP_PLUGIN}")
  endif()
  add_custom_command(
    OUTPUT ${_outs}
    COMMAND protobuf::protoc
            "--proto_path=${_fd_proto_copy}" "--proto_path=${Protobuf_INCLUDE_DIR}"
            "--cpp_out=${_fd_proto_gen}" ${_grpc_args} "${_dst}"
    DEPENDS "${_dst}" protobuf::protoc
    COMMENT "protoc ${_rel}"
    VERBATIM)
  foreach(_o IN LISTS _outs)
    if(_o MATCHES "\\.cc$")
      list(APPEND _fd_proto_cc "${_o}")
    endif()
  endforeach()
endforeach()

list(LENGTH _fd_protos _fd_proto_count)
message(STATUS "Temporal protos: ${_fd_proto_count} files from ${_fd_proto_src}")

add_library(temporal_api_protos STATIC ${_fd_proto_cc})
target_include_directories(temporal_api_protos SYSTEM PUBLIC "${_fd_proto_gen}")
target_link_libraries(temporal_api_protos PUBLIC protobuf::libprotobuf gRPC::grpc++)
# Generated code: optimise for build time and size, not speed; it only parses
# and serialises control-plane messages.
target_compile_options(temporal_api_protos PRIVATE -O1 -w)
set_target_properties(temporal_api_protos PROPERTIES POSITION_INDEPENDENT_CODE ON)
