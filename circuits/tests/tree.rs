//! The registry tree: native and gadget roots agree, and the path gadget's
//! cost per level is exact.

use ark_r1cs_std::{alloc::AllocVar, fields::fp::FpVar, R1CSVar};
use ark_relations::r1cs::{ConstraintSystem, SynthesisMode};
use proptest::prelude::*;
use zkgov_circuits::poseidon;
use zkgov_circuits::tree::constraints::{root_gadget, selection_constraints_per_level};
use zkgov_circuits::tree::{RegistryTree, TreeShape};
use zkgov_circuits::Fr;

/// Constraints of one width-`w` Poseidon: 3 per S-box, 8 full rounds of `w`
/// S-boxes and the partial rounds of one S-box each.
fn poseidon_constraints(width: usize) -> usize {
    const PARTIAL: [usize; 16] = [
        56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68,
    ];
    3 * (8 * width + PARTIAL[width - 2])
}

fn shape_strategy() -> impl Strategy<Value = TreeShape> {
    (prop::sample::select(vec![2usize, 4, 8, 16]), 1u32..=4)
        .prop_map(|(arity, depth)| TreeShape::new(arity, depth).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For every arity, the gadget computes the native root from any leaf's path.
    #[test]
    fn native_and_gadget_roots_agree(shape in shape_strategy(), seed in any::<u64>(), count in 1u64..40, pick in any::<u64>()) {
        let count = count.min(shape.capacity() as u64);
        let leaves: Vec<Fr> = (0..count).map(|i| Fr::from(seed ^ i.wrapping_mul(0x9e37_79b9))).collect();
        let tree = RegistryTree::from_leaves(shape, leaves).unwrap();
        let index = pick % count;
        let path = tree.path(index).unwrap();
        prop_assert_eq!(path.root(&shape, tree.leaves()[index as usize]), tree.root());

        let cs = ConstraintSystem::<Fr>::new_ref();
        let leaf = FpVar::new_witness(cs.clone(), || Ok(tree.leaves()[index as usize])).unwrap();
        let root = root_gadget(cs.clone(), &shape, &leaf, Some(&path)).unwrap();
        prop_assert_eq!(root.value().unwrap(), tree.root());
        prop_assert!(cs.is_satisfied().unwrap());
    }
}

#[test]
fn path_gadget_cost_per_level() {
    for (arity, per_level) in [
        (2, 243 + 2),
        (4, 300 + 6),
        (8, 405 + 14),
        (16, 3 * (8 * 17 + 68) + 30),
    ] {
        let shape = TreeShape::new(arity, 3).unwrap();
        assert_eq!(
            poseidon_constraints(arity + 1) + selection_constraints_per_level(&shape),
            per_level
        );
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Setup);
        let leaf = FpVar::new_witness(cs.clone(), || Ok(Fr::from(0u64))).unwrap();
        let _root = root_gadget(cs.clone(), &shape, &leaf, None).unwrap();
        assert_eq!(cs.num_constraints(), 3 * per_level, "arity {arity}");
    }
}

#[test]
fn a_path_of_the_wrong_shape_is_refused() {
    let shape = TreeShape::new(4, 3).unwrap();
    let tree = RegistryTree::from_leaves(shape, vec![Fr::from(1u64)]).unwrap();
    let mut path = tree.path(0).unwrap();
    path.siblings.pop();
    let cs = ConstraintSystem::<Fr>::new_ref();
    let leaf = FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64))).unwrap();
    assert!(root_gadget(cs, &shape, &leaf, Some(&path)).is_err());
}

#[test]
fn an_empty_tree_is_the_top_of_the_zero_chain() {
    let shape = TreeShape::new(4, 2).unwrap();
    let z1 = poseidon::hash(&[Fr::from(0u64); 4]).unwrap();
    let z2 = poseidon::hash(&[z1; 4]).unwrap();
    assert_eq!(RegistryTree::new(shape).root(), z2);
    // One leaf: its parent hashes it with three empty leaves, and the root
    // hashes that parent with three empty subtrees of height 1.
    let tree = RegistryTree::from_leaves(shape, vec![Fr::from(5u64)]).unwrap();
    let parent = poseidon::hash(&[
        Fr::from(5u64),
        Fr::from(0u64),
        Fr::from(0u64),
        Fr::from(0u64),
    ])
    .unwrap();
    assert_eq!(tree.root(), poseidon::hash(&[parent, z1, z1, z1]).unwrap());
}
