//! The permutation compiled for one state width.
//!
//! [`super::Schedule`] is the appendix-B form as matrices of any width. Here
//! the same numbers are laid out in the order the round loop reads them, and
//! the loop is instantiated once per width with the width as a constant, so
//! the state is a `[Fr; W]` on the stack, every inner loop has a fixed trip
//! count the compiler unrolls, and no bound is checked inside a round.
//!
//! Each row of a matrix product uses [`Field::sum_of_products`]: BN254's
//! modulus leaves two spare bits in four limbs, so arkworks accumulates up to
//! three products before one Montgomery reduction instead of reducing after
//! every product.

use ark_ff::{Field, Zero};

use super::{pow5, Schedule, FULL_ROUNDS};
use crate::Fr;

/// The constants and matrices of one width, in loop order. Built once per
/// width, with the rest of [`super::PoseidonParams`].
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// `FULL_ROUNDS / 2` rows of `W`: the constants of the first full rounds.
    first_constants: Vec<Fr>,
    /// `W` rows of `W`: the MDS matrix, row-major.
    mds: Vec<Fr>,
    /// `W` rows of `W`: the matrix of the last full round before the partial
    /// rounds, which absorbs their dense factors.
    pre_partial_mds: Vec<Fr>,
    /// One row of `W` per partial round: the sparse matrix's first row.
    partial_rows: Vec<Fr>,
    /// One row of `W` per partial round: lane 0's round constant, then the
    /// sparse matrix's first column below the diagonal.
    partial_columns: Vec<Fr>,
    /// `FULL_ROUNDS / 2` rows of `W`: the constants of the last full rounds,
    /// the first of them absorbing the partial rounds' pushed-out constants.
    last_constants: Vec<Fr>,
}

impl Layout {
    /// Lays out `schedule` and the reference constants of `round_constants`
    /// (`(R_F + R_P) * width`, round by round) for the loop.
    pub(crate) fn new(
        width: usize,
        partial_rounds: usize,
        round_constants: &[Fr],
        mds: &[Fr],
        schedule: &Schedule,
    ) -> Self {
        let half = FULL_ROUNDS / 2;
        let round = |r: usize| &round_constants[r * width..(r + 1) * width];
        let first_constants = (0..half).flat_map(|r| round(r).iter().copied()).collect();
        let mut last_constants = schedule.post_partial_constants.clone();
        for r in 1..half {
            last_constants.extend_from_slice(round(half + partial_rounds + r));
        }
        let stride = 2 * width - 1;
        let mut partial_rows = Vec::with_capacity(partial_rounds * width);
        let mut partial_columns = Vec::with_capacity(partial_rounds * width);
        for (k, sparse) in schedule
            .partial_constants
            .iter()
            .zip(schedule.sparse.chunks_exact(stride))
        {
            let (row, column) = sparse.split_at(width);
            partial_rows.extend_from_slice(row);
            partial_columns.push(*k);
            partial_columns.extend_from_slice(column);
        }
        Self {
            first_constants,
            mds: mds.to_vec(),
            pre_partial_mds: schedule.pre_partial_mds.clone(),
            partial_rows,
            partial_columns,
            last_constants,
        }
    }
}

/// `slice` as `W`-element rows; the layout's lengths are multiples of `W`.
#[inline(always)]
fn rows<const W: usize>(slice: &[Fr]) -> &[[Fr; W]] {
    let (rows, rest) = slice.as_chunks::<W>();
    debug_assert!(rest.is_empty());
    rows
}

/// `W` rows of `W` as a square matrix.
#[inline(always)]
fn square<const W: usize>(slice: &[Fr]) -> &[[Fr; W]; W] {
    rows::<W>(slice)
        .try_into()
        .expect("a layout matrix has W rows")
}

/// `state <- M * state`.
#[inline(always)]
fn mix<const W: usize>(matrix: &[[Fr; W]; W], state: &mut [Fr; W]) {
    let old = *state;
    for (s, row) in state.iter_mut().zip(matrix) {
        *s = Fr::sum_of_products(row, &old);
    }
}

/// One full round without its matrix: constants, then every lane's S-box.
#[inline(always)]
fn full_round_sboxes<const W: usize>(constants: &[Fr; W], state: &mut [Fr; W]) {
    for (s, c) in state.iter_mut().zip(constants) {
        *s = pow5(*s + c);
    }
}

/// The Poseidon permutation of width `W`, in place.
#[inline]
pub(crate) fn permute<const W: usize>(layout: &Layout, state: &mut [Fr; W]) {
    let mds = square::<W>(&layout.mds);
    let pre_partial = square::<W>(&layout.pre_partial_mds);

    let first = rows::<W>(&layout.first_constants);
    let (last_first, first_rest) = first.split_last().expect("four full rounds");
    for constants in first_rest {
        full_round_sboxes(constants, state);
        mix(mds, state);
    }
    full_round_sboxes(last_first, state);
    mix(pre_partial, state);

    for (row, column) in rows::<W>(&layout.partial_rows)
        .iter()
        .zip(rows::<W>(&layout.partial_columns))
    {
        // column[0] is the round's constant; column[1..] the sparse column.
        let s0 = pow5(state[0] + column[0]);
        state[0] = s0;
        let new0 = Fr::sum_of_products(row, state);
        for (s, c) in state[1..].iter_mut().zip(&column[1..]) {
            *s += *c * s0;
        }
        state[0] = new0;
    }

    for constants in rows::<W>(&layout.last_constants) {
        full_round_sboxes(constants, state);
        mix(mds, state);
    }
}

/// `Poseidon(inputs)` for `inputs.len() == W - 1`, checked by the caller.
#[inline]
pub(crate) fn hash<const W: usize>(layout: &Layout, inputs: &[Fr]) -> Fr {
    let mut state = [Fr::zero(); W];
    state[1..].copy_from_slice(inputs);
    permute::<W>(layout, &mut state);
    state[0]
}

/// Applies `$body` with `$w` bound to the constant width `$width` (2..=17).
macro_rules! with_width {
    ($width:expr, $w:ident => $body:expr) => {
        match $width {
            2 => {
                const $w: usize = 2;
                $body
            }
            3 => {
                const $w: usize = 3;
                $body
            }
            4 => {
                const $w: usize = 4;
                $body
            }
            5 => {
                const $w: usize = 5;
                $body
            }
            6 => {
                const $w: usize = 6;
                $body
            }
            7 => {
                const $w: usize = 7;
                $body
            }
            8 => {
                const $w: usize = 8;
                $body
            }
            9 => {
                const $w: usize = 9;
                $body
            }
            10 => {
                const $w: usize = 10;
                $body
            }
            11 => {
                const $w: usize = 11;
                $body
            }
            12 => {
                const $w: usize = 12;
                $body
            }
            13 => {
                const $w: usize = 13;
                $body
            }
            14 => {
                const $w: usize = 14;
                $body
            }
            15 => {
                const $w: usize = 15;
                $body
            }
            16 => {
                const $w: usize = 16;
                $body
            }
            17 => {
                const $w: usize = 17;
                $body
            }
            other => unreachable!("width {other} was checked"),
        }
    };
}
pub(crate) use with_width;
