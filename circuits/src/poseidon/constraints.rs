//! The Poseidon hash as an R1CS gadget, the twin of [`super::hash`].
//!
//! Each S-box `y = u^5` costs exactly three constraints,
//! `u * u = x2`, `x2 * x2 = x4`, `x4 * u = y`, where `u` is a linear
//! combination of earlier S-box outputs, the inputs and the constant one.
//! Round constants and MDS layers only reshape those linear combinations, so a
//! hash of `n` inputs costs `3 * (8 * (n + 1) + R_P)` constraints: 243 for two
//! inputs, 300 for four, 405 for eight. The capacity lane's first S-box has a
//! constant input but is constrained like the others, so the count depends on
//! the arity alone, whichever inputs are constants.
//!
//! # Synthesis cost
//!
//! The gadget bypasses [`FpVar`] arithmetic, which would register a symbolic
//! linear combination for every addition and scaling. Lanes are kept as plain
//! term lists and handed to `enforce_constraint` directly, so one hash
//! registers a single symbolic combination (its output). When the constraint
//! system only collects a witness (`SynthesisMode::Prove { construct_matrices:
//! false }`), arkworks discards constraint bodies, so the lanes are not built
//! at all: the gadget then allocates the same witnesses in the same order and
//! only counts constraints.

use ark_r1cs_std::{
    fields::fp::{AllocatedFp, FpVar},
    R1CSVar,
};
use ark_relations::r1cs::{ConstraintSystemRef, LinearCombination, SynthesisError, Variable};

use super::{mix_dense, mix_sparse, params, PoseidonParams, FULL_ROUNDS, MAX_INPUTS};
use crate::Fr;

/// In-circuit circomlib `Poseidon(inputs.len())`.
///
/// Fails with [`SynthesisError::Unsatisfiable`] when `inputs` is empty or
/// longer than [`MAX_INPUTS`], since no circomlib template exists for it.
/// Constant inputs are allowed; if every input is a constant the result is a
/// constant and no constraints are added.
pub fn hash_gadget(inputs: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return Err(SynthesisError::Unsatisfiable);
    }
    let cs = inputs.cs();
    if cs.is_none() {
        let values = inputs
            .iter()
            .map(R1CSVar::value)
            .collect::<Result<Vec<_>, _>>()?;
        let digest = super::hash(&values).map_err(|_| SynthesisError::Unsatisfiable)?;
        return Ok(FpVar::Constant(digest));
    }

    let params = params(inputs.len() + 1).map_err(|_| SynthesisError::Unsatisfiable)?;
    let mut state = LaneState::new(cs.clone(), params, inputs);
    state.permute()?;
    let output = state.output_lc();
    let value = state.values.as_ref().map(|v| v[0]);
    let variable = cs.new_lc(output)?;
    Ok(FpVar::Var(AllocatedFp::new(value, variable, cs)))
}

/// The permutation state as circuit lanes.
struct LaneState<'a> {
    cs: ConstraintSystemRef<Fr>,
    params: &'a PoseidonParams,
    /// Whether constraint bodies are kept (setup, or proving with matrices).
    build: bool,
    /// Lane values, absent in setup mode.
    values: Option<Vec<Fr>>,
    /// Lane linear combinations as unsorted term lists; empty unless `build`.
    lanes: Vec<Vec<(Fr, Variable)>>,
    /// The most recent S-box output of each lane (only read after the last
    /// full round, when every lane is exactly its S-box output).
    sbox_out: Vec<Variable>,
}

impl<'a> LaneState<'a> {
    fn new(cs: ConstraintSystemRef<Fr>, params: &'a PoseidonParams, inputs: &[FpVar<Fr>]) -> Self {
        let build = cs.should_construct_matrices();
        let width = params.width();

        // The capacity lane starts at zero; the inputs fill the rest.
        let values = std::iter::once(Some(Fr::from(0u64)))
            .chain(inputs.iter().map(|x| x.value().ok()))
            .collect::<Option<Vec<Fr>>>();
        let lanes = if build {
            std::iter::once(Vec::new())
                .chain(inputs.iter().map(|x| match x {
                    FpVar::Constant(c) => vec![(*c, Variable::One)],
                    FpVar::Var(v) => vec![(Fr::from(1u64), v.variable)],
                }))
                .collect()
        } else {
            vec![Vec::new(); width]
        };

        Self {
            cs,
            params,
            build,
            values,
            lanes,
            sbox_out: vec![Variable::Zero; width],
        }
    }

    /// Mirrors `permute_scheduled`, on values and on linear combinations.
    fn permute(&mut self) -> Result<(), SynthesisError> {
        let params = self.params;
        let schedule = params.schedule();
        let width = params.width();
        let half = FULL_ROUNDS / 2;

        for round in 0..half {
            self.add_constants(params.round_constants(round));
            self.full_sbox_layer()?;
            let mds = if round == half - 1 {
                &schedule.pre_partial_mds
            } else {
                params.mds()
            };
            self.mix_dense(mds);
        }

        for (k, sparse) in schedule
            .partial_constants
            .iter()
            .zip(schedule.sparse.chunks_exact(2 * width - 1))
        {
            self.add_constant(0, *k);
            self.sbox(0)?;
            self.mix_sparse(sparse);
        }

        for round in 0..half {
            let constants = if round == 0 {
                &schedule.post_partial_constants
            } else {
                params.round_constants(half + params.partial_rounds() + round)
            };
            self.add_constants(constants);
            self.full_sbox_layer()?;
            if round + 1 < half {
                self.mix_dense(params.mds());
            }
        }
        // The final MDS layer is applied by `output_lc` (lane 0 only) and here
        // to the values.
        if let Some(values) = &mut self.values {
            mix_dense(params.mds(), values);
        }
        Ok(())
    }

    /// Lane 0 after the final MDS layer: `Σ_j M[0][j] * y_j` over the last
    /// S-box outputs, built in every mode because the caller receives it.
    fn output_lc(&self) -> LinearCombination<Fr> {
        let terms = self
            .params
            .mds_row(0)
            .iter()
            .zip(&self.sbox_out)
            .map(|(m, y)| (*m, *y))
            .collect();
        compact(terms)
    }

    fn add_constants(&mut self, constants: &[Fr]) {
        for (lane, c) in constants.iter().enumerate() {
            self.add_constant(lane, *c);
        }
    }

    fn add_constant(&mut self, lane: usize, c: Fr) {
        if let Some(values) = &mut self.values {
            values[lane] += c;
        }
        if self.build {
            self.lanes[lane].push((c, Variable::One));
        }
    }

    fn full_sbox_layer(&mut self) -> Result<(), SynthesisError> {
        for lane in 0..self.params.width() {
            self.sbox(lane)?;
        }
        Ok(())
    }

    /// `lane <- lane^5` with three constraints and three witnesses.
    fn sbox(&mut self, lane: usize) -> Result<(), SynthesisError> {
        let u = self.values.as_ref().map(|v| v[lane]);
        let u2 = u.map(|u| u * u);
        let u4 = u2.map(|u2| u2 * u2);
        let u5 = u4.zip(u).map(|(u4, u)| u4 * u);

        let missing = || SynthesisError::AssignmentMissing;
        let x2 = self.cs.new_witness_variable(|| u2.ok_or_else(missing))?;
        let x4 = self.cs.new_witness_variable(|| u4.ok_or_else(missing))?;
        let x5 = self.cs.new_witness_variable(|| u5.ok_or_else(missing))?;

        if self.build {
            let u_lc = compact(std::mem::take(&mut self.lanes[lane]));
            self.cs
                .enforce_constraint(u_lc.clone(), u_lc.clone(), x2.into())?;
            self.cs
                .enforce_constraint(x2.into(), x2.into(), x4.into())?;
            self.cs.enforce_constraint(x4.into(), u_lc, x5.into())?;
            self.lanes[lane].push((Fr::from(1u64), x5));
        } else {
            // Bodies are dropped in this mode; only the count must match.
            for _ in 0..3 {
                self.cs.enforce_constraint(
                    LinearCombination::zero(),
                    LinearCombination::zero(),
                    LinearCombination::zero(),
                )?;
            }
        }

        if let Some(values) = &mut self.values {
            values[lane] = u5.expect("values present implies u5 present");
        }
        self.sbox_out[lane] = x5;
        Ok(())
    }

    fn mix_dense(&mut self, matrix: &[Fr]) {
        if let Some(values) = &mut self.values {
            mix_dense(matrix, values);
        }
        if self.build {
            let width = self.params.width();
            let mixed = matrix
                .chunks_exact(width)
                .map(|row| {
                    let mut terms = Vec::new();
                    for (m, lane) in row.iter().zip(&self.lanes) {
                        terms.extend(lane.iter().map(|(c, v)| (*m * c, *v)));
                    }
                    compact(terms).0
                })
                .collect();
            self.lanes = mixed;
        }
    }

    fn mix_sparse(&mut self, sparse: &[Fr]) {
        if let Some(values) = &mut self.values {
            mix_sparse(sparse, values);
        }
        if self.build {
            let width = self.params.width();
            let (row, column) = sparse.split_at(width);
            // Lane 0 is a single S-box output here, so lanes 1.. grow by one
            // term each; only the new lane 0 needs a full merge.
            let mut first = Vec::new();
            for (m, lane) in row.iter().zip(&self.lanes) {
                first.extend(lane.iter().map(|(c, v)| (*m * c, *v)));
            }
            let first = compact(first).0;
            let old_first = std::mem::replace(&mut self.lanes[0], first);
            for (lane, c) in self.lanes[1..].iter_mut().zip(column) {
                lane.extend(old_first.iter().map(|(k, v)| (*c * k, *v)));
            }
        }
    }
}

/// Sorts and merges duplicate variables, the form arkworks' LC arithmetic
/// and matrix construction expect.
fn compact(terms: Vec<(Fr, Variable)>) -> LinearCombination<Fr> {
    let mut lc = LinearCombination(terms);
    lc.compactify();
    lc
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_r1cs_std::alloc::AllocVar;
    use ark_relations::r1cs::{ConstraintSystem, SynthesisMode};

    fn synthesize(mode: SynthesisMode, n: usize) -> (ConstraintSystemRef<Fr>, Option<Fr>) {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(mode);
        let inputs: Vec<FpVar<Fr>> = (0..n)
            .map(|i| FpVar::new_witness(cs.clone(), || Ok(Fr::from(i as u64 + 3))).unwrap())
            .collect();
        let out = hash_gadget(&inputs).unwrap();
        (cs, out.value().ok())
    }

    #[test]
    fn witness_only_mode_matches_full_mode() {
        for n in [1, 4, 16] {
            let (full, a) = synthesize(
                SynthesisMode::Prove {
                    construct_matrices: true,
                },
                n,
            );
            let (lean, b) = synthesize(
                SynthesisMode::Prove {
                    construct_matrices: false,
                },
                n,
            );
            assert_eq!(a, b);
            assert_eq!(full.num_constraints(), lean.num_constraints());
            let full = full.borrow().unwrap();
            let lean = lean.borrow().unwrap();
            assert_eq!(full.witness_assignment, lean.witness_assignment, "n = {n}");
            assert!(full.num_linear_combinations > lean.num_linear_combinations);
            assert_eq!(lean.num_linear_combinations, 1, "only the output LC");
        }
    }

    #[test]
    fn setup_mode_synthesizes_without_values() {
        let (cs, value) = synthesize(SynthesisMode::Setup, 2);
        assert_eq!(value, None);
        assert_eq!(cs.num_constraints(), 243);
        let (prove, _) = synthesize(
            SynthesisMode::Prove {
                construct_matrices: true,
            },
            2,
        );
        assert_eq!(cs.num_witness_variables(), prove.num_witness_variables());
    }
}
