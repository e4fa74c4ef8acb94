//! The Merkle mathematics of the anchor log, as RFC 6962 / RFC 9162
//! define it, with no I/O.
//!
//! - leaf = SHA-256(0x00 ‖ entry)
//! - node = SHA-256(0x01 ‖ left ‖ right)
//! - the hash of the empty tree is SHA-256 of the empty string.
//!
//! A log of n leaves stores the hash of every *complete* subtree: the 2^level
//! leaves starting at `index << level`, named by a [`NodeId`]. Complete
//! subtrees never change once written, so an append only adds nodes, and any
//! root or proof is a fold over at most 2·log₂ n of them. The functions here
//! ask a [`NodeReader`] for exactly the nodes they need, in one call, so a
//! storage backend answers each request with one query.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// A SHA-256 hash of the log.
pub type Hash = [u8; 32];

/// The hash of the empty log: SHA-256 of the empty string.
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The hash of a log entry: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(entry);
    hasher.finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// A complete subtree: the 2^`level` leaves starting at `index << level`.
/// Level 0 nodes are the leaf hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// The height of the subtree; its leaf count is 2^level.
    pub level: u8,
    /// The subtree's position among the subtrees of its level.
    pub index: u64,
}

/// Reads stored hashes of complete subtrees.
pub trait NodeReader {
    /// The error of the underlying store.
    type Error;
    /// The hashes of `ids`, in the same order. A missing node is an error.
    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

/// What can go wrong computing a root or a proof.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeError<E> {
    /// The leaf index is not below the tree size.
    #[error("leaf {index} is not in a log of {size} entries")]
    LeafOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The old size of a consistency proof exceeds the new one.
    #[error("a log of {old} entries cannot be a prefix of one of {new}")]
    SizesOutOfOrder {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The reader returned a different number of hashes than asked for.
    #[error("the store returned {found} hashes for {asked} nodes")]
    ShortRead {
        /// Nodes asked for.
        asked: usize,
        /// Hashes returned.
        found: usize,
    },
    /// The reader failed.
    #[error("reading the log's nodes failed: {0}")]
    Read(E),
    /// Appending would take the log past 2^64 − 1 entries.
    #[error("a log of {size} entries cannot take {adding} more")]
    LogFull {
        /// The current size.
        size: u64,
        /// The number of leaves to append.
        adding: u64,
    },
}

/// Why a proof does not verify.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf {index} is not in a log of {size} entries")]
    LeafOutOfRange {
        /// The claimed index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The old size exceeds the new size.
    #[error("a log of {old} entries cannot be a prefix of one of {new}")]
    SizesOutOfOrder {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    /// The proof computes a different root.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The complete subtrees whose fold is the RFC 6962 hash of leaves
/// `lo..hi`, left to right. `lo..hi` must be a subtree of the RFC 6962
/// recursion (so `lo` is aligned), which every range used here is.
fn range_nodes(lo: u64, hi: u64, out: &mut Vec<NodeId>) {
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        out.push(NodeId {
            level,
            index: lo >> level,
        });
    } else {
        let k = split_point(n);
        range_nodes(lo, lo + k, out);
        range_nodes(lo + k, hi, out);
    }
}

/// Folds the hashes of `range_nodes(lo, hi)`, taking them from `hashes`.
fn fold_range(lo: u64, hi: u64, hashes: &mut impl Iterator<Item = Hash>) -> Hash {
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        hashes.next().expect("one hash per node")
    } else {
        let k = split_point(n);
        let left = fold_range(lo, lo + k, hashes);
        let right = fold_range(lo + k, hi, hashes);
        node_hash(&left, &right)
    }
}

/// Reads the nodes of several ranges in one call and folds each range.
fn range_hashes<R: NodeReader>(
    ranges: &[(u64, u64)],
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let mut ids = Vec::new();
    for &(lo, hi) in ranges {
        range_nodes(lo, hi, &mut ids);
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_nodes(&ids).map_err(TreeError::Read)?;
    if hashes.len() != ids.len() {
        return Err(TreeError::ShortRead {
            asked: ids.len(),
            found: hashes.len(),
        });
    }
    let mut hashes = hashes.into_iter();
    Ok(ranges
        .iter()
        .map(|&(lo, hi)| fold_range(lo, hi, &mut hashes))
        .collect())
}

/// The root of the first `size` leaves.
pub fn root<R: NodeReader>(size: u64, reader: &R) -> Result<Hash, TreeError<R::Error>> {
    if size == 0 {
        return Ok(EMPTY_ROOT);
    }
    Ok(range_hashes(&[(0, size)], reader)?[0])
}

/// The nodes that become complete when `leaves` are appended to a log of
/// `size` entries, leaves included, in an order where every node follows
/// its children. A store writes exactly these.
pub fn append<R: NodeReader>(
    size: u64,
    leaves: &[Hash],
    reader: &R,
) -> Result<Vec<(NodeId, Hash)>, TreeError<R::Error>> {
    let adding = leaves.len() as u64;
    if size.checked_add(adding).is_none() {
        return Err(TreeError::LogFull { size, adding });
    }
    // The left siblings that new nodes may need are the complete subtrees
    // of the current log's right edge: the decomposition of 0..size.
    let mut edge = Vec::new();
    if size > 0 {
        range_nodes(0, size, &mut edge);
    }
    let mut known: HashMap<NodeId, Hash> = HashMap::new();
    if !edge.is_empty() {
        let hashes = reader.read_nodes(&edge).map_err(TreeError::Read)?;
        if hashes.len() != edge.len() {
            return Err(TreeError::ShortRead {
                asked: edge.len(),
                found: hashes.len(),
            });
        }
        known.extend(edge.into_iter().zip(hashes));
    }
    let mut written = Vec::new();
    for (offset, leaf) in leaves.iter().enumerate() {
        let index = size + offset as u64;
        let id = NodeId { level: 0, index };
        known.insert(id, *leaf);
        written.push((id, *leaf));
        let mut level = 0u8;
        // A node at `level + 1` completes when its right child does.
        while (index + 1).is_multiple_of(1 << (level + 1)) {
            let parent = index >> (level + 1);
            let left = known[&NodeId {
                level,
                index: 2 * parent,
            }];
            let right = known[&NodeId {
                level,
                index: 2 * parent + 1,
            }];
            level += 1;
            let id = NodeId {
                level,
                index: parent,
            };
            let hash = node_hash(&left, &right);
            known.insert(id, hash);
            written.push((id, hash));
            if level == 63 {
                break;
            }
        }
    }
    Ok(written)
}

/// The leaf ranges whose hashes form the RFC 6962 audit path of leaf
/// `index` within leaves `lo..hi`, from the bottom up.
fn inclusion_ranges(index: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if index < lo + k {
        inclusion_ranges(index, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        inclusion_ranges(index, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// The RFC 6962 inclusion proof (audit path) of leaf `index` in the log of
/// `size` leaves.
pub fn inclusion_proof<R: NodeReader>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if index >= size {
        return Err(TreeError::LeafOutOfRange { index, size });
    }
    let mut ranges = Vec::new();
    inclusion_ranges(index, 0, size, &mut ranges);
    range_hashes(&ranges, reader)
}

/// RFC 6962 SUBPROOF(m, D[lo:hi], b) as leaf ranges.
fn consistency_ranges(m: u64, lo: u64, hi: u64, complete: bool, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if m == n {
        if !complete {
            out.push((lo, hi));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        consistency_ranges(m, lo, lo + k, complete, out);
        out.push((lo + k, hi));
    } else {
        consistency_ranges(m - k, lo + k, hi, false, out);
        out.push((lo, lo + k));
    }
}

/// The RFC 6962 consistency proof between the log's first `old` leaves and
/// its first `new` leaves. It is empty when `old` is 0 or equals `new`.
pub fn consistency_proof<R: NodeReader>(
    old: u64,
    new: u64,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if old > new {
        return Err(TreeError::SizesOutOfOrder { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    consistency_ranges(old, 0, new, true, &mut ranges);
    range_hashes(&ranges, reader)
}

/// Checks an inclusion proof (RFC 9162, section 2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::LeafOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut hash = *leaf;
    for sibling in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            hash = node_hash(sibling, &hash);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if hash != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162, section 2.1.4.2). Any log is
/// consistent with the empty log, whose root must be [`EMPTY_ROOT`].
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == 0 || old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        // Equal sizes need equal roots; the empty log's root is fixed, and
        // when both sizes are 0 both roots must be it.
        let roots_match = (old_size != 0 || *old_root == EMPTY_ROOT)
            && (old_size != new_size || old_root == new_root);
        return if roots_match {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut old_hash, mut new_hash) = (*first, *first);
    for sibling in rest {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            old_hash = node_hash(sibling, &old_hash);
            new_hash = node_hash(sibling, &new_hash);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, sibling);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if old_hash != *old_root || new_hash != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a log: the roots of its perfect subtrees, largest
/// first, one per set bit of its size. That is all it takes to append
/// leaves and compute the root, so a replica, a monitor or a witness can
/// follow a log in O(log n) memory.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Frontier {
    size: u64,
    #[serde(with = "hashes_base64")]
    subtrees: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        // Each trailing one bit is a perfect subtree of the same height
        // that the new one completes.
        while size & 1 == 1 {
            let left = self.subtrees.pop().expect("one subtree per set bit");
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.subtrees.push(hash);
        self.size += 1;
    }

    /// The root hash of the log.
    pub fn root(&self) -> Hash {
        let mut subtrees = self.subtrees.iter().rev();
        match subtrees.next() {
            None => EMPTY_ROOT,
            Some(last) => subtrees.fold(*last, |right, left| node_hash(left, &right)),
        }
    }

    /// Whether the stored subtrees fit the size (one per set bit); a
    /// frontier read from a file is checked with this.
    pub fn is_well_formed(&self) -> bool {
        self.subtrees.len() == self.size.count_ones() as usize
    }
}

mod hashes_base64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hashes: &[super::Hash], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(hashes.iter().map(crate::encode_hash))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<super::Hash>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|h| {
                crate::decode_hash(h)
                    .ok_or_else(|| serde::de::Error::custom("not a base64 SHA-256 hash"))
            })
            .collect()
    }
}

/// A log held in memory: every complete subtree, for clients that rebuild
/// a log from its entries, and for tests.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    nodes: HashMap<NodeId, Hash>,
    size: u64,
}

impl MemoryTree {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends leaf hashes.
    pub fn append(&mut self, leaves: &[Hash]) {
        let written = append(self.size, leaves, &*self).expect("a memory tree has every node");
        self.nodes.extend(written);
        self.size += leaves.len() as u64;
    }

    /// The root of the first `size` leaves (at most [`Self::size`]).
    pub fn root_at(&self, size: u64) -> Hash {
        assert!(size <= self.size, "size {size} beyond the log");
        root(size, self).expect("a memory tree has every node")
    }
}

impl NodeReader for MemoryTree {
    type Error = NodeId;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NodeId> {
        ids.iter()
            .map(|id| self.nodes.get(id).copied().ok_or(*id))
            .collect()
    }
}

#[cfg(test)]
mod frontier_tests {
    use super::*;

    #[test]
    fn the_frontier_has_the_memory_trees_root_at_every_size() {
        let mut frontier = Frontier::new();
        let mut tree = MemoryTree::new();
        assert_eq!(frontier.root(), EMPTY_ROOT);
        for i in 0u32..70 {
            let leaf = leaf_hash(&i.to_le_bytes());
            frontier.push(leaf);
            tree.append(&[leaf]);
            assert_eq!(frontier.root(), tree.root_at(tree.size()), "size {}", i + 1);
            assert!(frontier.is_well_formed());
        }
        let mut other = frontier.clone();
        other.push(leaf_hash(b"x"));
        assert_ne!(other.root(), frontier.root());
    }
}
