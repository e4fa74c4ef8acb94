//! The policy gadget, twin of [`Policy::evaluate`].
//!
//! Soundness of the comparisons rests on range checks, not on any assumption
//! that values are below (r-1)/2: every operand of an ordered comparison, of
//! `between` and of `has_bits` is decomposed into exactly its declared number
//! of bits, once, before any condition uses it. With both operands `a, b` in
//! `[0, 2^n)`, `a ≥ b` holds exactly when `a - b` fits in `n` bits, because a
//! negative difference wraps to a field element above `r - 2^n`.
//!
//! Conditions directly under `all` are enforced (cheapest form); conditions
//! under `any` are evaluated to bits and combined.

use std::collections::BTreeMap;

use ark_ff::Field;
use ark_r1cs_std::{
    alloc::AllocVar,
    boolean::Boolean,
    eq::EqGadget,
    fields::{fp::FpVar, FieldVar},
    R1CSVar,
};
use ark_relations::r1cs::SynthesisError;

use super::{low_bits, CmpOp, Condition, Operand, Policy, Ranged};
use crate::schema::Schema;
use crate::Fr;

/// Enforces that the record `values` (schema order) satisfy `policy` with
/// the public `params`.
pub fn enforce_policy(
    schema: &Schema,
    policy: &Policy,
    values: &[FpVar<Fr>],
    params: &[FpVar<Fr>],
) -> Result<(), SynthesisError> {
    let mut gadget = PolicyGadget {
        schema,
        values,
        params,
        bits: BTreeMap::new(),
    };
    for (ranged, bits) in policy.ranged_operands(schema) {
        let decomposition = to_bits(gadget.ranged(ranged), bits)?;
        gadget.bits.insert(ranged, decomposition);
    }
    gadget.enforce(&policy.rule)
}

struct PolicyGadget<'a> {
    schema: &'a Schema,
    values: &'a [FpVar<Fr>],
    params: &'a [FpVar<Fr>],
    /// The range-check decomposition of every ranged operand.
    bits: BTreeMap<Ranged, Vec<Boolean<Fr>>>,
}

impl PolicyGadget<'_> {
    fn ranged(&self, ranged: Ranged) -> &FpVar<Fr> {
        match ranged {
            Ranged::Field(i) => &self.values[i],
            Ranged::Param(i) => &self.params[i],
        }
    }

    fn operand(&self, operand: &Operand) -> FpVar<Fr> {
        match operand {
            Operand::Const(c) => FpVar::Constant(*c),
            Operand::Param(i) => self.params[*i].clone(),
        }
    }

    fn width(&self, field: usize) -> u32 {
        self.schema.fields[field].ty.bits()
    }

    /// The non-negative difference that an ordered comparison asserts fits in
    /// the field's width: `a ≥ b` ⇔ `a - b ≥ 0`, `a > b` ⇔ `a - b - 1 ≥ 0`.
    fn difference(&self, field: usize, op: CmpOp, rhs: &Operand) -> FpVar<Fr> {
        let (a, b) = (&self.values[field], self.operand(rhs));
        let one = Fr::from(1u64);
        match op {
            CmpOp::Ge => a - b,
            CmpOp::Gt => a - b - one,
            CmpOp::Le => b - a,
            CmpOp::Lt => b - a - one,
            CmpOp::Eq | CmpOp::Ne => unreachable!("equality is not ordered"),
        }
    }

    fn enforce(&self, cond: &Condition) -> Result<(), SynthesisError> {
        match cond {
            Condition::All(items) => items.iter().try_for_each(|c| self.enforce(c)),
            Condition::Any(_) => self.evaluate(cond)?.enforce_equal(&Boolean::TRUE),
            Condition::Compare { field, op, rhs } => match op {
                CmpOp::Eq => self.values[*field].enforce_equal(&self.operand(rhs)),
                CmpOp::Ne => enforce_not_equal(&self.values[*field], &self.operand(rhs)),
                _ => enforce_fits(&self.difference(*field, *op, rhs), self.width(*field)),
            },
            Condition::Member {
                field,
                set,
                negated: false,
            } => {
                let x = &self.values[*field];
                let (last, rest) = set.split_last().expect("a parsed set is not empty");
                let mut product = FpVar::Constant(Fr::from(1u64));
                for member in rest {
                    product *= x - self.operand(member);
                }
                product.mul_equals(&(x - self.operand(last)), &FpVar::Constant(Fr::from(0u64)))
            }
            Condition::Member {
                field,
                set,
                negated: true,
            } => set.iter().try_for_each(|member| {
                enforce_not_equal(&self.values[*field], &self.operand(member))
            }),
            Condition::Between { field, low, high } => {
                enforce_fits(&self.difference(*field, CmpOp::Ge, low), self.width(*field))?;
                enforce_fits(
                    &self.difference(*field, CmpOp::Le, high),
                    self.width(*field),
                )
            }
            Condition::HasBits { field, mask } => {
                let selected = self.selected_bits(*field, *mask);
                let count = selected
                    .iter()
                    .map(|b| FpVar::from(b.clone()))
                    .sum::<FpVar<Fr>>();
                count.enforce_equal(&FpVar::Constant(Fr::from(selected.len() as u64)))
            }
        }
    }

    fn evaluate(&self, cond: &Condition) -> Result<Boolean<Fr>, SynthesisError> {
        match cond {
            Condition::All(items) => Boolean::kary_and(&self.evaluate_all(items)?),
            Condition::Any(items) => Boolean::kary_or(&self.evaluate_all(items)?),
            Condition::Compare { field, op, rhs } => match op {
                CmpOp::Eq => self.values[*field].is_eq(&self.operand(rhs)),
                CmpOp::Ne => self.values[*field].is_neq(&self.operand(rhs)),
                _ => is_non_negative(&self.difference(*field, *op, rhs), self.width(*field)),
            },
            Condition::Member {
                field,
                set,
                negated,
            } => {
                let x = &self.values[*field];
                let mut product = FpVar::Constant(Fr::from(1u64));
                for member in set {
                    product *= x - self.operand(member);
                }
                let is_member = product.is_eq(&FpVar::Constant(Fr::from(0u64)))?;
                Ok(if *negated { !is_member } else { is_member })
            }
            Condition::Between { field, low, high } => Ok(is_non_negative(
                &self.difference(*field, CmpOp::Ge, low),
                self.width(*field),
            )? & is_non_negative(
                &self.difference(*field, CmpOp::Le, high),
                self.width(*field),
            )?),
            Condition::HasBits { field, mask } => {
                Boolean::kary_and(&self.selected_bits(*field, *mask))
            }
        }
    }

    fn evaluate_all(&self, items: &[Condition]) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
        items.iter().map(|c| self.evaluate(c)).collect()
    }

    fn selected_bits(&self, field: usize, mask: u64) -> Vec<Boolean<Fr>> {
        let bits = &self.bits[&Ranged::Field(field)];
        (0..64)
            .filter(|i| mask >> i & 1 == 1)
            .map(|i| bits[i as usize].clone())
            .collect()
    }
}

/// Decomposes `x` into `n` witnessed bits and enforces that they recompose to
/// `x`, which holds only if `0 ≤ x < 2^n`. Costs `n + 1` constraints.
pub fn to_bits(x: &FpVar<Fr>, n: u32) -> Result<Vec<Boolean<Fr>>, SynthesisError> {
    let cs = x.cs();
    let value = x.value().ok();
    let bits = value.map(|v| low_bits(&v, n));
    let decomposition = (0..n as usize)
        .map(|i| {
            Boolean::new_witness(cs.clone(), || {
                bits.as_ref()
                    .map(|b| b[i])
                    .ok_or(SynthesisError::AssignmentMissing)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Boolean::le_bits_to_fp(&decomposition)?.enforce_equal(x)?;
    Ok(decomposition)
}

/// Enforces `0 ≤ x < 2^n`.
fn enforce_fits(x: &FpVar<Fr>, n: u32) -> Result<(), SynthesisError> {
    to_bits(x, n).map(|_| ())
}

/// Whether `x ≥ 0` for `x` in `(-2^n, 2^n)`: bit `n` of `x + 2^n`, which lies
/// in `[0, 2^(n+1))` when the operands were range-checked.
fn is_non_negative(x: &FpVar<Fr>, n: u32) -> Result<Boolean<Fr>, SynthesisError> {
    // n ≤ 64, so 2^n fits in a u128.
    let shifted = x + Fr::from(1u128 << n);
    let mut bits = to_bits(&shifted, n + 1)?;
    Ok(bits.pop().expect("n + 1 ≥ 1 bits"))
}

/// Enforces `a != b` by witnessing the inverse of `a - b`. Unlike
/// `EqGadget::enforce_not_equal`, equal values give an unsatisfied
/// constraint rather than a synthesis error, so a record that fails the
/// policy yields an unsatisfied circuit like every other failure.
fn enforce_not_equal(a: &FpVar<Fr>, b: &FpVar<Fr>) -> Result<(), SynthesisError> {
    let difference = a - b;
    let inverse = FpVar::new_witness(difference.cs(), || {
        Ok(difference.value()?.inverse().unwrap_or_default())
    })?;
    difference.mul_equals(&inverse, &FpVar::Constant(Fr::from(1u64)))
}
