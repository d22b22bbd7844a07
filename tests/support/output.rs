//! The output of an `arke` process, as text: of a finished one, or line by line from a running one.

use std::io::{BufRead, BufReader};
use std::process::{ChildStdout, Output};
use std::sync::mpsc;

/// Its stdout (lossy UTF-8).
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Its stderr (lossy UTF-8).
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The lines a running process writes to `stdout`, read on a thread so that a test can wait for
/// one with `recv_timeout` (a bounded wait) instead of blocking on the pipe.
pub fn line_channel(stdout: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
