//! The `relaybench` binary: everything lives in the library; see `relaybench::cli`.

/// The generator allocates a few small objects per request (header maps, hyper's response
/// parts); mimalloc makes those about a third as costly as glibc's allocator, as jemalloc
/// does for oha. Only the binary opts in: the library leaves the choice to its users.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    relaybench::cli::main()
}
