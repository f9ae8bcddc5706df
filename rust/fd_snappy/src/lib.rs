//! A C ABI over the `snap` crate's raw (block) Snappy decoder, the format of
//! Snappy-compressed Parquet pages. See src/flightdeck/frame/snappy_row_group.cc.

/// Writes the decompressed length of the block `src[..len]` to `out`.
/// Returns false when the block's length header is malformed.
///
/// # Safety
/// `src` must point to `len` readable bytes and `out` to a writable usize.
#[no_mangle]
pub unsafe extern "C" fn fd_snappy_decompressed_length(src: *const u8, len: usize, out: *mut usize) -> bool {
    let input = std::slice::from_raw_parts(src, len);
    match snap::raw::decompress_len(input) {
        Ok(n) => {
            *out = n;
            true
        }
        Err(_) => false,
    }
}

/// Decompresses the block `src[..len]` into `dst[..dst_len]`, which must be
/// exactly its decompressed length. Returns false on corrupt input.
///
/// # Safety
/// `src` must point to `len` readable bytes, `dst` to `dst_len` writable ones.
#[no_mangle]
pub unsafe extern "C" fn fd_snappy_decompress(src: *const u8, len: usize, dst: *mut u8, dst_len: usize) -> bool {
    let input = std::slice::from_raw_parts(src, len);
    let output = std::slice::from_raw_parts_mut(dst, dst_len);
    matches!(snap::raw::Decoder::new().decompress(input, output), Ok(n) if n == dst_len)
}
