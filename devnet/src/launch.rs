//! Starting a devnet: configuration, genesis accounts, and the [`Devnet`] handle that owns the
//! block producer and the RPC servers and exposes the fault switches to tests (and, when
//! `admin_addr` is set, to other processes through the loopback [admin endpoint](crate::admin)).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use cosmos::{AccountKey, Coin, COSMOS_HD_PATH};

use crate::app::{App, AppParams};
use crate::feemarket::FeeMarketParams;
use crate::finalize_block::PeriodicTransfer;
use crate::mempool::{MempoolLimits, DEFAULT_MAX_TXS, DEFAULT_MAX_TXS_BYTES};
use crate::node::{Node, NodeError, NodeKeys, NodeParams, ValidatorParams};
use crate::tls::{TlsError, TlsFiles};
use crate::tx::AnteParams;

/// A funded account at genesis.
#[derive(Clone)]
pub struct GenesisAccount {
    /// A name to print next to the address.
    pub name: String,
    /// The account's key.
    pub key: AccountKey,
    /// Initial balances.
    pub coins: Vec<Coin>,
}

impl std::fmt::Debug for GenesisAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenesisAccount")
            .field("name", &self.name)
            .field("coins", &self.coins)
            .finish_non_exhaustive()
    }
}

/// Everything needed to start a chain.
#[derive(Clone, Debug)]
pub struct DevnetConfig {
    /// Chain id; a `-N` suffix is the revision number.
    pub chain_id: String,
    /// JSON-RPC listen address (port 0 = ephemeral).
    pub rpc_addr: SocketAddr,
    /// gRPC listen address, if served.
    pub grpc_addr: Option<SocketAddr>,
    /// Target block interval.
    pub block_time: Duration,
    /// Persist blocks here (and resume from them).
    pub data_dir: Option<PathBuf>,
    /// Bech32 prefix for addresses.
    pub bech32_prefix: String,
    /// Staking and fee denom.
    pub denom: String,
    /// Minimum gas price in `denom` (0 = free).
    pub min_gas_price: f64,
    /// Block capacity in bytes.
    pub max_block_bytes: u64,
    /// Block capacity in gas (sum of `gas_wanted`).
    pub max_block_gas: u64,
    /// Most txs the mempool holds (CometBFT's `mempool.size`, default 5000); a full mempool
    /// refuses txs with CometBFT's "mempool is full" error.
    pub mempool_size: usize,
    /// Most bytes of txs the mempool holds (CometBFT's `mempool.max_txs_bytes`, default 1 GB).
    pub mempool_max_txs_bytes: u64,
    /// The EIP-1559 fee market (`--fee-market`), off when `None` (the default): a base gas price
    /// in consensus state that full blocks raise and empty ones lower, which CheckTx enforces
    /// (see [`crate::feemarket`]).
    pub fee_market: Option<FeeMarketParams>,
    /// Funded accounts.
    pub accounts: Vec<GenesisAccount>,
    /// Serve the RPC (HTTP and websocket) and gRPC over TLS with this certificate and key
    /// (`https://`, `wss://`); `None` serves plain TCP.
    pub tls: Option<TlsFiles>,
    /// Delay every RPC, websocket and gRPC answer by this much, as a node far away would
    /// (zero: none). Changeable later with `faults().set_rpc_latency`.
    pub rpc_latency: Duration,
    /// Serve the fault switches over HTTP on this loopback address (port 0 = ephemeral);
    /// `None` serves no admin endpoint. A non-loopback address is refused.
    pub admin_addr: Option<SocketAddr>,
    /// Index txs and blocks (default). `false` runs the node as CometBFT's `indexer = "null"`:
    /// `tx`, `tx_search` and `block_search` answer "transaction indexing is disabled" /
    /// "block indexing is disabled".
    pub tx_index: bool,
    /// Serve only the latest N blocks over RPC (0, the default, serves all): below the
    /// retained height, blocks, block results, commits, headers and validators answer
    /// "height H is not available, lowest height is L", and `status` reports L as
    /// `earliest_block_height`, as a pruning node does.
    pub retain_blocks: u64,
    /// An ICS-20 transfer the chain sends from FinalizeBlock every N blocks (none by default);
    /// see [`crate::finalize_block`].
    pub finalize_block_transfer: Option<PeriodicTransfer>,
    /// Validators signing each block, and how often the set changes (`--validators`,
    /// `--rotate-every`; default one validator for ever). See [`crate::node::ValidatorParams`].
    pub validators: ValidatorParams,
    /// Test switch (off by default): the ICS-20 module accepts `MsgChannelCloseInit`, which
    /// ibc-go's transfer module (and this one otherwise) refuses, so tests can close a channel
    /// end through a real tx (see [`crate::testing::close_channel_msg`]). Part of the chain's
    /// rules: a devnet restarted from its data dir must be started with the same value.
    pub allow_channel_close: bool,
}

impl DevnetConfig {
    /// Defaults for tests: ephemeral loopback port, 200 ms blocks, no gRPC, in-memory.
    pub fn for_tests(chain_id: &str) -> Self {
        Self {
            chain_id: chain_id.to_string(),
            rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc_addr: None,
            block_time: Duration::from_millis(200),
            data_dir: None,
            bech32_prefix: "cosmos".to_string(),
            denom: "stake".to_string(),
            min_gas_price: 0.0,
            max_block_bytes: 22_020_096,
            max_block_gas: 1_000_000_000,
            mempool_size: DEFAULT_MAX_TXS,
            mempool_max_txs_bytes: DEFAULT_MAX_TXS_BYTES,
            fee_market: None,
            accounts: Vec::new(),
            tls: None,
            rpc_latency: Duration::ZERO,
            admin_addr: None,
            tx_index: true,
            retain_blocks: 0,
            finalize_block_transfer: None,
            validators: ValidatorParams::default(),
            allow_channel_close: false,
        }
    }

    /// Adds a funded account derived from `mnemonic` on the Cosmos HD path.
    pub fn with_mnemonic_account(
        mut self,
        name: &str,
        mnemonic: &str,
        coins: Vec<Coin>,
    ) -> Result<Self, String> {
        let key = AccountKey::from_mnemonic(mnemonic, COSMOS_HD_PATH)
            .map_err(|e| format!("genesis account {name}: {e}"))?;
        self.accounts.push(GenesisAccount {
            name: name.to_string(),
            key,
            coins,
        });
        Ok(self)
    }

    /// Adds a funded account with a fresh random key, returning the key.
    pub fn with_random_account(mut self, name: &str, coins: Vec<Coin>) -> (Self, AccountKey) {
        let key = AccountKey::random();
        self.accounts.push(GenesisAccount {
            name: name.to_string(),
            key: key.clone(),
            coins,
        });
        (self, key)
    }

    /// The fee collector module account address.
    pub fn fee_collector(&self) -> String {
        cosmos::address::module_address("fee_collector", &self.bech32_prefix)
    }
}

/// A running devnet. Dropping it stops the chain.
pub struct Devnet {
    config: DevnetConfig,
    node: Node,
    rpc_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    admin: Option<(SocketAddr, CancellationToken)>,
    running: Option<(CancellationToken, JoinSet<()>)>,
}

/// Errors starting a devnet.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// The node failed to start.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A listener failed to bind.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Invalid configuration.
    #[error("{0}")]
    Config(String),
    /// The TLS certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl Devnet {
    /// Builds genesis and starts the chain: block production, JSON-RPC, and gRPC when asked.
    pub async fn start(config: DevnetConfig) -> Result<Self, DevnetError> {
        if config.block_time.is_zero() {
            return Err(DevnetError::Config("block_time must be above zero".into()));
        }
        if let Some(addr) = config.admin_addr {
            crate::admin::check_loopback(addr).map_err(DevnetError::Config)?;
        }
        let tls = match &config.tls {
            Some(files) => Some(crate::tls::server_config(files)?),
            None => None,
        };
        if let Some(market) = &config.fee_market {
            market.validate().map_err(DevnetError::Config)?;
        }
        if config
            .finalize_block_transfer
            .as_ref()
            .is_some_and(|p| p.every_n_blocks == 0)
        {
            return Err(DevnetError::Config(
                "finalize_block_transfer.every_n_blocks must be above zero".into(),
            ));
        }
        config.validators.validate().map_err(DevnetError::Config)?;
        let keys = match &config.data_dir {
            Some(dir) => load_or_create_keys(dir)?,
            None => NodeKeys::generate(),
        };
        let app = App::new(AppParams {
            chain_id: config.chain_id.clone(),
            ante: AnteParams {
                min_gas_price: config.min_gas_price,
                fee_denom: config.denom.clone(),
                bech32_prefix: config.bech32_prefix.clone(),
                fee_collector: config.fee_collector(),
            },
            version: env!("CARGO_PKG_VERSION").to_string(),
            fee_market: config.fee_market.clone(),
            tx_index: config.tx_index,
        });
        let accounts: Vec<(String, Vec<Coin>)> = config
            .accounts
            .iter()
            .map(|a| (a.key.address(&config.bech32_prefix), a.coins.clone()))
            .collect();
        let genesis = app
            .genesis(&accounts)
            .map_err(|e| DevnetError::Config(format!("genesis: {}", e.log)))?;
        let app_state = serde_json::json!({
            "accounts": accounts.iter().map(|(addr, coins)| serde_json::json!({
                "address": addr,
                "coins": coins.iter().map(|c| serde_json::json!({"denom": c.denom, "amount": c.amount.to_string()})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let node = Node::new(
            NodeParams {
                chain_id: config.chain_id.clone(),
                block_time: config.block_time,
                max_block_bytes: config.max_block_bytes,
                max_block_gas: config.max_block_gas,
                moniker: "devnet".to_string(),
                data_dir: config.data_dir.clone(),
                mempool: MempoolLimits {
                    max_txs: config.mempool_size,
                    max_txs_bytes: config.mempool_max_txs_bytes,
                },
                tx_index: config.tx_index,
                retain_blocks: config.retain_blocks,
                allow_channel_close: config.allow_channel_close,
                finalize_block_transfer: config.finalize_block_transfer.clone(),
                validators: config.validators,
            },
            app,
            keys,
            genesis,
            app_state,
        )?;
        node.faults().set_rpc_latency(config.rpc_latency);
        let mut devnet = Self {
            rpc_addr: config.rpc_addr,
            grpc_addr: config.grpc_addr,
            tls,
            admin: None,
            config,
            node,
            running: None,
        };
        devnet.start_services().await?;
        if let Some(addr) = devnet.config.admin_addr {
            devnet.start_admin(addr).await?;
        }
        Ok(devnet)
    }

    /// The admin endpoint is not part of [`Devnet::restart`]: it lives as long as the handle.
    async fn start_admin(&mut self, addr: SocketAddr) -> Result<(), DevnetError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| DevnetError::Bind { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| DevnetError::Bind { addr, source })?;
        let token = CancellationToken::new();
        let (node, t) = (self.node.clone(), token.clone());
        tokio::spawn(async move {
            if let Err(e) = crate::admin::serve(node, listener, t).await {
                tracing::error!(error = %e, "admin endpoint stopped");
            }
        });
        self.admin = Some((bound, token));
        Ok(())
    }

    async fn start_services(&mut self) -> Result<(), DevnetError> {
        let token = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let rpc_listener =
            TcpListener::bind(self.rpc_addr)
                .await
                .map_err(|source| DevnetError::Bind {
                    addr: self.rpc_addr,
                    source,
                })?;
        self.rpc_addr = rpc_listener
            .local_addr()
            .map_err(|source| DevnetError::Bind {
                addr: self.rpc_addr,
                source,
            })?;
        self.node
            .set_rpc_address(format!("tcp://{}", self.rpc_addr));
        if let Some(addr) = self.grpc_addr {
            let grpc_listener = TcpListener::bind(addr)
                .await
                .map_err(|source| DevnetError::Bind { addr, source })?;
            self.grpc_addr = grpc_listener.local_addr().ok();
            let (node, t, tls) = (self.node.clone(), token.clone(), self.tls.clone());
            tasks.spawn(async move {
                if let Err(e) = crate::rpc::serve_grpc(node, grpc_listener, tls, t).await {
                    tracing::error!(error = %e, "gRPC server stopped");
                }
            });
        }
        let (node, t, tls) = (self.node.clone(), token.clone(), self.tls.clone());
        tasks.spawn(async move {
            if let Err(e) = crate::rpc::serve(node, rpc_listener, tls, t).await {
                tracing::error!(error = %e, "RPC server stopped");
            }
        });
        tasks.spawn(self.node.clone().run(token.clone()));
        self.running = Some((token, tasks));
        Ok(())
    }

    /// Stops block production and the RPC servers (the state stays in memory).
    pub async fn stop(&mut self) {
        if let Some((token, mut tasks)) = self.running.take() {
            token.cancel();
            while tasks.join_next().await.is_some() {}
        }
    }

    /// Starts the node again on the same state and the same addresses.
    pub async fn restart(&mut self) -> Result<(), DevnetError> {
        self.stop().await;
        self.start_services().await
    }

    /// The node (state, blocks, fault switches).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &DevnetConfig {
        &self.config
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.config.chain_id
    }

    /// `http://127.0.0.1:PORT` (`https://` with TLS).
    pub fn rpc_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.rpc_addr)
    }

    /// `ws://127.0.0.1:PORT/websocket` (`wss://` with TLS).
    pub fn websocket_url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}/websocket", self.rpc_addr)
    }

    /// `http://127.0.0.1:PORT` of the gRPC server, when served (`https://` with TLS).
    pub fn grpc_url(&self) -> Option<String> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        self.grpc_addr.map(|a| format!("{scheme}://{a}"))
    }

    /// `http://127.0.0.1:PORT` of the admin endpoint, when served (always plain HTTP).
    pub fn admin_url(&self) -> Option<String> {
        self.admin.as_ref().map(|(a, _)| format!("http://{a}"))
    }

    /// Pauses block production.
    pub fn pause(&self) {
        self.node.pause();
    }

    /// Resumes block production.
    pub fn resume(&self) {
        self.node.resume();
    }

    /// Waits until the chain reaches `height` (or `timeout` passes).
    pub async fn wait_for_height(&self, height: u64, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut events = self.node.subscribe();
        loop {
            if self.node.latest_height() >= height {
                return Ok(());
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => {
                    return Err(format!(
                        "{}: height {height} not reached within {timeout:?} (at {})",
                        self.config.chain_id,
                        self.node.latest_height()
                    ))
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                    return Err("node stopped".into())
                }
                Ok(_) => {}
            }
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if let Some((token, _)) = &self.running {
            token.cancel();
        }
        if let Some((_, token)) = &self.admin {
            token.cancel();
        }
    }
}

fn load_or_create_keys(dir: &std::path::Path) -> Result<NodeKeys, DevnetError> {
    let path = dir.join("node.json");
    let io = |source| {
        DevnetError::Node(NodeError::Io {
            path: path.clone(),
            source,
        })
    };
    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(io)?;
        return serde_json::from_str(&text)
            .map_err(|e| DevnetError::Config(format!("{}: {e}", path.display())));
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let keys = NodeKeys::generate();
    let text = serde_json::to_string_pretty(&keys)
        .map_err(|e| DevnetError::Config(format!("{}: {e}", path.display())))?;
    write_private(&path, text.as_bytes()).map_err(io)?;
    Ok(keys)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}
