//! Inclusion and consistency proofs (RFC 9162): for a log of up to 80
//! leaves, the proofs it makes verify, and every other proof, made by
//! flipping, dropping or adding hashes, is refused; arbitrary sizes,
//! indices and proofs are refused without panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkgov_log::tree::{
    consistency_proof, inclusion_proof, leaf_hash, verify_consistency, verify_inclusion, Hash,
    MemoryTree,
};

/// Reads the input front to back; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        first
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    fn hash(&mut self) -> Hash {
        std::array::from_fn(|_| self.byte())
    }
}

/// `proof` changed as the input says: some bytes flipped, a hash dropped
/// or one added.
fn mutate(proof: &[Hash], input: &mut Input) -> Vec<Hash> {
    let mut proof = proof.to_vec();
    match input.byte() % 4 {
        0 if !proof.is_empty() => {
            let at = usize::from(input.byte()) % proof.len();
            proof.remove(at);
        }
        1 => {
            let at = usize::from(input.byte()) % (proof.len() + 1);
            proof.insert(at, input.hash());
        }
        _ => {}
    }
    for _ in 0..input.byte() % 4 {
        if proof.is_empty() {
            break;
        }
        let at = usize::from(input.byte()) % (proof.len() * 32);
        proof[at / 32][at % 32] ^= input.byte() | 1;
    }
    proof
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let size = 1 + u64::from(input.byte()) % 80;
    let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let mut tree = MemoryTree::new();
    tree.append(&leaves);
    let root = tree.root_at(size);

    let index = u64::from(input.byte()) % size;
    let proof = inclusion_proof(index, size, &tree).unwrap();
    assert_eq!(
        verify_inclusion(&leaves[index as usize], index, size, &proof, &root),
        Ok(())
    );
    let forged = mutate(&proof, &mut input);
    let other = u64::from(input.byte()) % size;
    if forged != proof || other != index {
        assert!(verify_inclusion(&leaves[index as usize], other, size, &forged, &root).is_err());
    }

    let old = u64::from(input.byte()) % (size + 1);
    let old_root = tree.root_at(old);
    let proof = consistency_proof(old, size, &tree).unwrap();
    assert_eq!(
        verify_consistency(old, size, &old_root, &root, &proof),
        Ok(())
    );
    let forged = mutate(&proof, &mut input);
    if forged != proof {
        assert!(verify_consistency(old, size, &old_root, &root, &forged).is_err());
    }

    // Whatever is left, taken as sizes, an index and a proof.
    let (index, size, old) = (input.u64(), input.u64(), input.u64());
    let (leaf, root) = (input.hash(), input.hash());
    let proof: Vec<Hash> = (0..input.byte() % 70).map(|_| input.hash()).collect();
    let _ = verify_inclusion(&leaf, index, size, &proof, &root);
    let _ = verify_consistency(old, size, &leaf, &root, &proof);
});
