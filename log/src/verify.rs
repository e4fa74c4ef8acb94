//! Groth16 verification over BN254, one proof at a time or many at once.
//!
//! A proof `(A, B, C)` of public inputs `x_1 … x_ℓ` under the key
//! `(α, β, γ, δ, IC_0 … IC_ℓ)` is accepted when
//!
//! ```text
//! e(A, B) = e(α, β) · e(X, γ) · e(C, δ),   where X = IC_0 + Σ_j x_j·IC_j.
//! ```
//!
//! [`verify`] checks that equation for one proof, exactly as arkworks'
//! `Groth16::verify_proof` does: three Miller loops and one final
//! exponentiation.
//!
//! [`verify_batch`] checks many proofs, under one key or several, with one
//! random linear combination. It draws a random scalar `r_i` for every
//! proof and checks
//!
//! ```text
//! Π_i e(r_i·A_i, B_i) · Π_keys [ e((Σ r_i)·α, −β) · e(Σ r_i·X_i, −γ) · e(Σ r_i·C_i, −δ) ] = 1
//! ```
//!
//! where each key's sums run over that key's proofs. That is one multi
//! Miller loop over `n + 3k` pairs (n proofs, k keys) and one final
//! exponentiation, against `3n` Miller loops and `n` final exponentiations
//! one by one. The per-key sums are multi-scalar multiplications; the
//! public inputs cost one MSM over the `ℓ + 1` points `IC_j` per key, not
//! one per proof, because `Σ_i r_i·X_i = (Σ_i r_i)·IC_0 + Σ_j (Σ_i r_i·x_ij)·IC_j`.
//! When the combined check fails, the batch is split in halves, each
//! settled the same way with fresh scalars, down to single proofs, so that
//! every bad proof is found and every good one is still accepted. (When the
//! left half passes, the right half's check is skipped: it must fail.)
//!
//! # Why 128-bit scalars suffice
//!
//! Write proof i's residual `e(A_i, B_i) · e(α, β)⁻¹ · e(X_i, γ)⁻¹ · e(C_i, δ)⁻¹`
//! as `g^(t_i)` in the pairing target group, which is cyclic of prime order
//! `r ≈ 2^254` (the caller has checked that every point lies in its
//! prime-order group). Proof i is valid exactly when `t_i = 0`, and the
//! combined check passes exactly when `Σ r_i·t_i ≡ 0 (mod r)`. If some
//! `t_k ≠ 0`, then whatever the other scalars are, one residue of `r_k`
//! modulo `r` at most makes the sum vanish. Each `r_i` is `1 + u` with `u`
//! uniform over `[0, 2^128)`, drawn from a CSPRNG after the proofs are
//! fixed: 2^128 distinct nonzero residues, as `2^128 < r`. A check over a
//! set holding a bad proof therefore passes with probability at most
//! `2^-128`. Splitting runs fewer than `2n` checks, so a bad proof is
//! accepted with probability below `2n · 2^-128`. Longer scalars would only
//! lengthen the scalar multiplications `r_i·A_i`.

#[cfg(feature = "parallel")]
use rayon::prelude::*;

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective};
use ark_ec::pairing::Pairing;
use ark_ec::{CurveGroup, VariableBaseMSM};
use ark_ff::{One, Zero};
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, VerifyingKey};
use ark_std::cfg_iter;
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, SeedableRng};

/// A G2 point prepared for the Miller loop (its line coefficients).
type G2Prepared = <Bn254 as Pairing>::G2Prepared;

/// Why a proof could not be checked at all.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The proof came with a different number of public inputs than the key takes.
    #[error("the verifying key takes {expected} public inputs, but {found} were given")]
    WrongPublicInputCount {
        /// Public inputs the key takes.
        expected: usize,
        /// Public inputs given with the proof.
        found: usize,
    },
}

/// A verifying key prepared for single and batched verification.
#[derive(Clone, Debug)]
pub struct PreparedKey {
    /// The key, `e(α, β)`, and `−γ`, `−δ` prepared for the Miller loop.
    prepared: PreparedVerifyingKey<Bn254>,
    /// `−β` prepared for the Miller loop: a batch pairs it with `(Σ r_i)·α`.
    neg_beta_g2: G2Prepared,
}

impl PreparedKey {
    /// Prepares `vk`: the G2 points' line coefficients and `e(α, β)`.
    pub fn new(vk: VerifyingKey<Bn254>) -> Self {
        let neg_beta_g2 = (-vk.beta_g2).into();
        Self {
            prepared: ark_groth16::prepare_verifying_key(&vk),
            neg_beta_g2,
        }
    }

    /// The number of public inputs a proof under this key comes with.
    pub fn public_inputs(&self) -> usize {
        self.prepared.vk.gamma_abc_g1.len().saturating_sub(1)
    }

    /// The verifying key as given.
    pub fn verifying_key(&self) -> &VerifyingKey<Bn254> {
        &self.prepared.vk
    }

    /// Whether the key has `IC_0` at all; arkworks accepts nothing under a
    /// key without it, and neither do we.
    fn is_well_formed(&self) -> bool {
        !self.prepared.vk.gamma_abc_g1.is_empty()
    }

    /// Whether proofs under `self` and `other` can share the per-key pairings.
    fn same_as(&self, other: &Self) -> bool {
        std::ptr::eq(self, other) || self.prepared.vk == other.prepared.vk
    }
}

/// One proof to check.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    /// The key the proof claims to be under.
    pub key: &'a PreparedKey,
    /// The proof, already validated (points on the curve and in the subgroup).
    pub proof: &'a Proof<Bn254>,
    /// The public inputs, in the circuit's order, already canonical.
    pub public_inputs: &'a [Fr],
}

/// Checks one proof; agrees with `Groth16::<Bn254>::verify_proof`.
pub fn verify(item: &Item) -> Result<bool, VerifyError> {
    check_count(item)?;
    // arkworks' only errors here are a malformed key and an identity Miller
    // loop output; both mean "not accepted".
    Ok(
        Groth16::<Bn254>::verify_proof(&item.key.prepared, item.proof, item.public_inputs)
            .unwrap_or(false),
    )
}

/// Checks many proofs, possibly under different keys, with one combined
/// check, and returns one verdict per item, in order; bad proofs are
/// located by splitting the batch in halves.
///
/// Items with a wrong public-input count get `Err` and are left out of the
/// combination, so they do not affect the others. Proofs under the same key
/// share its pairings: pass the same `&PreparedKey` for them (equal keys
/// behind different references are also recognised, at the cost of a
/// comparison).
pub fn verify_batch(items: &[Item]) -> Vec<Result<bool, VerifyError>> {
    let mut verdicts: Vec<_> = items
        .iter()
        .map(|item| check_count(item).map(|()| item.key.is_well_formed()))
        .collect();
    let combined: Vec<usize> = (0..items.len())
        .filter(|&i| verdicts[i] == Ok(true))
        .collect();
    match StdRng::from_rng(OsRng) {
        Ok(mut rng) => {
            locate(items, &combined, false, &mut rng, &mut verdicts);
        }
        // Without fresh randomness a combined check proves nothing.
        Err(_) => {
            for &i in &combined {
                verdicts[i] = verify(&items[i]);
            }
        }
    }
    verdicts
}

/// Rejects a proof whose public-input count differs from its key's.
fn check_count(item: &Item) -> Result<(), VerifyError> {
    let (expected, found) = (item.key.public_inputs(), item.public_inputs.len());
    if expected == found {
        Ok(())
    } else {
        Err(VerifyError::WrongPublicInputCount { expected, found })
    }
}

/// Settles the verdicts of `items[indices]`, which start as `Ok(true)`, and
/// returns whether all of them are accepted. Unless `failed` says their
/// combined check is already known to fail, that check runs first and, if
/// it passes, settles them all; otherwise each half is settled on its own,
/// down to single proofs, which are checked by [`verify`].
fn locate(
    items: &[Item],
    indices: &[usize],
    failed: bool,
    rng: &mut StdRng,
    verdicts: &mut [Result<bool, VerifyError>],
) -> bool {
    match indices {
        [] => true,
        [i] => {
            verdicts[*i] = verify(&items[*i]);
            verdicts[*i] == Ok(true)
        }
        _ => {
            if !failed && combined_check(items, indices, rng) {
                return true;
            }
            let (left, right) = indices.split_at(indices.len() / 2);
            let left_accepted = locate(items, left, false, rng, verdicts);
            // Valid proofs always pass, so when the left half is all valid
            // the right half's own check would fail: skip it. This saves
            // work only; every verdict still comes from a check.
            let right_accepted = locate(items, right, left_accepted, rng, verdicts);
            left_accepted && right_accepted
        }
    }
}

/// The random-linear-combination check of `items[indices]` (see the module
/// docs): true when all of them are valid, and, with probability at least
/// `1 − 2^-128`, false when any is not.
fn combined_check(items: &[Item], indices: &[usize], rng: &mut StdRng) -> bool {
    // 2^128 distinct nonzero scalars, uniform.
    let scalars: Vec<Fr> = indices
        .iter()
        .map(|_| Fr::from(rng.gen::<u128>()) + Fr::one())
        .collect();

    // Per proof: r_i·A_i, and B_i's line coefficients.
    let (scaled_a, prepared_b): (Vec<G1Projective>, Vec<G2Prepared>) = cfg_iter!(indices)
        .zip(cfg_iter!(scalars))
        .map(|(&i, r)| (items[i].proof.a * r, items[i].proof.b.into()))
        .unzip();

    // Group the proofs by key; members are positions in `indices`.
    let mut keys: Vec<(&PreparedKey, Vec<usize>)> = Vec::new();
    for (position, &i) in indices.iter().enumerate() {
        let key = items[i].key;
        match keys.iter_mut().find(|(k, _)| k.same_as(key)) {
            Some((_, members)) => members.push(position),
            None => keys.push((key, vec![position])),
        }
    }

    // Per key: (Σ r_i)·α, Σ r_i·X_i and Σ r_i·C_i.
    let key_sums = keys.iter().flat_map(|(key, members)| {
        let vk = key.verifying_key();
        let r: Vec<Fr> = members.iter().map(|&p| scalars[p]).collect();
        let r_sum: Fr = r.iter().sum();
        let mut ic_scalars = vec![Fr::zero(); vk.gamma_abc_g1.len()];
        ic_scalars[0] = r_sum;
        for (&p, r) in members.iter().zip(&r) {
            let inputs = items[indices[p]].public_inputs;
            for (s, x) in ic_scalars[1..].iter_mut().zip(inputs) {
                *s += *r * x;
            }
        }
        let c: Vec<G1Affine> = members.iter().map(|&p| items[indices[p]].proof.c).collect();
        [
            vk.alpha_g1 * r_sum,
            G1Projective::msm_unchecked(&vk.gamma_abc_g1, &ic_scalars),
            G1Projective::msm_unchecked(&c, &r),
        ]
    });
    let g1: Vec<G1Projective> = scaled_a.into_iter().chain(key_sums).collect();
    let g1 = G1Projective::normalize_batch(&g1);
    let g2 = prepared_b
        .into_iter()
        .chain(keys.iter().flat_map(|(key, _)| {
            [
                key.neg_beta_g2.clone(),
                key.prepared.gamma_g2_neg_pc.clone(),
                key.prepared.delta_g2_neg_pc.clone(),
            ]
        }));

    // An identity Miller loop output has no final exponentiation: not accepted.
    Bn254::final_exponentiation(Bn254::multi_miller_loop(g1, g2))
        .is_some_and(|product| product.0.is_one())
}
