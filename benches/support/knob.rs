//! The benches' knobs: whole numbers read from the environment, with a default; a value that
//! is not a whole number ends the run with a message naming the variable.

/// The value of `name`, or `default` when it is unset.
pub fn knob(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("{name}={v:?} is not a whole number");
            std::process::exit(2)
        }),
        Err(_) => default,
    }
}
