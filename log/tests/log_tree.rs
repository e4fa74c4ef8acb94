//! The anchor log's Merkle mathematics (`log::tree`) against the published
//! RFC 6962 vectors in `tests/data/rfc6962_vectors.json` and against a naive
//! reference written straight from the RFC 6962 text (section 2.1), which
//! hashes with `sha2` itself and shares no code with the crate.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use proptest::prelude::*;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zkgov_log::tree::{
    append, consistency_proof, inclusion_proof, leaf_hash, node_hash, root, verify_consistency,
    verify_inclusion, Hash, MemoryTree, NodeId, NodeReader, ProofError, TreeError, EMPTY_ROOT,
};

// ---------------------------------------------------------------------------
// The reference: RFC 6962, section 2.1, over a list of entries.
// ---------------------------------------------------------------------------

mod reference {
    use super::*;

    fn sha256(parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    /// SHA-256(0x01 || left || right).
    pub fn node(left: &Hash, right: &Hash) -> Hash {
        sha256(&[&[0x01], left, right])
    }

    /// The largest power of two smaller than n (n > 1).
    pub fn split(n: u64) -> u64 {
        let mut k = 1u64;
        while 2 * u128::from(k) < u128::from(n) {
            k *= 2;
        }
        k
    }

    /// MTH(D[n]).
    pub fn mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => sha256(&[]),
            1 => sha256(&[&[0x00], &d[0]]),
            n => {
                let k = split(n as u64) as usize;
                node(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    /// PATH(m, D[n]).
    pub fn path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        let n = d.len();
        if n == 1 {
            return Vec::new();
        }
        let k = split(n as u64) as usize;
        let (mut path, sibling) = if m < k {
            (path(m, &d[..k]), mth(&d[k..]))
        } else {
            (path(m - k, &d[k..]), mth(&d[..k]))
        };
        path.push(sibling);
        path
    }

    /// PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
    pub fn proof(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        subproof(m, d, true)
    }

    fn subproof(m: usize, d: &[Vec<u8>], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = split(n as u64) as usize;
        let (mut proof, sibling) = if m <= k {
            (subproof(m, &d[..k], b), mth(&d[k..]))
        } else {
            (subproof(m - k, &d[k..], false), mth(&d[..k]))
        };
        proof.push(sibling);
        proof
    }

    /// The root that PATH(m, D[n]) leads to from `leaf`, undoing the
    /// recursion from the proof's end; `None` if the length is wrong.
    fn root_from_path(leaf: &Hash, m: u64, n: u64, path: &[Hash]) -> Option<Hash> {
        if n == 1 {
            return path.is_empty().then_some(*leaf);
        }
        let (sibling, rest) = path.split_last()?;
        let k = split(n);
        Some(if m < k {
            node(&root_from_path(leaf, m, k, rest)?, sibling)
        } else {
            node(sibling, &root_from_path(leaf, m - k, n - k, rest)?)
        })
    }

    /// The old and new roots that SUBPROOF(m, D[n], b) leads to, undoing the
    /// recursion from the proof's end; `None` if the length is wrong.
    fn roots_from_subproof(
        m: u64,
        n: u64,
        b: bool,
        proof: &[Hash],
        old_root: &Hash,
    ) -> Option<(Hash, Hash)> {
        if m == n {
            return match (b, proof) {
                (true, []) => Some((*old_root, *old_root)),
                (false, [hash]) => Some((*hash, *hash)),
                _ => None,
            };
        }
        let (sibling, rest) = proof.split_last()?;
        let k = split(n);
        Some(if m <= k {
            let (old, new) = roots_from_subproof(m, k, b, rest, old_root)?;
            (old, node(&new, sibling))
        } else {
            let (old, new) = roots_from_subproof(m - k, n - k, false, rest, old_root)?;
            (node(sibling, &old), node(sibling, &new))
        })
    }

    /// What checking an inclusion proof must give.
    pub fn verify_inclusion(
        leaf: &Hash,
        m: u64,
        n: u64,
        path: &[Hash],
        root: &Hash,
    ) -> Result<(), ProofError> {
        if m >= n {
            return Err(ProofError::LeafOutOfRange { index: m, size: n });
        }
        match root_from_path(leaf, m, n, path) {
            None => Err(ProofError::WrongLength),
            Some(computed) if computed == *root => Ok(()),
            Some(_) => Err(ProofError::RootMismatch),
        }
    }

    /// What checking a consistency proof must give. Any log is consistent
    /// with the empty one, whose root is SHA-256 of nothing.
    pub fn verify_consistency(
        m: u64,
        n: u64,
        old_root: &Hash,
        new_root: &Hash,
        proof: &[Hash],
    ) -> Result<(), ProofError> {
        let empty = sha256(&[]);
        if m > n {
            return Err(ProofError::SizesOutOfOrder { old: m, new: n });
        }
        if m == 0 || m == n {
            if !proof.is_empty() {
                return Err(ProofError::WrongLength);
            }
            let ok = (m != 0 || *old_root == empty) && (m != n || old_root == new_root);
            return if ok {
                Ok(())
            } else {
                Err(ProofError::RootMismatch)
            };
        }
        match roots_from_subproof(m, n, true, proof, old_root) {
            None => Err(ProofError::WrongLength),
            Some((old, new)) if old == *old_root && new == *new_root => Ok(()),
            Some(_) => Err(ProofError::RootMismatch),
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

/// The exhaustive checks cover every size up to this.
const MAX_SIZE: usize = 64;

fn entries(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
}

fn memory_tree(entries: &[Vec<u8>]) -> MemoryTree {
    let mut tree = MemoryTree::new();
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    tree.append(&leaves);
    tree
}

fn flip_bit(hash: &Hash, bit: usize) -> Hash {
    let mut flipped = *hash;
    flipped[(bit / 8) % 32] ^= 1 << (bit % 8);
    flipped
}

fn hex_hash(text: &str) -> Hash {
    hex::decode(text)
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// A store of nodes, as a storage backend holds them.
#[derive(Default)]
struct MapStore {
    nodes: HashMap<NodeId, Hash>,
}

impl NodeReader for MapStore {
    type Error = NodeId;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NodeId> {
        ids.iter()
            .map(|id| self.nodes.get(id).copied().ok_or(*id))
            .collect()
    }
}

/// Records every read made of a tree.
struct RecordingReader<'a> {
    tree: &'a MemoryTree,
    reads: RefCell<Vec<Vec<NodeId>>>,
}

impl<'a> RecordingReader<'a> {
    fn new(tree: &'a MemoryTree) -> Self {
        Self {
            tree,
            reads: RefCell::new(Vec::new()),
        }
    }
}

impl NodeReader for RecordingReader<'_> {
    type Error = NodeId;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NodeId> {
        self.reads.borrow_mut().push(ids.to_vec());
        self.tree.read_nodes(ids)
    }
}

/// A store that always fails.
struct FailingReader;

impl NodeReader for FailingReader {
    type Error = &'static str;

    fn read_nodes(&self, _: &[NodeId]) -> Result<Vec<Hash>, &'static str> {
        Err("disk on fire")
    }
}

/// A store that answers with `delta` hashes more (or fewer) than asked.
struct MiscountingReader {
    delta: isize,
}

impl NodeReader for MiscountingReader {
    type Error = &'static str;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, &'static str> {
        let count = ids.len().checked_add_signed(self.delta).unwrap();
        Ok(vec![[7; 32]; count])
    }
}

/// A log of 2^64 − 1 identical entries. Every complete subtree of a level
/// has the same hash, so the store needs one hash per level and proofs can
/// be made and checked at any size, up to `u64::MAX`. Asking for a node
/// outside the log is an error.
struct UniformLog {
    levels: [Hash; 64],
}

impl UniformLog {
    fn new() -> Self {
        let mut levels = [leaf_hash(b"same"); 64];
        for level in 1..64 {
            levels[level] = reference::node(&levels[level - 1], &levels[level - 1]);
        }
        Self { levels }
    }

    /// MTH of the first `n` entries, by the RFC recursion.
    fn mth(&self, n: u64) -> Hash {
        if n.is_power_of_two() {
            self.levels[n.trailing_zeros() as usize]
        } else {
            let k = reference::split(n);
            reference::node(&self.mth(k), &self.mth(n - k))
        }
    }
}

impl NodeReader for UniformLog {
    type Error = NodeId;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NodeId> {
        ids.iter()
            .map(|id| {
                let end = (u128::from(id.index) + 1) << id.level;
                if id.level < 64 && end <= u128::from(u64::MAX) {
                    Ok(self.levels[id.level as usize])
                } else {
                    Err(*id)
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Negative checks shared by the vector and exhaustive tests.
// ---------------------------------------------------------------------------

/// Checks that a valid inclusion proof verifies, and that every corruption
/// of it fails for the reason the reference gives.
fn check_inclusion_probes(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) {
    let check = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash| {
        let got = verify_inclusion(leaf, index, size, proof, root);
        let want = reference::verify_inclusion(leaf, index, size, proof, root);
        assert_eq!(
            got, want,
            "inclusion of {index} in {size}, proof {proof:x?}"
        );
        got
    };
    assert_eq!(check(leaf, index, size, proof, root), Ok(()));

    // A flipped bit anywhere: the proof still has the right shape.
    for (j, hash) in proof.iter().enumerate() {
        for bit in [0, 255, (j * 37 + index as usize * 11 + size as usize) % 256] {
            let mut bad = proof.to_vec();
            bad[j] = flip_bit(hash, bit);
            assert_eq!(
                check(leaf, index, size, &bad, root),
                Err(ProofError::RootMismatch)
            );
        }
    }
    let bad_leaf = flip_bit(leaf, 3);
    assert_eq!(
        check(&bad_leaf, index, size, proof, root),
        Err(ProofError::RootMismatch)
    );
    for bad_root in [flip_bit(root, 100), EMPTY_ROOT, *leaf] {
        if bad_root != *root {
            assert_eq!(
                check(leaf, index, size, proof, &bad_root),
                Err(ProofError::RootMismatch)
            );
        }
    }

    // Truncated, extended, prefixed.
    if let Some((_, shorter)) = proof.split_last() {
        assert_eq!(
            check(leaf, index, size, shorter, root),
            Err(ProofError::WrongLength)
        );
    }
    for extra in [[0; 32], *root, *leaf] {
        let mut longer = proof.to_vec();
        longer.push(extra);
        assert_eq!(
            check(leaf, index, size, &longer, root),
            Err(ProofError::WrongLength)
        );
        longer.rotate_right(1);
        assert_eq!(
            check(leaf, index, size, &longer, root),
            Err(ProofError::WrongLength)
        );
    }

    // Every other index fails, each for the reason the reference gives.
    for other in (0..size + 2).chain([index ^ 2, u64::MAX]) {
        if other != index {
            let got = check(leaf, other, size, proof, root);
            assert!(
                got.is_err(),
                "leaf {index} also proved at {other} in {size}"
            );
            if other >= size {
                assert_eq!(got, Err(ProofError::LeafOutOfRange { index: other, size }));
            }
        }
    }
    // Other sizes fail as the reference says. The root, not the proof,
    // binds the size: a path whose shape fits several sizes leads to the
    // same root for each (see `inclusion_binds_size_through_the_root`).
    for other in (0..size + 3).chain([size * 2, size / 2, u64::MAX]) {
        if other != size {
            let _ = check(leaf, index, other, proof, root);
        }
    }
}

/// Checks that a valid consistency proof verifies, and that every
/// corruption of it fails for the reason the reference gives.
fn check_consistency_probes(old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) {
    let check = |old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]| {
        let got = verify_consistency(old, new, old_root, new_root, proof);
        let want = reference::verify_consistency(old, new, old_root, new_root, proof);
        assert_eq!(got, want, "consistency {old} -> {new}, proof {proof:x?}");
        got
    };
    assert_eq!(check(old, new, old_root, new_root, proof), Ok(()));

    for (j, hash) in proof.iter().enumerate() {
        for bit in [0, 255, (j * 41 + old as usize * 13 + new as usize) % 256] {
            let mut bad = proof.to_vec();
            bad[j] = flip_bit(hash, bit);
            assert_eq!(
                check(old, new, old_root, new_root, &bad),
                Err(ProofError::RootMismatch)
            );
        }
    }
    let (bad_old, bad_new) = (flip_bit(old_root, 9), flip_bit(new_root, 200));
    assert_eq!(
        check(old, new, &bad_old, new_root, proof),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        check(old, new, old_root, &bad_new, proof),
        Err(ProofError::RootMismatch)
    );
    if old_root != new_root {
        assert_eq!(
            check(old, new, new_root, old_root, proof),
            Err(ProofError::RootMismatch)
        );
    }

    if let Some((_, shorter)) = proof.split_last() {
        assert_eq!(
            check(old, new, old_root, new_root, shorter),
            Err(ProofError::WrongLength)
        );
    }
    if !proof.is_empty() {
        assert_eq!(
            check(old, new, old_root, new_root, &[]),
            Err(ProofError::WrongLength)
        );
    }
    for extra in [[0; 32], *old_root, *new_root] {
        let mut longer = proof.to_vec();
        longer.push(extra);
        assert_eq!(
            check(old, new, old_root, new_root, &longer),
            Err(ProofError::WrongLength)
        );
        longer.rotate_right(1);
        assert_eq!(
            check(old, new, old_root, new_root, &longer),
            Err(ProofError::WrongLength)
        );
    }

    // Other old sizes never verify with the old root; other new sizes fail
    // as the reference says.
    for other in (0..new + 2).chain([old ^ 2, u64::MAX]) {
        if other != old {
            let got = check(other, new, old_root, new_root, proof);
            assert!(got.is_err(), "{old} -> {new} also proved from {other}");
            if other > new {
                assert_eq!(got, Err(ProofError::SizesOutOfOrder { old: other, new }));
            }
        }
    }
    for other in (0..new + 3).chain([new * 2, new / 2, u64::MAX]) {
        if other != new {
            let _ = check(old, other, old_root, new_root, proof);
        }
    }
}

// ---------------------------------------------------------------------------
// Published vectors.
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct Vectors {
    empty_root: String,
    leaf_hashes: Vec<LeafHashVector>,
    leaf_inputs_hex: Vec<String>,
    roots: Vec<String>,
    inclusion_proofs: Vec<InclusionVector>,
    consistency_proofs: Vec<ConsistencyVector>,
    inclusion_nodes: Vec<InclusionNodes>,
    consistency_nodes: Vec<ConsistencyNodes>,
}

#[derive(Deserialize)]
struct LeafHashVector {
    input_hex: String,
    hash: String,
}

#[derive(Deserialize)]
struct InclusionVector {
    index: u64,
    size: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct ConsistencyVector {
    old: u64,
    new: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct InclusionNodes {
    index: u64,
    size: u64,
    nodes: Vec<(u8, u64)>,
}

#[derive(Deserialize)]
struct ConsistencyNodes {
    old: u64,
    new: u64,
    nodes: Vec<(u8, u64)>,
}

fn vectors() -> Vectors {
    let text = include_str!("data/rfc6962_vectors.json");
    serde_json::from_str(text).expect("rfc6962_vectors.json parses")
}

fn vector_entries(vectors: &Vectors) -> Vec<Vec<u8>> {
    vectors
        .leaf_inputs_hex
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect()
}

fn hashes(hex: &[String]) -> Vec<Hash> {
    hex.iter().map(|h| hex_hash(h)).collect()
}

#[test]
fn published_empty_root_and_leaf_hashes() {
    let vectors = vectors();
    assert_eq!(EMPTY_ROOT, hex_hash(&vectors.empty_root));
    assert_eq!(MemoryTree::new().root_at(0), EMPTY_ROOT);
    assert_eq!(root(0, &FailingReader), Ok(EMPTY_ROOT));
    let (left, right) = (leaf_hash(b"left"), leaf_hash(b"right"));
    assert_eq!(node_hash(&left, &right), reference::node(&left, &right));
    for v in &vectors.leaf_hashes {
        assert_eq!(
            leaf_hash(&hex::decode(&v.input_hex).unwrap()),
            hex_hash(&v.hash)
        );
    }
}

#[test]
fn published_roots() {
    let vectors = vectors();
    let entries = vector_entries(&vectors);
    assert_eq!(vectors.roots.len(), 8);
    let mut tree = MemoryTree::new();
    for (i, entry) in entries.iter().enumerate() {
        tree.append(&[leaf_hash(entry)]);
        assert_eq!(tree.size(), i as u64 + 1);
        for size in 1..=i + 1 {
            let want = hex_hash(&vectors.roots[size - 1]);
            assert_eq!(tree.root_at(size as u64), want, "root of {size}");
            assert_eq!(reference::mth(&entries[..size]), want);
        }
    }
}

#[test]
fn published_inclusion_proofs() {
    let vectors = vectors();
    let entries = vector_entries(&vectors);
    let tree = memory_tree(&entries);
    assert_eq!(vectors.inclusion_proofs.len(), 5);
    for v in &vectors.inclusion_proofs {
        let want = hashes(&v.proof);
        assert_eq!(inclusion_proof(v.index, v.size, &tree), Ok(want.clone()));
        assert_eq!(
            reference::path(v.index as usize, &entries[..v.size as usize]),
            want
        );
        let leaf = leaf_hash(&entries[v.index as usize]);
        let root = hex_hash(&vectors.roots[v.size as usize - 1]);
        check_inclusion_probes(&leaf, v.index, v.size, &want, &root);
    }
}

#[test]
fn published_consistency_proofs() {
    let vectors = vectors();
    let entries = vector_entries(&vectors);
    let tree = memory_tree(&entries);
    assert_eq!(vectors.consistency_proofs.len(), 5);
    for v in &vectors.consistency_proofs {
        let want = hashes(&v.proof);
        assert_eq!(consistency_proof(v.old, v.new, &tree), Ok(want.clone()));
        assert_eq!(
            reference::proof(v.old as usize, &entries[..v.new as usize]),
            want
        );
        let old_root = hex_hash(&vectors.roots[v.old as usize - 1]);
        let new_root = hex_hash(&vectors.roots[v.new as usize - 1]);
        check_consistency_probes(v.old, v.new, &old_root, &new_root, &want);
    }
}

/// The proofs read exactly the nodes that Go's `proof.Inclusion` and
/// `proof.Consistency` name, in one read (or none when nothing is needed).
#[test]
fn published_node_sets() {
    let vectors = vectors();
    let tree = memory_tree(&entries(100));
    let expect_reads = |reader: &RecordingReader, nodes: &[(u8, u64)], what: &str| {
        let reads = reader.reads.borrow();
        let want: BTreeSet<NodeId> = nodes
            .iter()
            .map(|&(level, index)| NodeId { level, index })
            .collect();
        if want.is_empty() {
            assert!(reads.is_empty(), "{what}: read {reads:?}");
        } else {
            assert_eq!(reads.len(), 1, "{what}: one read");
            assert_eq!(reads[0].len(), want.len(), "{what}: no node twice");
            assert_eq!(
                reads[0].iter().copied().collect::<BTreeSet<_>>(),
                want,
                "{what}"
            );
        }
    };
    for v in &vectors.inclusion_nodes {
        let reader = RecordingReader::new(&tree);
        inclusion_proof(v.index, v.size, &reader).unwrap();
        expect_reads(
            &reader,
            &v.nodes,
            &format!("inclusion {}/{}", v.index, v.size),
        );
    }
    for v in &vectors.consistency_nodes {
        let reader = RecordingReader::new(&tree);
        consistency_proof(v.old, v.new, &reader).unwrap();
        expect_reads(
            &reader,
            &v.nodes,
            &format!("consistency {}/{}", v.old, v.new),
        );
    }
}

// ---------------------------------------------------------------------------
// Exhaustive agreement with the reference.
// ---------------------------------------------------------------------------

#[test]
fn roots_agree_with_reference() {
    let all = entries(MAX_SIZE);
    let full = memory_tree(&all);
    for n in 0..=MAX_SIZE {
        let want = reference::mth(&all[..n]);
        assert_eq!(memory_tree(&all[..n]).root_at(n as u64), want, "size {n}");
        assert_eq!(full.root_at(n as u64), want, "size {n} in a larger log");
    }
}

#[test]
fn inclusion_proofs_agree_with_reference() {
    let all = entries(MAX_SIZE);
    let full = memory_tree(&all);
    for n in 1..=MAX_SIZE {
        let d = &all[..n];
        let exact = memory_tree(d);
        let root = reference::mth(d);
        for m in 0..n {
            let want = reference::path(m, d);
            let size = n as u64;
            assert_eq!(inclusion_proof(m as u64, size, &exact), Ok(want.clone()));
            assert_eq!(inclusion_proof(m as u64, size, &full), Ok(want.clone()));
            check_inclusion_probes(&leaf_hash(&d[m]), m as u64, size, &want, &root);
        }
    }
}

#[test]
fn consistency_proofs_agree_with_reference() {
    let all = entries(MAX_SIZE);
    let full = memory_tree(&all);
    for n in 1..=MAX_SIZE {
        let d = &all[..n];
        let exact = memory_tree(d);
        let new_root = reference::mth(d);
        for m in 1..=n {
            let want = reference::proof(m, d);
            let (old, new) = (m as u64, n as u64);
            assert_eq!(consistency_proof(old, new, &exact), Ok(want.clone()));
            assert_eq!(consistency_proof(old, new, &full), Ok(want.clone()));
            check_consistency_probes(old, new, &reference::mth(&d[..m]), &new_root, &want);
        }
    }
}

#[test]
fn consistency_with_the_empty_log() {
    let tree = memory_tree(&entries(5));
    let root5 = tree.root_at(5);
    for n in [0, 1, 5] {
        assert_eq!(consistency_proof(0, n, &tree), Ok(vec![]));
    }
    assert_eq!(verify_consistency(0, 5, &EMPTY_ROOT, &root5, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Ok(())
    );
    assert_eq!(
        verify_consistency(0, 5, &root5, &root5, &[]),
        Err(ProofError::RootMismatch)
    );
    // Two empty logs have the same root.
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &root5, &[]),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(0, 0, &root5, &root5, &[]),
        Err(ProofError::RootMismatch)
    );
    assert_eq!(
        verify_consistency(0, 5, &EMPTY_ROOT, &root5, &[root5]),
        Err(ProofError::WrongLength)
    );
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[EMPTY_ROOT]),
        Err(ProofError::WrongLength)
    );
    assert_eq!(
        verify_consistency(1, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Err(ProofError::SizesOutOfOrder { old: 1, new: 0 })
    );
}

#[test]
fn inclusion_in_the_empty_log() {
    assert_eq!(
        verify_inclusion(&EMPTY_ROOT, 0, 0, &[], &EMPTY_ROOT),
        Err(ProofError::LeafOutOfRange { index: 0, size: 0 })
    );
}

/// The audit path of leaf 0 has the same shape in logs of 5 and 6 entries,
/// so the proof for 5 "verifies" against the root of 5 when the claimed
/// size is 6. RFC 9162 and Go's verifier behave alike: the signed root, not
/// the proof, pins the size. With the root of 6 it fails.
#[test]
fn inclusion_binds_size_through_the_root() {
    let all = entries(6);
    let tree = memory_tree(&all);
    let leaf = leaf_hash(&all[0]);
    let proof5 = inclusion_proof(0, 5, &tree).unwrap();
    assert_eq!(
        verify_inclusion(&leaf, 0, 6, &proof5, &tree.root_at(5)),
        Ok(())
    );
    assert_eq!(
        verify_inclusion(&leaf, 0, 6, &proof5, &tree.root_at(6)),
        Err(ProofError::RootMismatch)
    );
}

// ---------------------------------------------------------------------------
// Appending.
// ---------------------------------------------------------------------------

/// Appends `entries` to a store `chunk` leaves at a time, checking each
/// batch: it writes exactly the nodes that become complete, none twice, and
/// every node after its children.
fn append_in_chunks(entries: &[Vec<u8>], chunk: usize) -> MapStore {
    let mut store = MapStore::default();
    let mut size = 0u64;
    for batch in entries.chunks(chunk) {
        let leaves: Vec<Hash> = batch.iter().map(|e| leaf_hash(e)).collect();
        let written = append(size, &leaves, &store).unwrap();
        let new_size = size + batch.len() as u64;

        let mut seen: HashSet<NodeId> = HashSet::new();
        for (id, _) in &written {
            assert!(!store.nodes.contains_key(id), "{id:?} rewritten");
            assert!(seen.insert(*id), "{id:?} written twice");
            if id.level > 0 {
                for index in [2 * id.index, 2 * id.index + 1] {
                    let child = NodeId {
                        level: id.level - 1,
                        index,
                    };
                    assert!(
                        store.nodes.contains_key(&child) || seen.contains(&child),
                        "{id:?} written before its child {child:?}"
                    );
                }
            }
        }
        let became_complete: HashSet<NodeId> = complete_nodes(new_size)
            .difference(&complete_nodes(size))
            .copied()
            .collect();
        assert_eq!(seen, became_complete, "append {size} + {}", batch.len());

        store.nodes.extend(written);
        size = new_size;
    }
    store
}

/// Every complete subtree of a log of `size` entries.
fn complete_nodes(size: u64) -> HashSet<NodeId> {
    let mut ids = HashSet::new();
    for level in 0..64u8 {
        for index in 0..size >> level {
            ids.insert(NodeId { level, index });
        }
    }
    ids
}

#[test]
fn append_in_chunks_matches_leaf_by_leaf() {
    let all = entries(100);
    let one_by_one = append_in_chunks(&all, 1);
    assert_eq!(one_by_one.nodes.len(), complete_nodes(100).len());
    for (id, hash) in &one_by_one.nodes {
        let lo = (id.index << id.level) as usize;
        let hi = lo + (1 << id.level);
        assert_eq!(*hash, reference::mth(&all[lo..hi]), "{id:?}");
    }
    for chunk in [2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 99, 100, 1000] {
        let chunked = append_in_chunks(&all, chunk);
        assert_eq!(chunked.nodes, one_by_one.nodes, "chunks of {chunk}");
    }
}

#[test]
fn memory_tree_in_chunks_matches_leaf_by_leaf() {
    let all = entries(40);
    let leaves: Vec<Hash> = all.iter().map(|e| leaf_hash(e)).collect();
    for chunk in [1, 3, 8, 40] {
        let mut tree = MemoryTree::new();
        for batch in leaves.chunks(chunk) {
            tree.append(batch);
            tree.append(&[]);
            let n = tree.size() as usize;
            assert_eq!(tree.root_at(n as u64), reference::mth(&all[..n]));
        }
    }
}

#[test]
fn append_at_the_edge_of_u64() {
    let log = UniformLog::new();
    let leaf = log.levels[0];

    // The last leaf a log can hold completes nothing above it.
    let written = append(u64::MAX - 1, &[leaf], &log).unwrap();
    assert_eq!(
        written,
        vec![(
            NodeId {
                level: 0,
                index: u64::MAX - 1
            },
            leaf
        )]
    );

    // Leaf 2^63 − 1 completes a subtree at every level up to 63.
    let written = append((1 << 63) - 1, &[leaf], &log).unwrap();
    assert_eq!(written.len(), 64);
    for (level, (id, hash)) in written.iter().enumerate() {
        assert_eq!(id.level as usize, level);
        assert_eq!(id.index, ((1u64 << 63) - 1) >> level);
        assert_eq!(*hash, log.levels[level]);
    }

    assert_eq!(
        append(u64::MAX, &[leaf], &log),
        Err(TreeError::LogFull {
            size: u64::MAX,
            adding: 1
        })
    );
    assert_eq!(
        append(u64::MAX - 1, &[leaf, leaf], &log),
        Err(TreeError::LogFull {
            size: u64::MAX - 1,
            adding: 2
        })
    );
    assert_eq!(append(u64::MAX, &[], &log).map(|w| w.len()), Ok(0));
}

// ---------------------------------------------------------------------------
// Huge logs.
// ---------------------------------------------------------------------------

#[test]
fn proofs_in_huge_logs() {
    let log = UniformLog::new();
    let leaf = log.levels[0];
    let sizes = [
        1,
        2,
        3,
        (1 << 32) + 1,
        (1 << 63) - 1,
        1 << 63,
        (1 << 63) + 1,
        0xdead_beef_1234_5678,
        u64::MAX - 1,
        u64::MAX,
    ];
    for &n in &sizes {
        let n_root = root(n, &log).unwrap();
        assert_eq!(n_root, log.mth(n), "root of {n}");
        for index in [0, 1, n / 3, n / 2, n.saturating_sub(2), n - 1] {
            if index >= n {
                continue;
            }
            let proof = inclusion_proof(index, n, &log).unwrap();
            assert!(proof.len() <= 64);
            assert_eq!(verify_inclusion(&leaf, index, n, &proof, &n_root), Ok(()));
            assert_eq!(
                reference::verify_inclusion(&leaf, index, n, &proof, &n_root),
                Ok(())
            );
            if let Some((_, shorter)) = proof.split_last() {
                assert_eq!(
                    verify_inclusion(&leaf, index, n, shorter, &n_root),
                    Err(ProofError::WrongLength)
                );
            }
        }
        for &m in sizes.iter().filter(|&&m| m <= n) {
            let m_root = log.mth(m);
            let proof = consistency_proof(m, n, &log).unwrap();
            assert!(proof.len() <= 128);
            assert_eq!(verify_consistency(m, n, &m_root, &n_root, &proof), Ok(()));
            assert_eq!(
                reference::verify_consistency(m, n, &m_root, &n_root, &proof),
                Ok(())
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Errors of proof generation.
// ---------------------------------------------------------------------------

#[test]
fn leaf_out_of_range() {
    let tree = memory_tree(&entries(3));
    for (index, size) in [(3, 3), (0, 0), (u64::MAX, 3), (5, 2)] {
        assert_eq!(
            inclusion_proof(index, size, &tree),
            Err(TreeError::LeafOutOfRange { index, size })
        );
    }
}

#[test]
fn sizes_out_of_order() {
    let tree = memory_tree(&entries(3));
    for (old, new) in [(4, 3), (1, 0), (u64::MAX, 2)] {
        assert_eq!(
            consistency_proof(old, new, &tree),
            Err(TreeError::SizesOutOfOrder { old, new })
        );
    }
}

#[test]
fn reader_failure_is_passed_on() {
    let failed = TreeError::Read("disk on fire");
    assert_eq!(root(1, &FailingReader).unwrap_err(), failed);
    assert_eq!(root(5, &FailingReader).unwrap_err(), failed);
    assert_eq!(inclusion_proof(0, 2, &FailingReader).unwrap_err(), failed);
    assert_eq!(consistency_proof(1, 2, &FailingReader).unwrap_err(), failed);
    assert_eq!(append(3, &[[0; 32]], &FailingReader).unwrap_err(), failed);
    // Nothing to read, nothing to fail.
    assert_eq!(inclusion_proof(0, 1, &FailingReader), Ok(vec![]));
    assert_eq!(consistency_proof(2, 2, &FailingReader), Ok(vec![]));
    assert_eq!(
        append(0, &[[0; 32]], &FailingReader).map(|w| w.len()),
        Ok(1)
    );
}

#[test]
fn reading_beyond_the_log_is_a_read_error() {
    let tree = memory_tree(&entries(4));
    assert_eq!(
        root(5, &tree),
        Err(TreeError::Read(NodeId { level: 0, index: 4 }))
    );
}

#[test]
fn miscounted_reads_are_short_reads() {
    let short = MiscountingReader { delta: -1 };
    let long = MiscountingReader { delta: 1 };
    // A log of 7 is the subtrees of 4, 2 and 1 entries.
    assert_eq!(
        root(7, &short),
        Err(TreeError::ShortRead { asked: 3, found: 2 })
    );
    assert_eq!(
        root(7, &long),
        Err(TreeError::ShortRead { asked: 3, found: 4 })
    );
    assert_eq!(
        inclusion_proof(0, 8, &short),
        Err(TreeError::ShortRead { asked: 3, found: 2 })
    );
    assert_eq!(
        consistency_proof(3, 8, &long),
        Err(TreeError::ShortRead { asked: 4, found: 5 })
    );
    assert_eq!(
        append(7, &[[0; 32]], &short),
        Err(TreeError::ShortRead { asked: 3, found: 2 })
    );
}

// ---------------------------------------------------------------------------
// Property tests.
// ---------------------------------------------------------------------------

fn edgy_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(1 << 63),
        Just((1 << 63) - 1),
        0..130u64,
        any::<u64>(),
    ]
}

fn any_hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>()
}

/// A log of 4096 entries, built once.
fn big_log() -> &'static (Vec<Vec<u8>>, MemoryTree) {
    static LOG: OnceLock<(Vec<Vec<u8>>, MemoryTree)> = OnceLock::new();
    LOG.get_or_init(|| {
        let all = entries(4096);
        let tree = memory_tree(&all);
        (all, tree)
    })
}

proptest! {
    #[test]
    fn verify_inclusion_never_panics(
        leaf in any_hash(),
        index in edgy_u64(),
        size in edgy_u64(),
        proof in prop::collection::vec(any_hash(), 0..80),
        root in any_hash(),
    ) {
        let got = verify_inclusion(&leaf, index, size, &proof, &root);
        prop_assert_ne!(got, Ok(()));
    }

    #[test]
    fn verify_consistency_never_panics(
        old in edgy_u64(),
        new in edgy_u64(),
        old_root in any_hash(),
        new_root in any_hash(),
        proof in prop::collection::vec(any_hash(), 0..140),
    ) {
        let _ = verify_consistency(old, new, &old_root, &new_root, &proof);
    }

    #[test]
    fn random_proofs_in_a_large_log(
        n in 1..=4096u64,
        index_seed in any::<u64>(),
        old_seed in any::<u64>(),
    ) {
        let (all, tree) = big_log();
        let d = &all[..n as usize];
        let index = index_seed % n;
        let old = 1 + old_seed % n;
        let new_root = tree.root_at(n);
        let old_root = tree.root_at(old);

        let path = inclusion_proof(index, n, tree).unwrap();
        prop_assert_eq!(&path, &reference::path(index as usize, d));
        prop_assert_eq!(verify_inclusion(&leaf_hash(&d[index as usize]), index, n, &path, &new_root), Ok(()));

        let proof = consistency_proof(old, n, tree).unwrap();
        prop_assert_eq!(&proof, &reference::proof(old as usize, d));
        prop_assert_eq!(verify_consistency(old, n, &old_root, &new_root, &proof), Ok(()));
    }
}
