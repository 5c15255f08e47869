//! The `hostwall` binary: parse arguments, run the subcommand, turn the outcome into an exit code.

// Checker functions return `Result<_, Diagnostic>`; diagnostics are the cold path and
// boxing each one would only add noise.
#![allow(clippy::result_large_err)]

mod cli;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    cli::run(args)
}
