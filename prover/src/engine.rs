//! The proving engine: one policy's circuit, ready to prove many statements.
//!
//! [`Engine::new`] does every per-key step once: it checks that the key
//! directory is for the given schema, policy and tree shape, loads the
//! proving key, prepares the verifying key and synthesizes the circuit's
//! R1CS matrices, and it builds window tables of the proving key's query
//! vectors for fixed-base MSMs ([`msm`]). A proof then costs only
//! witness-only synthesis ([`StatementCircuit::assign`]) and the Groth16
//! prover run on the cached rows and tables ([`prover`]), which checks the
//! assignment against the rows as it evaluates them ([`witness`]). Given the same randomness, the proof is
//! the one `ark_groth16`'s `create_proof_with_reduction_and_matrices` makes
//! with the reduction the key is for ([`zkgov_keys::qap`]).
//!
//! Two ways to prove:
//! - [`Engine::prove`]: one proof, parallel inside the proof on the global
//!   rayon pool. Lowest latency.
//! - [`Engine::prove_batch`]: many proofs, parallel *across* proofs. Each
//!   of `threads` workers proves whole statements on its own one-thread
//!   rayon pool, so the prover's internal parallelism never nests. Jobs are
//!   pulled lazily and results are delivered in input order through a
//!   bounded reorder window, so memory does not grow with the batch.
//! - [`prove_mixed`]: the same, for a batch whose jobs are for several keys
//!   (a department's policies): each job names its engine, and the workers
//!   share every engine's tables, held once per key.
//!
//! An assignment that does not satisfy the circuit is an
//! [`EngineError::Unsatisfied`], never a proof.

mod batch;
pub mod msm;
pub mod prover;
pub mod witness;

use std::sync::Arc;
use std::time::Instant;

use ark_bn254::Bn254;
use ark_ff::UniformRand;
use ark_groth16::{Groth16, PreparedVerifyingKey, Proof, ProvingKey};
use ark_relations::r1cs::{ConstraintMatrices, SynthesisError};
use rand::{CryptoRng, RngCore};
use zkgov_circuits::circuit::{Assignment, StatementCircuit, StatementWitness};
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::statement::{Statement, SubjectTag};
use zkgov_circuits::tree::TreeShape;
use zkgov_circuits::Fr;
use zkgov_keys::store::{KeyDir, KeyError};

pub use batch::{prove_mixed, BatchSummary, REORDER_WINDOW_PER_THREAD};
pub use prover::{MsmCounts, ProofTimings};
pub use witness::{EvaluationError, Unsatisfied};

use prover::create_proof;
pub use prover::TabledKey;

/// Why the engine cannot be built or a statement cannot be proved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The key directory is not for this schema, policy and tree shape, or
    /// its proving key does not load.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The circuit's R1CS matrices cannot be synthesized.
    #[error("cannot synthesize the circuit of policy {policy:?}: {source}")]
    Synthesis {
        /// The policy's name.
        policy: String,
        /// The underlying error.
        source: SynthesisError,
    },
    /// The statement has a different number of params than the policy declares.
    #[error("the statement has {found} params, but policy {policy:?} declares {expected}")]
    ParamCount {
        /// The policy's name.
        policy: String,
        /// The params the policy declares.
        expected: usize,
        /// The params the statement has.
        found: usize,
    },
    /// The record has a different number of values than the schema has fields.
    #[error("the record has {found} values, but schema {schema:?} has {expected} fields")]
    FieldCount {
        /// The schema's name.
        schema: String,
        /// The schema's field count.
        expected: usize,
        /// The values the record has.
        found: usize,
    },
    /// The membership path does not fit the registry tree's shape.
    #[error("the membership path has {levels} levels of {siblings:?} siblings, but the tree has {depth} levels of {expected} siblings")]
    PathShape {
        /// The tree's depth.
        depth: u32,
        /// Siblings per level in the tree (arity − 1).
        expected: usize,
        /// The path's level count.
        levels: usize,
        /// The path's sibling counts per level.
        siblings: Vec<usize>,
    },
    /// The witness does not satisfy the circuit, so there is no proof.
    #[error("not satisfied (constraint {constraint}): {}", reasons.join("; "))]
    Unsatisfied {
        /// The first violated constraint.
        constraint: usize,
        /// Why, in policy terms: failing conditions, a path that does not
        /// lead to the registry root, a tag that does not match. Empty
        /// when none of these explains it.
        reasons: Vec<String>,
    },
    /// The Groth16 prover failed.
    #[error("the Groth16 prover failed: {0}")]
    Prover(SynthesisError),
    /// Proving a job panicked; the batch went on with the other jobs.
    #[error("proving panicked: {0}")]
    Panicked(String),
}

/// One policy's circuit with its keys and cached R1CS matrices, ready to
/// prove and verify statements. It is `Sync`: share it between threads.
pub struct Engine {
    schema: Arc<Schema>,
    policy: Arc<Policy>,
    shape: TreeShape,
    key_id: String,
    proving_key: TabledKey,
    verifying_key: PreparedVerifyingKey<Bn254>,
    matrices: ConstraintMatrices<Fr>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("schema", &self.schema.name)
            .field("policy", &self.policy.name)
            .field("shape", &self.shape)
            .field("key_id", &self.key_id)
            .field("constraints", &self.matrices.num_constraints)
            .field("table_bytes", &self.proving_key.table_bytes())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds the engine for `policy` over `schema` from an opened key
    /// directory. Refuses a key set up for another policy, schema or tree
    /// shape with the key directory's error.
    ///
    /// Building the MSM tables costs about 250 doublings per proving-key
    /// point, once (about a second at the reference shape on two cores).
    /// They hold `2^(c·j)` multiples of every query point: tens of MB at the
    /// reference shape, fixed by the key, not by the batch.
    pub fn new(
        keys: &KeyDir,
        schema: impl Into<Arc<Schema>>,
        policy: impl Into<Arc<Policy>>,
    ) -> Result<Self, EngineError> {
        let (schema, policy) = (schema.into(), policy.into());
        let shape = keys.shape()?;
        let matrices = keys.check_circuit(&schema, &policy, shape)?;
        let proving_key = TabledKey::new(keys.proving_key()?, keys.metadata.reduction, &matrices)
            .map_err(|source| EngineError::Synthesis {
            policy: policy.name.clone(),
            source,
        })?;
        let verifying_key = ark_groth16::prepare_verifying_key(&keys.verifying_key);
        Ok(Self {
            schema,
            policy,
            shape,
            key_id: keys.metadata.key_id.clone(),
            proving_key,
            verifying_key,
            matrices,
        })
    }

    /// The key id of the engine's keys.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The registry schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The policy the engine proves.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The registry tree shape.
    pub fn shape(&self) -> TreeShape {
        self.shape
    }

    /// The circuit's R1CS matrices, synthesized once.
    pub fn matrices(&self) -> &ConstraintMatrices<Fr> {
        &self.matrices
    }

    /// The proving key.
    pub fn proving_key(&self) -> &ProvingKey<Bn254> {
        &self.proving_key.key
    }

    /// The proving key with its MSM tables and witness map.
    pub fn tabled_key(&self) -> &TabledKey {
        &self.proving_key
    }

    /// Bytes held by the proving key's MSM tables and witness-map transforms.
    pub fn table_bytes(&self) -> usize {
        self.proving_key.table_bytes()
    }

    /// Proves `statement` from `witness`, parallel inside the proof on the
    /// current rayon pool. A witness that does not satisfy the circuit is
    /// [`EngineError::Unsatisfied`], never a proof.
    pub fn prove<R: RngCore + CryptoRng>(
        &self,
        statement: &Statement,
        witness: &StatementWitness,
        rng: &mut R,
    ) -> Result<Proof<Bn254>, EngineError> {
        self.check_shapes(statement, witness)?;
        let assignment = self.synthesize(statement, witness)?;
        let r = Fr::rand(rng);
        let s = Fr::rand(rng);
        // The prover checks the assignment as it evaluates the rows.
        self.create_proof(&assignment, r, s, None)
            .map_err(|error| self.refusal(error, Some((statement, witness))))
    }

    /// Checks `proof` of `statement` against the prepared verifying key.
    pub fn verify(&self, statement: &Statement, proof: &Proof<Bn254>) -> bool {
        Groth16::<Bn254>::verify_proof(&self.verifying_key, proof, &statement.public_inputs())
            .unwrap_or(false)
    }

    /// Witness-only synthesis, checked against the circuit's rows: the
    /// full assignment of a witness that satisfies the circuit.
    pub fn assign(
        &self,
        statement: &Statement,
        witness: &StatementWitness,
    ) -> Result<Assignment, EngineError> {
        self.check_shapes(statement, witness)?;
        let assignment = self.synthesize(statement, witness)?;
        match self
            .full(&assignment)
            .and_then(|full| self.proving_key.check(&full))
        {
            Ok(()) => Ok(assignment),
            Err(error) => Err(self.refusal(error, Some((statement, witness)))),
        }
    }

    /// The Groth16 proof of `assignment` with randomness `r`, `s`: the
    /// proof `ark_groth16` makes from the same inputs. An assignment that
    /// does not satisfy the circuit is [`EngineError::Unsatisfied`] (with no
    /// reasons: there is no statement to explain them by).
    pub fn prove_assigned(
        &self,
        assignment: &Assignment,
        r: Fr,
        s: Fr,
    ) -> Result<Proof<Bn254>, EngineError> {
        self.create_proof(assignment, r, s, None)
            .map_err(|error| self.refusal(error, None))
    }

    /// The proof of `assignment`, which the prover checks.
    fn create_proof(
        &self,
        assignment: &Assignment,
        r: Fr,
        s: Fr,
        timings: Option<&mut ProofTimings>,
    ) -> Result<Proof<Bn254>, EvaluationError> {
        create_proof(&self.proving_key, r, s, &self.full(assignment)?, timings)
    }

    /// The constant one, the public inputs, then the witness, of an
    /// assignment of the circuit's shape.
    fn full(&self, assignment: &Assignment) -> Result<Vec<Fr>, EvaluationError> {
        let (inputs, witnesses) = (
            self.matrices.num_instance_variables,
            self.matrices.num_witness_variables,
        );
        if assignment.instance.len() != inputs || assignment.witness.len() != witnesses {
            return Err(EvaluationError::Length {
                expected: inputs + witnesses,
                found: assignment.instance.len() + assignment.witness.len(),
            });
        }
        Ok([&assignment.instance[..], &assignment.witness[..]].concat())
    }

    /// The engine's error for an assignment the prover refused, with the
    /// reasons in policy terms when the statement and witness are known.
    fn refusal(
        &self,
        error: EvaluationError,
        case: Option<(&Statement, &StatementWitness)>,
    ) -> EngineError {
        match error {
            EvaluationError::Unsatisfied(Unsatisfied(constraint)) => EngineError::Unsatisfied {
                constraint,
                reasons: case.map_or_else(Vec::new, |(statement, witness)| {
                    self.reasons(statement, witness)
                }),
            },
            // An assignment of another shape satisfies no constraint, the
            // first included.
            EvaluationError::Length { .. } => EngineError::Unsatisfied {
                constraint: 0,
                reasons: Vec::new(),
            },
        }
    }

    /// The group operations each MSM of the proof of `assignment` makes:
    /// the floor under its time, given the cost of one operation. An
    /// assignment that does not satisfy the circuit is refused, as by
    /// [`Engine::prove_assigned`].
    pub fn msm_counts(&self, assignment: &Assignment) -> Result<MsmCounts, EngineError> {
        self.full(assignment)
            .and_then(|full| prover::msm_counts(&self.proving_key, &full))
            .map_err(|error| self.refusal(error, None))
    }

    /// [`Engine::prove`] with every stage run in turn on the current thread
    /// and timed: where a batch worker's time goes.
    pub fn prove_timed<R: RngCore + CryptoRng>(
        &self,
        statement: &Statement,
        witness: &StatementWitness,
        rng: &mut R,
    ) -> Result<(Proof<Bn254>, ProofTimings), EngineError> {
        let mut timings = ProofTimings::default();
        self.check_shapes(statement, witness)?;
        let started = Instant::now();
        let assignment = self.synthesize(statement, witness)?;
        timings.synthesis = started.elapsed();
        let (r, s) = (Fr::rand(rng), Fr::rand(rng));
        let mut prove = || self.create_proof(&assignment, r, s, Some(&mut timings));
        // On a pool of its own, the prover's inner rayon calls stay on one thread.
        let proof = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
            Ok(pool) => pool.install(prove),
            Err(_) => prove(),
        }
        .map_err(|error| self.refusal(error, Some((statement, witness))))?;
        Ok((proof, timings))
    }

    fn synthesize(
        &self,
        statement: &Statement,
        witness: &StatementWitness,
    ) -> Result<Assignment, EngineError> {
        StatementCircuit {
            schema: &self.schema,
            policy: &self.policy,
            shape: self.shape,
            assignment: Some((statement, witness)),
        }
        .assign()
        .map_err(|source| EngineError::Synthesis {
            policy: self.policy.name.clone(),
            source,
        })
    }

    fn check_shapes(
        &self,
        statement: &Statement,
        witness: &StatementWitness,
    ) -> Result<(), EngineError> {
        if statement.params.len() != self.policy.params.len() {
            return Err(EngineError::ParamCount {
                policy: self.policy.name.clone(),
                expected: self.policy.params.len(),
                found: statement.params.len(),
            });
        }
        if witness.record.values.len() != self.schema.fields.len() {
            return Err(EngineError::FieldCount {
                schema: self.schema.name.clone(),
                expected: self.schema.fields.len(),
                found: witness.record.values.len(),
            });
        }
        let siblings = self.shape.arity() - 1;
        let path = &witness.path.siblings;
        if path.len() != self.shape.depth() as usize || path.iter().any(|s| s.len() != siblings) {
            return Err(EngineError::PathShape {
                depth: self.shape.depth(),
                expected: siblings,
                levels: path.len(),
                siblings: path.iter().map(Vec::len).collect(),
            });
        }
        Ok(())
    }

    /// Why an unsatisfying witness fails, computed natively; only on the
    /// error path.
    fn reasons(&self, statement: &Statement, witness: &StatementWitness) -> Vec<String> {
        let values = &witness.record.values;
        let mut reasons = self
            .policy
            .failures(&self.schema, values, &statement.params);
        let leaf = self.schema.leaf(&witness.record);
        if witness.path.root(&self.shape, leaf) != statement.registry_root {
            reasons.push("the record's path does not lead to the registry root".into());
        }
        let subject = values[self.schema.subject];
        if SubjectTag::new(subject, witness.case_secret) != statement.subject_tag {
            reasons.push("the subject tag is not the subject's tag under the case secret".into());
        }
        reasons
    }
}
