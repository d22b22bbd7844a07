//! The Cosmos SDK queries a relayer needs beside IBC: an account's number and sequence (to
//! sign), tx simulation (to size gas) and the staking unbonding period (for trusting periods).

use std::time::Duration;

use ibc_proto::cosmos::auth::v1beta1::{BaseAccount, QueryAccountRequest, QueryAccountResponse};
use ibc_proto::cosmos::staking::v1beta1::{QueryParamsRequest, QueryParamsResponse};
use ibc_proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use prost::{Message, Name};

use super::{IbcQuerier, QueryError};

impl IbcQuerier {
    /// Account number and sequence of `address`.
    pub async fn account(&self, address: &str) -> Result<(u64, u64), QueryError> {
        let req = QueryAccountRequest {
            address: address.to_string(),
        };
        let resp: QueryAccountResponse = self
            .grpc("/cosmos.auth.v1beta1.Query/Account", &req)
            .await?;
        let any = resp
            .account
            .ok_or_else(|| self.decode_error(format!("no account in the answer for {address}")))?;
        if any.type_url != BaseAccount::type_url() {
            return Err(self.decode_error(format!(
                "account {address} is a {}, not a BaseAccount",
                any.type_url
            )));
        }
        let acc = BaseAccount::decode(any.value.as_slice())
            .map_err(|e| self.decode_error(format!("account {address}: {e}")))?;
        Ok((acc.account_number, acc.sequence))
    }

    /// Gas used by simulating `tx_bytes`.
    pub async fn simulate(&self, tx_bytes: Vec<u8>) -> Result<u64, QueryError> {
        self.simulate_with_responses(tx_bytes)
            .await
            .map(|(gas, _)| gas)
    }

    /// Gas used by simulating `tx_bytes`, and the message responses of the simulation (one per
    /// message, in order; empty when the node gives none).
    pub async fn simulate_with_responses(
        &self,
        tx_bytes: Vec<u8>,
    ) -> Result<(u64, Vec<ibc_proto::google::protobuf::Any>), QueryError> {
        let req = SimulateRequest {
            tx_bytes,
            ..Default::default()
        };
        let resp: SimulateResponse = self
            .grpc("/cosmos.tx.v1beta1.Service/Simulate", &req)
            .await?;
        let gas = resp
            .gas_info
            .map(|g| g.gas_used)
            .ok_or_else(|| self.decode_error("simulation answer has no gas info"))?;
        Ok((
            gas,
            resp.result.map(|r| r.msg_responses).unwrap_or_default(),
        ))
    }

    /// The unbonding period from staking Params (for default trusting periods).
    pub async fn unbonding_period(&self) -> Result<Duration, QueryError> {
        let resp: QueryParamsResponse = self
            .grpc(
                "/cosmos.staking.v1beta1.Query/Params",
                &QueryParamsRequest {},
            )
            .await?;
        let d = resp
            .params
            .and_then(|p| p.unbonding_time)
            .ok_or_else(|| self.decode_error("staking params have no unbonding time"))?;
        let secs = u64::try_from(d.seconds)
            .map_err(|_| self.decode_error(format!("negative unbonding time {d:?}")))?;
        let nanos = u32::try_from(d.nanos)
            .map_err(|_| self.decode_error(format!("negative unbonding time {d:?}")))?;
        Ok(Duration::new(secs, nanos))
    }
}
