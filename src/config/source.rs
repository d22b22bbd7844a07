//! Where things are in a TOML file (the relayer's config, `arke devnet`'s settings file): byte
//! offsets → line:column, and the dotted key path (`chains.a.gas_multiplier`) of whatever sits at
//! an offset.
//!
//! The `toml` crate reports errors with a byte span but without the key they concern; we parse
//! the same text with `toml_edit` (which keeps the span of every key and value) to name it.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Value};

/// A parsed view of the config text, for locating errors.
pub(crate) struct SourceMap<'a> {
    text: &'a str,
    doc: Option<ImDocument<&'a str>>,
}

impl<'a> SourceMap<'a> {
    /// Indexes `text`. Syntax errors are tolerated: key lookup then simply finds nothing.
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            doc: ImDocument::parse(text).ok(),
        }
    }

    /// 1-based line and column of byte offset `pos` (columns count characters).
    pub(crate) fn line_col(&self, pos: usize) -> (usize, usize) {
        line_col(self.text, pos)
    }

    /// The dotted path of the innermost key whose key or value span contains `span.start`.
    pub(crate) fn key_at(&self, span: &Range<usize>) -> Option<String> {
        let doc = self.doc.as_ref()?;
        let mut best: Option<(usize, String)> = None;
        walk_table_like(
            doc.as_table()
                .iter()
                .filter_map(|(k, _)| doc.as_table().get_key_value(k)),
            "",
            span.start,
            &mut best,
        );
        best.map(|(_, path)| path)
    }

    /// A best-effort key for text that does not parse: the `[table]` header above `pos` and the
    /// `key =` on the line of `pos` (e.g. `chains.a.id` for a value missing after `id =`).
    pub(crate) fn key_by_lines(&self, pos: usize) -> Option<String> {
        let (line_start, line) = line_at(self.text, pos)?;
        let table = self.text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('[') && !l.starts_with("[["))
            .and_then(|l| l.strip_prefix('[')?.split(']').next())
            .map(|t| t.trim().to_string());
        let key = key_of_line(line);
        if key.is_none() && line.trim_start().starts_with('[') {
            let header = line.trim().trim_start_matches('[');
            return Some(
                header
                    .split(']')
                    .next()
                    .unwrap_or(header)
                    .trim()
                    .to_string(),
            );
        }
        match (table, key) {
            (Some(t), Some(k)) => Some(format!("{t}.{k}")),
            (None, Some(k)) => Some(k),
            (t, None) => t,
        }
    }

    /// The byte span of the value (or table) at dotted `path`, if present.
    pub(crate) fn span_of(&self, path: &str) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut item = doc.as_item();
        let mut key_span = None;
        for part in path.split('.') {
            // `name[i]`: element `i` of the array at `name`.
            let (name, index) = match part.strip_suffix(']').and_then(|p| p.split_once('[')) {
                Some((name, i)) => (name, i.parse::<usize>().ok()),
                None => (part, None),
            };
            let (key, next) = match item {
                Item::Table(t) => t.get_key_value(name)?,
                Item::Value(Value::InlineTable(t)) => t.get_key_value(name)?,
                _ => return None,
            };
            key_span = key.span();
            item = next;
            if let (Some(i), Item::Value(Value::Array(a))) = (index, item) {
                if let Some(element) = a.get(i).and_then(Value::span) {
                    return Some(element);
                }
            }
        }
        key_span.or_else(|| item.span())
    }
}

/// 1-based line and column of byte offset `pos` in `text` (columns count characters).
pub(crate) fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let mut line = 1;
    let mut line_start = 0;
    for (i, b) in text.bytes().enumerate() {
        if i >= pos {
            break;
        }
        if b == b'\n' {
            line += 1;
            line_start = i + 1;
        }
    }
    let col = text
        .get(line_start..pos)
        .map_or(pos - line_start, |s| s.chars().count())
        + 1;
    (line, col)
}

/// The `key` of the `key = value` line holding byte offset `pos` in `text`.
#[cfg(test)]
fn key_on_line(text: &str, pos: usize) -> Option<String> {
    key_of_line(line_at(text, pos)?.1)
}

/// The line holding byte offset `pos` (clamped to the text), as its start offset and its text
/// without the newline; `None` when `pos` is not on a character boundary.
fn line_at(text: &str, pos: usize) -> Option<(usize, &str)> {
    let pos = pos.min(text.len());
    let start = text.get(..pos)?.rfind('\n').map_or(0, |i| i + 1);
    let end = text.get(pos..)?.find('\n').map_or(text.len(), |i| pos + i);
    Some((start, &text[start..end]))
}

/// The key of a `key = value` line (quotes removed); `None` for comments, headers and lines
/// without `=`.
fn key_of_line(line: &str) -> Option<String> {
    line.split_once('=')
        .map(|(k, _)| k.trim())
        .filter(|k| !k.is_empty() && !k.starts_with('#') && !k.starts_with('['))
        .map(|k| k.trim_matches('"').to_string())
}

fn contains(span: Option<Range<usize>>, pos: usize) -> bool {
    span.is_some_and(|s| s.start <= pos && pos < s.end.max(s.start + 1))
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn consider(best: &mut Option<(usize, String)>, depth: usize, path: String) {
    if best.as_ref().is_none_or(|(d, _)| depth >= *d) {
        *best = Some((depth, path));
    }
}

fn walk_table_like<'t>(
    entries: impl Iterator<Item = (&'t toml_edit::Key, &'t Item)>,
    prefix: &str,
    pos: usize,
    best: &mut Option<(usize, String)>,
) {
    for (key, item) in entries {
        let path = join(prefix, key.get());
        let depth = path.matches('.').count() + 1;
        if contains(key.span(), pos) || contains(item.span(), pos) {
            consider(best, depth, path.clone());
        }
        walk_item(item, &path, pos, best);
    }
}

fn walk_item(item: &Item, path: &str, pos: usize, best: &mut Option<(usize, String)>) {
    match item {
        Item::Table(t) => walk_table_like(
            t.iter().filter_map(|(k, _)| t.get_key_value(k)),
            path,
            pos,
            best,
        ),
        Item::Value(v) => walk_value(v, path, pos, best),
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                walk_table_like(
                    t.iter().filter_map(|(k, _)| t.get_key_value(k)),
                    &p,
                    pos,
                    best,
                );
            }
        }
        Item::None => {}
    }
}

fn walk_value(v: &Value, path: &str, pos: usize, best: &mut Option<(usize, String)>) {
    match v {
        Value::InlineTable(t) => walk_table_like(
            t.iter().filter_map(|(k, _)| t.get_key_value(k)),
            path,
            pos,
            best,
        ),
        Value::Array(a) => {
            for (i, el) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if contains(el.span(), pos) {
                    let depth = p.matches('.').count() + 2;
                    consider(best, depth, p.clone());
                }
                walk_value(el, &p, pos, best);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[chains.a]\nid = \"x\"\ngas_price = { price = 0.1, denom = \"stake\" }\n\n[relay]\nchannels = { policy = \"allow\", list = [[\"transfer\", \"channel-0\"]] }\n";

    #[test]
    fn line_and_column() {
        let map = SourceMap::new(DOC);
        assert_eq!(map.line_col(0), (1, 1));
        let pos = DOC.find("id").unwrap();
        assert_eq!(map.line_col(pos), (2, 1));
        let pos = DOC.find("denom").unwrap();
        assert_eq!(map.line_col(pos), (3, 28));
    }

    #[test]
    fn key_paths() {
        let map = SourceMap::new(DOC);
        let at = |needle: &str| {
            let p = DOC.find(needle).unwrap();
            map.key_at(&(p..p + 1))
        };
        assert_eq!(at("id").as_deref(), Some("chains.a.id"));
        assert_eq!(at("\"x\"").as_deref(), Some("chains.a.id"));
        assert_eq!(at("denom").as_deref(), Some("chains.a.gas_price.denom"));
        assert_eq!(
            at("\"channel-0\"").as_deref(),
            Some("relay.channels.list[0][1]")
        );
        assert_eq!(
            map.span_of("chains.a.gas_price.denom").map(|s| s.start),
            DOC.find("denom")
        );
    }

    #[test]
    fn keys_of_unparsable_text() {
        let text = "[chains.a]\nid = \nrpc_addr = \"x\"\n[relay\n";
        let map = SourceMap::new(text);
        assert_eq!(
            map.key_by_lines(text.find("id").unwrap() + 4).as_deref(),
            Some("chains.a.id")
        );
        assert_eq!(
            map.key_by_lines(text.find("[relay").unwrap() + 6)
                .as_deref(),
            Some("relay")
        );
        assert_eq!(map.key_by_lines(0).as_deref(), Some("chains.a"));
    }

    #[test]
    fn key_on_its_line() {
        let text = "# note = 1\n[relay]\n\"chain_id\" = \nblock_time = 1s\n";
        let at = |needle: &str| key_on_line(text, text.find(needle).unwrap());
        assert_eq!(at("= \n").as_deref(), Some("chain_id"));
        assert_eq!(at("1s").as_deref(), Some("block_time"));
        assert_eq!(at("note"), None);
        assert_eq!(at("relay"), None);
        assert_eq!(key_on_line(text, text.len() + 5), None);
        // Not on a character boundary: nothing, and no panic.
        assert_eq!(key_on_line("k = \"é\"", 6), None);
        assert_eq!(line_col("k = \"é\"\nx", 9), (2, 1));
    }
}
