//! The gas price a tx pays. Without `dynamic_gas_price` it is the configured `gas_price`. With
//! it, it follows the chain's fee market: `clamp(base × multiplier, gas_price.price, max)`,
//! where `base` is the chain's current base gas price (feemarket `GasPrice` or Osmosis's EIP
//! base fee, whichever the chain answers first; the answering one is kept).
//!
//! The base price changes at most once a block, so it is read again only once the block
//! interval (learned from the heights of successive reads) has passed since the last read. An
//! insufficient-fee rejection reads it at once; the tx is signed again only when that price
//! differs from the one read at the previous rejection and raises the fee, so a tx is never
//! rejected for its fee more than once per price change. While the price cannot be read, the
//! last one read (or `gas_price`) is used, and that is logged once.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::chain::query::fees::{BasePrice, PriceSource};
use crate::chain::query::IbcQuerier;
use crate::config::{DynamicGasPrice, GasPrice};

/// Block interval assumed until two reads at different heights have measured it.
const FIRST_INTERVAL: Duration = Duration::from_secs(1);
/// Bounds of the learned interval between reads.
const MIN_INTERVAL: Duration = Duration::from_millis(50);
const MAX_INTERVAL: Duration = Duration::from_secs(30);

/// The price state of one engine.
#[derive(Debug)]
pub(super) struct Pricer {
    fixed: GasPrice,
    dynamic: DynamicGasPrice,
    source: Option<PriceSource>,
    /// The last base price read, and when its height was first seen.
    base: Option<(BasePrice, Instant)>,
    /// When the price was last asked for.
    last_attempt: Option<Instant>,
    /// How often the base price may change (a block), learned from reads.
    interval: Duration,
    /// The base price read after the last insufficient-fee rejection.
    rejected_at: Option<f64>,
    /// Whether a failed read was logged at warn level already.
    warned: bool,
}

impl Pricer {
    pub(super) fn new(fixed: GasPrice, dynamic: DynamicGasPrice) -> Self {
        Self {
            fixed,
            dynamic,
            source: None,
            base: None,
            last_attempt: None,
            interval: FIRST_INTERVAL,
            rejected_at: None,
            warned: false,
        }
    }

    /// Whether the price follows the chain's.
    pub(super) fn is_dynamic(&self) -> bool {
        self.dynamic.enabled
    }

    /// The query that answers the chain's base price, once known.
    pub(super) fn source(&self) -> Option<PriceSource> {
        self.source
    }

    /// The price to sign with now.
    pub(super) fn current(&self) -> GasPrice {
        match (&self.base, self.dynamic.enabled) {
            (Some((base, _)), true) => self.priced(base.price),
            _ => self.fixed.clone(),
        }
    }

    /// The highest price this engine may sign with (for tx size bounds).
    pub(super) fn highest(&self) -> GasPrice {
        if self.dynamic.enabled {
            self.priced(f64::INFINITY)
        } else {
            self.fixed.clone()
        }
    }

    fn priced(&self, base: f64) -> GasPrice {
        let price = (base * self.dynamic.multiplier)
            .min(self.dynamic.max)
            .max(self.fixed.price);
        GasPrice {
            price,
            denom: self.fixed.denom.clone(),
        }
    }

    /// Reads the chain's base price if a block may have passed since the last read.
    pub(super) async fn refresh(&mut self, host: &IbcQuerier) {
        if !self.dynamic.enabled {
            return;
        }
        let due = self
            .last_attempt
            .is_none_or(|at| at.elapsed() >= self.interval);
        if due {
            self.read(host).await;
        }
    }

    /// After an insufficient-fee rejection of a tx signed at `paid`: the price to sign it with
    /// again, or `None` when trying again cannot help (no dynamic price, the price did not
    /// change since the last rejection, or it would not raise the fee).
    pub(super) async fn after_rejection(
        &mut self,
        host: &IbcQuerier,
        paid: &GasPrice,
    ) -> Option<GasPrice> {
        if !self.dynamic.enabled {
            return None;
        }
        let base = self.read(host).await?;
        if self.rejected_at == Some(base) {
            debug!(
                base,
                "insufficient fee again at an unchanged base price; not retrying"
            );
            return None;
        }
        self.rejected_at = Some(base);
        let next = self.priced(base);
        (next.price > paid.price).then_some(next)
    }

    /// Reads the base price; `None` when the read failed.
    async fn read(&mut self, host: &IbcQuerier) -> Option<f64> {
        let chain = host.chain_id().to_string();
        self.last_attempt = Some(Instant::now());
        match host.base_gas_price(&self.fixed.denom, self.source).await {
            Ok(read) => {
                if self.source.is_none() {
                    info!(source = ?read.source, base = read.price, "reading the chain's base gas price");
                }
                self.source = Some(read.source);
                let now = Instant::now();
                if let Some((last, at)) = &self.base {
                    if read.height > last.height {
                        let blocks = u32::try_from(read.height - last.height).unwrap_or(u32::MAX);
                        self.interval = (now.saturating_duration_since(*at) / blocks)
                            .clamp(MIN_INTERVAL, MAX_INTERVAL);
                    }
                }
                // The interval is measured between the first reads of successive heights.
                let seen_at = self
                    .base
                    .as_ref()
                    .filter(|(last, _)| last.height == read.height)
                    .map_or(now, |(_, at)| *at);
                self.base = Some((read, seen_at));
                let price = self.current();
                crate::telemetry::metrics::metrics()
                    .gas_price
                    .set(&[&chain, &price.denom], price.price);
                Some(read.price)
            }
            Err(e) => {
                if self.warned {
                    debug!(error = %e, "cannot read the base gas price");
                } else {
                    self.warned = true;
                    warn!(
                        error = %e,
                        fallback = self.current().price,
                        "cannot read the chain's base gas price; signing with the last known price or gas_price"
                    );
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricer(enabled: bool) -> Pricer {
        Pricer::new(
            GasPrice {
                price: 0.01,
                denom: "stake".into(),
            },
            DynamicGasPrice {
                enabled,
                multiplier: 1.5,
                max: 0.3,
            },
        )
    }

    fn with_base(mut p: Pricer, base: f64) -> Pricer {
        p.base = Some((
            BasePrice {
                price: base,
                height: 1,
                source: PriceSource::FeeMarket,
            },
            Instant::now(),
        ));
        p
    }

    #[test]
    fn price_is_base_times_multiplier_between_floor_and_max() {
        assert_eq!(pricer(true).current().price, 0.01, "gas_price until read");
        assert_eq!(
            with_base(pricer(true), 0.1).current().price,
            0.15000000000000002
        );
        assert_eq!(with_base(pricer(true), 1.0).current().price, 0.3, "capped");
        assert_eq!(
            with_base(pricer(true), 0.001).current().price,
            0.01,
            "floor"
        );
        assert_eq!(with_base(pricer(false), 1.0).current().price, 0.01, "off");
        assert_eq!(pricer(true).highest().price, 0.3);
        assert_eq!(pricer(false).highest().price, 0.01);
    }
}
