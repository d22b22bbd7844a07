//! The SDK's pagination (`PageRequest` / `PageResponse`) over a prefix of store keys, so lists
//! come in key order like ibc-go's.

use ibc_proto::cosmos::base::query::v1beta1::{PageRequest, PageResponse};

use super::IbcContext;

/// The SDK's default page size.
const DEFAULT_LIMIT: u64 = 100;

/// A store entry: key suffix (after the scanned prefix) and value.
type Entry = (Vec<u8>, Vec<u8>);

/// A paginated scan of `prefix` in `store`: items whose key suffix (after `prefix`) satisfies
/// `keep`, with the SDK's `key`/`offset`/`limit`/`count_total`/`reverse` semantics; `next_key` is
/// the suffix of the first item not returned.
pub(super) fn paginate(
    ctx: &IbcContext<'_>,
    store: &str,
    prefix: &[u8],
    page: Option<&PageRequest>,
    keep: impl Fn(&[u8], &[u8]) -> bool,
) -> (Vec<Entry>, PageResponse) {
    let default = PageRequest::default();
    let page = page.unwrap_or(&default);
    let limit = usize::try_from(if page.limit == 0 {
        DEFAULT_LIMIT
    } else {
        page.limit
    })
    .unwrap_or(usize::MAX);
    let exec = ctx.shared.exec.borrow();
    let tree = exec.state.tree(store);
    let scan = |start: Option<&[u8]>, skip: usize, take: usize| {
        let mut out = Vec::new();
        let mut skipped = 0usize;
        for (k, v) in tree.iter_prefix(prefix, start) {
            let suffix = k.get(prefix.len()..).unwrap_or_default();
            if !keep(suffix, v) {
                continue;
            }
            if skipped < skip {
                skipped += 1;
                continue;
            }
            if out.len() >= take {
                break;
            }
            out.push((suffix.to_vec(), v.to_vec()));
        }
        out
    };
    let total = if page.count_total && page.key.is_empty() {
        scan(None, 0, usize::MAX).len() as u64
    } else {
        0
    };
    let offset = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let mut items: Vec<Entry> = if page.reverse {
        let mut all = scan(None, 0, usize::MAX);
        all.reverse();
        let start = if page.key.is_empty() {
            offset.min(all.len())
        } else {
            all.iter()
                .position(|(k, _)| k.as_slice() <= page.key.as_slice())
                .unwrap_or(all.len())
        };
        all.into_iter()
            .skip(start)
            .take(limit.saturating_add(1))
            .collect()
    } else if page.key.is_empty() {
        scan(None, offset, limit.saturating_add(1))
    } else {
        let start = [prefix, page.key.as_slice()].concat();
        scan(Some(&start), 0, limit.saturating_add(1))
    };
    let next_key = if items.len() > limit {
        items.truncate(limit.saturating_add(1));
        items.pop().map(|(k, _)| k).unwrap_or_default()
    } else {
        Vec::new()
    };
    (items, PageResponse { next_key, total })
}
