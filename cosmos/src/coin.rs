//! Coins: an amount of a denom, the SDK's string forms (`10stake`, `10stake,5uatom`), the SDK's
//! denom syntax, parsing coin lists as an operator writes them, and the protobuf `Coin`.
//!
//! Amounts are `u128`: the SDK uses arbitrary precision, but u128 is ample for fees, funds and
//! transfers.

use ibc_proto::cosmos::base::v1beta1::Coin as ProtoCoin;

/// A coin amount.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Coin {
    /// Denomination, e.g. `stake` or `ibc/27394F...`.
    pub denom: String,
    /// Amount.
    pub amount: u128,
}

impl Coin {
    /// A coin of `amount` `denom`.
    pub fn new(denom: impl Into<String>, amount: u128) -> Self {
        Self {
            denom: denom.into(),
            amount,
        }
    }

    /// The protobuf `Coin` (the amount as a decimal string).
    pub fn to_proto(&self) -> ProtoCoin {
        ProtoCoin {
            denom: self.denom.clone(),
            amount: self.amount.to_string(),
        }
    }
}

impl std::fmt::Display for Coin {
    /// The SDK's `sdk.Coin` string: `10stake`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.amount, self.denom)
    }
}

/// The SDK's `sdk.Coins` string: `10stake,5uatom` (empty for no coins).
pub fn coins_string(coins: &[Coin]) -> String {
    coins
        .iter()
        .map(Coin::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Coins as protobuf `Coin`s.
pub fn proto_coins(coins: &[Coin]) -> Vec<ProtoCoin> {
    coins.iter().map(Coin::to_proto).collect()
}

/// The SDK's default denom syntax: `[a-zA-Z][a-zA-Z0-9/:._-]{2,127}`.
pub fn valid_denom(denom: &str) -> bool {
    let bytes = denom.as_bytes();
    (3..=128).contains(&bytes.len())
        && bytes[0].is_ascii_alphabetic()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"/:._-".contains(b))
}

/// Why a denom or a coin list does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoinError {
    /// The denom breaks the SDK's denom syntax.
    #[error("invalid denom {0:?}: expected 3 to 128 characters from [a-zA-Z0-9/:._-], starting with a letter")]
    Denom(String),
    /// A list element does not start with a number.
    #[error("invalid amount {0:?}: expected a number followed by a denom, like 1000000stake")]
    NoAmount(String),
    /// The number does not fit in a u128.
    #[error("invalid amount {0:?}: number too large")]
    TooLarge(String),
    /// Two elements of the list have the same denom.
    #[error("invalid amount {text:?}: denom {denom} appears twice")]
    Duplicate {
        /// The whole list.
        text: String,
        /// The repeated denom.
        denom: String,
    },
}

/// A denom, surrounding whitespace trimmed, checked against the SDK's syntax.
pub fn parse_denom(text: &str) -> Result<String, CoinError> {
    let denom = text.trim();
    if valid_denom(denom) {
        Ok(denom.to_string())
    } else {
        Err(CoinError::Denom(denom.to_string()))
    }
}

/// Parses `1000stake`, `1000` (in `default_denom`) or `1000stake,5uatom`: each element a number
/// followed by an optional denom, no denom twice.
pub fn parse_coins(text: &str, default_denom: &str) -> Result<Vec<Coin>, CoinError> {
    let mut coins: Vec<Coin> = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let digits = part.len() - part.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(CoinError::NoAmount(part.to_string()));
        }
        let (number, denom) = part.split_at(digits);
        let amount: u128 = number
            .parse()
            .map_err(|_| CoinError::TooLarge(part.to_string()))?;
        let denom = if denom.is_empty() {
            default_denom.to_string()
        } else {
            parse_denom(denom)?
        };
        if coins.iter().any(|c| c.denom == denom) {
            return Err(CoinError::Duplicate {
                text: text.to_string(),
                denom,
            });
        }
        coins.push(Coin::new(denom, amount));
    }
    Ok(coins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_strings() {
        assert_eq!(Coin::new("stake", 10).to_string(), "10stake");
        assert_eq!(
            coins_string(&[Coin::new("stake", 10), Coin::new("uatom", 5)]),
            "10stake,5uatom"
        );
        assert_eq!(coins_string(&[]), "");
        let proto = Coin::new("ibc/ABC", 7).to_proto();
        assert_eq!(
            (proto.denom.as_str(), proto.amount.as_str()),
            ("ibc/ABC", "7")
        );
    }

    #[test]
    fn denom_syntax() {
        for good in [
            "stake",
            "uatom",
            "ibc/27394FB0",
            "a:b.c_d-e",
            &"x".repeat(128),
        ] {
            assert!(valid_denom(good), "{good}");
        }
        for bad in [
            "",
            "ab",
            "1abc",
            "st ake",
            "stäke",
            "/abc",
            &"x".repeat(129),
        ] {
            assert!(!valid_denom(bad), "{bad}");
        }
        assert_eq!(parse_denom(" stake ").unwrap(), "stake");
        assert!(parse_denom("s").is_err());
    }

    #[test]
    fn coin_lists() {
        assert_eq!(
            parse_coins("1000stake", "x").unwrap(),
            vec![Coin::new("stake", 1000)]
        );
        assert_eq!(
            parse_coins("7", "uatom").unwrap(),
            vec![Coin::new("uatom", 7)]
        );
        assert!(parse_coins("1a", "x")
            .unwrap_err()
            .to_string()
            .contains("denom"));
        assert_eq!(
            parse_coins("5stake, 6ibc/ABC", "x").unwrap(),
            vec![Coin::new("stake", 5), Coin::new("ibc/ABC", 6)]
        );
        assert!(parse_coins("stake", "x").is_err());
        assert_eq!(
            parse_coins("1stake,2stake", "x").unwrap_err().to_string(),
            "invalid amount \"1stake,2stake\": denom stake appears twice"
        );
        assert!(matches!(
            parse_coins("999999999999999999999999999999999999999999stake", "x"),
            Err(CoinError::TooLarge(_))
        ));
    }
}
