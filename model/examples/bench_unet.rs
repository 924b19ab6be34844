//! `cargo run --release -p magictime-model --example bench_unet -- [--frames 16 --latent 64 …]`:
//! the same benchmark as `magictime model bench` (Burn CPU vs diffusers/torch CPU).

use clap::Parser;

/// Same allocator and setting as the `magictime` binary (server/src/alloc.rs): freed tensor
/// buffers are kept for reuse instead of being returned to the kernel and faulted in again.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (see server/src/alloc.rs, whose test checks the index).
const MI_OPTION_PURGE_DELAY: i32 = 15;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: magictime_model::unet::bench::BenchArgs,
}

fn main() -> anyhow::Result<()> {
    // SAFETY: a plain store into mimalloc's option table.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    magictime_model::unet::bench::run(&Cli::parse().bench)
}
