//! A persistent AVL+ tree whose node hashing matches cosmos/iavl, so its ICS-23 proofs verify
//! under `ics23::iavl_spec()`.
//!
//! Shape (as in cosmos/iavl): leaves hold a key and a value; an inner node holds the smallest key
//! of its right subtree, its height, its size (number of leaves) and the version at which it was
//! last written. Every node is immutable behind an `Arc`: a write copies the nodes on its path and
//! shares the rest, so [`Tree::clone`] is O(1) and an old clone keeps answering (and proving)
//! exactly as it did. Insert, remove and rebalancing follow iavl's algorithm node for node, so the
//! same sequence of writes at the same versions yields the same tree and root hash as iavl.
//!
//! Hashes are computed lazily and cached per node, so a node rewritten many times between two
//! `root_hash` calls is hashed at most once.

use std::cmp::Ordering;
use std::fmt;
use std::sync::{Arc, OnceLock};

use ics23::commitment_proof::Proof;
use ics23::{
    CommitmentProof, ExistenceProof, HashOp, InnerOp, LeafOp, LengthOp, NonExistenceProof,
};
use sha2::{Digest, Sha256};

/// Keys are shared between a leaf and the inner nodes that route to it.
type Key = Arc<[u8]>;

/// The length prefix iavl writes before a 32-byte hash (`uvarint(32)`).
const HASH_LEN_PREFIX: u8 = 0x20;

struct Node {
    /// A leaf's key, or an inner node's routing key (smallest key of its right subtree).
    key: Key,
    /// The version at which this node was written, as iavl encodes it.
    version: i64,
    body: Body,
    /// The node hash, computed on first use.
    hash: OnceLock<[u8; 32]>,
}

enum Body {
    Leaf {
        value: Vec<u8>,
    },
    Inner {
        left: Arc<Node>,
        right: Arc<Node>,
        height: u8,
        size: u64,
    },
}

impl Node {
    fn leaf(key: Key, value: Vec<u8>, version: i64) -> Arc<Node> {
        Arc::new(Node {
            key,
            version,
            body: Body::Leaf { value },
            hash: OnceLock::new(),
        })
    }

    /// An inner node over two children; height and size follow from them.
    fn inner(key: Key, left: Arc<Node>, right: Arc<Node>, version: i64) -> Arc<Node> {
        let height = 1 + left.height().max(right.height());
        let size = left.size() + right.size();
        Arc::new(Node {
            key,
            version,
            body: Body::Inner {
                left,
                right,
                height,
                size,
            },
            hash: OnceLock::new(),
        })
    }

    fn height(&self) -> u8 {
        match &self.body {
            Body::Leaf { .. } => 0,
            Body::Inner { height, .. } => *height,
        }
    }

    fn size(&self) -> u64 {
        match &self.body {
            Body::Leaf { .. } => 1,
            Body::Inner { size, .. } => *size,
        }
    }

    /// `(key, left, right)` of an inner node.
    fn children(&self) -> Option<(&Key, &Arc<Node>, &Arc<Node>)> {
        match &self.body {
            Body::Leaf { .. } => None,
            Body::Inner { left, right, .. } => Some((&self.key, left, right)),
        }
    }

    /// `varint(height) || varint(size) || varint(version)`: the start of every node preimage.
    fn prefix(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        put_varint(&mut out, i64::from(self.height()));
        put_varint(&mut out, i64::try_from(self.size()).unwrap_or(i64::MAX));
        put_varint(&mut out, self.version);
        out
    }

    fn hash(&self) -> &[u8; 32] {
        self.hash.get_or_init(|| {
            let mut hasher = Sha256::new();
            hasher.update(self.prefix());
            let mut len = Vec::with_capacity(10);
            match &self.body {
                Body::Leaf { value } => {
                    put_uvarint(&mut len, self.key.len() as u64);
                    hasher.update(&len);
                    hasher.update(&self.key);
                    hasher.update([HASH_LEN_PREFIX]);
                    hasher.update(Sha256::digest(value));
                }
                Body::Inner { left, right, .. } => {
                    hasher.update([HASH_LEN_PREFIX]);
                    hasher.update(left.hash());
                    hasher.update([HASH_LEN_PREFIX]);
                    hasher.update(right.hash());
                }
            }
            hasher.finalize().into()
        })
    }
}

/// Protobuf/Go unsigned varint.
fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Go's `binary.PutVarint`: zigzag, then unsigned varint.
fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Builds `key, left, right` into an inner node, rotating as iavl's `balance` does when one side
/// is two levels taller. Every node created here is stamped with `version`; subtrees that only
/// move keep theirs.
fn balanced(key: Key, left: Arc<Node>, right: Arc<Node>, version: i64) -> Arc<Node> {
    let (lh, rh) = (i32::from(left.height()), i32::from(right.height()));
    if lh - rh > 1 {
        let (lk, ll, lr) = left
            .children()
            .expect("a subtree two levels taller than its sibling is an inner node");
        if ll.height() >= lr.height() {
            // Left-left: rotate right.
            let new_right = Node::inner(key, lr.clone(), right, version);
            Node::inner(lk.clone(), ll.clone(), new_right, version)
        } else {
            // Left-right: rotate the left child left, then rotate right.
            let (lrk, lrl, lrr) = lr
                .children()
                .expect("the taller grandchild of a left-right imbalance is an inner node");
            let new_left = Node::inner(lk.clone(), ll.clone(), lrl.clone(), version);
            let new_right = Node::inner(key, lrr.clone(), right, version);
            Node::inner(lrk.clone(), new_left, new_right, version)
        }
    } else if rh - lh > 1 {
        let (rk, rl, rr) = right
            .children()
            .expect("a subtree two levels taller than its sibling is an inner node");
        if rr.height() >= rl.height() {
            // Right-right: rotate left.
            let new_left = Node::inner(key, left, rl.clone(), version);
            Node::inner(rk.clone(), new_left, rr.clone(), version)
        } else {
            // Right-left: rotate the right child right, then rotate left.
            let (rlk, rll, rlr) = rl
                .children()
                .expect("the taller grandchild of a right-left imbalance is an inner node");
            let new_left = Node::inner(key, left, rll.clone(), version);
            let new_right = Node::inner(rk.clone(), rlr.clone(), rr.clone(), version);
            Node::inner(rlk.clone(), new_left, new_right, version)
        }
    } else {
        Node::inner(key, left, right, version)
    }
}

/// Inserts below `node`; returns the new subtree and whether the key already existed.
fn insert(node: &Arc<Node>, key: Vec<u8>, value: Vec<u8>, version: i64) -> (Arc<Node>, bool) {
    match &node.body {
        Body::Leaf { .. } => match key.as_slice().cmp(&node.key) {
            Ordering::Less => {
                let leaf = Node::leaf(key.into(), value, version);
                (
                    Node::inner(node.key.clone(), leaf, node.clone(), version),
                    false,
                )
            }
            Ordering::Greater => {
                let key: Key = key.into();
                let leaf = Node::leaf(key.clone(), value, version);
                (Node::inner(key, node.clone(), leaf, version), false)
            }
            Ordering::Equal => (Node::leaf(node.key.clone(), value, version), true),
        },
        Body::Inner { left, right, .. } => {
            // An update leaves heights unchanged, so `balanced` only rebuilds the node then.
            if key.as_slice() < &*node.key {
                let (left, existed) = insert(left, key, value, version);
                let node = balanced(node.key.clone(), left, right.clone(), version);
                (node, existed)
            } else {
                let (right, existed) = insert(right, key, value, version);
                let node = balanced(node.key.clone(), left.clone(), right, version);
                (node, existed)
            }
        }
    }
}

/// What removing a key did to a subtree.
struct Removed {
    /// The subtree without the key (`None` when the subtree was that single leaf).
    node: Option<Arc<Node>>,
    /// The subtree's new smallest key, when removal changed it (to fix a routing key above).
    new_min_key: Option<Key>,
}

/// Removes `key` below `node`; `None` when the key is absent.
fn delete(node: &Arc<Node>, key: &[u8], version: i64) -> Option<Removed> {
    let Some((node_key, left, right)) = node.children() else {
        return (*node.key == *key).then_some(Removed {
            node: None,
            new_min_key: None,
        });
    };
    if key < &**node_key {
        let removed = delete(left, key, version)?;
        Some(match removed.node {
            // The left leaf went away: the right subtree takes this node's place, and its
            // smallest key (this node's key) is now the smallest of the whole subtree.
            None => Removed {
                node: Some(right.clone()),
                new_min_key: Some(node_key.clone()),
            },
            Some(new_left) => Removed {
                node: Some(balanced(node_key.clone(), new_left, right.clone(), version)),
                new_min_key: removed.new_min_key,
            },
        })
    } else {
        let removed = delete(right, key, version)?;
        Some(match removed.node {
            None => Removed {
                node: Some(left.clone()),
                new_min_key: None,
            },
            Some(new_right) => {
                let routing = removed.new_min_key.unwrap_or_else(|| node_key.clone());
                Removed {
                    node: Some(balanced(routing, left.clone(), new_right, version)),
                    new_min_key: None,
                }
            }
        })
    }
}

/// A versioned, persistent IAVL tree. `Clone` is O(1) (shares nodes).
#[derive(Clone, Default)]
pub struct Tree {
    root: Option<Arc<Node>>,
    version: i64,
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tree")
            .field("len", &self.len())
            .field("version", &self.version)
            .finish()
    }
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the version stamped on nodes written from now on (the height being executed).
    pub fn set_version(&mut self, version: u64) {
        self.version = i64::try_from(version).unwrap_or(i64::MAX);
    }

    /// The version nodes are stamped with on write.
    pub fn version(&self) -> u64 {
        self.version as u64
    }

    /// The value at `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let mut node = self.root.as_deref()?;
        loop {
            match &node.body {
                Body::Inner { left, right, .. } => {
                    node = if key < &*node.key { left } else { right };
                }
                Body::Leaf { value } => return (*node.key == *key).then_some(value.as_slice()),
            }
        }
    }

    /// True when `key` is present.
    pub fn contains(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// Inserts or replaces; returns whether the key existed.
    pub fn set(&mut self, key: Vec<u8>, value: Vec<u8>) -> bool {
        match &self.root {
            None => {
                self.root = Some(Node::leaf(key.into(), value, self.version));
                false
            }
            Some(root) => {
                let (root, existed) = insert(root, key, value, self.version);
                self.root = Some(root);
                existed
            }
        }
    }

    /// Removes `key`; returns whether it existed.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let Some(root) = &self.root else {
            return false;
        };
        match delete(root, key, self.version) {
            Some(removed) => {
                self.root = removed.node;
                true
            }
            None => false,
        }
    }

    /// Keys and values in ascending key order, starting at the first key `>= start`, while the
    /// key starts with `prefix`.
    pub fn iter_prefix<'a>(
        &'a self,
        prefix: &'a [u8],
        start: Option<&'a [u8]>,
    ) -> Box<dyn Iterator<Item = (&'a [u8], &'a [u8])> + 'a> {
        let from = match start {
            Some(start) if start > prefix => start,
            _ => prefix,
        };
        Box::new(
            Iter::seek(self.root.as_deref(), from).take_while(move |(k, _)| k.starts_with(prefix)),
        )
    }

    /// Every key and value in ascending key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        Iter::seek(self.root.as_deref(), &[])
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.root
            .as_ref()
            .map_or(0, |n| usize::try_from(n.size()).unwrap_or(usize::MAX))
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IAVL root hash (sha256 of nothing for an empty tree, as iavl does).
    pub fn root_hash(&self) -> [u8; 32] {
        match &self.root {
            Some(root) => *root.hash(),
            None => Sha256::digest([]).into(),
        }
    }

    /// An ICS-23 existence proof if `key` is present, else a non-existence proof.
    ///
    /// The non-existence proof carries the existence proofs of the neighbours around `key`
    /// (one is absent at either end). An empty tree has no neighbours, so its non-existence
    /// proof has neither and verifies against nothing, as with iavl.
    pub fn prove(&self, key: &[u8]) -> CommitmentProof {
        let proof = match self.existence_proof(key) {
            Some(exist) => Proof::Exist(exist),
            None => {
                let (below, above) = self.neighbours(key);
                Proof::Nonexist(NonExistenceProof {
                    key: key.to_vec(),
                    left: below.and_then(|k| self.existence_proof(k)),
                    right: above.and_then(|k| self.existence_proof(k)),
                })
            }
        };
        CommitmentProof { proof: Some(proof) }
    }

    /// The existence proof of `key`, if present.
    pub fn existence_proof(&self, key: &[u8]) -> Option<ExistenceProof> {
        let mut node = self.root.as_deref()?;
        let mut path = Vec::new();
        loop {
            match &node.body {
                Body::Inner { left, right, .. } => {
                    let mut prefix = node.prefix();
                    prefix.push(HASH_LEN_PREFIX);
                    let mut suffix = Vec::new();
                    if key < &*node.key {
                        suffix.push(HASH_LEN_PREFIX);
                        suffix.extend_from_slice(right.hash());
                        node = left;
                    } else {
                        prefix.extend_from_slice(left.hash());
                        prefix.push(HASH_LEN_PREFIX);
                        node = right;
                    }
                    path.push(InnerOp {
                        hash: HashOp::Sha256.into(),
                        prefix,
                        suffix,
                    });
                }
                Body::Leaf { value } => {
                    if *node.key != *key {
                        return None;
                    }
                    path.reverse();
                    return Some(ExistenceProof {
                        key: key.to_vec(),
                        value: value.clone(),
                        leaf: Some(LeafOp {
                            hash: HashOp::Sha256.into(),
                            prehash_key: HashOp::NoHash.into(),
                            prehash_value: HashOp::Sha256.into(),
                            length: LengthOp::VarProto.into(),
                            prefix: node.prefix(),
                        }),
                        path,
                    });
                }
            }
        }
    }

    /// The largest key below `key` and the smallest key above it.
    fn neighbours(&self, key: &[u8]) -> (Option<&[u8]>, Option<&[u8]>) {
        let Some(mut node) = self.root.as_deref() else {
            return (None, None);
        };
        // Subtree whose largest key is the best lower neighbour so far; best upper key so far.
        let mut below: Option<&Node> = None;
        let mut above: Option<&[u8]> = None;
        loop {
            match &node.body {
                Body::Inner { left, right, .. } => {
                    if key < &*node.key {
                        // Everything on the right is above `key`; its smallest is node.key.
                        above = Some(&node.key);
                        node = left;
                    } else {
                        below = Some(left);
                        node = right;
                    }
                }
                Body::Leaf { .. } => {
                    match (*node.key).cmp(key) {
                        Ordering::Less => below = Some(node),
                        Ordering::Greater => above = Some(&node.key),
                        Ordering::Equal => {}
                    }
                    break;
                }
            }
        }
        let below = below.map(|mut n| {
            while let Body::Inner { right, .. } = &n.body {
                n = right;
            }
            &*n.key
        });
        (below, above)
    }
}

/// In-order iterator over leaves; the stack holds subtrees still to visit, smallest on top.
struct Iter<'a> {
    stack: Vec<&'a Node>,
}

impl<'a> Iter<'a> {
    /// Positions the iterator on the first key `>= from`, without visiting anything before it.
    fn seek(root: Option<&'a Node>, from: &[u8]) -> Self {
        let mut stack = Vec::new();
        let mut node = root;
        while let Some(n) = node {
            match &n.body {
                Body::Inner { left, right, .. } => {
                    if from < &*n.key {
                        stack.push(&**right);
                        node = Some(left);
                    } else {
                        node = Some(right);
                    }
                }
                Body::Leaf { .. } => {
                    if *n.key >= *from {
                        stack.push(n);
                    }
                    node = None;
                }
            }
        }
        Iter { stack }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let mut node = self.stack.pop()?;
        loop {
            match &node.body {
                Body::Inner { left, right, .. } => {
                    self.stack.push(right);
                    node = left;
                }
                Body::Leaf { value } => return Some((&node.key, value)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ics23::HostFunctionsManager;

    use super::*;

    /// splitmix64: a small deterministic generator for test data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn key(&mut self) -> Vec<u8> {
            let len = 1 + self.below(4) as usize;
            (0..len).map(|_| b'a' + self.below(6) as u8).collect()
        }
    }

    /// Checks AVL balance, routing keys, heights, sizes and key order; returns (min key, height).
    fn check_node(node: &Node) -> (Key, u8) {
        match &node.body {
            Body::Leaf { .. } => (node.key.clone(), 0),
            Body::Inner {
                left,
                right,
                height,
                size,
            } => {
                let (lmin, lh) = check_node(left);
                let (rmin, rh) = check_node(right);
                assert_eq!(node.key, rmin, "routing key is the right subtree's minimum");
                assert!(lmin < rmin);
                assert!((i32::from(lh) - i32::from(rh)).abs() <= 1, "AVL balance");
                assert_eq!(*height, 1 + lh.max(rh));
                assert_eq!(*size, left.size() + right.size());
                (lmin, *height)
            }
        }
    }

    fn check_tree(tree: &Tree, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
        if let Some(root) = &tree.root {
            check_node(root);
        }
        assert_eq!(tree.len(), model.len());
        let items: Vec<(Vec<u8>, Vec<u8>)> =
            tree.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> =
            model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(items, expected);
    }

    fn verify_exists(tree: &Tree, key: &[u8], value: &[u8]) -> bool {
        let root = tree.root_hash().to_vec();
        ics23::verify_membership::<HostFunctionsManager>(
            &tree.prove(key),
            &ics23::iavl_spec(),
            &root,
            key,
            value,
        )
    }

    fn verify_absent(tree: &Tree, key: &[u8]) -> bool {
        let root = tree.root_hash().to_vec();
        ics23::verify_non_membership::<HostFunctionsManager>(
            &tree.prove(key),
            &ics23::iavl_spec(),
            &root,
            key,
        )
    }

    #[test]
    fn varints_match_go() {
        let enc = |v: i64| {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            out
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(1), [0x02]);
        assert_eq!(enc(-1), [0x01]);
        assert_eq!(enc(64), [0x80, 0x01]);
        let mut out = Vec::new();
        put_uvarint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }

    #[test]
    fn empty_tree() {
        let tree = Tree::new();
        assert_eq!(
            hex::encode(tree.root_hash()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(tree.is_empty());
        assert_eq!(tree.get(b"a"), None);
        assert_eq!(tree.iter_prefix(b"", None).count(), 0);
        assert!(!verify_absent(&tree, b"a"));
    }

    #[test]
    fn leaf_hash_layout() {
        let mut tree = Tree::new();
        tree.set_version(7);
        tree.set(b"key".to_vec(), b"value".to_vec());
        let mut preimage = vec![0x00, 0x02, 0x0e, 3];
        preimage.extend_from_slice(b"key");
        preimage.push(32);
        preimage.extend_from_slice(&Sha256::digest(b"value"));
        assert_eq!(
            tree.root_hash(),
            <[u8; 32]>::from(Sha256::digest(&preimage))
        );
    }

    /// cosmos/iavl `export_test.go` (`setupExportTreeBasic`, `TestExporter`): the tree after the
    /// same writes over versions 1..3, listed in post-order as (key, value, version, height).
    #[test]
    fn matches_iavl_export_vector() {
        let mut tree = Tree::new();
        tree.set_version(1);
        tree.set(b"x".to_vec(), vec![255]);
        tree.set(b"z".to_vec(), vec![255]);
        tree.set(b"a".to_vec(), vec![1]);
        tree.set(b"b".to_vec(), vec![2]);
        tree.set(b"c".to_vec(), vec![3]);
        tree.set_version(2);
        tree.remove(b"x");
        tree.remove(b"b");
        tree.set(b"c".to_vec(), vec![255]);
        tree.set(b"d".to_vec(), vec![4]);
        tree.set_version(3);
        tree.set(b"b".to_vec(), vec![2]);
        tree.set(b"c".to_vec(), vec![3]);
        tree.set(b"e".to_vec(), vec![5]);
        tree.remove(b"z");
        tree.set(b"abc".to_vec(), vec![6]);

        /// (key, value for leaves, version, height), as iavl's exporter lists a node.
        type ExportNode = (Vec<u8>, Option<Vec<u8>>, i64, u8);
        fn post_order(node: &Node, out: &mut Vec<ExportNode>) {
            match &node.body {
                Body::Leaf { value } => {
                    out.push((node.key.to_vec(), Some(value.clone()), node.version, 0))
                }
                Body::Inner {
                    left,
                    right,
                    height,
                    ..
                } => {
                    post_order(left, out);
                    post_order(right, out);
                    out.push((node.key.to_vec(), None, node.version, *height));
                }
            }
        }
        let mut actual = Vec::new();
        post_order(tree.root.as_deref().expect("non-empty"), &mut actual);
        let n = |k: &str, v: Option<u8>, version: i64, height: u8| {
            (k.as_bytes().to_vec(), v.map(|v| vec![v]), version, height)
        };
        let expected = vec![
            n("a", Some(1), 1, 0),
            n("abc", Some(6), 3, 0),
            n("abc", None, 3, 1),
            n("b", Some(2), 3, 0),
            n("c", Some(3), 3, 0),
            n("c", None, 3, 1),
            n("b", None, 3, 2),
            n("d", Some(4), 2, 0),
            n("e", Some(5), 3, 0),
            n("e", None, 3, 1),
            n("d", None, 3, 3),
        ];
        assert_eq!(actual, expected);
    }

    #[test]
    fn random_ops_match_btreemap_and_prove() {
        let mut rng = Rng(42);
        let mut tree = Tree::new();
        let mut model = BTreeMap::new();
        for round in 0..40u64 {
            tree.set_version(round + 1);
            for _ in 0..60 {
                let key = rng.key();
                if rng.below(3) == 0 {
                    assert_eq!(tree.remove(&key), model.remove(&key).is_some());
                } else {
                    let value = rng.next().to_be_bytes().to_vec();
                    assert_eq!(
                        tree.set(key.clone(), value.clone()),
                        model.insert(key, value).is_some()
                    );
                }
            }
            check_tree(&tree, &model);
            for (k, v) in &model {
                assert_eq!(tree.get(k), Some(v.as_slice()));
            }
            if round % 8 == 7 {
                for (k, v) in &model {
                    assert!(verify_exists(&tree, k, v), "existence of {k:?}");
                    assert!(!verify_exists(&tree, k, b"other"), "wrong value for {k:?}");
                }
                for _ in 0..50 {
                    let k = rng.key();
                    if !model.contains_key(&k) {
                        assert!(verify_absent(&tree, &k), "non-existence of {k:?}");
                        assert!(tree.get(&k).is_none());
                    }
                }
                // Outside the key range on both sides.
                assert!(verify_absent(&tree, b""));
                assert!(verify_absent(&tree, b"0"));
                assert!(verify_absent(&tree, b"zzzzzz"));
            }
        }
        // Remove everything again.
        let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
        for k in keys {
            assert!(tree.remove(&k));
            model.remove(&k);
            check_tree(&tree, &model);
        }
        assert!(tree.is_empty());
        assert_eq!(tree.root_hash(), Tree::new().root_hash());
    }

    #[test]
    fn single_key_tree_proofs() {
        let mut tree = Tree::new();
        tree.set(b"m".to_vec(), b"v".to_vec());
        assert!(verify_exists(&tree, b"m", b"v"));
        assert!(verify_absent(&tree, b"a"));
        assert!(verify_absent(&tree, b"z"));
        assert!(!verify_absent(&tree, b"m"));
    }

    #[test]
    fn existing_key_fails_non_membership_and_absent_key_fails_membership() {
        let mut tree = Tree::new();
        for i in 0..20u8 {
            tree.set(vec![b'k', i * 2], vec![i]);
        }
        assert!(!verify_absent(&tree, &[b'k', 4]));
        assert!(!verify_exists(&tree, &[b'k', 5], &[2]));
        assert!(verify_absent(&tree, &[b'k', 5]));
    }

    #[test]
    fn old_versions_keep_their_proofs() {
        let mut tree = Tree::new();
        tree.set_version(1);
        for i in 0..100u32 {
            tree.set(i.to_be_bytes().to_vec(), vec![1]);
        }
        let old = tree.clone();
        let old_root = old.root_hash();
        let old_proof = old.prove(&7u32.to_be_bytes());
        let old_absent = old.prove(&500u32.to_be_bytes());

        tree.set_version(2);
        for i in 0..100u32 {
            if i % 3 == 0 {
                tree.remove(&i.to_be_bytes());
            } else {
                tree.set(i.to_be_bytes().to_vec(), vec![2]);
            }
        }
        tree.set(500u32.to_be_bytes().to_vec(), vec![2]);
        assert_ne!(tree.root_hash(), old_root);
        assert_eq!(old.root_hash(), old_root);
        assert_eq!(old.get(&7u32.to_be_bytes()), Some(&[1u8][..]));
        assert_eq!(old.len(), 100);

        let spec = ics23::iavl_spec();
        let root = old_root.to_vec();
        assert!(ics23::verify_membership::<HostFunctionsManager>(
            &old_proof,
            &spec,
            &root,
            &7u32.to_be_bytes(),
            &[1]
        ));
        assert!(ics23::verify_non_membership::<HostFunctionsManager>(
            &old_absent,
            &spec,
            &root,
            &500u32.to_be_bytes()
        ));
        // Fresh proofs from the old clone verify too; the new tree's do not match the old root.
        assert!(verify_exists(&old, &9u32.to_be_bytes(), &[1]));
        assert!(!ics23::verify_membership::<HostFunctionsManager>(
            &tree.prove(&8u32.to_be_bytes()),
            &spec,
            &root,
            &8u32.to_be_bytes(),
            &[2]
        ));
    }

    #[test]
    fn same_writes_same_hash_and_versions_matter() {
        let build = |v: u64| {
            let mut t = Tree::new();
            t.set_version(v);
            for i in 0..50u8 {
                t.set(vec![i], vec![i]);
            }
            t
        };
        assert_eq!(build(3).root_hash(), build(3).root_hash());
        assert_ne!(build(3).root_hash(), build(4).root_hash());
    }

    #[test]
    fn iter_prefix_and_start() {
        let mut tree = Tree::new();
        for k in ["a", "b/1", "b/2", "b/3", "b/30", "c", "ba"] {
            tree.set(k.as_bytes().to_vec(), k.as_bytes().to_vec());
        }
        let keys = |it: Box<dyn Iterator<Item = (&[u8], &[u8])> + '_>| {
            it.map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(tree.iter_prefix(b"b/", None)),
            ["b/1", "b/2", "b/3", "b/30"]
        );
        assert_eq!(
            keys(tree.iter_prefix(b"b/", Some(b"b/25"))),
            ["b/3", "b/30"]
        );
        assert_eq!(keys(tree.iter_prefix(b"b/", Some(b"a"))).len(), 4);
        assert_eq!(keys(tree.iter_prefix(b"b/", Some(b"b/4"))).len(), 0);
        assert_eq!(keys(tree.iter_prefix(b"", None)).len(), 7);
        assert_eq!(keys(tree.iter_prefix(b"d", None)).len(), 0);
        assert_eq!(keys(tree.iter_prefix(b"", Some(b"bb"))), ["c"]);
    }

    #[test]
    fn large_tree_with_small_batches() {
        let mut tree = Tree::new();
        let mut rng = Rng(7);
        tree.set_version(1);
        for _ in 0..20_000 {
            tree.set(rng.next().to_be_bytes().to_vec(), vec![0; 8]);
        }
        let snapshot = tree.clone();
        let before = snapshot.root_hash();
        tree.set_version(2);
        for _ in 0..1_000 {
            tree.set(rng.next().to_be_bytes().to_vec(), vec![1; 8]);
        }
        check_node(tree.root.as_deref().expect("non-empty"));
        assert!(tree.root.as_deref().map_or(0, Node::height) <= 20);
        assert_ne!(tree.root_hash(), before);
        assert_eq!(snapshot.root_hash(), before);
        assert_eq!(snapshot.len() + 1_000, tree.len());
    }
}
