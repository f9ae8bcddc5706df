# fd_snappy: the Snappy block decoder of frame/snappy_row_group.cc (see
# there why it does not use Arrow's). Preferably the snap crate behind a C ABI
# (rust/fd_snappy), built by cargo as a static library; the crate comes from
# crates.io at the version Cargo.lock pins, cached in CARGO_HOME. Without
# cargo (rustup's: Debian's cargo cannot read crates.io's sparse index), it
# is Debian's libsnappy, about 0.7x as fast on float pages.
find_program(CARGO cargo HINTS "$ENV{HOME}/.cargo/bin")

add_library(fd_snappy INTERFACE)
if(CARGO)
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
  add_library(fd_snappy_rust STATIC IMPORTED GLOBAL)
  set_target_properties(fd_snappy_rust PROPERTIES IMPORTED_LOCATION ${FD_SNAPPY_LIBRARY})
  add_dependencies(fd_snappy_rust fd_snappy_build)
  target_link_libraries(fd_snappy INTERFACE fd_snappy_rust Threads::Threads ${CMAKE_DL_LIBS} m)
  target_compile_definitions(fd_snappy INTERFACE FLIGHTDECK_SNAP_CRATE=1)
else()
  find_package(Snappy CONFIG REQUIRED)
  message(STATUS "cargo not found: Parquet Snappy pages use Debian's libsnappy")
  target_link_libraries(fd_snappy INTERFACE Snappy::snappy)
endif()
