//! The chain's clock as the querier reads it: the latest height and block time from `/status`
//! (checked to be of this chain), signed headers and block times from `/commit`, and validator
//! sets from `/validators`; the last two are kept for recent heights ([`super::recent`]).

use super::{IbcQuerier, QueryError};

impl IbcQuerier {
    /// The latest block height.
    pub async fn latest_height(&self) -> Result<u64, QueryError> {
        Ok(self.latest_height_and_time().await?.0)
    }

    /// The latest block height and its block time in Unix nanoseconds (what packet timeout
    /// timestamps are compared with).
    pub async fn latest_height_and_time(&self) -> Result<(u64, u64), QueryError> {
        let status = self.rpc.status().await?;
        let network = status.node_info.network.as_str();
        if network != self.chain_id {
            return Err(self.decode_error(format!(
                "node at {} serves chain {network:?}, not {:?}",
                self.rpc.endpoint(),
                self.chain_id
            )));
        }
        let info = status.sync_info;
        Ok((
            info.latest_block_height.value(),
            timestamp_nanos(info.latest_block_time),
        ))
    }

    /// The header of block `height` (from `/commit`), checked to be of this chain and height.
    pub async fn header(&self, height: u64) -> Result<tendermint::block::Header, QueryError> {
        Ok(self.signed_header(height).await?.header)
    }

    /// The signed header (header and commit) of block `height`, checked to be of this chain and
    /// height.
    pub(crate) async fn signed_header(
        &self,
        height: u64,
    ) -> Result<tendermint::block::signed_header::SignedHeader, QueryError> {
        self.recent
            .header(height, || self.fetch_signed_header(height))
            .await
    }

    /// The validators at block `height` (every page), in the node's order.
    pub(crate) async fn validators(
        &self,
        height: u64,
    ) -> Result<Vec<tendermint::validator::Info>, QueryError> {
        self.recent
            .validators(height, || async move {
                let h = tendermint::block::Height::try_from(height)
                    .map_err(|e| self.decode_error(format!("height {height} is invalid: {e}")))?;
                Ok(self.rpc.validators(h).await?.validators)
            })
            .await
    }

    async fn fetch_signed_header(
        &self,
        height: u64,
    ) -> Result<tendermint::block::signed_header::SignedHeader, QueryError> {
        let h = tendermint::block::Height::try_from(height)
            .map_err(|e| self.decode_error(format!("height {height} is invalid: {e}")))?;
        let commit = self.rpc.commit(Some(h)).await?;
        let sh = commit.signed_header;
        if sh.header.chain_id.as_str() != self.chain_id {
            return Err(self.decode_error(format!(
                "header at {height} is of chain {:?}",
                sh.header.chain_id.as_str()
            )));
        }
        if sh.header.height.value() != height || sh.commit.height.value() != height {
            return Err(self.decode_error(format!(
                "asked for the signed header at {height}, got header {} commit {}",
                sh.header.height, sh.commit.height
            )));
        }
        Ok(sh)
    }
}

fn timestamp_nanos(t: tendermint::Time) -> u64 {
    u64::try_from(t.unix_timestamp_nanos()).unwrap_or(0)
}
