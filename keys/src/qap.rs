//! The R1CS-to-QAP reduction of circom and snarkjs, which zkgov keys use,
//! so that a zkgov proving key has the layout of a snarkjs `.zkey`.
//!
//! Groth16 proves that `P(x) = A(x)·B(x) − C(x)` vanishes on the
//! evaluation domain `D = ⟨ω⟩` of size `n`, that is, that
//! `P = h·Z` with `Z(x) = xⁿ − 1`. The prover's share of `C` holds
//! `[h(τ)·Z(τ)/δ]₁ = [P(τ)/δ]₁`; the two reductions get it differently:
//!
//! - **libsnark** (arkworks' default, [`ark_groth16::r1cs_to_qap::LibsnarkReduction`]):
//!   the prover divides, finds the `n − 1` coefficients of `h`, and the
//!   key's H query holds `[τⁱ·Z(τ)/δ]₁`.
//! - **circom** ([`CircomReduction`]): `P` has degree at most `2n − 2`, so
//!   its values on the `2n` points of `D' = ⟨ω'⟩`, `ω'² = ω`, determine it:
//!   `P(τ) = Σₖ P(ω'ᵏ)·L'ₖ(τ)` over the Lagrange basis `L'ₖ` of `D'`. `P`
//!   is zero on `D`, the even points, so only the odd points
//!   `xⱼ = ω'·ωʲ` count. The key's H query holds `[L'₂ⱼ₊₁(τ)/δ]₁` for
//!   `j < n`, and the prover's scalars are `P(xⱼ)`: `A`, `B` and `C`
//!   evaluated on that coset, with no division.
//!
//! snarkjs's `.zkey` section 9 holds exactly these `n` points (it reads
//! them from the ptau's Lagrange basis of `D'`), which is why keys that
//! snarkjs can contribute to need this reduction. The verifying key is the
//! same under both: only the H query differs.
//!
//! As in circom, the prover takes `C`'s values on `D` as `A·B` there,
//! which equals `C` for a satisfying assignment; it evaluates two matrices
//! instead of three, and makes six FFTs instead of seven.

use ark_ff::{FftField, PrimeField};
use ark_groth16::r1cs_to_qap::{evaluate_constraint, LibsnarkReduction, R1CSToQAP};
use ark_poly::EvaluationDomain;
use ark_relations::r1cs::{ConstraintMatrices, ConstraintSystemRef, SynthesisError};
use serde::{Deserialize, Serialize};

/// Which reduction a proving key's H query is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// libsnark's, arkworks' default: the keys of key directories of
    /// format 1.
    #[default]
    Libsnark,
    /// circom's and snarkjs's, [`CircomReduction`]: the keys zkgov sets up.
    Circom,
}

/// circom's and snarkjs's R1CS-to-QAP reduction (see the module docs), for
/// `ark_groth16::Groth16<Bn254, CircomReduction>`.
pub struct CircomReduction;

impl R1CSToQAP for CircomReduction {
    /// The instance map is the same as libsnark's: the QAP's `A`, `B`, `C`
    /// at `τ`, with the input-consistency constraints after the circuit's.
    #[allow(clippy::type_complexity)]
    fn instance_map_with_evaluation<F: PrimeField, D: EvaluationDomain<F>>(
        cs: ConstraintSystemRef<F>,
        t: &F,
    ) -> Result<(Vec<F>, Vec<F>, Vec<F>, F, usize, usize), SynthesisError> {
        LibsnarkReduction::instance_map_with_evaluation::<F, D>(cs, t)
    }

    /// `P = A·B − C` at the odd points of the double domain, `P(ω'·ωʲ)`.
    fn witness_map_from_matrices<F: PrimeField, D: EvaluationDomain<F>>(
        matrices: &ConstraintMatrices<F>,
        num_inputs: usize,
        num_constraints: usize,
        full_assignment: &[F],
    ) -> Result<Vec<F>, SynthesisError> {
        let domain =
            D::new(num_constraints + num_inputs).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let odd = odd_coset::<F, D>(&domain)?;
        let size = domain.size();
        let mut a = vec![F::zero(); size];
        let mut b = vec![F::zero(); size];
        // Rows past the circuit's and the inputs' are zero in all three.
        for (i, (a_row, b_row)) in matrices.a.iter().zip(&matrices.b).enumerate() {
            a[i] = evaluate_constraint(a_row, full_assignment);
            b[i] = evaluate_constraint(b_row, full_assignment);
        }
        // The input-consistency constraints: A holds each input, B and C
        // nothing.
        a[num_constraints..num_constraints + num_inputs]
            .copy_from_slice(&full_assignment[..num_inputs]);
        let c: Vec<F> = a.iter().zip(&b).map(|(a, b)| *a * b).collect();
        let on_odd_coset = |mut values: Vec<F>| {
            domain.ifft_in_place(&mut values);
            odd.fft_in_place(&mut values);
            values
        };
        let (a, (b, c)) = join(
            || on_odd_coset(a),
            || join(|| on_odd_coset(b), || on_odd_coset(c)),
        );
        Ok(a.iter()
            .zip(&b)
            .zip(&c)
            .map(|((a, b), c)| *a * b - c)
            .collect())
    }

    /// `L'₂ⱼ₊₁(τ)/δ` for `j < n`: the Lagrange basis of the double domain
    /// at `τ`, at its odd points. `max_power` is `n − 1`.
    fn h_query_scalars<F: PrimeField, D: EvaluationDomain<F>>(
        max_power: usize,
        t: F,
        _zt: F,
        delta_inverse: F,
    ) -> Result<Vec<F>, SynthesisError> {
        let n = max_power + 1;
        let double = D::new(2 * n).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        if double.size() != 2 * n {
            return Err(SynthesisError::PolynomialDegreeTooLarge);
        }
        // The inverse FFT of (τ⁰, τ¹, …, τ²ⁿ⁻¹) is L'ₖ(τ) for every k.
        let mut powers = Vec::with_capacity(2 * n);
        let mut power = delta_inverse;
        for _ in 0..2 * n {
            powers.push(power);
            power *= t;
        }
        double.ifft_in_place(&mut powers);
        Ok(powers.into_iter().skip(1).step_by(2).collect())
    }
}

/// Runs `a` and `b`, side by side on the rayon pool with `parallel`.
fn join<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    #[cfg(feature = "parallel")]
    return rayon::join(a, b);
    #[cfg(not(feature = "parallel"))]
    return (a(), b());
}

/// The coset `ω'·D` of `domain`, where `ω'` is a square root of `D`'s
/// generator: the odd points of the domain of twice its size.
pub fn odd_coset<F: FftField, D: EvaluationDomain<F>>(domain: &D) -> Result<D, SynthesisError> {
    let double = D::new(2 * domain.size()).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
    let root = double.group_gen();
    debug_assert_eq!(root.square(), domain.group_gen());
    debug_assert!(!root.is_zero());
    domain
        .get_coset(root)
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Bn254, Fr};
    use ark_ff::Zero;
    use ark_groth16::Groth16;
    use ark_poly::{GeneralEvaluationDomain, Polynomial};
    use ark_relations::lc;
    use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef};
    use ark_snark::SNARK;
    use ark_std::rand::{rngs::StdRng, SeedableRng};
    use ark_std::UniformRand;

    /// x · y = z and x + y = w, with z and w public: six rows of the
    /// domain of eight, inputs included.
    #[derive(Clone)]
    struct ProductAndSum {
        x: Option<Fr>,
        y: Option<Fr>,
    }

    impl ConstraintSynthesizer<Fr> for ProductAndSum {
        fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
            let value = |v: Option<Fr>| v.ok_or(SynthesisError::AssignmentMissing);
            let z = cs.new_input_variable(|| Ok(value(self.x)? * value(self.y)?))?;
            let w = cs.new_input_variable(|| Ok(value(self.x)? + value(self.y)?))?;
            let x = cs.new_witness_variable(|| value(self.x))?;
            let y = cs.new_witness_variable(|| value(self.y))?;
            cs.enforce_constraint(lc!() + x, lc!() + y, lc!() + z)?;
            cs.enforce_constraint(
                lc!() + x + y,
                lc!() + ark_relations::r1cs::Variable::One,
                lc!() + w,
            )?;
            Ok(())
        }
    }

    type Circom = Groth16<Bn254, CircomReduction>;

    #[test]
    fn proofs_under_the_circom_reduction_verify_and_libsnarks_do_not() {
        let mut rng = StdRng::seed_from_u64(1);
        let (pk, vk) =
            Circom::circuit_specific_setup(ProductAndSum { x: None, y: None }, &mut rng).unwrap();
        // One H point per point of the domain, where libsnark has one fewer.
        let (ls_pk, _) =
            Groth16::<Bn254>::circuit_specific_setup(ProductAndSum { x: None, y: None }, &mut rng)
                .unwrap();
        assert_eq!(pk.h_query.len(), ls_pk.h_query.len() + 1);

        let (x, y) = (Fr::from(3u64), Fr::from(5u64));
        let public = [x * y, x + y];
        let witness = ProductAndSum {
            x: Some(x),
            y: Some(y),
        };
        let proof = Circom::prove(&pk, witness.clone(), &mut rng).unwrap();
        assert!(Circom::verify(&vk, &public, &proof).unwrap());
        assert!(!Circom::verify(&vk, &[x * y, x], &proof).unwrap());
        // The other reduction's quotient does not fit this key's H query.
        let wrong = Groth16::<Bn254>::prove(&pk, witness, &mut rng).unwrap();
        assert!(!Circom::verify(&vk, &public, &wrong).unwrap());
    }

    #[test]
    fn the_h_query_scalars_are_the_double_domains_odd_lagrange_values() {
        let mut rng = StdRng::seed_from_u64(2);
        let (t, delta_inverse) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let n = 8;
        let scalars = CircomReduction::h_query_scalars::<Fr, GeneralEvaluationDomain<Fr>>(
            n - 1,
            t,
            Fr::zero(),
            delta_inverse,
        )
        .unwrap();
        let double = GeneralEvaluationDomain::<Fr>::new(2 * n).unwrap();
        let lagrange = double.evaluate_all_lagrange_coefficients(t);
        let odd: Vec<Fr> = (0..n)
            .map(|j| lagrange[2 * j + 1] * delta_inverse)
            .collect();
        assert_eq!(scalars, odd);
    }

    #[test]
    fn the_witness_map_is_a_times_b_minus_c_on_the_odd_coset() {
        let cs = ark_relations::r1cs::ConstraintSystem::<Fr>::new_ref();
        let (x, y) = (Fr::from(7u64), Fr::from(11u64));
        ProductAndSum {
            x: Some(x),
            y: Some(y),
        }
        .generate_constraints(cs.clone())
        .unwrap();
        cs.finalize();
        let matrices = cs.to_matrices().unwrap();
        let borrowed = cs.borrow().unwrap();
        let full: Vec<Fr> = [
            borrowed.instance_assignment.as_slice(),
            borrowed.witness_assignment.as_slice(),
        ]
        .concat();
        let (inputs, constraints) = (cs.num_instance_variables(), cs.num_constraints());
        let p = CircomReduction::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
            &matrices,
            inputs,
            constraints,
            &full,
        )
        .unwrap();
        // The same, directly: interpolate A, B, C over D and evaluate them
        // at each odd point.
        let domain = GeneralEvaluationDomain::<Fr>::new(constraints + inputs).unwrap();
        let column = |rows: &[Vec<(Fr, usize)>], with_inputs: bool| {
            let mut values = vec![Fr::zero(); domain.size()];
            for (value, row) in values.iter_mut().zip(rows) {
                *value = evaluate_constraint(row, &full);
            }
            if with_inputs {
                values[constraints..constraints + inputs].copy_from_slice(&full[..inputs]);
            }
            ark_poly::univariate::DensePolynomial::from_coefficients_vec(domain.ifft(&values))
        };
        use ark_poly::DenseUVPolynomial;
        let (a, b, c) = (
            column(&matrices.a, true),
            column(&matrices.b, false),
            column(&matrices.c, false),
        );
        let coset = odd_coset(&domain).unwrap();
        let expected: Vec<Fr> = coset
            .elements()
            .map(|point| a.evaluate(&point) * b.evaluate(&point) - c.evaluate(&point))
            .collect();
        assert_eq!(p, expected);
    }
}
