# fd_snappy: the snap crate's Snappy block decoder behind a C ABI
# (rust/fd_snappy), built by cargo as a static library. The crate comes from
# crates.io at the version Cargo.lock pins; cargo caches it in CARGO_HOME.
# Used by frame/snappy_row_group.cc (see there why).
find_program(CARGO cargo HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)

set(FD_SNAPPY_SOURCE ${CMAKE_SOURCE_DIR}/rust/fd_snappy)
set(FD_SNAPPY_TARGET_DIR ${CMAKE_BINARY_DIR}/rust)
set(FD_SNAPPY_LIBRARY ${FD_SNAPPY_TARGET_DIR}/release/libfd_snappy.a)

add_custom_command(
  OUTPUT ${FD_SNAPPY_LIBRARY}
  COMMAND ${CARGO} build --release --locked --quiet --manifest-path ${FD_SNAPPY_SOURCE}/Cargo.toml
          --target-dir ${FD_SNAPPY_TARGET_DIR}
  DEPENDS ${FD_SNAPPY_SOURCE}/Cargo.toml ${FD_SNAPPY_SOURCE}/Cargo.lock ${FD_SNAPPY_SOURCE}/src/lib.rs
  COMMENT "cargo build fd_snappy"
  VERBATIM)
add_custom_target(fd_snappy_build DEPENDS ${FD_SNAPPY_LIBRARY})

add_library(fd_snappy STATIC IMPORTED GLOBAL)
set_target_properties(fd_snappy PROPERTIES
  IMPORTED_LOCATION ${FD_SNAPPY_LIBRARY}
  INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m")
add_dependencies(fd_snappy fd_snappy_build)
