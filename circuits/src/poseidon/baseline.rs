//! Earlier forms of the native permutation, kept as oracles and as the
//! baselines that `benches/src/bin/poseidon.rs` times the fast form against.
//! Compiled for tests and with the `test-utils` feature only.

use super::{add_assign, mix_dense, params, permute_scheduled, pow5, FULL_ROUNDS};
use crate::Fr;

/// The permutation exactly as circomlib's unoptimised template writes it:
/// every round adds its constants, applies its S-boxes and the dense MDS.
///
/// # Panics
///
/// If `state.len()` is not a supported width.
pub fn permute_textbook(state: &mut [Fr]) {
    let p = params(state.len()).expect("supported width");
    let half = FULL_ROUNDS / 2;
    for round in 0..p.rounds() {
        add_assign(state, p.round_constants(round));
        if round < half || round >= half + p.partial_rounds() {
            state.iter_mut().for_each(|x| *x = pow5(*x));
        } else {
            state[0] = pow5(state[0]);
        }
        mix_dense(p.mds(), state);
    }
}

/// The sparse (appendix-B) form over slices of any width, as the native
/// evaluation ran before it was compiled per width.
///
/// # Panics
///
/// If `state.len()` is not a supported width.
pub fn permute_sparse(state: &mut [Fr]) {
    let p = params(state.len()).expect("supported width");
    permute_scheduled(p, p.schedule(), state);
}

/// Field multiplications (squarings included) of one permutation of width
/// `width` in the sparse form, the count both [`permute_sparse`] and the
/// fast form perform (the fast form reduces lazily, but multiplies as often).
///
/// # Panics
///
/// If `width` is not a supported width.
pub fn sparse_multiplications(width: usize) -> usize {
    let p = params(width).expect("supported width");
    let sboxes = 3 * p.sbox_count();
    let dense = FULL_ROUNDS * width * width;
    let sparse = p.partial_rounds() * (2 * width - 1);
    sboxes + dense + sparse
}

/// Field multiplications of one permutation in the textbook form.
///
/// # Panics
///
/// If `width` is not a supported width.
pub fn textbook_multiplications(width: usize) -> usize {
    let p = params(width).expect("supported width");
    3 * p.sbox_count() + p.rounds() * width * width
}
