#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc rather than glibc's malloc: a request's small allocations are often freed on
/// the other worker thread, which in glibc means taking the allocating thread's arena lock
/// (futex waits and wake-ups in the profile of the gateway row); mimalloc frees them
/// without a lock. Measured on every bench row, back to back: 5–25 % more requests a
/// second, for about 20 MiB more resident memory (BENCHMARKS.md, "The allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = tessera::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tessera::commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
