//! The membership-path gadget, twin of [`MerklePath::root`](super::MerklePath::root).
//!
//! Per level the prover supplies all `k` children and the `log2 k` bits of the
//! child position `p`. One multilinear selection constraint ties the running
//! node to child `p`:
//!
//! `node = Σ_S (Π_{j∈S} b_j) · Σ_{T⊆S} (-1)^{|S|-|T|} child_T`
//!
//! over the subsets `S` of the position bits (Möbius inversion of the
//! selector), which costs `2^(m+1) - 2` constraints for `m = log2 k` bits:
//! 6 per level for the default arity 4, 2 for a binary tree.

use ark_r1cs_std::{
    alloc::AllocVar,
    boolean::Boolean,
    fields::{fp::FpVar, FieldVar},
    R1CSVar,
};
use ark_relations::r1cs::{ConstraintSystemRef, SynthesisError};

use super::{MerklePath, TreeShape};
use crate::poseidon::constraints::hash_gadget;
use crate::Fr;

/// Constraints that the selection of the path's node among its siblings costs
/// per level (the Poseidon hash of the level is counted separately).
pub fn selection_constraints_per_level(shape: &TreeShape) -> usize {
    (1usize << (shape.bits_per_level() + 1)) - 2
}

/// Computes the root of `leaf` along a witnessed path. `path` is `None` when
/// synthesizing for setup, where no values exist.
pub fn root_gadget(
    cs: ConstraintSystemRef<Fr>,
    shape: &TreeShape,
    leaf: &FpVar<Fr>,
    path: Option<&MerklePath>,
) -> Result<FpVar<Fr>, SynthesisError> {
    if let Some(path) = path {
        if path.siblings.len() != shape.depth() as usize
            || path.siblings.iter().any(|s| s.len() != shape.arity() - 1)
        {
            return Err(SynthesisError::Unsatisfiable);
        }
    }
    let bits = shape.bits_per_level() as usize;
    let positions = path.map(|p| shape.positions(p.index));
    let mut node = leaf.clone();
    for level in 0..shape.depth() as usize {
        let position = positions.as_ref().map(|p| p[level]);
        let position_bits = (0..bits)
            .map(|j| {
                Boolean::new_witness(cs.clone(), || {
                    position
                        .map(|p| (p >> j) & 1 == 1)
                        .ok_or(SynthesisError::AssignmentMissing)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let node_value = node.value().ok();
        let children = (0..shape.arity())
            .map(|i| {
                FpVar::new_witness(cs.clone(), || {
                    let (path, p) = path
                        .zip(position)
                        .ok_or(SynthesisError::AssignmentMissing)?;
                    let siblings = &path.siblings[level];
                    Ok(match i.cmp(&p) {
                        std::cmp::Ordering::Less => siblings[i],
                        std::cmp::Ordering::Equal => {
                            node_value.ok_or(SynthesisError::AssignmentMissing)?
                        }
                        std::cmp::Ordering::Greater => siblings[i - 1],
                    })
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        enforce_selected(&node, &position_bits, &children)?;
        node = hash_gadget(&children)?;
    }
    Ok(node)
}

/// Enforces `node == children[p]` where `bits` are the bits of `p`, least
/// significant first.
fn enforce_selected(
    node: &FpVar<Fr>,
    bits: &[Boolean<Fr>],
    children: &[FpVar<Fr>],
) -> Result<(), SynthesisError> {
    let subsets = children.len();
    // monomials[s] = Π_{j ∈ s} b_j; singletons are the bits themselves.
    let mut monomials: Vec<FpVar<Fr>> = Vec::with_capacity(subsets);
    monomials.push(FpVar::Constant(Fr::from(1u64)));
    for s in 1..subsets {
        let high = usize::BITS - 1 - s.leading_zeros();
        let rest = s & !(1 << high);
        let bit = FpVar::from(bits[high as usize].clone());
        monomials.push(if rest == 0 {
            bit
        } else {
            &monomials[rest] * &bit
        });
    }
    // coefficient[s] = Σ_{t ⊆ s} (-1)^{|s|-|t|} children[t]
    let coefficient = |s: usize| {
        let mut sum = FpVar::Constant(Fr::from(0u64));
        let mut t = s;
        loop {
            if (s.count_ones() - t.count_ones()).is_multiple_of(2) {
                sum += &children[t];
            } else {
                sum -= &children[t];
            }
            if t == 0 {
                break;
            }
            t = (t - 1) & s;
        }
        sum
    };
    let mut selected = children[0].clone();
    for (s, monomial) in monomials.iter().enumerate().take(subsets - 1).skip(1) {
        selected += monomial * coefficient(s);
    }
    let last = subsets - 1;
    monomials[last].mul_equals(&coefficient(last), &(node - &selected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::RegistryTree;
    use ark_relations::r1cs::ConstraintSystem;

    fn tree(arity: usize, depth: u32, n: u64) -> RegistryTree {
        let shape = TreeShape::new(arity, depth).unwrap();
        RegistryTree::from_leaves(shape, (1..=n).map(|i| Fr::from(i * 7)).collect()).unwrap()
    }

    fn synthesize(
        tree: &RegistryTree,
        leaf: Fr,
        path: &MerklePath,
    ) -> (ConstraintSystemRef<Fr>, FpVar<Fr>) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let leaf = FpVar::new_witness(cs.clone(), || Ok(leaf)).unwrap();
        let root = root_gadget(cs.clone(), &tree.shape(), &leaf, Some(path)).unwrap();
        (cs, root)
    }

    #[test]
    fn gadget_root_matches_native_for_every_position() {
        for arity in [2, 4, 8, 16] {
            let tree = tree(arity, 2, arity as u64 + 2);
            for index in 0..tree.len() {
                let path = tree.path(index).unwrap();
                let (cs, root) = synthesize(&tree, tree.leaves()[index as usize], &path);
                assert_eq!(root.value().unwrap(), tree.root());
                assert!(cs.is_satisfied().unwrap());
            }
        }
    }

    #[test]
    fn a_wrong_position_bit_or_sibling_breaks_the_root() {
        let tree = tree(4, 2, 9);
        let path = tree.path(6).unwrap();
        let leaf = tree.leaves()[6];
        let mut moved = path.clone();
        moved.index = 5;
        assert_ne!(
            synthesize(&tree, leaf, &moved).1.value().unwrap(),
            tree.root()
        );
        let mut sibling = path.clone();
        sibling.siblings[1][0] += Fr::from(1u64);
        assert_ne!(
            synthesize(&tree, leaf, &sibling).1.value().unwrap(),
            tree.root()
        );
    }

    #[test]
    fn selection_holds_only_at_the_claimed_position() {
        for arity in [2usize, 4, 8, 16] {
            let bits = arity.trailing_zeros() as usize;
            for claimed in 0..arity {
                for actual in 0..arity {
                    let cs = ConstraintSystem::<Fr>::new_ref();
                    let node = FpVar::new_witness(cs.clone(), || Ok(Fr::from(7u64))).unwrap();
                    let position: Vec<Boolean<Fr>> = (0..bits)
                        .map(|j| {
                            Boolean::new_witness(cs.clone(), || Ok((claimed >> j) & 1 == 1))
                                .unwrap()
                        })
                        .collect();
                    let children: Vec<FpVar<Fr>> = (0..arity)
                        .map(|i| {
                            let v = if i == actual { 7 } else { 100 + i as u64 };
                            FpVar::new_witness(cs.clone(), || Ok(Fr::from(v))).unwrap()
                        })
                        .collect();
                    enforce_selected(&node, &position, &children).unwrap();
                    assert_eq!(
                        cs.is_satisfied().unwrap(),
                        claimed == actual,
                        "arity {arity} {claimed} {actual}"
                    );
                }
            }
        }
    }

    #[test]
    fn selection_cost_per_level() {
        for (arity, per_level) in [(2, 2), (4, 6), (8, 14), (16, 30)] {
            let shape = TreeShape::new(arity, 1).unwrap();
            assert_eq!(selection_constraints_per_level(&shape), per_level);
        }
    }
}
