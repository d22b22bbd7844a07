//! Two devnets with an open channel, a pair config for them, and the relayer daemon run
//! in-process against them.

use std::path::PathBuf;
use std::time::Duration;

use arke::config::Config;
use arke::relay::supervisor::{self, PairKeys};
use arke::telemetry::state::DaemonState;
use cosmos::events::events_of;
use cosmos::{AccountKey, Coin};
use devnet::harness::{packet_from_event, transfer_msg_on, TestChain};
use devnet::testing::ConnectedChains;
use devnet::DevnetConfig;
use ibc_proto::ibc::core::channel::v1::Packet;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{has_commitment, pair_config, scratch_dir};

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

/// Runs a relayer for `config` in-process.
fn spawn(config: Config, keys: PairKeys, state: Option<std::sync::Arc<DaemonState>>) -> Relayer {
    let token = CancellationToken::new();
    let t = token.clone();
    let task = tokio::spawn(async move {
        let options = supervisor::RunOptions {
            state,
            ..Default::default()
        };
        if let Err(e) = supervisor::run_with(config, keys, t, options).await {
            panic!("relayer failed: {e}");
        }
    });
    Relayer { token, task }
}

impl Harness {
    /// Two devnets with an open ICS-20 channel (ordered when asked) and a matching config.
    pub async fn new(ordered: bool, extra_relay: &str) -> Self {
        Self::with_nodes(ordered, extra_relay, |_| {}).await
    }

    /// [`Harness::new`] with both devnets' configs changed by `configure` (node modes such as
    /// `tx_index = false`, `retain_blocks`).
    pub async fn with_nodes(
        ordered: bool,
        extra_relay: &str,
        configure: impl Fn(&mut DevnetConfig),
    ) -> Self {
        let config = |id: &str| {
            let mut c = DevnetConfig::for_tests(id);
            c.block_time = BLOCK;
            configure(&mut c);
            c
        };
        let chains = ConnectedChains::start_with(config("devnet-1"), config("devnet-2"), ordered)
            .await
            .expect("chains and channel start");
        Self::over(chains, extra_relay)
    }

    /// Two devnets started as `a` and `b` describe (block time: theirs), an unordered ICS-20
    /// channel between them, and a matching config.
    pub async fn with_configs(a: DevnetConfig, b: DevnetConfig, extra_relay: &str) -> Self {
        let chains = ConnectedChains::start_with(a, b, false)
            .await
            .expect("chains and channel start");
        Self::over(chains, extra_relay)
    }

    fn over(chains: ConnectedChains, extra_relay: &str) -> Self {
        let dir = scratch_dir("e2e");
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

    /// Starts the relayer and waits until its channel workers run (its event hubs have started,
    /// so everything sent from now on reaches it through them). For nodes without a tx index,
    /// where a packet sent before the first start cannot be found later.
    pub async fn start_relayer_ready(&self) -> Relayer {
        let keys = PairKeys::new(self.chains.a.relayer.clone(), self.chains.b.relayer.clone());
        self.start_relayer_ready_with(keys).await
    }

    /// [`Harness::start_relayer_ready`] signing with `keys` (several signers per chain, say).
    pub async fn start_relayer_ready_with(&self, keys: PairKeys) -> Relayer {
        self.start_relayer_ready_as(self.config.clone(), keys, DaemonState::new())
            .await
    }

    /// [`Harness::start_relayer_ready_with`] running `config` (another instance's pair file)
    /// and reporting into `state`.
    pub async fn start_relayer_ready_as(
        &self,
        config: Config,
        keys: PairKeys,
        state: std::sync::Arc<DaemonState>,
    ) -> Relayer {
        let relayer = spawn(config, keys, Some(state.clone()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while state.workers().is_empty() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the relayer's workers did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        relayer
    }

    /// Starts the relayer reporting into `state` (which lists its running workers).
    pub fn start_relayer_in(&self, state: std::sync::Arc<DaemonState>) -> Relayer {
        let keys = PairKeys::new(self.chains.a.relayer.clone(), self.chains.b.relayer.clone());
        self.spawn_relayer(keys, Some(state))
    }

    /// Starts the relayer signing with the given keys.
    pub fn start_relayer_with(&self, a: AccountKey, b: AccountKey) -> Relayer {
        self.spawn_relayer(PairKeys::new(a, b), None)
    }

    fn spawn_relayer(&self, keys: PairKeys, state: Option<std::sync::Arc<DaemonState>>) -> Relayer {
        spawn(self.config.clone(), keys, state)
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

    /// What the relayer accounts on A and B hold together, in stake (their loss is the fees
    /// paid).
    pub fn relayer_balances(&self) -> u128 {
        let (a, b) = (&self.chains.a, &self.chains.b);
        let ra = a.balance(&a.address(&a.relayer), "stake").unwrap();
        let rb = b.balance(&b.address(&b.relayer), "stake").unwrap();
        ra + rb
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
