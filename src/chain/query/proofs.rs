//! Proofs of IBC store paths: `abci_query` on `store/ibc/key` with `prove`, its ICS-23 proof
//! ops turned into `MerkleProof` bytes. A proof made at height `H` verifies against the app
//! hash of header `H + 1`.

use ibc_proto::ibc::core::commitment::v1::MerkleProof;
use prost::Message;

use super::{IbcQuerier, QueryError};

/// The ibc store's proof path on the node.
const IBC_STORE_KEY_PATH: &str = "store/ibc/key";

impl IbcQuerier {
    /// `store/ibc/key` at `height` with proof: the value (empty when absent) and the proof as
    /// `MerkleProof` protobuf bytes, which verify against the app hash of header `height + 1`.
    pub async fn prove(&self, path: &str, height: u64) -> Result<(Vec<u8>, Vec<u8>), QueryError> {
        let h = tendermint::block::Height::try_from(height)
            .map_err(|e| self.decode_error(format!("height {height} is invalid: {e}")))?;
        let q = self
            .rpc
            .abci_query(IBC_STORE_KEY_PATH, path.as_bytes(), Some(h), true)
            .await?;
        let code = q.code.value();
        if code != 0 {
            return Err(QueryError::Abci {
                chain: self.chain_id.clone(),
                path: format!("{IBC_STORE_KEY_PATH} {path} at {height}"),
                code,
                log: q.log,
            });
        }
        if q.height.value() != height {
            return Err(self.decode_error(format!(
                "proof of {path} asked at {height} was made at {}",
                q.height
            )));
        }
        let ops = q
            .proof
            .map(|p| p.ops)
            .filter(|ops| !ops.is_empty())
            .ok_or_else(|| self.decode_error(format!("no proof for {path} at {height}")))?;
        let proofs = ops
            .iter()
            .map(|op| {
                ibc_proto::ics23::CommitmentProof::decode(op.data.as_slice()).map_err(|e| {
                    self.decode_error(format!(
                        "proof op {:?} for {path} at {height} is not a CommitmentProof: {e}",
                        op.field_type
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((q.value, MerkleProof { proofs }.encode_to_vec()))
    }
}
