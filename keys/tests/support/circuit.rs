//! The small circuit the snarkjs tests prove with.

use ark_bn254::Fr;
use ark_relations::lc;
use ark_relations::r1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError, Variable};

/// Knowledge of x, y with x·y = product and x + y = sum; both public.
#[derive(Clone)]
pub struct ProductAndSum {
    pub x: Option<Fr>,
    pub y: Option<Fr>,
}

impl ConstraintSynthesizer<Fr> for ProductAndSum {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let missing = || SynthesisError::AssignmentMissing;
        let product = cs
            .new_input_variable(|| Ok(self.x.ok_or_else(missing)? * self.y.ok_or_else(missing)?))?;
        let sum = cs
            .new_input_variable(|| Ok(self.x.ok_or_else(missing)? + self.y.ok_or_else(missing)?))?;
        let x = cs.new_witness_variable(|| self.x.ok_or_else(missing))?;
        let y = cs.new_witness_variable(|| self.y.ok_or_else(missing))?;
        cs.enforce_constraint(lc!() + x, lc!() + y, lc!() + product)?;
        cs.enforce_constraint(lc!() + x + y, lc!() + Variable::One, lc!() + sum)?;
        Ok(())
    }
}
