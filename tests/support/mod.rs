//! Shared set-up of the relayer's end-to-end tests: two devnets with an open channel, a pair
//! config pointing at them, the relayer daemon run in-process, and chain-side checks (packets
//! received exactly once, commitments cleared, balances).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use arke::config::Config;
use arke::relay::supervisor::{self, PairKeys};
use cosmos::events::events_of;
use cosmos::{AccountKey, Coin};
#[allow(unused_imports)] // not every test binary uses every check
pub use devnet::harness::{has_commitment, receive_counts, voucher};
use devnet::harness::{packet_from_event, transfer_msg_on, TestChain};
use devnet::testing::ConnectedChains;
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Block time of the test chains.
pub const BLOCK: Duration = Duration::from_millis(200);

/// Two chains, a channel, and a config for them.
pub struct Harness {
    /// The chains and channel.
    pub chains: ConnectedChains,
    /// A pair config for the two devnets.
    pub config: Config,
    /// Scratch directory (removed on drop).
    pub dir: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A relayer running in-process.
pub struct Relayer {
    token: CancellationToken,
    task: JoinHandle<()>,
}

impl Relayer {
    /// Graceful stop, as on SIGTERM: drains in-flight work.
    pub async fn stop(self) {
        self.token.cancel();
        let _ = self.task.await;
    }

    /// Hard stop, as on SIGKILL: nothing drains.
    pub async fn abort(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

impl Harness {
    /// Two devnets with an open ICS-20 channel (ordered when asked) and a matching config.
    pub async fn new(ordered: bool, extra_relay: &str) -> Self {
        let chains = ConnectedChains::start(BLOCK, ordered)
            .await
            .expect("chains and channel start");
        let dir = std::env::temp_dir().join(format!(
            "arke-e2e-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let config = pair_config(&chains.a, &chains.b, &dir, extra_relay);
        Self {
            chains,
            config,
            dir,
        }
    }

    /// Starts the relayer signing with the chains' relayer accounts.
    pub fn start_relayer(&self) -> Relayer {
        self.start_relayer_with(self.chains.a.relayer.clone(), self.chains.b.relayer.clone())
    }

    /// Starts the relayer signing with the given keys.
    pub fn start_relayer_with(&self, a: AccountKey, b: AccountKey) -> Relayer {
        let token = CancellationToken::new();
        let config = self.config.clone();
        let t = token.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = supervisor::run(config, PairKeys { a, b }, t).await {
                panic!("relayer failed: {e}");
            }
        });
        Relayer { token, task }
    }

    /// Sends `count` transfers of `amount` stake from the user of `from` to the user of the other
    /// chain, packed `per_tx` messages per tx; returns the packets.
    pub async fn send_transfers(
        &self,
        from_a: bool,
        count: usize,
        amount: u128,
        per_tx: usize,
        timeout_height_offset: u64,
    ) -> Vec<Packet> {
        let (src, dst, channel) = self.ends(from_a);
        let sender = src.address(&src.user);
        let receiver = dst.address(&dst.user);
        let timeout = dst.ibc_height(dst.node().latest_height() + timeout_height_offset);
        let mut packets = Vec::new();
        let mut left = count;
        while left > 0 {
            let n = left.min(per_tx);
            let msgs = (0..n)
                .map(|_| {
                    transfer_msg_on(
                        &self.chains.path.port,
                        &sender,
                        &receiver,
                        channel,
                        &Coin {
                            denom: "stake".into(),
                            amount,
                        },
                        Some(timeout),
                        0,
                    )
                })
                .collect();
            let tx = src.submit_ok(&src.user, msgs).await.expect("transfer tx");
            for e in events_of(&tx.result.events, "send_packet") {
                packets.push(packet_from_event(&e).expect("packet"));
            }
            left -= n;
        }
        packets
    }

    /// (source chain, destination chain, source channel) for a direction.
    pub fn ends(&self, from_a: bool) -> (&TestChain, &TestChain, &str) {
        if from_a {
            (&self.chains.a, &self.chains.b, &self.chains.path.channel_a)
        } else {
            (&self.chains.b, &self.chains.a, &self.chains.path.channel_b)
        }
    }

    /// Waits until no packet commitment of `packets` (sent from A when `from_a`) remains on the
    /// source: every packet was acknowledged or timed out.
    pub async fn wait_all_settled(&self, from_a: bool, packets: &[Packet], timeout: Duration) {
        let (src, _, _) = self.ends(from_a);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = packets.iter().filter(|p| has_commitment(src, p)).count();
            if left == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{left} of {} packets still unsettled after {timeout:?}",
                packets.len()
            );
            tokio::time::sleep(BLOCK).await;
        }
    }
}

/// A pair config for chains `a` and `b` (keys under `dir/keys`, zero gas price, generous tx
/// limits) with `extra_relay` appended to its `[relay]` section.
pub fn pair_config(a: &TestChain, b: &TestChain, dir: &Path, extra_relay: &str) -> Config {
    let text = pair_config_text(a, b, dir, extra_relay);
    Config::from_toml_str(&text, &dir.join("pair.toml")).expect("valid config")
}

/// The text of [`pair_config`].
pub fn pair_config_text(a: &TestChain, b: &TestChain, dir: &Path, extra_relay: &str) -> String {
    format!(
        r#"
[chains.a]
id = "{a_id}"
rpc_addr = "{a_rpc}"
account_prefix = "cosmos"
key_name = "relayer"
key_store_folder = "{keys}"
gas_price = {{ price = 0.0, denom = "stake" }}
max_gas = 50000000
max_msg_num = 50
max_tx_size = 2000000
rpc_timeout = "5s"

[chains.b]
id = "{b_id}"
rpc_addr = "{b_rpc}"
account_prefix = "cosmos"
key_name = "relayer"
key_store_folder = "{keys}"
gas_price = {{ price = 0.0, denom = "stake" }}
max_gas = 50000000
max_msg_num = 50
max_tx_size = 2000000
rpc_timeout = "5s"

[relay]
clear_interval = 20
shutdown_grace = "10s"
{extra_relay}
"#,
        a_id = a.devnet.chain_id(),
        a_rpc = a.devnet.rpc_url(),
        b_id = b.devnet.chain_id(),
        b_rpc = b.devnet.rpc_url(),
        keys = dir.join("keys").display(),
    )
}

/// Committed txs on `chain` that failed (non-zero code), as "code codespace: log".
pub fn failed_txs(chain: &TestChain) -> Vec<String> {
    let mut failed = Vec::new();
    for h in 1..=chain.node().latest_height() {
        for tx in chain.node().block_txs(h) {
            if tx.result.code.value() != 0 {
                failed.push(format!(
                    "height {h}: code {} {}: {}",
                    tx.result.code.value(),
                    tx.result.codespace,
                    tx.result.log
                ));
            }
        }
    }
    failed
}

/// Funds a fresh account on `chain` from its user; returns its key.
pub async fn funded_account(chain: &TestChain, amount: u128) -> AccountKey {
    let key = AccountKey::random();
    let msg = ibc_proto::cosmos::bank::v1beta1::MsgSend {
        from_address: chain.address(&chain.user),
        to_address: chain.address(&key),
        amount: vec![ibc_proto::cosmos::base::v1beta1::Coin {
            denom: "stake".into(),
            amount: amount.to_string(),
        }],
    };
    chain
        .submit_ok(&chain.user, vec![cosmos::to_any(&msg)])
        .await
        .expect("funding tx");
    key
}
