//! The R1CS-to-QAP witness map, planned once per key.
//!
//! The witness map turns a full assignment into the scalars of the key's H
//! query ([`zkgov_keys::qap`]). Under circom's reduction, which the keys
//! zkgov sets up use, that is `A·B − C` on the odd coset `ω'·D` of the
//! key's evaluation domain `D = ⟨ω⟩` of size `n`: the constraint rows'
//! values on `D`, carried to the coset by an inverse transform and a
//! forward one, for each of `A`, `B` and `C`.
//!
//! arkworks' `EvaluationDomain` recomputes its roots of unity on every
//! transform, scales by `1/n` and by the coset's powers in passes of their
//! own, permutes into bit-reversed order and back, and spreads each layer
//! of butterflies over rayon. A [`WitnessMap`] instead holds, from the
//! moment the key is tabled:
//!
//! - the twiddles of every layer of a transform of size `n`, for `ω⁻¹` and
//!   for `ω`;
//! - `ω'ᵏ/n` in bit-reversed order.
//!
//! The inverse transform takes the values in natural order and leaves the
//! coefficients in bit-reversed order (decimation in frequency); one pass
//! multiplies each coefficient by its `ω'ᵏ/n`; the forward transform takes
//! them in that order and leaves the coset's values in natural order
//! (decimation in time). So nothing is permuted, the butterflies with
//! twiddle one are additions, and every transform is in place in buffers
//! that each thread keeps from one proof to the next. The values are the
//! ones arkworks computes: a test pins them, and the engine's proofs, to
//! arkworks'.
//!
//! Keys of format 1, for libsnark's reduction, keep arkworks' transforms,
//! with the rows evaluated in plain loops.

use std::cell::RefCell;

use ark_bn254::Fr;
use ark_ff::{FftField, Field, One, PrimeField, Zero};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::r1cs::{ConstraintMatrices, SynthesisError};
use zkgov_keys::qap::{odd_coset, Reduction};

/// The scalar field's integers, as the MSMs take them.
type BigInt = <Fr as PrimeField>::BigInt;

thread_local! {
    /// The three value vectors of a witness map, kept by each thread.
    static BUFFERS: RefCell<[Vec<Fr>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// The witness map of one key: its reduction, and for circom's the
/// transforms of its domain, precomputed.
pub struct WitnessMap {
    reduction: Reduction,
    /// The odd-coset transforms, for circom's reduction.
    odd: Option<OddCosetPlan>,
}

impl WitnessMap {
    /// The witness map of a key for `reduction` whose H query has
    /// `h_query_len` points: `n` under circom's reduction, `n − 1` under
    /// libsnark's.
    pub fn new(reduction: Reduction, h_query_len: usize) -> Self {
        let odd = match reduction {
            Reduction::Circom => OddCosetPlan::new(h_query_len.max(1).next_power_of_two()).ok(),
            Reduction::Libsnark => None,
        };
        Self { reduction, odd }
    }

    /// Appends to `out` the scalars of the H query for `full_assignment`
    /// (the constant one, the public inputs, then the witness), as
    /// integers: `(A·B − C)` on the odd coset of the domain (circom's), or
    /// the coefficients of the quotient `h` (libsnark's).
    pub fn append_scalars(
        &self,
        matrices: &ConstraintMatrices<Fr>,
        full_assignment: &[Fr],
        out: &mut Vec<BigInt>,
    ) -> Result<(), SynthesisError> {
        let (inputs, constraints) = (matrices.num_instance_variables, matrices.num_constraints);
        if full_assignment.len() < matrices.num_instance_variables + matrices.num_witness_variables
            || matrices.a.len() < constraints
            || matrices.b.len() < constraints
            || matrices.c.len() < constraints
        {
            return Err(SynthesisError::AssignmentMissing);
        }
        match self.reduction {
            Reduction::Circom => {
                let size = GeneralEvaluationDomain::<Fr>::new(constraints + inputs)
                    .ok_or(SynthesisError::PolynomialDegreeTooLarge)?
                    .size();
                // A key whose domain differs from its matrices' (a key of
                // the other reduction, tabled as this one) gets a plan of
                // its own: the values are still arkworks'.
                let planned;
                let plan = match &self.odd {
                    Some(plan) if plan.size() == size => plan,
                    _ => {
                        planned = OddCosetPlan::new(size)?;
                        &planned
                    }
                };
                with_buffers(|buffers| {
                    plan.circom(matrices, full_assignment, buffers, out);
                });
            }
            Reduction::Libsnark => {
                let h = libsnark(matrices, inputs, constraints, full_assignment)?;
                out.extend(h.iter().map(|v| v.into_bigint()));
            }
        }
        Ok(())
    }

    /// Bytes held by the precomputed transforms.
    pub fn bytes(&self) -> usize {
        self.odd.as_ref().map_or(0, |plan| {
            (plan.inverse.len() + plan.forward.len() + plan.shift.len()) * std::mem::size_of::<Fr>()
        })
    }
}

/// Runs `f` on this thread's buffers, or on fresh ones when a proof
/// stolen by this thread while it waited already holds them.
fn with_buffers<T>(f: impl FnOnce(&mut [Vec<Fr>; 3]) -> T) -> T {
    BUFFERS.with(|buffers| match buffers.try_borrow_mut() {
        Ok(mut buffers) => f(&mut buffers),
        Err(_) => f(&mut Default::default()),
    })
}

/// The transforms from a domain `D` of size `n` to its odd coset `ω'·D`.
struct OddCosetPlan {
    /// Layer twiddles for `ω⁻¹` (see [`layer_twiddles`]).
    inverse: Vec<Fr>,
    /// Layer twiddles for `ω`.
    forward: Vec<Fr>,
    /// `ω'^bitrev(j) / n` at position `j`.
    shift: Vec<Fr>,
}

impl OddCosetPlan {
    /// The plan for the domain of size `size`, a power of two.
    fn new(size: usize) -> Result<Self, SynthesisError> {
        let domain = GeneralEvaluationDomain::<Fr>::new(size)
            .filter(|domain| domain.size() == size)
            .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let root = odd_coset(&domain)?.coset_offset();
        let bits = size.trailing_zeros();
        let mut powers = Vec::with_capacity(size);
        let mut power = domain.size_inv();
        for _ in 0..size {
            powers.push(power);
            power *= root;
        }
        let shift = (0..size).map(|j| powers[bitrev(j, bits)]).collect();
        Ok(Self {
            inverse: layer_twiddles(size, domain.group_gen_inv()),
            forward: layer_twiddles(size, domain.group_gen()),
            shift,
        })
    }

    fn size(&self) -> usize {
        self.shift.len()
    }

    /// Appends `(A·B − C)(ω'·ωʲ)` for `j < n` to `out`. As in circom, `C`
    /// on `D` is taken as `A·B` there (equal for a satisfying assignment).
    fn circom(
        &self,
        matrices: &ConstraintMatrices<Fr>,
        full: &[Fr],
        [a, b, c]: &mut [Vec<Fr>; 3],
        out: &mut Vec<BigInt>,
    ) {
        let (inputs, constraints) = (matrices.num_instance_variables, matrices.num_constraints);
        let n = self.size();
        for values in [&mut *a, &mut *b, &mut *c] {
            values.clear();
            values.resize(n, Fr::zero());
        }
        for i in 0..constraints {
            a[i] = evaluate(&matrices.a[i], full);
            b[i] = evaluate(&matrices.b[i], full);
            c[i] = a[i] * b[i];
        }
        // The input-consistency constraints: A holds each input, B and C
        // nothing.
        a[constraints..constraints + inputs].copy_from_slice(&full[..inputs]);
        let to_coset = |values: &mut Vec<Fr>| {
            decimate_in_frequency(values, &self.inverse);
            for (value, shift) in values.iter_mut().zip(&self.shift) {
                *value *= shift;
            }
            decimate_in_time(values, &self.forward);
        };
        rayon::join(
            || to_coset(a),
            || rayon::join(|| to_coset(b), || to_coset(c)),
        );
        out.extend(
            a.iter()
                .zip(b.iter())
                .zip(c.iter())
                .map(|((a, b), c)| (*a * b - c).into_bigint()),
        );
    }
}

/// The twiddles of every layer of a radix-2 transform of size `n` (a
/// power of two) for the `n`-th root of unity `root`: the layer whose
/// butterflies span `2g` values uses `root^(j·n/2g)` for `j < g`, held at
/// `[g − 1, 2g − 1)`.
fn layer_twiddles(n: usize, root: Fr) -> Vec<Fr> {
    let mut twiddles = Vec::with_capacity(n.saturating_sub(1));
    let mut g = 1;
    while g < n {
        let step = root.pow([(n / (2 * g)) as u64]);
        let mut w = Fr::one();
        for _ in 0..g {
            twiddles.push(w);
            w *= step;
        }
        g *= 2;
    }
    twiddles
}

/// The unscaled transform of `values` (natural order) into bit-reversed
/// order: Gentleman–Sande butterflies, widest layer first.
fn decimate_in_frequency(values: &mut [Fr], twiddles: &[Fr]) {
    let mut g = values.len() / 2;
    while g >= 1 {
        let layer = &twiddles[g - 1..2 * g - 1];
        for chunk in values.chunks_exact_mut(2 * g) {
            let (lo, hi) = chunk.split_at_mut(g);
            let (x, y) = (lo[0], hi[0]);
            lo[0] = x + y;
            hi[0] = x - y;
            for ((lo, hi), w) in lo.iter_mut().zip(hi.iter_mut()).zip(layer).skip(1) {
                let (x, y) = (*lo, *hi);
                *lo = x + y;
                *hi = (x - y) * w;
            }
        }
        g /= 2;
    }
}

/// The unscaled transform of `values` (bit-reversed order) into natural
/// order: Cooley–Tukey butterflies, narrowest layer first.
fn decimate_in_time(values: &mut [Fr], twiddles: &[Fr]) {
    let mut g = 1;
    while g < values.len() {
        let layer = &twiddles[g - 1..2 * g - 1];
        for chunk in values.chunks_exact_mut(2 * g) {
            let (lo, hi) = chunk.split_at_mut(g);
            let (x, y) = (lo[0], hi[0]);
            lo[0] = x + y;
            hi[0] = x - y;
            for ((lo, hi), w) in lo.iter_mut().zip(hi.iter_mut()).zip(layer).skip(1) {
                let (x, y) = (*lo, *hi * w);
                *lo = x + y;
                *hi = x - y;
            }
        }
        g *= 2;
    }
}

/// `j` with its low `bits` bits reversed.
fn bitrev(j: usize, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        j.reverse_bits() >> (usize::BITS - bits)
    }
}

/// `Σ coefficient · assignment[column]` over one constraint row.
#[inline]
fn evaluate(row: &[(Fr, usize)], assignment: &[Fr]) -> Fr {
    let mut sum = Fr::zero();
    for (coefficient, column) in row {
        let value = assignment[*column];
        if coefficient.is_one() {
            sum += value;
        } else {
            sum += value * coefficient;
        }
    }
    sum
}

/// The libsnark R1CS-to-QAP witness map: the coefficients of
/// `h = (A·B − C) / Z` over the evaluation domain, exactly as
/// `LibsnarkReduction::witness_map_from_matrices` computes them.
fn libsnark(
    matrices: &ConstraintMatrices<Fr>,
    num_inputs: usize,
    num_constraints: usize,
    full_assignment: &[Fr],
) -> Result<Vec<Fr>, SynthesisError> {
    let domain = GeneralEvaluationDomain::<Fr>::new(num_constraints + num_inputs)
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
    let size = domain.size();
    let coset = domain
        .get_coset(Fr::GENERATOR)
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)?;

    let rows = |rows: &[Vec<(Fr, usize)>]| {
        let mut evaluations = vec![Fr::zero(); size];
        for (value, row) in evaluations.iter_mut().zip(rows) {
            *value = evaluate(row, full_assignment);
        }
        evaluations
    };
    let on_coset = |mut evaluations: Vec<Fr>| {
        domain.ifft_in_place(&mut evaluations);
        coset.fft_in_place(&mut evaluations);
        evaluations
    };
    let mut a = rows(&matrices.a);
    // The input-consistency constraints of the reduction.
    a[num_constraints..num_constraints + num_inputs]
        .copy_from_slice(&full_assignment[..num_inputs]);
    let b = rows(&matrices.b);
    let c = rows(&matrices.c);
    let (a, (b, c)) = rayon::join(
        || on_coset(a),
        || rayon::join(|| on_coset(b), || on_coset(c)),
    );

    let vanishing_inverse = domain
        .evaluate_vanishing_polynomial(Fr::GENERATOR)
        .inverse()
        .expect("the vanishing polynomial is not zero off the domain");
    let mut h = a;
    for ((h, b), c) in h.iter_mut().zip(&b).zip(&c) {
        *h *= b;
        *h -= c;
        *h *= vanishing_inverse;
    }
    coset.ifft_in_place(&mut h);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use ark_groth16::r1cs_to_qap::{LibsnarkReduction, R1CSToQAP};
    use ark_poly::Radix2EvaluationDomain;
    use ark_relations::lc;
    use ark_relations::r1cs::{ConstraintSystem, Variable};
    use ark_std::rand::{rngs::StdRng, SeedableRng};
    use zkgov_keys::qap::CircomReduction;

    impl WitnessMap {
        /// The scalars of [`WitnessMap::append_scalars`], as field elements.
        fn scalars(
            &self,
            matrices: &ConstraintMatrices<Fr>,
            full_assignment: &[Fr],
        ) -> Result<Vec<Fr>, SynthesisError> {
            let mut out = Vec::new();
            self.append_scalars(matrices, full_assignment, &mut out)?;
            Ok(out
                .into_iter()
                .map(|v| Fr::from_bigint(v).expect("a reduced scalar"))
                .collect())
        }
    }

    #[test]
    fn the_planned_transforms_are_arkworks_odd_coset_transform() {
        let mut rng = StdRng::seed_from_u64(1);
        for size in [1, 2, 4, 8, 1024] {
            let plan = OddCosetPlan::new(size).unwrap();
            let domain = Radix2EvaluationDomain::<Fr>::new(size).unwrap();
            let odd = odd_coset(&domain).unwrap();
            let values: Vec<Fr> = (0..size).map(|_| Fr::rand(&mut rng)).collect();
            let mut expected = domain.ifft(&values);
            odd.fft_in_place(&mut expected);

            let mut ours = values.clone();
            decimate_in_frequency(&mut ours, &plan.inverse);
            for (value, shift) in ours.iter_mut().zip(&plan.shift) {
                *value *= shift;
            }
            decimate_in_time(&mut ours, &plan.forward);
            assert_eq!(ours, expected, "size {size}");
            // Without the coset shift (and its 1/n) the two transforms are
            // n times the identity: a wrong twiddle would not cancel.
            let mut round = values.clone();
            decimate_in_frequency(&mut round, &plan.inverse);
            decimate_in_time(&mut round, &plan.forward);
            let n = Fr::from(size as u64);
            assert_eq!(round, values.iter().map(|v| *v * n).collect::<Vec<_>>());
        }
        assert!(OddCosetPlan::new(3).is_err());
    }

    /// `constraints` rows of `x_k · y_k = z_k` over random witnesses, with
    /// two public inputs: an assignment that satisfies nothing, which
    /// both maps must still agree on.
    fn matrices(constraints: usize, rng: &mut StdRng) -> (ConstraintMatrices<Fr>, Vec<Fr>) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let p = cs.new_input_variable(|| Ok(Fr::rand(rng))).unwrap();
        let q = cs.new_input_variable(|| Ok(Fr::rand(rng))).unwrap();
        for k in 0..constraints {
            let x = cs.new_witness_variable(|| Ok(Fr::rand(rng))).unwrap();
            let y = cs.new_witness_variable(|| Ok(Fr::rand(rng))).unwrap();
            let z = cs.new_witness_variable(|| Ok(Fr::rand(rng))).unwrap();
            let a = if k % 2 == 0 {
                lc!() + x + p
            } else {
                lc!() + (Fr::from(3u64), x)
            };
            cs.enforce_constraint(a, lc!() + y + Variable::One, lc!() + z + q)
                .unwrap();
        }
        cs.finalize();
        let matrices = cs.to_matrices().unwrap();
        let borrowed = cs.borrow().unwrap();
        let full = [
            borrowed.instance_assignment.as_slice(),
            borrowed.witness_assignment.as_slice(),
        ]
        .concat();
        (matrices, full)
    }

    #[test]
    fn the_map_gives_arkworks_scalars_under_each_reduction() {
        let mut rng = StdRng::seed_from_u64(2);
        // 3 + 3 rows fill 2^3 not at all; 5 + 3 fill it exactly.
        for constraints in [1, 5, 6, 40] {
            let (m, full) = matrices(constraints, &mut rng);
            let (inputs, rows) = (m.num_instance_variables, m.num_constraints);
            let n = (rows + inputs).next_power_of_two();
            let circom = CircomReduction::witness_map_from_matrices::<
                Fr,
                GeneralEvaluationDomain<Fr>,
            >(&m, inputs, rows, &full)
            .unwrap();
            let planned = WitnessMap::new(Reduction::Circom, n);
            assert_eq!(planned.scalars(&m, &full).unwrap(), circom);
            // A plan for another domain still gives the same values.
            let other = WitnessMap::new(Reduction::Circom, 2 * n);
            assert_eq!(other.scalars(&m, &full).unwrap(), circom);

            let libsnark = LibsnarkReduction::witness_map_from_matrices::<
                Fr,
                GeneralEvaluationDomain<Fr>,
            >(&m, inputs, rows, &full)
            .unwrap();
            let ours = WitnessMap::new(Reduction::Libsnark, n - 1);
            assert_eq!(ours.scalars(&m, &full).unwrap(), libsnark);
            assert_ne!(libsnark, circom);
        }
    }

    #[test]
    fn a_short_assignment_is_an_error_not_a_panic() {
        let mut rng = StdRng::seed_from_u64(3);
        let (m, full) = matrices(4, &mut rng);
        let map = WitnessMap::new(Reduction::Circom, 8);
        assert!(matches!(
            map.scalars(&m, &full[..full.len() - 1]),
            Err(SynthesisError::AssignmentMissing)
        ));
    }
}
