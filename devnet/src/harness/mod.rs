//! A devnet driven in-process, for `arke demo` and for tests: a [`TestChain`] is one running
//! devnet with a relayer and a user account funded at genesis, which signs and submits txs and
//! waits for them to commit, and answers bank and auth queries, all by calling the node
//! directly (not over RPC). The packet functions build ICS-20 transfers and read a chain's
//! packet history from its committed blocks.
//!
//! Opening clients, connections and channels and relaying with proofs is test support, in
//! [`crate::testing`].

use std::time::Duration;

use cosmos::{AccountKey, Coin, Wallet};
use ibc_proto::google::protobuf::Any;
use ibc_proto::ibc::core::client::v1 as client;
use prost::Message;

use crate::launch::{Devnet, DevnetConfig};
use crate::node::{ChainEvent, Node, TxRecord};

mod packets;

pub use packets::{
    block_events, events_with_time, has_commitment, packet_from_event, receive_counts,
    receive_times, send_times, timeouts, transfer_msg, transfer_msg_on, voucher, BlockEvent,
};

/// A bank send of `amount` stake from `from` to `to`, ready for a tx.
pub fn bank_send(from: &str, to: &str, amount: u128) -> Any {
    cosmos::to_any(&ibc_proto::cosmos::bank::v1beta1::MsgSend {
        from_address: from.to_string(),
        to_address: to.to_string(),
        amount: vec![ibc_proto::cosmos::base::v1beta1::Coin {
            denom: "stake".into(),
            amount: amount.to_string(),
        }],
    })
}

/// Gas limit the harness puts on every tx.
pub const HELPER_GAS: u64 = 50_000_000;

/// The revision number of a chain id (`devnet-1` → 1), as ibc-go parses it.
pub fn revision_of(chain_id: &str) -> u64 {
    crate::ibc::revision_of_chain_id(chain_id)
}

/// One devnet with a relayer account and a user account funded at genesis.
pub struct TestChain {
    /// The running chain.
    pub devnet: Devnet,
    /// Signs relay and handshake txs.
    pub relayer: AccountKey,
    /// Sends transfers.
    pub user: AccountKey,
}

impl TestChain {
    /// Starts `chain_id` with `block_time`, funding relayer and user with 10^12 `stake`.
    pub async fn start(chain_id: &str, block_time: Duration) -> Result<Self, String> {
        let mut config = DevnetConfig::for_tests(chain_id);
        config.block_time = block_time;
        Self::start_with(config).await
    }

    /// Starts the chain `config` describes, adding a relayer and a user account funded with
    /// 10^12 `stake` each.
    pub async fn start_with(config: DevnetConfig) -> Result<Self, String> {
        let funds = vec![Coin {
            denom: "stake".into(),
            amount: 1_000_000_000_000,
        }];
        let (config, relayer) = config.with_random_account("relayer", funds.clone());
        let (config, user) = config.with_random_account("user", funds);
        let devnet = Devnet::start(config).await.map_err(|e| e.to_string())?;
        Ok(Self {
            devnet,
            relayer,
            user,
        })
    }

    /// The node.
    pub fn node(&self) -> &Node {
        self.devnet.node()
    }

    /// Bech32 address of a key on this chain.
    pub fn address(&self, key: &AccountKey) -> String {
        key.address(&self.devnet.config().bech32_prefix)
    }

    /// A wallet for `key` with its current account number and sequence.
    pub fn wallet(&self, key: &AccountKey) -> Result<Wallet, String> {
        let address = self.address(key);
        let (account_number, sequence) = query_account(self.node(), &address)?;
        Ok(Wallet {
            key: key.clone(),
            address,
            chain_id: self.devnet.chain_id().to_string(),
            account_number,
            sequence,
        })
    }

    /// Signs `msgs` with `key`, broadcasts, and waits for the tx to be committed. Returns the
    /// committed tx; a CheckTx rejection is an error carrying its code and log.
    /// Makes one block on this (paused) chain, of its mempool or, with `txs`, of those txs in
    /// that order (off the async workers: a block executes its txs); returns its height.
    pub async fn make_block(&self, txs: Option<Vec<Vec<u8>>>) -> u64 {
        let node = self.node().clone();
        tokio::task::spawn_blocking(move || match txs {
            Some(txs) => node.produce_block_with(txs),
            None => node.produce_block(),
        })
        .await
        .expect("block task")
        .expect("block");
        self.node().latest_height()
    }

    /// A bank send of `amount` stake from this chain's user to its relayer account: a tx of the
    /// user's that touches no IBC state.
    pub fn user_to_relayer(&self, amount: u128) -> Any {
        bank_send(
            &self.address(&self.user),
            &self.address(&self.relayer),
            amount,
        )
    }

    pub async fn submit(&self, key: &AccountKey, msgs: Vec<Any>) -> Result<TxRecord, String> {
        let wallet = self.wallet(key)?;
        let raw = wallet.sign_tx(msgs, self.helper_fee(), HELPER_GAS, "");
        self.submit_raw(raw).await
    }

    /// The fee of a harness tx: none on a free chain; with a minimum gas price or a fee market,
    /// enough for [`HELPER_GAS`] at the minimum price and at the fee market's cap, so it is
    /// never refused whatever the base price does.
    pub fn helper_fee(&self) -> Vec<Coin> {
        let config = self.devnet.config();
        let at_min = crate::tx::required_fee(config.min_gas_price, HELPER_GAS);
        let at_cap = config
            .fee_market
            .as_ref()
            .map_or(0, |m| m.max_base_gas_price.fee_for(HELPER_GAS));
        match at_min.max(at_cap) {
            0 => Vec::new(),
            amount => vec![Coin {
                denom: config.denom.clone(),
                amount,
            }],
        }
    }

    /// Broadcasts a signed tx and waits for it to be committed.
    pub async fn submit_raw(&self, raw: Vec<u8>) -> Result<TxRecord, String> {
        let hash = cosmos::tx_hash(&raw);
        let mut events = self.node().subscribe();
        let check = self
            .node()
            .try_broadcast_tx(raw)
            .map_err(|e| format!("broadcast: {e}"))?;
        if check.code.value() != 0 {
            return Err(format!(
                "CheckTx code {} ({}): {}",
                check.code.value(),
                check.codespace,
                check.log
            ));
        }
        let deadline = tokio::time::Instant::now() + self.devnet.config().block_time * 50;
        loop {
            if let Some(tx) = self.node().tx(&hash) {
                return Ok((*tx).clone());
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return Err("tx not committed in time".into()),
                Ok(Ok(ChainEvent::Tx(tx))) if tx.hash == hash => return Ok((*tx).clone()),
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => {
                    return Err("node stopped".into())
                }
                Ok(_) => {}
            }
        }
    }

    /// Like [`TestChain::submit`], but a non-zero tx result code is an error too.
    pub async fn submit_ok(&self, key: &AccountKey, msgs: Vec<Any>) -> Result<TxRecord, String> {
        let tx = self.submit(key, msgs).await?;
        if tx.result.code.value() != 0 {
            return Err(format!(
                "tx failed with code {} ({}): {}",
                tx.result.code.value(),
                tx.result.codespace,
                tx.result.log
            ));
        }
        Ok(tx)
    }

    /// The bank balance of `address` in `denom`.
    pub fn balance(&self, address: &str, denom: &str) -> Result<u128, String> {
        use ibc_proto::cosmos::bank::v1beta1::{QueryBalanceRequest, QueryBalanceResponse};
        let req = QueryBalanceRequest {
            address: address.to_string(),
            denom: denom.to_string(),
        };
        let bytes = query_ok(
            self.node(),
            "/cosmos.bank.v1beta1.Query/Balance",
            &req.encode_to_vec(),
        )?;
        let resp = QueryBalanceResponse::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
        Ok(resp
            .balance
            .map(|c| c.amount.parse::<u128>().unwrap_or(0))
            .unwrap_or(0))
    }

    /// Waits until the chain has produced `height`.
    pub async fn wait_for_height(&self, height: u64) -> Result<(), String> {
        self.devnet
            .wait_for_height(height, self.devnet.config().block_time * 100)
            .await
    }

    /// The IBC height of block `h` on this chain.
    pub fn ibc_height(&self, h: u64) -> client::Height {
        client::Height {
            revision_number: revision_of(self.devnet.chain_id()),
            revision_height: h,
        }
    }
}

/// A gRPC-style query through `abci_query`; a non-zero code is an error.
pub fn query_ok(node: &Node, path: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let q = node.abci_query(path, data, 0, false);
    if q.code.value() != 0 {
        return Err(format!("{path}: code {}: {}", q.code.value(), q.log));
    }
    Ok(q.value.to_vec())
}

/// Account number and sequence of `address`.
pub fn query_account(node: &Node, address: &str) -> Result<(u64, u64), String> {
    use ibc_proto::cosmos::auth::v1beta1::{
        BaseAccount, QueryAccountRequest, QueryAccountResponse,
    };
    let req = QueryAccountRequest {
        address: address.to_string(),
    };
    let bytes = query_ok(
        node,
        "/cosmos.auth.v1beta1.Query/Account",
        &req.encode_to_vec(),
    )?;
    let resp = QueryAccountResponse::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
    let any = resp.account.ok_or("no account in response")?;
    let acc = BaseAccount::decode(any.value.as_slice()).map_err(|e| e.to_string())?;
    Ok((acc.account_number, acc.sequence))
}
