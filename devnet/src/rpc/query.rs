//! The CometBFT pubsub event query language (`libs/pubsub/query/syntax`): a parser with CometBFT's
//! error texts and a matcher over a flattened event map (`"{type}.{key}" → [values]`).
//!
//! Grammar: `condition ( AND condition )*`, where a condition is `tag op arg`. Operators are
//! `=`, `<`, `<=`, `>`, `>=`, `CONTAINS` and `EXISTS` (no arg). Args are `'strings'`, numbers,
//! `TIME 2006-01-02T15:04:05Z` and `DATE 2006-01-02`.

use std::collections::BTreeMap;
use std::fmt;

/// A flattened event map: `"{type}.{key}"` → values, as CometBFT's event bus builds it.
pub type EventMap = BTreeMap<String, Vec<String>>;

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `<`
    Lt,
    /// `<=`
    Leq,
    /// `>`
    Gt,
    /// `>=`
    Geq,
    /// `CONTAINS`
    Contains,
    /// `EXISTS`
    Exists,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Lt => "<",
            Op::Leq => "<=",
            Op::Gt => ">",
            Op::Geq => ">=",
            Op::Contains => "CONTAINS",
            Op::Exists => "EXISTS",
        }
    }
}

/// The argument of a condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// `'text'`
    Str(String),
    /// A decimal number, kept as written.
    Number(String),
    /// `TIME ...`, as seconds since the epoch (and the text as written).
    Time(i64, String),
    /// `DATE ...`, as seconds since the epoch (and the text as written).
    Date(i64, String),
}

/// One `tag op arg` condition.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The composite key, e.g. `tx.height` or `send_packet.packet_src_channel`.
    pub tag: String,
    /// The operator.
    pub op: Op,
    /// The argument (`None` for `EXISTS`).
    pub arg: Option<Arg>,
}

/// A parsed query: conditions joined by `AND`.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The conditions; all must hold.
    pub conditions: Vec<Condition>,
}

/// Why a query did not parse; `Display` gives CometBFT's text (`offset N: got X, wanted Y`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Tag,
    Str,
    Number,
    Time,
    Date,
    And,
    Contains,
    Exists,
    Eq,
    Lt,
    Leq,
    Gt,
    Geq,
}

impl Tok {
    fn label(self) -> &'static str {
        match self {
            Tok::Tag => "tag",
            Tok::Str => "string",
            Tok::Number => "number",
            Tok::Time => "timestamp",
            Tok::Date => "datestamp",
            Tok::And => "AND operator",
            Tok::Contains => "CONTAINS operator",
            Tok::Exists => "EXISTS operator",
            Tok::Eq => "= operator",
            Tok::Lt => "< operator",
            Tok::Leq => "<= operator",
            Tok::Gt => "> operator",
            Tok::Geq => ">= operator",
        }
    }
}

struct Token {
    tok: Tok,
    text: String,
    /// Byte offset where the token starts.
    pos: usize,
    /// Seconds since the epoch for TIME/DATE tokens.
    epoch: i64,
}

struct Scanner<'a> {
    src: &'a str,
    /// Byte offset of the next character.
    at: usize,
}

fn is_tag_char(c: char) -> bool {
    c == '.' || c == '_' || c.is_alphanumeric()
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        Some(c)
    }

    fn take_while(&mut self, ok: impl Fn(char) -> bool) -> &'a str {
        let start = self.at;
        while let Some(c) = self.peek() {
            if !ok(c) {
                break;
            }
            self.at += c.len_utf8();
        }
        &self.src[start..self.at]
    }

    /// The next token, `Ok(None)` at the end of input.
    fn next(&mut self) -> Result<Option<Token>, (usize, String)> {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let pos = self.at;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let token = |tok, text: &str| Token {
            tok,
            text: text.to_string(),
            pos,
            epoch: 0,
        };
        if c.is_ascii_digit() {
            let int = self.take_while(|c| c.is_ascii_digit());
            let mut text = int.to_string();
            if self.peek() == Some('.') {
                self.bump();
                text.push('.');
                text.push_str(self.take_while(|c| c.is_ascii_digit()));
            }
            return Ok(Some(token(Tok::Number, &text)));
        }
        if is_tag_char(c) {
            let word = self.take_while(is_tag_char);
            let followed_by_space = self.peek() == Some(' ');
            return match word {
                "AND" => Ok(Some(token(Tok::And, word))),
                "EXISTS" => Ok(Some(token(Tok::Exists, word))),
                "CONTAINS" => Ok(Some(token(Tok::Contains, word))),
                "TIME" | "DATE" if followed_by_space => {
                    self.bump();
                    let is_time = word == "TIME";
                    let text = if is_time {
                        self.take_while(|c| c.is_ascii_digit() || "-T:+Z".contains(c))
                    } else {
                        self.take_while(|c| c.is_ascii_digit() || c == '-')
                    };
                    let parsed = if is_time {
                        parse_time(text)
                    } else {
                        parse_date(text)
                    };
                    match parsed {
                        Some(epoch) => Ok(Some(Token {
                            tok: if is_time { Tok::Time } else { Tok::Date },
                            text: text.to_string(),
                            pos,
                            epoch,
                        })),
                        None => Err((
                            self.at,
                            format!(
                                "invalid {} value: cannot parse {text:?}",
                                if is_time { "TIME" } else { "DATE" }
                            ),
                        )),
                    }
                }
                _ => Ok(Some(token(Tok::Tag, word))),
            };
        }
        match c {
            '\'' => {
                self.bump();
                let start = self.at;
                loop {
                    match self.bump() {
                        None => return Err((self.at, "EOF".to_string())),
                        Some('\'') => {
                            let text = &self.src[start..self.at - 1];
                            return Ok(Some(token(Tok::Str, text)));
                        }
                        Some(_) => {}
                    }
                }
            }
            '=' => {
                self.bump();
                Ok(Some(token(Tok::Eq, "=")))
            }
            '<' | '>' => {
                self.bump();
                let or_equal = self.peek() == Some('=');
                if or_equal {
                    self.bump();
                }
                let tok = match (c, or_equal) {
                    ('<', false) => Tok::Lt,
                    ('<', true) => Tok::Leq,
                    ('>', false) => Tok::Gt,
                    _ => Tok::Geq,
                };
                Ok(Some(token(tok, &self.src[pos..self.at])))
            }
            other => {
                self.bump();
                Err((
                    self.at,
                    format!("invalid input {other} at offset {}", self.at),
                ))
            }
        }
    }
}

fn wanted(tokens: &[Tok]) -> String {
    match tokens {
        [one] => one.label().to_string(),
        [init @ .., last] => {
            let head: Vec<_> = init.iter().map(|t| t.label()).collect();
            format!("{} or {}", head.join(", "), last.label())
        }
        [] => String::new(),
    }
}

struct Parser<'a> {
    scanner: Scanner<'a>,
    /// Where the last token started (CometBFT reports this offset).
    pos: usize,
}

impl Parser<'_> {
    fn require(&mut self, tokens: &[Tok]) -> Result<Token, ParseError> {
        match self.scanner.next() {
            Err((_, msg)) => Err(ParseError(format!("offset {}: {msg}", self.scanner.at))),
            Ok(None) => Err(ParseError(format!("offset {}: EOF", self.scanner.at))),
            Ok(Some(t)) => {
                self.pos = t.pos;
                if tokens.contains(&t.tok) {
                    Ok(t)
                } else {
                    Err(ParseError(format!(
                        "offset {}: got {}, wanted {}",
                        t.pos,
                        t.tok.label(),
                        wanted(tokens)
                    )))
                }
            }
        }
    }

    fn condition(&mut self) -> Result<Condition, ParseError> {
        let tag = self.require(&[Tok::Tag])?.text;
        let op_tok = self.require(&[
            Tok::Leq,
            Tok::Geq,
            Tok::Lt,
            Tok::Gt,
            Tok::Eq,
            Tok::Contains,
            Tok::Exists,
        ])?;
        let op = match op_tok.tok {
            Tok::Leq => Op::Leq,
            Tok::Geq => Op::Geq,
            Tok::Lt => Op::Lt,
            Tok::Gt => Op::Gt,
            Tok::Eq => Op::Eq,
            Tok::Contains => Op::Contains,
            _ => {
                return Ok(Condition {
                    tag,
                    op: Op::Exists,
                    arg: None,
                })
            }
        };
        let allowed: &[Tok] = match op {
            Op::Eq => &[Tok::Number, Tok::Time, Tok::Date, Tok::Str],
            Op::Contains => &[Tok::Str],
            _ => &[Tok::Number, Tok::Time, Tok::Date],
        };
        let a = self.require(allowed)?;
        let arg = match a.tok {
            Tok::Str => Arg::Str(a.text),
            Tok::Number => Arg::Number(a.text),
            Tok::Time => Arg::Time(a.epoch, a.text),
            _ => Arg::Date(a.epoch, a.text),
        };
        Ok(Condition {
            tag,
            op,
            arg: Some(arg),
        })
    }
}

impl Query {
    /// Parses a query; errors read like CometBFT's (`offset 10: got tag, wanted ...`).
    pub fn parse(src: &str) -> Result<Query, ParseError> {
        let mut p = Parser {
            scanner: Scanner { src, at: 0 },
            pos: 0,
        };
        let mut conditions = vec![p.condition()?];
        loop {
            match p.scanner.next() {
                Ok(None) => break,
                Ok(Some(t)) if t.tok == Tok::And => conditions.push(p.condition()?),
                Ok(Some(t)) => {
                    return Err(ParseError(format!(
                        "offset {}: got {}, want {}",
                        t.pos,
                        t.tok.label(),
                        Tok::And.label()
                    )))
                }
                Err((_, msg)) => {
                    return Err(ParseError(format!("offset {}: {msg}", p.scanner.at)));
                }
            }
        }
        let _ = p.pos;
        Ok(Query { conditions })
    }

    /// Whether the events satisfy every condition (an empty map never matches, as in CometBFT).
    pub fn matches(&self, events: &EventMap) -> bool {
        !events.is_empty() && self.conditions.iter().all(|c| c.matches(events))
    }

    /// The `tag = 'value'` string equalities of the query, usable to pick index candidates.
    pub fn string_equalities(&self) -> impl Iterator<Item = (&str, &str)> {
        self.conditions
            .iter()
            .filter_map(|c| match (&c.op, &c.arg) {
                (Op::Eq, Some(Arg::Str(s))) => Some((c.tag.as_str(), s.as_str())),
                _ => None,
            })
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.conditions.iter().map(|c| c.to_string()).collect();
        f.write_str(&parts.join(" AND "))
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.tag, self.op.text())?;
        match &self.arg {
            None => Ok(()),
            Some(Arg::Str(s)) => write!(f, " '{s}'"),
            Some(Arg::Number(n)) => write!(f, " {n}"),
            Some(Arg::Time(_, t)) => write!(f, " TIME {t}"),
            Some(Arg::Date(_, d)) => write!(f, " DATE {d}"),
        }
    }
}

impl Condition {
    /// Whether any value under this condition's tag satisfies it.
    pub fn matches(&self, events: &EventMap) -> bool {
        if self.op == Op::Exists {
            // A tag names either a full `type.key` or just an event type.
            let prefix = format!("{}.", self.tag);
            return events.contains_key(&self.tag) || events.keys().any(|k| k.starts_with(&prefix));
        }
        let Some(values) = events.get(&self.tag) else {
            return false;
        };
        values.iter().any(|v| self.matches_value(v))
    }

    fn matches_value(&self, value: &str) -> bool {
        let Some(arg) = &self.arg else {
            return true;
        };
        match (self.op, arg) {
            (Op::Contains, Arg::Str(s)) => value.contains(s.as_str()),
            (Op::Eq, Arg::Str(s)) => value == s,
            (op, Arg::Number(n)) => match (Number::of_value(value), Number::of_arg(n)) {
                (Some(v), Some(a)) => compare(op, v.cmp_with(&a)),
                _ => false,
            },
            (op, Arg::Time(t, _)) => parse_time(value).is_some_and(|v| compare(op, v.cmp(t))),
            (op, Arg::Date(d, _)) => parse_date(value).is_some_and(|v| compare(op, v.cmp(d))),
            _ => false,
        }
    }
}

fn compare(op: Op, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ord == Equal,
        Op::Lt => ord == Less,
        Op::Leq => ord != Greater,
        Op::Gt => ord == Greater,
        Op::Geq => ord != Less,
        Op::Contains | Op::Exists => false,
    }
}

/// A number from a query or an event value: exact for integers, `f64` otherwise.
#[derive(Debug)]
enum Number {
    Int(i128),
    Float(f64),
}

impl Number {
    fn of_arg(text: &str) -> Option<Number> {
        match text.parse::<i128>() {
            Ok(i) => Some(Number::Int(i)),
            Err(_) => text.parse::<f64>().ok().map(Number::Float),
        }
    }

    /// CometBFT parses event values as integers, or else takes the leading `\d+(\.\d+)?`.
    fn of_value(text: &str) -> Option<Number> {
        if let Ok(i) = text.parse::<i128>() {
            return Some(Number::Int(i));
        }
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let rest = &text[digits..];
        let frac = rest
            .strip_prefix('.')
            .map(|r| r.bytes().take_while(u8::is_ascii_digit).count())
            .filter(|n| *n > 0)
            .map_or(0, |n| n + 1);
        text[..digits + frac].parse::<f64>().ok().map(Number::Float)
    }

    fn as_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Float(f) => *f,
        }
    }

    fn cmp_with(&self, other: &Number) -> std::cmp::Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(b),
            _ => self
                .as_f64()
                .partial_cmp(&other.as_f64())
                .unwrap_or(std::cmp::Ordering::Less),
        }
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str, len: usize) -> Option<i64> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// `YYYY-MM-DD` as seconds since the epoch; years 1900..=2999 as CometBFT requires.
fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let y = num(it.next()?, 4)?;
    let m = num(it.next()?, 2)?;
    let d = num(it.next()?, 2)?;
    if it.next().is_some() || !(1900..=2999).contains(&y) || !(1..=12).contains(&m) {
        return None;
    }
    if !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400)
}

/// RFC 3339 `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` as whole seconds since the epoch.
fn parse_time(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let days = parse_date(date)?;
    let (clock, offset) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else {
        let idx = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(idx);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':')?;
        (c, sign * (num(oh, 2)? * 3600 + num(om, 2)? * 60))
    };
    let clock = clock.split('.').next()?;
    let mut parts = clock.split(':');
    let h = num(parts.next()?, 2)?;
    let mi = num(parts.next()?, 2)?;
    let sec = num(parts.next()?, 2)?;
    if parts.next().is_some() || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    Some(days + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(pairs: &[(&str, &[&str])]) -> EventMap {
        pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    #[test]
    fn parses_conjunctions_of_all_operators() {
        let q = Query::parse(
            "tm.event = 'Tx' AND tx.height>=5 AND tx.height<10.5 AND a.b CONTAINS 'x y' AND c.d EXISTS AND e.f <= 3 AND g.h > 0",
        )
        .unwrap();
        assert_eq!(q.conditions.len(), 7);
        assert_eq!(q.conditions[0].tag, "tm.event");
        assert_eq!(q.conditions[0].arg, Some(Arg::Str("Tx".into())));
        assert_eq!(q.conditions[1].op, Op::Geq);
        assert_eq!(q.conditions[2].arg, Some(Arg::Number("10.5".into())));
        assert_eq!(q.conditions[3].op, Op::Contains);
        assert_eq!(q.conditions[4].arg, None);
        assert_eq!(
            q.to_string(),
            "tm.event = 'Tx' AND tx.height >= 5 AND tx.height < 10.5 AND a.b CONTAINS 'x y' AND c.d EXISTS AND e.f <= 3 AND g.h > 0"
        );
    }

    #[test]
    fn errors_read_like_cometbft() {
        // The malformed query of the capture `subscribe_malformed.json`.
        let err = Query::parse("malformed query").unwrap_err();
        assert_eq!(
            err.to_string(),
            "offset 10: got tag, wanted <= operator, >= operator, < operator, > operator, = operator, CONTAINS operator or EXISTS operator"
        );
        assert_eq!(
            Query::parse("a.b = 'x' b.c = 'y'").unwrap_err().to_string(),
            "offset 10: got tag, want AND operator"
        );
        assert_eq!(
            Query::parse("a.b CONTAINS 5").unwrap_err().to_string(),
            "offset 13: got number, wanted string"
        );
        assert_eq!(
            Query::parse("a.b < 'x'").unwrap_err().to_string(),
            "offset 6: got string, wanted number, timestamp or datestamp"
        );
        assert!(Query::parse("").unwrap_err().to_string().contains("EOF"));
        assert!(Query::parse("a.b = 'open").is_err());
        assert!(Query::parse("a.b = ?")
            .unwrap_err()
            .0
            .contains("invalid input ?"));
        assert!(Query::parse("a.b =").is_err());
        assert!(Query::parse("a.b = 1 AND").is_err());
    }

    #[test]
    fn matches_strings_numbers_and_existence() {
        let ev = events(&[
            ("tm.event", &["Tx"]),
            ("tx.height", &["57"]),
            (
                "send_packet.packet_src_channel",
                &["channel-0", "channel-1"],
            ),
            ("transfer.amount", &["100stake"]),
        ]);
        let m = |q: &str| Query::parse(q).unwrap().matches(&ev);
        assert!(m("tm.event = 'Tx'"));
        assert!(!m("tm.event = 'NewBlock'"));
        assert!(m("tx.height = 57"));
        assert!(m("tx.height >= 57 AND tx.height <= 57"));
        assert!(!m("tx.height > 57"));
        assert!(m("tx.height < 58.5"));
        assert!(m("send_packet.packet_src_channel = 'channel-1'"));
        assert!(m("send_packet.packet_src_channel CONTAINS 'nnel-'"));
        assert!(m("send_packet EXISTS"));
        assert!(m("send_packet.packet_src_channel EXISTS"));
        assert!(!m("recv_packet EXISTS"));
        assert!(m("transfer.amount > 99"));
        assert!(!m("tm.event = 'Tx' AND recv_packet.packet_sequence = '1'"));
        assert!(!Query::parse("a.b EXISTS")
            .unwrap()
            .matches(&EventMap::new()));
    }

    #[test]
    fn matches_dates_and_times() {
        let ev = events(&[
            ("a.date", &["2024-01-02"]),
            ("a.time", &["2024-01-02T10:00:00+02:00"]),
        ]);
        let m = |q: &str| Query::parse(q).unwrap().matches(&ev);
        assert!(m("a.date = DATE 2024-01-02"));
        assert!(m("a.date > DATE 2024-01-01"));
        assert!(m("a.time = TIME 2024-01-02T08:00:00Z"));
        assert!(m("a.time < TIME 2024-01-02T08:00:01Z"));
        assert!(Query::parse("a.date > DATE 1800-01-01").is_err());
    }

    #[test]
    fn string_equalities_pick_index_candidates() {
        let q = Query::parse("a.b = 'x' AND c.d > 1 AND e.f = 'y'").unwrap();
        let eq: Vec<_> = q.string_equalities().collect();
        assert_eq!(eq, vec![("a.b", "x"), ("e.f", "y")]);
    }
}
