//! The `hostwall` binary: parse arguments, run the subcommand, turn the outcome into an exit code.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = hostwall::cli::Args::parse();
    hostwall::cli::run(args)
}
