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
mod tests;
