//! The registry tree: a Poseidon Merkle tree of arity 2, 4, 8 or 16.
//!
//! The rules are normative (docs/formats.md, "Registry tree") because circomlibjs must
//! reproduce every root:
//! - a record's leaf index is its insertion position, and the base-`k` digits
//!   of that index, least significant first, give the child position at each
//!   level from the bottom;
//! - an empty leaf is 0, and `node = Poseidon([child_0, …, child_(k-1)])`;
//! - empty subtrees use the zero chain `z0 = 0`, `z(i+1) = Poseidon([z(i)] × k)`.
//!
//! [`RegistryTree`] stores every non-empty node, so a path or a single-leaf
//! update costs `depth` hashes.

pub mod constraints;

use crate::poseidon;
use crate::Fr;

/// Errors from building or reading a registry tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// The arity is not one of 2, 4, 8, 16.
    #[error("unsupported tree arity {arity} (expected 2, 4, 8 or 16)")]
    UnsupportedArity {
        /// The arity that was asked for.
        arity: usize,
    },
    /// The depth is outside 1..=32 or the capacity arity^depth exceeds 2^64.
    #[error("unsupported tree depth {depth} for arity {arity} (need 1 ≤ depth ≤ 32 and arity^depth ≤ 2^64)")]
    UnsupportedDepth {
        /// The arity of the tree.
        arity: usize,
        /// The depth that was asked for.
        depth: u32,
    },
    /// More leaves than the tree can hold.
    #[error("{leaves} records do not fit in a tree of capacity {capacity}")]
    Full {
        /// How many leaves were given.
        leaves: u128,
        /// arity^depth.
        capacity: u128,
    },
    /// A leaf index past the last inserted leaf.
    #[error("leaf index {index} is out of range (the tree has {len} leaves)")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// How many leaves the tree holds.
        len: u64,
    },
}

/// The shape of a registry tree: its arity and depth, both recorded with the
/// registry and both fixed in the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeShape {
    arity: usize,
    depth: u32,
}

impl TreeShape {
    /// The default arity: a width-5 Poseidon per level halves the path length
    /// of a binary tree at 300 instead of 2 × 243 constraints.
    pub const DEFAULT_ARITY: usize = 4;

    /// Checks that `arity` ∈ {2, 4, 8, 16}, 1 ≤ `depth` ≤ 32 and arity^depth ≤ 2^64.
    pub fn new(arity: usize, depth: u32) -> Result<Self, TreeError> {
        if !matches!(arity, 2 | 4 | 8 | 16) {
            return Err(TreeError::UnsupportedArity { arity });
        }
        // The depth is checked before it is multiplied, so no depth
        // overflows the product.
        if !(1..=32).contains(&depth) || arity.trailing_zeros() * depth > 64 {
            return Err(TreeError::UnsupportedDepth { arity, depth });
        }
        Ok(Self { arity, depth })
    }

    /// Children per node.
    pub fn arity(&self) -> usize {
        self.arity
    }

    /// Levels between a leaf and the root.
    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Bits of the leaf index consumed per level (log2 of the arity).
    pub fn bits_per_level(&self) -> u32 {
        self.arity.trailing_zeros()
    }

    /// How many leaves the tree holds: arity^depth (at most 2^64).
    pub fn capacity(&self) -> u128 {
        1u128 << (self.bits_per_level() * self.depth)
    }

    /// The zero chain `z0 … z(depth)`: `z(i)` is the root of an empty subtree
    /// of height `i`.
    pub fn zero_chain(&self) -> Vec<Fr> {
        let mut chain = Vec::with_capacity(self.depth as usize + 1);
        let mut z = Fr::from(0u64);
        chain.push(z);
        for _ in 0..self.depth {
            z = hash_node(&vec![z; self.arity]);
            chain.push(z);
        }
        chain
    }

    /// The child position at each level, from the bottom: the base-`arity`
    /// digits of `index`, least significant first.
    pub fn positions(&self, index: u64) -> Vec<usize> {
        let bits = self.bits_per_level();
        (0..self.depth)
            .map(|level| {
                let shift = level * bits;
                if shift >= 64 {
                    0
                } else {
                    ((index >> shift) as usize) & (self.arity - 1)
                }
            })
            .collect()
    }
}

/// `Poseidon(children)`; the arity is at most 16, within Poseidon's inputs.
fn hash_node(children: &[Fr]) -> Fr {
    poseidon::hash(children).expect("tree arity is at most 16 Poseidon inputs")
}

/// A membership path: the index of the leaf and, per level from the bottom,
/// the `arity - 1` siblings of the node on the path, in child order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerklePath {
    /// The leaf's insertion position.
    pub index: u64,
    /// Per level from the bottom, the siblings in child order (the path's own
    /// position left out).
    pub siblings: Vec<Vec<Fr>>,
}

impl MerklePath {
    /// The root that this path and `leaf` hash to under `shape`.
    pub fn root(&self, shape: &TreeShape, leaf: Fr) -> Fr {
        let mut node = leaf;
        for (position, siblings) in shape.positions(self.index).into_iter().zip(&self.siblings) {
            let mut children = siblings.clone();
            children.insert(position, node);
            node = hash_node(&children);
        }
        node
    }
}

/// A registry tree with every non-empty node kept in memory.
#[derive(Debug, Clone)]
pub struct RegistryTree {
    shape: TreeShape,
    zeros: Vec<Fr>,
    /// `levels[0]` holds the leaves; `levels[i]` holds the non-empty nodes of
    /// height `i`, a prefix of that level. The root is `levels[depth][0]`
    /// (or the zero chain's top when the tree is empty).
    levels: Vec<Vec<Fr>>,
}

impl RegistryTree {
    /// An empty tree.
    pub fn new(shape: TreeShape) -> Self {
        Self {
            zeros: shape.zero_chain(),
            levels: vec![Vec::new(); shape.depth as usize + 1],
            shape,
        }
    }

    /// Builds the tree from leaves in insertion order, hashing each level in
    /// parallel.
    pub fn from_leaves(shape: TreeShape, leaves: Vec<Fr>) -> Result<Self, TreeError> {
        let capacity = shape.capacity();
        if leaves.len() as u128 > capacity {
            return Err(TreeError::Full {
                leaves: leaves.len() as u128,
                capacity,
            });
        }
        let mut tree = Self::new(shape);
        tree.levels[0] = leaves;
        for height in 0..shape.depth as usize {
            let parents = hash_level(&tree.levels[height], shape.arity, tree.zeros[height]);
            tree.levels[height + 1] = parents;
        }
        Ok(tree)
    }

    /// The tree's shape.
    pub fn shape(&self) -> TreeShape {
        self.shape
    }

    /// How many leaves have been inserted.
    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether no leaf has been inserted.
    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    /// The leaves in insertion order.
    pub fn leaves(&self) -> &[Fr] {
        &self.levels[0]
    }

    /// The root: the committed value that statements refer to.
    pub fn root(&self) -> Fr {
        let top = self.shape.depth as usize;
        self.levels[top].first().copied().unwrap_or(self.zeros[top])
    }

    /// Appends a leaf at the next index and returns that index.
    pub fn push(&mut self, leaf: Fr) -> Result<u64, TreeError> {
        let index = self.len();
        if u128::from(index) >= self.shape.capacity() {
            return Err(TreeError::Full {
                leaves: u128::from(index) + 1,
                capacity: self.shape.capacity(),
            });
        }
        self.levels[0].push(leaf);
        self.rehash_path(index);
        Ok(index)
    }

    /// Replaces the leaf at `index` (a modified or revoked record) and
    /// recomputes its path to the root.
    pub fn update(&mut self, index: u64, leaf: Fr) -> Result<(), TreeError> {
        let slot = self.check_index(index)?;
        self.levels[0][slot] = leaf;
        self.rehash_path(index);
        Ok(())
    }

    /// The membership path of the leaf at `index`.
    pub fn path(&self, index: u64) -> Result<MerklePath, TreeError> {
        self.check_index(index)?;
        let arity = self.shape.arity as u64;
        let mut siblings = Vec::with_capacity(self.shape.depth as usize);
        let mut node = index;
        for height in 0..self.shape.depth as usize {
            let first = node - node % arity;
            let level: Vec<Fr> = (first..first + arity)
                .filter(|&i| i != node)
                .map(|i| self.node(height, i))
                .collect();
            siblings.push(level);
            node /= arity;
        }
        Ok(MerklePath { index, siblings })
    }

    fn check_index(&self, index: u64) -> Result<usize, TreeError> {
        if index >= self.len() {
            return Err(TreeError::IndexOutOfRange {
                index,
                len: self.len(),
            });
        }
        Ok(index as usize)
    }

    fn node(&self, height: usize, index: u64) -> Fr {
        self.levels[height]
            .get(index as usize)
            .copied()
            .unwrap_or(self.zeros[height])
    }

    /// Recomputes the ancestors of leaf `index`, growing a level's prefix when
    /// the leaf opens a new node there.
    fn rehash_path(&mut self, index: u64) {
        let arity = self.shape.arity as u64;
        let mut node = index;
        for height in 0..self.shape.depth as usize {
            let first = node - node % arity;
            let children: Vec<Fr> = (first..first + arity)
                .map(|i| self.node(height, i))
                .collect();
            let parent = node / arity;
            let hash = hash_node(&children);
            let level = &mut self.levels[height + 1];
            if (parent as usize) < level.len() {
                level[parent as usize] = hash;
            } else {
                level.push(hash);
            }
            node = parent;
        }
    }
}

/// Hashes one level into its parents; a last, partial group is padded with
/// `zero`, the root of an empty subtree of this level's height.
fn hash_level(level: &[Fr], arity: usize, zero: Fr) -> Vec<Fr> {
    let parent = |chunk: &[Fr]| {
        if chunk.len() == arity {
            hash_node(chunk)
        } else {
            let mut children = chunk.to_vec();
            children.resize(arity, zero);
            hash_node(&children)
        }
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        level.par_chunks(arity).map(parent).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        level.chunks(arity).map(parent).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Fr> {
        (1..=n).map(Fr::from).collect()
    }

    /// The tree defined literally: every leaf slot up to capacity, hashed level
    /// by level, without the zero chain shortcut.
    fn full_root(shape: TreeShape, leaves: &[Fr]) -> Fr {
        let mut level = leaves.to_vec();
        level.resize(shape.capacity() as usize, Fr::from(0u64));
        for _ in 0..shape.depth() {
            level = level.chunks(shape.arity()).map(hash_node).collect();
        }
        level[0]
    }

    #[test]
    fn shape_limits() {
        assert!(TreeShape::new(4, 10).is_ok());
        assert!(TreeShape::new(16, 16).is_ok());
        assert_eq!(TreeShape::new(16, 16).unwrap().capacity(), 1u128 << 64);
        assert_eq!(
            TreeShape::new(3, 4),
            Err(TreeError::UnsupportedArity { arity: 3 })
        );
        assert_eq!(
            TreeShape::new(4, 0),
            Err(TreeError::UnsupportedDepth { arity: 4, depth: 0 })
        );
        assert_eq!(
            TreeShape::new(2, 33),
            Err(TreeError::UnsupportedDepth {
                arity: 2,
                depth: 33
            })
        );
        assert_eq!(
            TreeShape::new(16, 17),
            Err(TreeError::UnsupportedDepth {
                arity: 16,
                depth: 17
            })
        );
        assert_eq!(
            TreeShape::new(8, 22),
            Err(TreeError::UnsupportedDepth {
                arity: 8,
                depth: 22
            })
        );
        // A depth from untrusted input, so large that arity bits times
        // depth would overflow, is refused, not a panic.
        assert_eq!(
            TreeShape::new(16, u32::MAX),
            Err(TreeError::UnsupportedDepth {
                arity: 16,
                depth: u32::MAX
            })
        );
    }

    #[test]
    fn positions_are_base_k_digits_least_significant_first() {
        let shape = TreeShape::new(4, 3).unwrap();
        assert_eq!(shape.positions(0b10_01_11), vec![3, 1, 2]);
        let shape = TreeShape::new(16, 16).unwrap();
        assert_eq!(shape.positions(u64::MAX)[15], 15);
    }

    #[test]
    fn roots_match_the_literal_definition() {
        for arity in [2, 4, 8, 16] {
            for depth in 1..=3 {
                let shape = TreeShape::new(arity, depth).unwrap();
                let capacity = shape.capacity() as u64;
                for n in [0, 1, 2, capacity / 2 + 1, capacity] {
                    let leaves = leaves(n);
                    let tree = RegistryTree::from_leaves(shape, leaves.clone()).unwrap();
                    assert_eq!(
                        tree.root(),
                        full_root(shape, &leaves),
                        "arity {arity} depth {depth} n {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn push_and_update_agree_with_a_rebuild() {
        let shape = TreeShape::new(4, 3).unwrap();
        let mut tree = RegistryTree::new(shape);
        let mut all = Vec::new();
        for i in 1..=21u64 {
            assert_eq!(tree.push(Fr::from(i)).unwrap(), i - 1);
            all.push(Fr::from(i));
            assert_eq!(tree.root(), full_root(shape, &all));
        }
        tree.update(5, Fr::from(0u64)).unwrap();
        all[5] = Fr::from(0u64);
        assert_eq!(tree.root(), full_root(shape, &all));
        assert_eq!(
            tree.update(21, Fr::from(1u64)),
            Err(TreeError::IndexOutOfRange { index: 21, len: 21 })
        );
    }

    #[test]
    fn full_tree_refuses_more() {
        let shape = TreeShape::new(2, 2).unwrap();
        assert_eq!(
            RegistryTree::from_leaves(shape, leaves(5)).unwrap_err(),
            TreeError::Full {
                leaves: 5,
                capacity: 4
            }
        );
        let mut tree = RegistryTree::from_leaves(shape, leaves(4)).unwrap();
        assert_eq!(
            tree.push(Fr::from(9u64)),
            Err(TreeError::Full {
                leaves: 5,
                capacity: 4
            })
        );
    }

    #[test]
    fn paths_open_to_the_root_and_only_for_their_leaf() {
        for arity in [2, 4, 8, 16] {
            let shape = TreeShape::new(arity, 3).unwrap();
            let leaves = leaves(2 * arity as u64 + 3);
            let tree = RegistryTree::from_leaves(shape, leaves.clone()).unwrap();
            for (i, leaf) in leaves.iter().enumerate() {
                let path = tree.path(i as u64).unwrap();
                assert_eq!(path.siblings.len(), 3);
                assert!(path.siblings.iter().all(|s| s.len() == arity - 1));
                assert_eq!(path.root(&shape, *leaf), tree.root());
                assert_ne!(path.root(&shape, *leaf + Fr::from(1u64)), tree.root());
            }
        }
    }

    #[test]
    fn zero_chain_starts_at_zero_and_hashes_up() {
        let shape = TreeShape::new(2, 2).unwrap();
        let z = shape.zero_chain();
        assert_eq!(z[0], Fr::from(0u64));
        assert_eq!(z[1], poseidon::hash(&[z[0], z[0]]).unwrap());
        assert_eq!(z[2], poseidon::hash(&[z[1], z[1]]).unwrap());
        assert_eq!(RegistryTree::new(shape).root(), z[2]);
    }
}
