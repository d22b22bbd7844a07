//! `arke demo` end to end: the binary starts two devnets, opens a channel, relays transfers both
//! ways and exits 0 with a summary that counts every packet.

use std::process::Command;

#[test]
fn demo_relays_every_packet_both_ways() {
    let out = Command::new(env!("CARGO_BIN_EXE_arke"))
        .args([
            "demo",
            "--packets",
            "50",
            "--block-time",
            "200ms",
            "--deadline",
            "5m",
        ])
        .output()
        .expect("run arke demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("devnet-1 -> devnet-2: 50 sent, 50 received, 50 acknowledged, 0 timed out"),
        "{stdout}"
    );
    assert!(
        stdout.contains("devnet-2 -> devnet-1: 50 sent, 50 received, 50 acknowledged, 0 timed out"),
        "{stdout}"
    );
    assert!(
        stdout.contains("every packet received and acknowledged"),
        "{stdout}"
    );
}
