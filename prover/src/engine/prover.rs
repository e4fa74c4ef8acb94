//! The Groth16 prover on the circuit's cached rows and fixed-base MSM tables.
//!
//! The steps, and so the proof for given `r` and `s`, are those of
//! `ark_groth16`'s `create_proof_with_reduction_and_matrices` with the
//! R1CS-to-QAP reduction the key is for (circom's, for the keys zkgov sets
//! up, or libsnark's, for keys of format 1; see [`zkgov_keys::qap`]); a
//! test pins the two to the same bytes for each.
//! What differs is how: the witness map runs on transforms planned once
//! per key, in buffers each thread keeps ([`WitnessMap`]), the MSMs use
//! the key's precomputed window tables ([`FixedBaseMsm`]), and the L and H
//! queries, whose sums C only ever takes together, are one MSM. The stages
//! can be timed.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use ark_bn254::{g1, g2, Bn254, Fr, G1Projective, G2Projective};
use ark_ec::CurveGroup;
use ark_ff::{PrimeField, Zero};
use ark_groth16::{Proof, ProvingKey};
use ark_relations::r1cs::{ConstraintMatrices, SynthesisError};
use zkgov_keys::qap::Reduction;

use super::msm::{FixedBaseMsm, MsmCount, Scratch};
use super::witness::{Buffers, EvaluationError, WitnessMap};

thread_local! {
    /// MSM buffers kept by each thread between proofs.
    static G1_SCRATCH: RefCell<Scratch<g1::Config>> = RefCell::new(Scratch::default());
    static G2_SCRATCH: RefCell<Scratch<g2::Config>> = RefCell::new(Scratch::default());
}

/// An MSM in this thread's buffers. An MSM never yields to rayon, so the
/// buffers are never borrowed twice; a fresh set is the fallback anyway.
fn g1_msm(
    table: &FixedBaseMsm<g1::Config>,
    scalars: &[<Fr as PrimeField>::BigInt],
) -> G1Projective {
    G1_SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => table.msm_with(scalars, &mut scratch),
        Err(_) => table.msm(scalars),
    })
}

fn g2_msm(
    table: &FixedBaseMsm<g2::Config>,
    scalars: &[<Fr as PrimeField>::BigInt],
) -> G2Projective {
    G2_SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => table.msm_with(scalars, &mut scratch),
        Err(_) => table.msm(scalars),
    })
}

/// A proving key with window tables for each of its query vectors.
pub struct TabledKey {
    /// The proving key.
    pub key: ProvingKey<Bn254>,
    /// The reduction the key's H query is for.
    pub reduction: Reduction,
    a: FixedBaseMsm<g1::Config>,
    b_g1: FixedBaseMsm<g1::Config>,
    b_g2: FixedBaseMsm<g2::Config>,
    /// The L query then the H query, as one table: their sums only ever
    /// go into C together, so one MSM, with one bucket reduction, serves
    /// both.
    l_h: FixedBaseMsm<g1::Config>,
    /// The witness map, with the transforms of the key's domain.
    witness: WitnessMap,
}

impl TabledKey {
    /// Builds the window tables of `key`'s queries, on the current rayon
    /// pool, and the witness map of the circuit of `matrices`; the key's H
    /// query is for `reduction`.
    pub fn new(
        key: ProvingKey<Bn254>,
        reduction: Reduction,
        matrices: &ConstraintMatrices<Fr>,
    ) -> Result<Self, SynthesisError> {
        let witness = WitnessMap::new(reduction, matrices)?;
        let l_and_h = [&key.l_query[..], &key.h_query[..]].concat();
        let ((a, b_g1), (b_g2, l_h)) = rayon::join(
            || {
                rayon::join(
                    || FixedBaseMsm::new(&key.a_query),
                    || FixedBaseMsm::new(&key.b_g1_query),
                )
            },
            || {
                rayon::join(
                    || FixedBaseMsm::new(&key.b_g2_query),
                    || FixedBaseMsm::new(&l_and_h),
                )
            },
        );
        Ok(Self {
            key,
            reduction,
            witness,
            a,
            b_g1,
            b_g2,
            l_h,
        })
    }

    /// The scalars of the MSM over the key's L query then its H query, as
    /// the engine fuses them, for `full_assignment` and its integers
    /// `ints`: the witness variables' (for L), then the witness map's (for
    /// H), each cut or padded with zeros to its query's length.
    pub fn l_h_scalars(
        &self,
        full_assignment: &[Fr],
        ints: &[<Fr as PrimeField>::BigInt],
    ) -> Result<Vec<<Fr as PrimeField>::BigInt>, EvaluationError> {
        let mut buffers = Buffers::take();
        let scalars = self
            .witness
            .evaluate_rows(full_assignment, &mut buffers)
            .map(|()| self.fused_scalars(ints, &mut buffers));
        buffers.give_back();
        scalars
    }

    /// Checks that `full_assignment` satisfies the circuit's rows.
    pub fn check(&self, full_assignment: &[Fr]) -> Result<(), EvaluationError> {
        let mut buffers = Buffers::take();
        let checked = self.witness.evaluate_rows(full_assignment, &mut buffers);
        buffers.give_back();
        checked
    }

    /// [`TabledKey::l_h_scalars`] from the rows already in `buffers`.
    fn fused_scalars(
        &self,
        ints: &[<Fr as PrimeField>::BigInt],
        buffers: &mut Buffers,
    ) -> Vec<<Fr as PrimeField>::BigInt> {
        let (l_len, h_len) = (self.key.l_query.len(), self.key.h_query.len());
        let aux = ints.get(self.witness.inputs()..).unwrap_or_default();
        let zero = <Fr as PrimeField>::BigInt::default();
        let mut scalars = Vec::with_capacity(l_len + h_len);
        scalars.extend(aux.iter().take(l_len));
        scalars.resize(l_len, zero);
        self.witness.append_scalars(buffers, &mut scalars);
        scalars.resize(l_len + h_len, zero);
        scalars
    }

    /// Bytes held by the window tables and the witness map's transforms.
    pub fn table_bytes(&self) -> usize {
        self.a.table_bytes()
            + self.b_g1.table_bytes()
            + self.b_g2.table_bytes()
            + self.l_h.table_bytes()
            + self.witness.bytes()
    }
}

/// Where one proof's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofTimings {
    /// Witness-only synthesis of the circuit.
    pub synthesis: Duration,
    /// The constraint rows evaluated on the assignment, each distinct
    /// linear combination once, with the satisfiability check.
    pub check: Duration,
    /// The rest of the R1CS-to-QAP witness map ([`WitnessMap`]): the
    /// reduction's transforms of the domain size (six for circom's, seven
    /// for libsnark's), into the L and H MSM's scalars.
    pub witness_map: Duration,
    /// The assignment's field elements to integers, for the MSMs.
    pub scalars: Duration,
    /// MSM over the A query (G1).
    pub msm_a: Duration,
    /// MSM over the B query in G1.
    pub msm_b_g1: Duration,
    /// MSM over the B query in G2.
    pub msm_b_g2: Duration,
    /// One MSM over the L and H queries (G1), whose sums C takes together.
    pub msm_l_h: Duration,
    /// Randomization and assembly of A, B and C.
    pub assembly: Duration,
}

impl ProofTimings {
    /// The sum of the stages.
    pub fn total(&self) -> Duration {
        self.synthesis
            + self.check
            + self.witness_map
            + self.scalars
            + self.msm_a
            + self.msm_b_g1
            + self.msm_b_g2
            + self.msm_l_h
            + self.assembly
    }

    /// Adds `other`'s stage times to these.
    pub fn add(&mut self, other: &Self) {
        self.synthesis += other.synthesis;
        self.check += other.check;
        self.witness_map += other.witness_map;
        self.scalars += other.scalars;
        self.msm_a += other.msm_a;
        self.msm_b_g1 += other.msm_b_g1;
        self.msm_b_g2 += other.msm_b_g2;
        self.msm_l_h += other.msm_l_h;
        self.assembly += other.assembly;
    }
}

/// Runs `f`, adding its time to `slot` when timing.
fn timed<T>(slot: Option<&mut Duration>, f: impl FnOnce() -> T) -> T {
    match slot {
        Some(slot) => {
            let started = Instant::now();
            let value = f();
            *slot += started.elapsed();
            value
        }
        None => f(),
    }
}

/// The Groth16 proof of `full_assignment` (the constant one, the public
/// inputs, then the witness) with randomness `r`, `s`. The constraint rows
/// are evaluated first, and an assignment that does not satisfy them is
/// refused before any MSM. With `timings` the stages run one after another
/// and are timed; without, they run in parallel on the current rayon pool.
pub fn create_proof(
    tabled: &TabledKey,
    r: Fr,
    s: Fr,
    full_assignment: &[Fr],
    timings: Option<&mut ProofTimings>,
) -> Result<Proof<Bn254>, EvaluationError> {
    let mut buffers = Buffers::take();
    let proof = prove_in(tabled, r, s, full_assignment, timings, &mut buffers);
    buffers.give_back();
    proof
}

/// [`create_proof`] in `buffers`.
fn prove_in(
    tabled: &TabledKey,
    r: Fr,
    s: Fr,
    full_assignment: &[Fr],
    mut timings: Option<&mut ProofTimings>,
    buffers: &mut Buffers,
) -> Result<Proof<Bn254>, EvaluationError> {
    let pk = &tabled.key;
    timed(timings.as_deref_mut().map(|t| &mut t.check), || {
        tabled.witness.evaluate_rows(full_assignment, buffers)
    })?;
    let ints = timed(timings.as_deref_mut().map(|t| &mut t.scalars), || {
        to_bigints(full_assignment)
    });

    let (l_h_acc, a_acc, b_g1_acc, b_g2_acc) = if let Some(t) = timings.as_deref_mut() {
        let l_h_ints = timed(Some(&mut t.witness_map), || {
            tabled.fused_scalars(&ints, buffers)
        });
        (
            timed(Some(&mut t.msm_l_h), || g1_msm(&tabled.l_h, &l_h_ints)),
            timed(Some(&mut t.msm_a), || g1_msm(&tabled.a, &ints)),
            timed(Some(&mut t.msm_b_g1), || g1_msm(&tabled.b_g1, &ints)),
            timed(Some(&mut t.msm_b_g2), || g2_msm(&tabled.b_g2, &ints)),
        )
    } else {
        // Only the L and H MSM waits for the witness map; the rest runs
        // beside it.
        let (l_h_acc, (b_g2_acc, (a_acc, b_g1_acc))) = rayon::join(
            || g1_msm(&tabled.l_h, &tabled.fused_scalars(&ints, buffers)),
            || {
                rayon::join(
                    || g2_msm(&tabled.b_g2, &ints),
                    || rayon::join(|| g1_msm(&tabled.a, &ints), || g1_msm(&tabled.b_g1, &ints)),
                )
            },
        );
        (l_h_acc, a_acc, b_g1_acc, b_g2_acc)
    };

    timed(timings.map(|t| &mut t.assembly), || {
        // As in ark-groth16: the tables' first row is the constant one's
        // term (`query[0]`), which its MSM adds with scalar 1.
        let r_s_delta_g1 = pk.delta_g1 * (r * s);
        let g_a = pk.delta_g1 * r + a_acc + pk.vk.alpha_g1;
        let s_g_a = g_a * s;
        let g1_b = if r.is_zero() {
            G1Projective::zero()
        } else {
            pk.delta_g1 * s + b_g1_acc + pk.beta_g1
        };
        let g2_b = pk.vk.delta_g2 * s + b_g2_acc + pk.vk.beta_g2;
        let r_g1_b = g1_b * r;
        let g_c = s_g_a + r_g1_b - r_s_delta_g1 + l_h_acc;
        let normalized = G1Projective::normalize_batch(&[g_a, g_c]);
        Ok(Proof {
            a: normalized[0],
            b: g2_b.into_affine(),
            c: normalized[1],
        })
    })
}

/// The group operations of a proof's MSMs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsmCounts {
    /// Over the A query (G1).
    pub a: MsmCount,
    /// Over the B query in G1.
    pub b_g1: MsmCount,
    /// Over the B query in G2.
    pub b_g2: MsmCount,
    /// Over the L and H queries together (G1).
    pub l_h: MsmCount,
}

/// Counts the group operations each MSM of the proof of `full_assignment`
/// makes (the MSMs are run, and their sums dropped).
pub fn msm_counts(
    tabled: &TabledKey,
    full_assignment: &[Fr],
) -> Result<MsmCounts, EvaluationError> {
    let ints = to_bigints(full_assignment);
    let l_h = tabled.l_h_scalars(full_assignment, &ints)?;
    Ok(MsmCounts {
        a: tabled.a.msm_counted(&ints).1,
        b_g1: tabled.b_g1.msm_counted(&ints).1,
        b_g2: tabled.b_g2.msm_counted(&ints).1,
        l_h: tabled.l_h.msm_counted(&l_h).1,
    })
}

fn to_bigints(values: &[Fr]) -> Vec<<Fr as PrimeField>::BigInt> {
    values.iter().map(|v| v.into_bigint()).collect()
}

impl std::fmt::Debug for TabledKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TabledKey")
            .field("table_bytes", &self.table_bytes())
            .finish_non_exhaustive()
    }
}
