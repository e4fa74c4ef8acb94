//! The statement circuit: one policy over one registry shape.
//!
//! It proves that a record, whose leaf `Poseidon([subject, fields…, salt])`
//! sits in the registry tree under `registry_root`, satisfies the policy with
//! the public params, and that `subject_tag = Poseidon([subject, case_secret])`.
//! The public inputs are the [`Statement`]'s, in its order; `case_id` enters
//! no gadget but is bound by the input-consistency constraints that the
//! Groth16 QAP reduction adds for every public input.

use ark_ff::{One, Zero};
use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar};
use ark_relations::r1cs::{
    ConstraintMatrices, ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef,
    SynthesisError, SynthesisMode,
};

use crate::policy::{constraints::enforce_policy, Policy};
use crate::poseidon::constraints::hash_gadget;
use crate::schema::{Record, Schema};
use crate::statement::Statement;
use crate::tree::{constraints::root_gadget, MerklePath, TreeShape};
use crate::Fr;

/// The private side of a proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementWitness {
    /// The applicant's record, encoded.
    pub record: Record,
    /// The record's membership path in the registry tree.
    pub path: MerklePath,
    /// The case secret behind the subject tag.
    pub case_secret: Fr,
}

/// The circuit for `policy` over registries of `shape`. Without an
/// assignment it synthesizes the shape alone, for setup and inspection.
#[derive(Debug, Clone, Copy)]
pub struct StatementCircuit<'a> {
    /// The registry's schema.
    pub schema: &'a Schema,
    /// The policy the record must satisfy.
    pub policy: &'a Policy,
    /// The registry tree's arity and depth.
    pub shape: TreeShape,
    /// The statement and its witness, when proving.
    pub assignment: Option<(&'a Statement, &'a StatementWitness)>,
}

/// The size of a statement circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitSize {
    /// R1CS constraints.
    pub constraints: usize,
    /// Public inputs (without the constant one).
    pub public_inputs: usize,
    /// Private witness variables.
    pub witnesses: usize,
}

impl CircuitSize {
    /// The Groth16 evaluation domain: the next power of two at or above
    /// constraints + public inputs + 1 (the QAP reduction adds one
    /// constraint per instance variable).
    pub fn domain(&self) -> usize {
        (self.constraints + self.public_inputs + 1).next_power_of_two()
    }
}

impl<'a> StatementCircuit<'a> {
    /// The circuit without an assignment.
    pub fn shape_only(schema: &'a Schema, policy: &'a Policy, shape: TreeShape) -> Self {
        Self {
            schema,
            policy,
            shape,
            assignment: None,
        }
    }

    /// Synthesizes the shape and counts its constraints and variables.
    pub fn size(
        schema: &Schema,
        policy: &Policy,
        shape: TreeShape,
    ) -> Result<CircuitSize, SynthesisError> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(ark_relations::r1cs::SynthesisMode::Setup);
        StatementCircuit::shape_only(schema, policy, shape).generate_constraints(cs.clone())?;
        cs.finalize();
        Ok(CircuitSize {
            constraints: cs.num_constraints(),
            public_inputs: cs.num_instance_variables() - 1,
            witnesses: cs.num_witness_variables(),
        })
    }
}

/// A full assignment of a statement circuit's variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The instance variables: the constant one, then the public inputs.
    pub instance: Vec<Fr>,
    /// The witness variables, in allocation order.
    pub witness: Vec<Fr>,
}

impl StatementCircuit<'_> {
    /// Synthesizes the circuit's R1CS matrices. This is the expensive part of
    /// synthesis, done once per policy and shape; proofs then need only
    /// [`StatementCircuit::assign`].
    pub fn matrices(self) -> Result<ConstraintMatrices<Fr>, SynthesisError> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Setup);
        StatementCircuit {
            assignment: None,
            ..self
        }
        .generate_constraints(cs.clone())?;
        cs.finalize();
        cs.to_matrices().ok_or(SynthesisError::AssignmentMissing)
    }

    /// Witness-only synthesis: computes every variable's value without
    /// building any constraint. Needs an assignment.
    pub fn assign(self) -> Result<Assignment, SynthesisError> {
        if self.assignment.is_none() {
            return Err(SynthesisError::AssignmentMissing);
        }
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_mode(SynthesisMode::Prove {
            construct_matrices: false,
        });
        self.generate_constraints(cs.clone())?;
        let cs = cs.into_inner().ok_or(SynthesisError::MissingCS)?;
        Ok(Assignment {
            instance: cs.instance_assignment,
            witness: cs.witness_assignment,
        })
    }
}

/// The index of the first constraint that `assignment` violates, or `None`
/// when it satisfies all of `matrices`.
pub fn first_unsatisfied(
    matrices: &ConstraintMatrices<Fr>,
    assignment: &Assignment,
) -> Option<usize> {
    let value = |column: usize| {
        if column < assignment.instance.len() {
            assignment.instance[column]
        } else {
            assignment.witness[column - assignment.instance.len()]
        }
    };
    let dot = |row: &[(Fr, usize)]| {
        let mut sum = Fr::zero();
        for (coefficient, column) in row {
            // Most coefficients of a circuit's rows are one.
            if coefficient.is_one() {
                sum += value(*column);
            } else {
                sum += *coefficient * value(*column);
            }
        }
        sum
    };
    if assignment.instance.len() != matrices.num_instance_variables
        || assignment.witness.len() != matrices.num_witness_variables
    {
        return Some(0);
    }
    (0..matrices.num_constraints)
        .find(|&i| dot(&matrices.a[i]) * dot(&matrices.b[i]) != dot(&matrices.c[i]))
}

fn alloc_input(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    FpVar::new_input(cs.clone(), || {
        value.ok_or(SynthesisError::AssignmentMissing)
    })
}

fn alloc_witness(
    cs: &ConstraintSystemRef<Fr>,
    value: Option<Fr>,
) -> Result<FpVar<Fr>, SynthesisError> {
    FpVar::new_witness(cs.clone(), || {
        value.ok_or(SynthesisError::AssignmentMissing)
    })
}

impl ConstraintSynthesizer<Fr> for StatementCircuit<'_> {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let (statement, witness) = self.assignment.unzip();
        let fields = self.schema.fields.len();
        if let Some((statement, witness)) = self.assignment {
            if statement.params.len() != self.policy.params.len()
                || witness.record.values.len() != fields
            {
                return Err(SynthesisError::Unsatisfiable);
            }
        }

        let root = alloc_input(&cs, statement.map(|s| s.registry_root))?;
        let _case_id = alloc_input(&cs, statement.map(|s| s.case_id))?;
        let tag = alloc_input(&cs, statement.map(|s| s.subject_tag.0))?;
        let params = (0..self.policy.params.len())
            .map(|i| alloc_input(&cs, statement.map(|s| s.params[i])))
            .collect::<Result<Vec<_>, _>>()?;

        let values = (0..fields)
            .map(|i| alloc_witness(&cs, witness.map(|w| w.record.values[i])))
            .collect::<Result<Vec<_>, _>>()?;
        let salt = alloc_witness(&cs, witness.map(|w| w.record.salt))?;
        let case_secret = alloc_witness(&cs, witness.map(|w| w.case_secret))?;
        let subject = &values[self.schema.subject];

        let mut preimage = vec![subject.clone()];
        preimage.extend(
            values
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.schema.subject)
                .map(|(_, v)| v.clone()),
        );
        preimage.push(salt);
        let leaf = hash_gadget(&preimage)?;
        root_gadget(cs.clone(), &self.shape, &leaf, witness.map(|w| &w.path))?
            .enforce_equal(&root)?;

        hash_gadget(&[subject.clone(), case_secret])?.enforce_equal(&tag)?;

        enforce_policy(self.schema, self.policy, &values, &params)
    }
}
