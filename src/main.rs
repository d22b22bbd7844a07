//! The `arke` binary: parse the command line (clap), set up logging, run, and turn any error
//! into `error: …` lines on stderr with a non-zero exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    arke::cli::main()
}
