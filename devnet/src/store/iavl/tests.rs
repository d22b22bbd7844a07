//! Unit tests of the IAVL tree: go-compatible varints and hashes, cosmos/iavl's export vector,
//! random operations against a `BTreeMap` model, and ICS-23 proofs (also of old versions).

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
