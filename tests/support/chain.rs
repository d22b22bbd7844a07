//! Chain-side checks and set-up: failed txs, funded accounts.

use cosmos::AccountKey;
use devnet::harness::TestChain;

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
