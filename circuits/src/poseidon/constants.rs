//! Poseidon round constants and MDS matrices, regenerated at run time.
//!
//! circomlib's constants were produced by the Poseidon authors' reference
//! script `generate_parameters_grain.sage`, invoked per width `t` as
//! `generate_parameters_grain.sage 1 0 254 t 8 R_P 0x30644e72…f0000001`
//! (prime field, `x^5` S-box, 254-bit elements, `R_F = 8`). That script is a
//! deterministic function of its arguments, so instead of vendoring ~10 000
//! constants we re-run its Grain LFSR here. The circomlib test vectors in
//! `tests/data/poseidon_circomlib.json` pin the result.
//!
//! The script also screens each Cauchy matrix with three algebraic tests
//! (invariant-subspace trails) and redraws on failure. Those tests are not
//! reproduced: every width's first candidate is the matrix circomlib ships,
//! which the test vectors confirm for all sixteen widths.

use ark_ff::{BigInt, BigInteger, Field, PrimeField, Zero};

use crate::Fr;

/// Full rounds, split evenly before and after the partial rounds.
pub const FULL_ROUNDS: usize = 8;

/// Partial rounds for widths 2..=17, as in circomlib's `poseidon.circom`.
pub(crate) const PARTIAL_ROUNDS: [usize; 16] = [
    56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68,
];

/// Smallest supported state width (one input plus the capacity lane).
pub const MIN_WIDTH: usize = 2;

/// Largest supported state width (sixteen inputs plus the capacity lane).
pub const MAX_WIDTH: usize = MIN_WIDTH + PARTIAL_ROUNDS.len() - 1;

/// Bit length of the sampled field elements, `ceil(log2(r))` for BN254.
const FIELD_BITS: usize = 254;

/// Partial rounds for a supported width; callers check the range.
pub(crate) fn partial_rounds(width: usize) -> usize {
    PARTIAL_ROUNDS[width - MIN_WIDTH]
}

/// The 80-bit Grain LFSR of the Poseidon paper, appendix F.
///
/// Bit `i` of `state` is position `i` of the reference script's
/// `bit_sequence`, so position 0 is the oldest bit.
struct Grain {
    state: u128,
}

impl Grain {
    fn new(width: usize, partial_rounds: usize) -> Self {
        // (value, bit length), concatenated most significant bit first:
        // field = 1 (prime), S-box = 0 (x^alpha), n, t, R_F, R_P, thirty ones.
        let fields: [(usize, usize); 7] = [
            (1, 2),
            (0, 4),
            (FIELD_BITS, 12),
            (width, 12),
            (FULL_ROUNDS, 10),
            (partial_rounds, 10),
            ((1 << 30) - 1, 30),
        ];
        let mut state = 0u128;
        let mut position = 0;
        for (value, len) in fields {
            for k in (0..len).rev() {
                state |= (((value >> k) & 1) as u128) << position;
                position += 1;
            }
        }
        debug_assert_eq!(position, 80);

        let mut grain = Self { state };
        // The first 160 outputs are discarded to decorrelate the output from
        // the (very structured) initial state.
        for _ in 0..160 {
            grain.step();
        }
        grain
    }

    /// One clock of the feedback polynomial
    /// `b[i+80] = b[i+62] + b[i+51] + b[i+38] + b[i+23] + b[i+13] + b[i]`.
    fn step(&mut self) -> bool {
        let s = self.state;
        let new = ((s >> 62) ^ (s >> 51) ^ (s >> 38) ^ (s >> 23) ^ (s >> 13) ^ s) & 1;
        self.state = (s >> 1) | (new << 79);
        new == 1
    }

    /// One output bit of the self-shrinking generator: bits come in pairs and
    /// the first of each pair decides whether the second is emitted.
    fn next_bit(&mut self) -> bool {
        loop {
            let keep = self.step();
            let bit = self.step();
            if keep {
                return bit;
            }
        }
    }

    /// `FIELD_BITS` output bits read as an integer, first bit most significant.
    fn next_integer(&mut self) -> BigInt<4> {
        let mut bits = [false; FIELD_BITS];
        for bit in bits.iter_mut() {
            *bit = self.next_bit();
        }
        BigInt::from_bits_be(&bits)
    }

    /// A round constant: integers `>= r` are rejected, not reduced.
    fn next_round_constant(&mut self) -> Fr {
        loop {
            if let Some(c) = Fr::from_bigint(self.next_integer()) {
                return c;
            }
        }
    }

    /// A Cauchy-matrix seed: the script coerces with `F(x)`, i.e. reduces mod r.
    fn next_reduced(&mut self) -> Fr {
        let mut n = self.next_integer();
        // 2^254 < 2r, so at most one subtraction is needed.
        if n >= Fr::MODULUS {
            n.sub_with_borrow(&Fr::MODULUS);
        }
        Fr::from_bigint(n).expect("an integer below 2^254 minus r is below r")
    }
}

/// Reference parameters for one width: round constants (`(R_F + R_P) * t`,
/// round by round) and the `t * t` MDS matrix, row-major.
pub(crate) fn generate(width: usize) -> (Vec<Fr>, Vec<Fr>) {
    let partial = partial_rounds(width);
    let mut grain = Grain::new(width, partial);

    let round_constants = (0..(FULL_ROUNDS + partial) * width)
        .map(|_| grain.next_round_constant())
        .collect();

    let mds = loop {
        let mut seeds: Vec<Fr> = (0..2 * width).map(|_| grain.next_reduced()).collect();
        while !all_distinct(&seeds) {
            seeds = (0..2 * width).map(|_| grain.next_reduced()).collect();
        }
        let (xs, ys) = seeds.split_at(width);
        if let Some(m) = cauchy(xs, ys) {
            break m;
        }
    };
    (round_constants, mds)
}

fn all_distinct(values: &[Fr]) -> bool {
    values
        .iter()
        .enumerate()
        .all(|(i, a)| values[i + 1..].iter().all(|b| a != b))
}

/// `M[i][j] = 1 / (x_i + y_j)`, or `None` if some denominator vanishes.
fn cauchy(xs: &[Fr], ys: &[Fr]) -> Option<Vec<Fr>> {
    let mut m = Vec::with_capacity(xs.len() * ys.len());
    for x in xs {
        for y in ys {
            let sum = *x + y;
            if sum.is_zero() {
                return None;
            }
            m.push(sum.inverse()?);
        }
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn hex(s: &str) -> Fr {
        let n = num_bigint::BigUint::parse_bytes(s.as_bytes(), 16).expect("hex literal");
        Fr::from_str(&n.to_string()).expect("canonical literal")
    }

    #[test]
    fn first_round_constants_match_circomlib() {
        // First entries of circomlib's `poseidon_constants.js` C arrays.
        let (c2, _) = generate(2);
        let (c3, _) = generate(3);
        assert_eq!(
            c2[0],
            hex("09c46e9ec68e9bd4fe1faaba294cba38a71aa177534cdd1b6c7dc0dbd0abd7a7")
        );
        assert_eq!(
            c3[0],
            hex("0ee9a592ba9a9518d05986d656f40c2114c4993c11bb29938d21d47304cd8e6e")
        );
        assert_ne!(c2[0], c3[0], "widths seed the LFSR differently");
    }

    #[test]
    fn sizes_follow_the_round_schedule() {
        for width in MIN_WIDTH..=MAX_WIDTH {
            let (c, m) = generate(width);
            assert_eq!(c.len(), (FULL_ROUNDS + partial_rounds(width)) * width);
            assert_eq!(m.len(), width * width);
        }
    }

    #[test]
    fn cauchy_rejects_a_vanishing_denominator() {
        let one = Fr::from(1u64);
        assert!(cauchy(&[one], &[-one]).is_none());
        let m = cauchy(&[one], &[one]).expect("1 + 1 is invertible");
        assert_eq!(m[0] * Fr::from(2u64), one);
    }
}
