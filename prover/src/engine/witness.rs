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
//! The rows come first, and serve the satisfiability check too: many of a
//! circuit's linear combinations recur (the reference circuit's A and B
//! have 7,852 rows, of which 4,144 are distinct, and the recurring ones
//! hold two thirds of their terms), so [`Rows`] evaluates each distinct
//! one once, and checks `A·B = C` row by row as it fills the buffers.
//!
//! Keys of format 1, for libsnark's reduction, keep arkworks' transforms.

use std::cell::RefCell;

use ark_bn254::Fr;
use ark_ff::{FftField, Field, One, PrimeField, Zero};
use ark_poly::{EvaluationDomain, GeneralEvaluationDomain};
use ark_relations::r1cs::{ConstraintMatrices, SynthesisError};
use zkgov_keys::qap::{odd_coset, Reduction};

/// The scalar field's integers, as the MSMs take them.
type BigInt = <Fr as PrimeField>::BigInt;

thread_local! {
    /// The buffers of a witness map, kept by each thread between proofs.
    static BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// The values of A, B and C on the domain, for one assignment.
#[derive(Default)]
pub(crate) struct Buffers {
    a: Vec<Fr>,
    b: Vec<Fr>,
    c: Vec<Fr>,
    /// The distinct linear combinations' values.
    values: Vec<Fr>,
}

impl Buffers {
    /// This thread's buffers, taken until [`Buffers::give_back`]; fresh
    /// ones when a proof stolen by this thread while it waited has them.
    pub(crate) fn take() -> Self {
        BUFFERS.with(|buffers| {
            buffers
                .try_borrow_mut()
                .map(|mut held| std::mem::take(&mut *held))
                .unwrap_or_default()
        })
    }

    /// Returns the buffers to this thread, for its next proof.
    pub(crate) fn give_back(self) {
        BUFFERS.with(|buffers| {
            if let Ok(mut held) = buffers.try_borrow_mut() {
                *held = self;
            }
        });
    }
}

/// The first constraint an assignment does not satisfy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("constraint {0} is not satisfied")]
pub struct Unsatisfied(pub usize);

/// The witness map of one key: its circuit's rows, its reduction, and
/// for circom's the transforms of its domain, precomputed.
pub struct WitnessMap {
    reduction: Reduction,
    rows: Rows,
    /// The size `n` of the evaluation domain.
    size: usize,
    /// The odd-coset transforms, for circom's reduction.
    odd: Option<OddCosetPlan>,
}

impl WitnessMap {
    /// The witness map of the circuit of `matrices` under `reduction`.
    pub fn new(
        reduction: Reduction,
        matrices: &ConstraintMatrices<Fr>,
    ) -> Result<Self, SynthesisError> {
        let rows = Rows::new(matrices)?;
        let size = GeneralEvaluationDomain::<Fr>::new(rows.constraints + rows.inputs)
            .ok_or(SynthesisError::PolynomialDegreeTooLarge)?
            .size();
        let odd = match reduction {
            Reduction::Circom => Some(OddCosetPlan::new(size)?),
            Reduction::Libsnark => None,
        };
        Ok(Self {
            reduction,
            rows,
            size,
            odd,
        })
    }

    /// Evaluates the rows of A, B and C on `full_assignment` (the constant
    /// one, the public inputs, then the witness) into `buffers`, and
    /// checks every constraint: the first one not satisfied is the error.
    pub(crate) fn evaluate_rows(
        &self,
        full_assignment: &[Fr],
        buffers: &mut Buffers,
    ) -> Result<(), EvaluationError> {
        self.rows.evaluate(full_assignment, self.size, buffers)
    }

    /// Appends to `out` the scalars of the H query, as integers, from the
    /// rows [`WitnessMap::evaluate_rows`] left in `buffers` for
    /// `full_assignment`: `(A·B − C)` on the odd coset of the domain
    /// (circom's), or the coefficients of the quotient `h` (libsnark's).
    pub(crate) fn append_scalars(&self, buffers: &mut Buffers, out: &mut Vec<BigInt>) {
        match &self.odd {
            Some(plan) => plan.circom(buffers, out),
            None => out.extend(libsnark(buffers).iter().map(|v| v.into_bigint())),
        }
    }

    /// The reduction the map is for.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// The circuit's instance variables, the constant one included.
    pub fn inputs(&self) -> usize {
        self.rows.inputs
    }

    /// Bytes held by the distinct rows and the precomputed transforms.
    pub fn bytes(&self) -> usize {
        self.rows.bytes()
            + self.odd.as_ref().map_or(0, |plan| {
                (plan.inverse.len() + plan.forward.len() + plan.shift.len())
                    * std::mem::size_of::<Fr>()
            })
    }
}

/// Why the rows of an assignment cannot be evaluated into a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EvaluationError {
    /// The assignment is not of the circuit's shape.
    #[error("the assignment has {found} values, but the circuit has {expected} variables")]
    Length {
        /// The circuit's variables, the constant one included.
        expected: usize,
        /// The assignment's values.
        found: usize,
    },
    /// The assignment does not satisfy the circuit.
    #[error(transparent)]
    Unsatisfied(#[from] Unsatisfied),
}

/// A circuit's constraint rows, each distinct linear combination held
/// once.
struct Rows {
    /// The distinct linear combinations' terms, one after another.
    terms: Vec<(Fr, u32)>,
    /// Where each distinct combination's terms end.
    ends: Vec<u32>,
    /// For each constraint, which distinct combinations are its A, B and
    /// C rows.
    rows: Vec<[u32; 3]>,
    inputs: usize,
    constraints: usize,
    variables: usize,
}

impl Rows {
    fn new(matrices: &ConstraintMatrices<Fr>) -> Result<Self, SynthesisError> {
        use std::collections::HashMap;
        let constraints = matrices.num_constraints;
        let variables = matrices.num_instance_variables + matrices.num_witness_variables;
        if [&matrices.a, &matrices.b, &matrices.c]
            .iter()
            .any(|m| m.len() != constraints)
        {
            return Err(SynthesisError::AssignmentMissing);
        }
        let too_many = |_| SynthesisError::PolynomialDegreeTooLarge;
        let mut distinct: HashMap<&[(Fr, usize)], u32> = HashMap::new();
        let (mut terms, mut ends) = (Vec::new(), Vec::new());
        let mut rows = Vec::with_capacity(constraints);
        for i in 0..constraints {
            let mut row = [0u32; 3];
            for (slot, matrix) in row.iter_mut().zip([&matrices.a, &matrices.b, &matrices.c]) {
                let combination = &matrix[i][..];
                *slot = match distinct.get(combination) {
                    Some(&index) => index,
                    None => {
                        for &(coefficient, column) in combination {
                            if column >= variables {
                                return Err(SynthesisError::AssignmentMissing);
                            }
                            terms.push((coefficient, u32::try_from(column).map_err(too_many)?));
                        }
                        let index = u32::try_from(ends.len()).map_err(too_many)?;
                        ends.push(u32::try_from(terms.len()).map_err(too_many)?);
                        distinct.insert(combination, index);
                        index
                    }
                };
            }
            rows.push(row);
        }
        Ok(Self {
            terms,
            ends,
            rows,
            inputs: matrices.num_instance_variables,
            constraints,
            variables,
        })
    }

    fn bytes(&self) -> usize {
        self.terms.len() * std::mem::size_of::<(Fr, u32)>()
            + self.ends.len() * 4
            + self.rows.len() * 12
    }

    /// Fills `a`, `b` and `c` (each of `size` values, zero past the rows)
    /// with the rows' values on `full`, checking `a·b = c` row by row. A
    /// holds each public input in the input-consistency rows after the
    /// circuit's.
    fn evaluate(
        &self,
        full: &[Fr],
        size: usize,
        buffers: &mut Buffers,
    ) -> Result<(), EvaluationError> {
        if full.len() != self.variables {
            return Err(EvaluationError::Length {
                expected: self.variables,
                found: full.len(),
            });
        }
        let Buffers { a, b, c, values } = buffers;
        values.clear();
        let mut start = 0;
        for &end in &self.ends {
            let mut sum = Fr::zero();
            for (coefficient, column) in &self.terms[start..end as usize] {
                let value = full[*column as usize];
                // Most coefficients of a circuit's rows are one.
                if coefficient.is_one() {
                    sum += value;
                } else {
                    sum += value * coefficient;
                }
            }
            values.push(sum);
            start = end as usize;
        }
        for v in [&mut *a, &mut *b, &mut *c] {
            v.clear();
            v.resize(size, Fr::zero());
        }
        for (i, &[ra, rb, rc]) in self.rows.iter().enumerate() {
            let (x, y, z) = (
                values[ra as usize],
                values[rb as usize],
                values[rc as usize],
            );
            if x * y != z {
                return Err(Unsatisfied(i).into());
            }
            (a[i], b[i], c[i]) = (x, y, z);
        }
        a[self.constraints..self.constraints + self.inputs].copy_from_slice(&full[..self.inputs]);
        Ok(())
    }
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

    /// Appends `(A·B − C)(ω'·ωʲ)` for `j < n` to `out`, from the values of
    /// A, B and C on `D` in `buffers`.
    fn circom(&self, buffers: &mut Buffers, out: &mut Vec<BigInt>) {
        let Buffers { a, b, c, .. } = buffers;
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

/// The libsnark R1CS-to-QAP witness map: the coefficients of
/// `h = (A·B − C) / Z` over the evaluation domain, from the values of A,
/// B and C on it in `buffers`, exactly as
/// `LibsnarkReduction::witness_map_from_matrices` computes them.
fn libsnark(buffers: &mut Buffers) -> Vec<Fr> {
    let Buffers { a, b, c, .. } = buffers;
    let domain =
        GeneralEvaluationDomain::<Fr>::new(a.len()).expect("the domain of the buffers' size");
    let coset = domain
        .get_coset(Fr::GENERATOR)
        .expect("a coset of the domain");
    let on_coset = |evaluations: &mut Vec<Fr>| {
        domain.ifft_in_place(evaluations);
        coset.fft_in_place(evaluations);
    };
    rayon::join(
        || on_coset(a),
        || rayon::join(|| on_coset(b), || on_coset(c)),
    );
    let vanishing_inverse = domain
        .evaluate_vanishing_polynomial(Fr::GENERATOR)
        .inverse()
        .expect("the vanishing polynomial is not zero off the domain");
    let mut h: Vec<Fr> = a
        .iter()
        .zip(b.iter())
        .zip(c.iter())
        .map(|((a, b), c)| (*a * b - c) * vanishing_inverse)
        .collect();
    coset.ifft_in_place(&mut h);
    h
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
        fn scalars(&self, full_assignment: &[Fr]) -> Result<Vec<Fr>, EvaluationError> {
            let mut buffers = Buffers::default();
            self.evaluate_rows(full_assignment, &mut buffers)?;
            let mut out = Vec::new();
            self.append_scalars(&mut buffers, &mut out);
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

    /// `constraints` rows `(x_k + p or 3·x_k) · (y_k + 1) = z_k + q` and
    /// one that repeats the first row's A as its A and B, over random
    /// witnesses, with two public inputs `p` and `q`: a satisfying
    /// assignment.
    fn matrices(constraints: usize, rng: &mut StdRng) -> (ConstraintMatrices<Fr>, Vec<Fr>) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let (p_value, q_value) = (Fr::rand(rng), Fr::rand(rng));
        let p = cs.new_input_variable(|| Ok(p_value)).unwrap();
        let q = cs.new_input_variable(|| Ok(q_value)).unwrap();
        let mut first = None;
        for k in 0..constraints {
            let (x_value, y_value) = (Fr::rand(rng), Fr::rand(rng));
            let a_value = if k % 2 == 0 {
                x_value + p_value
            } else {
                x_value * Fr::from(3u64)
            };
            let z_value = a_value * (y_value + Fr::from(1u64)) - q_value;
            let x = cs.new_witness_variable(|| Ok(x_value)).unwrap();
            let y = cs.new_witness_variable(|| Ok(y_value)).unwrap();
            let z = cs.new_witness_variable(|| Ok(z_value)).unwrap();
            let a = if k % 2 == 0 {
                lc!() + x + p
            } else {
                lc!() + (Fr::from(3u64), x)
            };
            first.get_or_insert((a.clone(), a_value));
            cs.enforce_constraint(a, lc!() + y + Variable::One, lc!() + z + q)
                .unwrap();
        }
        let (a, a_value) = first.expect("at least one constraint");
        let w = cs.new_witness_variable(|| Ok(a_value * a_value)).unwrap();
        cs.enforce_constraint(a.clone(), a, lc!() + w).unwrap();
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
        // With the repeated row, 3 + 1 + 3 rows fill 2^3 but one; 4 + 1 + 3
        // fill it exactly.
        for constraints in [1, 3, 4, 40] {
            let (m, full) = matrices(constraints, &mut rng);
            let (inputs, rows) = (m.num_instance_variables, m.num_constraints);
            let circom = CircomReduction::witness_map_from_matrices::<
                Fr,
                GeneralEvaluationDomain<Fr>,
            >(&m, inputs, rows, &full)
            .unwrap();
            let planned = WitnessMap::new(Reduction::Circom, &m).unwrap();
            assert_eq!(planned.scalars(&full).unwrap(), circom);
            // The last row's A and B are the first's: held once.
            assert!(planned.rows.ends.len() < 3 * rows);

            let libsnark = LibsnarkReduction::witness_map_from_matrices::<
                Fr,
                GeneralEvaluationDomain<Fr>,
            >(&m, inputs, rows, &full)
            .unwrap();
            let ours = WitnessMap::new(Reduction::Libsnark, &m).unwrap();
            assert_eq!(ours.scalars(&full).unwrap(), libsnark);
            assert_ne!(libsnark, circom);
        }
    }

    #[test]
    fn an_unsatisfied_row_or_a_short_assignment_is_an_error_not_a_panic() {
        let mut rng = StdRng::seed_from_u64(3);
        let (m, full) = matrices(4, &mut rng);
        let map = WitnessMap::new(Reduction::Circom, &m).unwrap();
        assert!(map.scalars(&full).is_ok());
        assert_eq!(
            map.scalars(&full[..full.len() - 1]),
            Err(EvaluationError::Length {
                expected: full.len(),
                found: full.len() - 1
            })
        );
        // Constraint k's z is variable 5 + 3k (after the one, p, q, x_k
        // and y_k); the fifth constraint's w is the last.
        for (k, variable) in [(0, 5), (2, 11), (4, full.len() - 1)] {
            let mut tampered = full.clone();
            tampered[variable] += Fr::from(1u64);
            assert_eq!(
                map.scalars(&tampered),
                Err(EvaluationError::Unsatisfied(Unsatisfied(k))),
                "constraint {k}"
            );
        }
    }
}
