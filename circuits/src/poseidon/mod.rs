//! Poseidon over the BN254 scalar field, bit-compatible with circomlib.
//!
//! [`hash`] of `n` inputs equals circomlib's `Poseidon(n)` template and
//! circomlibjs' `poseidon([...])` for `n = 1..=16`: state width `t = n + 1`,
//! state `[0, inputs...]`, `x^5` S-box, 8 full rounds, circomlib's partial
//! round counts, and the reference Grain-LFSR constants (regenerated at
//! first use, see the `constants` module).
//! The output is lane 0 of the permuted state.
//!
//! [`constraints::hash_gadget`] is the R1CS twin: three constraints per S-box
//! and none for the linear layers.
//!
//! ```
//! use zkgov_circuits::{poseidon, Fr};
//!
//! let digest = poseidon::hash(&[Fr::from(1u64), Fr::from(2u64)]).unwrap();
//! assert_ne!(digest, poseidon::hash(&[Fr::from(2u64), Fr::from(1u64)]).unwrap());
//! assert!(poseidon::hash(&[]).is_err());
//! ```
//!
//! # Evaluation order
//!
//! The permutation is evaluated in the equivalent form of the Poseidon paper,
//! appendix B: the round constants of the partial rounds are moved onto lane 0
//! (the only lane with an S-box there) and each partial round's MDS
//! multiplication becomes a sparse one (first row and first column plus the
//! identity), with the remaining dense factors folded into the last full
//! round before them. This removes about 40% of the field multiplications at
//! width 5 and 60% at width 9. The textbook form is kept in the tests as the
//! oracle for this rewrite.
//!
//! The native loop is then compiled once per width (the `fixed` module): the
//! state is a fixed-size array on the stack, the constants sit in the order
//! the rounds read them, and each matrix row is one lazily reduced sum of
//! products. A hash allocates nothing. With the `test-utils` feature, the
//! `baseline` module exposes the earlier forms, for benchmarks and oracles.

#[cfg(any(test, feature = "test-utils"))]
pub mod baseline;
mod constants;
pub mod constraints;
mod fixed;

use std::sync::OnceLock;

use ark_ff::{Field, Zero};

use crate::Fr;

pub use constants::{FULL_ROUNDS, MAX_WIDTH, MIN_WIDTH};

/// Largest number of inputs a single Poseidon call accepts (width 17).
pub const MAX_INPUTS: usize = MAX_WIDTH - 1;

/// Why a Poseidon call was rejected.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoseidonError {
    /// The number of inputs is outside `1..=MAX_INPUTS`.
    #[error("Poseidon takes 1 to {MAX_INPUTS} inputs, got {inputs}")]
    Arity {
        /// How many inputs were supplied.
        inputs: usize,
    },
    /// The state width is outside `MIN_WIDTH..=MAX_WIDTH`.
    #[error("Poseidon state width must be {MIN_WIDTH} to {MAX_WIDTH}, got {width}")]
    Width {
        /// The requested state width.
        width: usize,
    },
}

/// The parameters of the Poseidon permutation of one state width.
///
/// The reference accessors ([`round_constants`](Self::round_constants),
/// [`mds_row`](Self::mds_row)) describe the permutation exactly as circomlib
/// writes it; the evaluation itself uses a precomputed equivalent schedule.
#[derive(Debug)]
pub struct PoseidonParams {
    width: usize,
    partial_rounds: usize,
    /// `(R_F + R_P) * width` constants, round by round.
    round_constants: Vec<Fr>,
    /// `width * width`, row-major; the layer computes `s'[i] = Σ_j M[i][j] s[j]`.
    mds: Vec<Fr>,
    schedule: Schedule,
    layout: fixed::Layout,
}

/// The appendix-B form of the permutation (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    /// Replaces the MDS of the last full round before the partial rounds; it
    /// absorbs the dense factors split off the partial rounds' matrices.
    pub(crate) pre_partial_mds: Vec<Fr>,
    /// One constant per partial round, added to lane 0 only.
    pub(crate) partial_constants: Vec<Fr>,
    /// Per partial round, `2 * width - 1` entries: the full first row, then
    /// the first column below the diagonal. The rest is the identity.
    pub(crate) sparse: Vec<Fr>,
    /// Replaces the constants of the first full round after the partial
    /// rounds; it absorbs the lane 1.. constants pushed out of them.
    pub(crate) post_partial_constants: Vec<Fr>,
}

impl PoseidonParams {
    /// State width `t` (inputs plus one capacity lane).
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of full rounds `R_F` (half before, half after the partial ones).
    pub fn full_rounds(&self) -> usize {
        FULL_ROUNDS
    }

    /// Number of partial rounds `R_P`.
    pub fn partial_rounds(&self) -> usize {
        self.partial_rounds
    }

    /// Total number of rounds `R_F + R_P`.
    pub fn rounds(&self) -> usize {
        FULL_ROUNDS + self.partial_rounds
    }

    /// Number of S-boxes per permutation, `R_F * t + R_P`.
    pub fn sbox_count(&self) -> usize {
        FULL_ROUNDS * self.width + self.partial_rounds
    }

    /// The reference constants added at the start of `round` (panics if
    /// `round >= self.rounds()`).
    pub fn round_constants(&self, round: usize) -> &[Fr] {
        &self.round_constants[round * self.width..(round + 1) * self.width]
    }

    /// Row `i` of the reference MDS matrix (panics if `i >= self.width()`).
    pub fn mds_row(&self, i: usize) -> &[Fr] {
        &self.mds[i * self.width..(i + 1) * self.width]
    }

    pub(crate) fn mds(&self) -> &[Fr] {
        &self.mds
    }

    pub(crate) fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    fn generate(width: usize) -> Self {
        let (round_constants, mds) = constants::generate(width);
        let partial_rounds = constants::partial_rounds(width);
        let schedule = Schedule::derive(width, partial_rounds, &round_constants, &mds);
        let layout = fixed::Layout::new(width, partial_rounds, &round_constants, &mds, &schedule);
        Self {
            width,
            partial_rounds,
            round_constants,
            mds,
            schedule,
            layout,
        }
    }
}

/// The parameters for state width `width` (`inputs + 1`), generated on first
/// use and cached for the life of the process.
pub fn params(width: usize) -> Result<&'static PoseidonParams, PoseidonError> {
    #[allow(clippy::declare_interior_mutable_const)]
    const UNSET: OnceLock<PoseidonParams> = OnceLock::new();
    static PARAMS: [OnceLock<PoseidonParams>; MAX_WIDTH - MIN_WIDTH + 1] =
        [UNSET; MAX_WIDTH - MIN_WIDTH + 1];

    if !(MIN_WIDTH..=MAX_WIDTH).contains(&width) {
        return Err(PoseidonError::Width { width });
    }
    Ok(PARAMS[width - MIN_WIDTH].get_or_init(|| PoseidonParams::generate(width)))
}

/// circomlib's `Poseidon(inputs.len())`: accepts 1 to [`MAX_INPUTS`] inputs.
pub fn hash(inputs: &[Fr]) -> Result<Fr, PoseidonError> {
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return Err(PoseidonError::Arity {
            inputs: inputs.len(),
        });
    }
    let width = inputs.len() + 1;
    let layout = &params(width)?.layout;
    Ok(fixed::with_width!(width, W => fixed::hash::<W>(layout, inputs)))
}

/// Applies the Poseidon permutation of width `state.len()` in place.
pub fn permute(state: &mut [Fr]) -> Result<(), PoseidonError> {
    let layout = &params(state.len())?.layout;
    fixed::with_width!(state.len(), W => {
        let state: &mut [Fr; W] = state.try_into().expect("the width is the length");
        fixed::permute::<W>(layout, state)
    });
    Ok(())
}

/// The appendix-B form over slices of any width: the native evaluation
/// before the per-width loop, and the gadget's model.
#[cfg_attr(not(any(test, feature = "test-utils")), allow(dead_code))]
pub(crate) fn permute_scheduled(params: &PoseidonParams, schedule: &Schedule, state: &mut [Fr]) {
    let half = FULL_ROUNDS / 2;

    for round in 0..half {
        add_assign(state, params.round_constants(round));
        state.iter_mut().for_each(|x| *x = pow5(*x));
        let mds = if round == half - 1 {
            &schedule.pre_partial_mds
        } else {
            params.mds()
        };
        mix_dense(mds, state);
    }

    let stride = 2 * params.width - 1;
    for (k, sparse) in schedule
        .partial_constants
        .iter()
        .zip(schedule.sparse.chunks_exact(stride))
    {
        state[0] = pow5(state[0] + k);
        mix_sparse(sparse, state);
    }

    for round in 0..half {
        let constants = if round == 0 {
            &schedule.post_partial_constants
        } else {
            params.round_constants(half + params.partial_rounds + round)
        };
        add_assign(state, constants);
        state.iter_mut().for_each(|x| *x = pow5(*x));
        mix_dense(params.mds(), state);
    }
}

/// The S-box `x^5`: two squarings and one multiplication.
#[inline(always)]
pub(crate) fn pow5(x: Fr) -> Fr {
    let x4 = x.square().square();
    x4 * x
}

#[inline(always)]
pub(crate) fn add_assign(state: &mut [Fr], constants: &[Fr]) {
    for (s, c) in state.iter_mut().zip(constants) {
        *s += c;
    }
}

/// `state <- M * state` for a row-major `width * width` matrix.
#[inline]
pub(crate) fn mix_dense(matrix: &[Fr], state: &mut [Fr]) {
    let width = state.len();
    let mut out = [Fr::zero(); MAX_WIDTH];
    for (o, row) in out.iter_mut().zip(matrix.chunks_exact(width)) {
        *o = row.iter().zip(state.iter()).map(|(m, s)| *m * s).sum();
    }
    state.copy_from_slice(&out[..width]);
}

/// `state <- S * state` for a sparse matrix stored as first row, then first
/// column below the diagonal (see [`Schedule::sparse`]).
#[inline]
pub(crate) fn mix_sparse(sparse: &[Fr], state: &mut [Fr]) {
    let width = state.len();
    let (row, column) = sparse.split_at(width);
    let s0 = state[0];
    let new0: Fr = row.iter().zip(state.iter()).map(|(m, s)| *m * s).sum();
    for (s, c) in state[1..].iter_mut().zip(column) {
        *s += *c * s0;
    }
    state[0] = new0;
}

impl Schedule {
    /// Rewrites the reference partial rounds `x <- M * S0(x + c_i)` into the
    /// sparse form. Both steps are exact identities over the field, so the
    /// permutation is unchanged; the tests compare against the textbook loop.
    fn derive(width: usize, partial_rounds: usize, round_constants: &[Fr], mds: &[Fr]) -> Self {
        let half = FULL_ROUNDS / 2;
        let constants = |round: usize| &round_constants[round * width..(round + 1) * width];

        // Constants: only lane 0 meets the S-box in a partial round, so the
        // other lanes' constants commute with it and can be pushed through the
        // MDS into the next round: M(S0(x + c)) = M(S0(x + c_0 e_0)) + M(0, c_1..).
        let mut carry = vec![Fr::zero(); width];
        let mut partial_constants = Vec::with_capacity(partial_rounds);
        for i in 0..partial_rounds {
            let mut acc = carry.clone();
            add_assign(&mut acc, constants(half + i));
            partial_constants.push(acc[0]);
            acc[0] = Fr::zero();
            mix_dense(mds, &mut acc);
            carry = acc;
        }
        let mut post_partial_constants = carry;
        add_assign(
            &mut post_partial_constants,
            constants(half + partial_rounds),
        );

        // Matrices, from the last partial round backwards: write the round's
        // matrix as N * A with A = diag(1, Â). A leaves lane 0 alone, so it
        // commutes with the S-box and the lane-0 constant and can be moved
        // into the previous round, whose matrix becomes A * M.
        let mut current = mds.to_vec();
        let mut sparse_rev = Vec::with_capacity(partial_rounds);
        for _ in 0..partial_rounds {
            let (sparse, a_hat) = factor_sparse(width, &current);
            sparse_rev.push(sparse);
            current = block_times(width, &a_hat, mds);
        }
        let sparse = sparse_rev.into_iter().rev().flatten().collect();

        Self {
            pre_partial_mds: current,
            partial_constants,
            sparse,
            post_partial_constants,
        }
    }
}

/// Splits `m = [[m00, w^T], [v, Â]]` into `N * diag(1, Â)` with the sparse
/// `N = [[m00, w^T Â^-1], [v, I]]`. Returns N (first row, then `v`) and Â.
fn factor_sparse(width: usize, m: &[Fr]) -> (Vec<Fr>, Vec<Fr>) {
    let n = width - 1;
    let a_hat: Vec<Fr> = (1..width)
        .flat_map(|i| m[i * width + 1..(i + 1) * width].iter().copied())
        .collect();
    let w = &m[1..width];
    // Solve u^T Â = w^T, i.e. Â^T u = w.
    let a_hat_t: Vec<Fr> = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| a_hat[j * n + i])
        .collect();
    let u = solve(n, a_hat_t, w.to_vec());

    let mut sparse = Vec::with_capacity(2 * width - 1);
    sparse.push(m[0]);
    sparse.extend(u);
    sparse.extend((1..width).map(|i| m[i * width]));
    (sparse, a_hat)
}

/// `diag(1, Â) * m` for a `(width-1)^2` block `Â` and a `width^2` matrix `m`.
fn block_times(width: usize, a_hat: &[Fr], m: &[Fr]) -> Vec<Fr> {
    let n = width - 1;
    let mut out = m.to_vec();
    for i in 0..n {
        for j in 0..width {
            out[(i + 1) * width + j] = (0..n)
                .map(|k| a_hat[i * n + k] * m[(k + 1) * width + j])
                .sum();
        }
    }
    out
}

/// Solves `a x = b` for an invertible row-major `n * n` matrix by Gaussian
/// elimination. The blocks inverted here are products of Cauchy submatrices,
/// which are always invertible, so a missing pivot is a bug.
fn solve(n: usize, mut a: Vec<Fr>, mut b: Vec<Fr>) -> Vec<Fr> {
    for col in 0..n {
        let pivot = (col..n)
            .find(|&r| !a[r * n + col].is_zero())
            .expect("Cauchy-derived blocks are invertible");
        if pivot != col {
            for j in 0..n {
                a.swap(pivot * n + j, col * n + j);
            }
            b.swap(pivot, col);
        }
        let inv = a[col * n + col].inverse().expect("pivot is non-zero");
        for j in 0..n {
            a[col * n + j] *= inv;
        }
        b[col] *= inv;
        for r in 0..n {
            if r != col {
                let f = a[r * n + col];
                if !f.is_zero() {
                    for j in 0..n {
                        let sub = f * a[col * n + j];
                        a[r * n + j] -= sub;
                    }
                    let sub = f * b[col];
                    b[r] -= sub;
                }
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use baseline::permute_textbook as permute_reference;

    fn arb_state() -> impl Strategy<Value = Vec<Fr>> {
        (MIN_WIDTH..=MAX_WIDTH).prop_flat_map(|w| {
            proptest::collection::vec(any::<[u64; 4]>(), w)
                .prop_map(|limbs| limbs.into_iter().map(field_from_limbs).collect())
        })
    }

    fn field_from_limbs(limbs: [u64; 4]) -> Fr {
        let bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
        ark_ff::PrimeField::from_le_bytes_mod_order(&bytes)
    }

    proptest! {
        #[test]
        fn sparse_schedule_equals_reference(state in arb_state()) {
            let state_copy = state.clone();
            let mut fast = state.clone();
            let mut slow = state;
            permute(&mut fast).unwrap();
            permute_reference(&mut slow);
            prop_assert_eq!(&fast, &slow);
            let mut sparse = state_copy;
            baseline::permute_sparse(&mut sparse);
            prop_assert_eq!(fast, sparse);
        }
    }

    #[test]
    fn schedule_equals_reference_on_edge_states() {
        for width in MIN_WIDTH..=MAX_WIDTH {
            for fill in [Fr::zero(), Fr::from(1u64), -Fr::from(1u64)] {
                let mut fast = vec![fill; width];
                let mut slow = fast.clone();
                permute(&mut fast).unwrap();
                permute_reference(&mut slow);
                assert_eq!(fast, slow, "width {width}, fill {fill}");
            }
        }
    }

    #[test]
    fn a_perturbed_schedule_is_detected() {
        // The oracle must be able to fail: nudge one sparse entry and one
        // folded constant, and the rewrite must no longer match.
        let width = 5;
        let p = params(width).unwrap();
        let mut reference = vec![Fr::from(7u64); width];
        permute_reference(&mut reference);

        let mut bad_matrix = p.schedule().clone();
        bad_matrix.sparse[3] += Fr::from(1u64);
        let mut bad_constant = p.schedule().clone();
        bad_constant.post_partial_constants[2] += Fr::from(1u64);
        for schedule in [p.schedule().clone(), bad_matrix, bad_constant] {
            let mut state = vec![Fr::from(7u64); width];
            permute_scheduled(p, &schedule, &mut state);
            let intact = schedule.sparse == p.schedule().sparse
                && schedule.post_partial_constants == p.schedule().post_partial_constants;
            assert_eq!(state == reference, intact);
        }
    }

    #[test]
    fn solve_inverts() {
        let a: Vec<Fr> = [2u64, 1, 1, 3].map(Fr::from).to_vec();
        let x = solve(2, a.clone(), vec![Fr::from(5u64), Fr::from(10u64)]);
        assert_eq!(a[0] * x[0] + a[1] * x[1], Fr::from(5u64));
        assert_eq!(a[2] * x[0] + a[3] * x[1], Fr::from(10u64));
    }

    #[test]
    fn unsupported_widths_are_rejected() {
        assert_eq!(params(1).unwrap_err(), PoseidonError::Width { width: 1 });
        assert_eq!(params(18).unwrap_err(), PoseidonError::Width { width: 18 });
        let mut state = vec![Fr::zero(); 18];
        assert_eq!(permute(&mut state), Err(PoseidonError::Width { width: 18 }));
        assert!(params(2).is_ok() && params(17).is_ok());
    }
}
