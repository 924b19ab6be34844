//! The binary's allocator: mimalloc, told to keep freed memory for reuse.
//!
//! A denoising step allocates and frees the same large tensor buffers (tens of MB each at
//! 64×64 latents) again and again. glibc maps and unmaps each one, and by default mimalloc
//! returns freed memory to the kernel after 1 s; either way every step pays page faults and
//! page zeroing for memory it released (measured on the 64×64 UNet bench: 35.0 → 29.2 s
//! per step with purging off).

use libmimalloc_sys::mi_option_set;

/// `mi_option_purge_delay` of the vendored mimalloc v3 (`mimalloc.h`, `mi_option_e`);
/// libmimalloc-sys names no constant for it. The test below checks its default of 1000 ms.
const MI_OPTION_PURGE_DELAY: i32 = 15;

/// Never purge freed memory back to the OS (mimalloc's `purge_delay = -1`).
pub fn keep_freed_memory() {
    // SAFETY: setting an option is a plain store into mimalloc's option table.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_index_is_purge_delay() {
        // purge_delay's default in the vendored mimalloc v3 (src/options.c: 1000 ms); another
        // option at this index would not read 1000 (its neighbours default to 0 or 1); then
        // the setting takes
        // SAFETY: reads and writes mimalloc's option table.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            1000
        );
        keep_freed_memory();
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            -1
        );
    }
}
