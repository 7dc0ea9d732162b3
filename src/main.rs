//! The `relaybench` binary: everything lives in the library; see `relaybench::cli`.

fn main() -> std::process::ExitCode {
    relaybench::cli::main()
}
