//! End-to-end throughput and latency of the relayer: two devnets (200 ms blocks), a channel
//! opened by Arke, the daemon, and N transfers each way (default 1,000; `ARKE_BENCH_PACKETS`).
//! Reports packets settled per second (received and acknowledged) and send→receive latency
//! percentiles from block times. Run with `cargo bench --bench relay_throughput`.

use std::time::Duration;

use arke::demo::{self, DemoOptions};

fn main() {
    let packets = std::env::var("ARKE_BENCH_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let summary = runtime.block_on(demo::run(DemoOptions {
        packets,
        block_time: Duration::from_millis(200),
        keep_running: false,
        deadline: Duration::from_secs(600),
    }));
    match summary {
        Ok(s) if s.complete() => {
            let total = s.sent[0] + s.sent[1];
            println!(
                "\nrelay_throughput: {total} packets (both ways) received and acknowledged in {:.2?}: {:.0} packets/s; send->receive p50 {:.2?}, p99 {:.2?}",
                s.relay_time,
                total as f64 / s.relay_time.as_secs_f64().max(1e-9),
                s.latency_p50,
                s.latency_p99
            );
        }
        Ok(_) => {
            eprintln!("not every packet completed");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
