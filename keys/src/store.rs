//! Key directories: Groth16 setup per policy, atomic writes and verified
//! loading.
//!
//! A key directory holds:
//!
//! | file | content |
//! |---|---|
//! | `proving_key.bin` | the arkworks proving key, uncompressed; its H query for circom's reduction ([`crate::qap`]) |
//! | `verifying_key.bin` | the arkworks verifying key, compressed |
//! | `verification_key.json` | the verifying key in snarkjs's layout |
//! | `schema.toml`, `policy.toml` | the files the key was set up from |
//! | `metadata.json` | key id, policy, circuit digest, the SHA-256 of every other file, … |
//!
//! `metadata.json` is written last and the directory is renamed into place
//! only when complete, so an interrupted setup leaves nothing at the
//! destination. Loading checks the format version, every file's hash, the
//! key id against the verifying key, and the policy and circuit against the
//! files the caller gives, and refuses any mismatch by name.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ark_bn254::Bn254;
use ark_groth16::{Groth16, ProvingKey, VerifyingKey};
use ark_relations::r1cs::ConstraintMatrices;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use ark_snark::CircuitSpecificSetupSNARK;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zkgov_circuits::circuit::StatementCircuit;
use zkgov_circuits::policy::Policy;
use zkgov_circuits::schema::Schema;
use zkgov_circuits::tree::TreeShape;
use zkgov_circuits::Fr;

use crate::digest::{circuit_digest, key_id, policy_hash, Digest32};
use crate::files::{self, FileError};
use crate::ptau::Ptau;
use crate::qap::{CircomReduction, Reduction};
use crate::snarkjs;
use crate::zkey::{Kind, Zkey, ZkeyError};

/// The key directory format this build writes: 2, whose proving keys are
/// for circom's reduction and say so in `reduction`. It reads format 1 too,
/// whose keys are for libsnark's.
pub const FORMAT_VERSION: u32 = 2;

/// The provenance recorded for keys from [`setup`].
pub const SINGLE_PARTY: &str = "single-party — insecure for production";

/// The longest contribution name a `.zkey` holds, in bytes (its length is
/// one byte).
pub const MAX_CONTRIBUTION_NAME: usize = 255;

/// The proving key file.
pub const PROVING_KEY: &str = "proving_key.bin";
/// The arkworks verifying key file.
pub const VERIFYING_KEY: &str = "verifying_key.bin";
/// The snarkjs verifying key file.
pub const VERIFICATION_KEY_JSON: &str = "verification_key.json";
/// The schema the key was set up from.
pub const SCHEMA: &str = "schema.toml";
/// The policy the key was set up from.
pub const POLICY: &str = "policy.toml";
/// The metadata file, written last.
pub const METADATA: &str = "metadata.json";

/// Why a key directory cannot be written or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The destination of a setup already exists.
    #[error("{path} already exists; choose another --out or remove it first")]
    AlreadyExists {
        /// The destination.
        path: PathBuf,
    },
    /// `metadata.json` is not valid.
    #[error("{path}: {problem}")]
    Metadata {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The directory was written by an unknown format version.
    #[error("{path}: key directory format version {found} is not supported (this build reads versions 1 to {supported})")]
    UnsupportedVersion {
        /// The metadata file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A file's content does not match the hash recorded in the metadata.
    #[error("{path}: content hash {found} does not match the recorded {expected}; the file was changed or damaged")]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// The hash recorded in the metadata.
        expected: String,
        /// The hash of the file as found.
        found: String,
    },
    /// The key id does not match the verifying key and the policy hash.
    #[error("{path}: key id {recorded} does not match the verifying key and policy hash, which give {computed}")]
    KeyIdMismatch {
        /// The metadata file.
        path: PathBuf,
        /// The recorded key id.
        recorded: String,
        /// The key id computed from the content.
        computed: String,
    },
    /// The key was set up for another policy than the one given.
    #[error("{path}: the key is for policy {key_policy:?} (hash {key_hash}), not for the given policy {given_policy:?} (hash {given_hash})")]
    PolicyMismatch {
        /// The key directory.
        path: PathBuf,
        /// The policy the key is for.
        key_policy: String,
        /// Its canonical hash.
        key_hash: String,
        /// The policy given.
        given_policy: String,
        /// Its canonical hash.
        given_hash: String,
    },
    /// The key was set up for another circuit (tree shape or R1CS) than the one given.
    #[error("{path}: the key's circuit ({key}) differs from the circuit of the given policy and tree ({given})")]
    CircuitMismatch {
        /// The key directory.
        path: PathBuf,
        /// The key's circuit: tree shape and digest.
        key: String,
        /// The given circuit: tree shape and digest.
        given: String,
    },
    /// A `.zkey` to import is malformed, for another circuit, or its
    /// contributions do not check.
    #[error("{0}")]
    Zkey(#[from] ZkeyError),
    /// A key file does not deserialize.
    #[error("{path}: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The policy circuit could not be synthesized.
    #[error("cannot synthesize the policy circuit: {0}")]
    Synthesis(#[from] ark_relations::r1cs::SynthesisError),
}

/// The policy a key is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyInfo {
    /// The policy's name.
    pub name: String,
    /// The schema's name.
    pub schema: String,
    /// The canonical hash of schema and policy, hex.
    pub hash: String,
}

/// The registry tree shape a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TreeInfo {
    /// Children per node.
    pub arity: usize,
    /// Levels.
    pub depth: u32,
}

/// The content of `metadata.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The key directory format version.
    pub format_version: u32,
    /// SHA-256 of the compressed verifying key and the policy hash, hex.
    pub key_id: String,
    /// The policy the key is for.
    pub policy: PolicyInfo,
    /// The registry tree shape.
    pub tree: TreeInfo,
    /// SHA-256 of the R1CS matrices, hex.
    pub circuit_digest: String,
    /// The R1CS-to-QAP reduction the proving key's H query is for: absent
    /// in format 1 (libsnark's), `circom` in the keys [`setup`] makes.
    #[serde(default)]
    pub reduction: Reduction,
    /// R1CS constraints.
    pub constraints: usize,
    /// The public input names, in statement order.
    pub public_inputs: Vec<String>,
    /// Who ran the setup, and how far it can be trusted.
    pub setup: String,
    /// For a key imported from a ceremony's `.zkey`: the file and its
    /// contributions. Absent for a single-party setup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceremony: Option<Ceremony>,
    /// When the setup ran (RFC 3339, UTC).
    pub created: String,
    /// SHA-256 of every other file in the directory, hex, by file name.
    pub files: BTreeMap<String, String>,
}

/// Where an imported key came from: the `.zkey` file and the contributions
/// it records, as `snarkjs zkey verify` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Ceremony {
    /// BLAKE2b-512 of the imported `.zkey` file, hex (as `b2sum` prints it).
    pub zkey_blake2b: String,
    /// BLAKE2b-512 of the powers of tau the key was checked against, hex
    /// (the hash snarkjs's README publishes for the Hermez files); absent
    /// when the import was not given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptau_blake2b: Option<String>,
    /// The circuit hash `snarkjs groth16 setup` computed, hex.
    pub circuit_hash: String,
    /// The contributions, oldest first.
    pub contributions: Vec<ContributionInfo>,
}

/// One contribution of a ceremony.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ContributionInfo {
    /// The name its contributor gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its contribution hash, hex: the 64 bytes snarkjs prints in groups.
    pub hash: String,
    /// Whether it came from a public random beacon.
    pub beacon: bool,
}

impl Ceremony {
    /// The ceremony of `zkey`, whose file is `bytes`, checked against the
    /// powers of tau `ptau` (its file's bytes) if given.
    pub fn of(zkey: &Zkey, bytes: &[u8], ptau: Option<&[u8]>) -> Ceremony {
        use blake2::Digest;
        Ceremony {
            zkey_blake2b: hex::encode(blake2::Blake2b512::digest(bytes)),
            ptau_blake2b: ptau.map(|p| hex::encode(blake2::Blake2b512::digest(p))),
            circuit_hash: hex::encode(zkey.circuit_hash),
            contributions: zkey
                .contributions
                .iter()
                .map(|c| ContributionInfo {
                    name: c.name.clone(),
                    hash: hex::encode(c.hash()),
                    beacon: matches!(c.kind, Kind::Beacon { .. }),
                })
                .collect(),
        }
    }
}

impl Ceremony {
    /// Whether the ceremony makes the key multi-party: it was checked
    /// against the powers of tau it names, and has at least one
    /// contribution. A key imported without its ptau is not, whatever its
    /// contributions: nothing shows that its initial key came from a ptau
    /// whose τ no one knows.
    pub fn is_multi_party(&self) -> bool {
        self.ptau_blake2b.is_some() && !self.contributions.is_empty()
    }

    /// Checks the fields of a ceremony that another party states (in a log
    /// entry): every hash is 128 lowercase hex digits, and every name at
    /// most [`MAX_CONTRIBUTION_NAME`] bytes with no control character.
    pub fn check(&self) -> Result<(), String> {
        let hash = |field: &str, value: &str| {
            let hex = value.len() == 128
                && value
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if hex {
                Ok(())
            } else {
                Err(format!("{field} is not 128 lowercase hex digits"))
            }
        };
        hash("zkey_blake2b", &self.zkey_blake2b)?;
        if let Some(ptau) = &self.ptau_blake2b {
            hash("ptau_blake2b", ptau)?;
        }
        hash("circuit_hash", &self.circuit_hash)?;
        for (i, c) in self.contributions.iter().enumerate() {
            hash(&format!("contribution {}: hash", i + 1), &c.hash)?;
            if let Some(name) = &c.name {
                if name.len() > MAX_CONTRIBUTION_NAME || name.chars().any(char::is_control) {
                    return Err(format!(
                        "contribution {}: the name is longer than {MAX_CONTRIBUTION_NAME} bytes or holds a control character",
                        i + 1
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What a key's log entry records of where the key came from: the circuit
/// it is for, and the ceremony it is the final key of, if any. An auditor
/// holding the ceremony's published files checks the one against the other
/// with `zkgov ceremony verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The registry tree shape the circuit is for.
    pub tree: TreeInfo,
    /// SHA-256 of the circuit's R1CS matrices, hex, as the key directory's
    /// metadata records it ([`circuit_digest`]).
    pub circuit_digest: String,
    /// The ceremony; absent for a single-party setup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceremony: Option<Ceremony>,
}

impl Provenance {
    /// Whether the key is multi-party: see [`Ceremony::is_multi_party`].
    pub fn is_multi_party(&self) -> bool {
        self.ceremony.as_ref().is_some_and(Ceremony::is_multi_party)
    }

    /// Checks the fields of a provenance that another party states (in a
    /// log entry), without synthesizing anything: the tree shape is one the
    /// circuits support, the circuit digest is 64 hex digits, and the
    /// ceremony's fields are well formed ([`Ceremony::check`]). Returns the
    /// shape.
    pub fn check(&self) -> Result<TreeShape, String> {
        let shape = TreeShape::new(self.tree.arity, self.tree.depth).map_err(|e| e.to_string())?;
        if Digest32::from_hex(&self.circuit_digest).is_none() {
            return Err("circuit_digest is not 64 lowercase hex digits".into());
        }
        if let Some(ceremony) = &self.ceremony {
            ceremony.check()?;
        }
        Ok(shape)
    }

    /// The R1CS matrices of `policy`'s circuit over the provenance's tree,
    /// synthesized, if their digest is the one the provenance states.
    pub fn circuit(
        &self,
        schema: &Schema,
        policy: &Policy,
    ) -> Result<ConstraintMatrices<Fr>, String> {
        let shape = self.check()?;
        let matrices = StatementCircuit::shape_only(schema, policy, shape)
            .matrices()
            .map_err(|e| format!("cannot synthesize the policy circuit: {e}"))?;
        let computed = circuit_digest(&matrices).to_string();
        if computed != self.circuit_digest {
            return Err(format!(
                "the circuit digest {} is not that of the policy's circuit at arity {}, depth {} ({computed})",
                self.circuit_digest,
                shape.arity(),
                shape.depth()
            ));
        }
        Ok(matrices)
    }
}

impl Metadata {
    /// The provenance a log entry of this key records.
    pub fn provenance(&self) -> Provenance {
        Provenance {
            tree: self.tree,
            circuit_digest: self.circuit_digest.clone(),
            ceremony: self.ceremony.clone(),
        }
    }
}

/// Freshly generated keys, not yet written.
pub struct GeneratedKeys {
    /// The metadata to write.
    pub metadata: Metadata,
    /// The proving key.
    pub proving_key: ProvingKey<Bn254>,
    /// The file contents, by name, without `metadata.json`.
    files: BTreeMap<&'static str, Vec<u8>>,
}

/// Runs a single-party Groth16 setup for `policy` over registries of `shape`.
/// `schema_text` and `policy_text` are the files' contents, stored with the keys.
pub fn setup<R: RngCore + CryptoRng>(
    schema: &Schema,
    policy: &Policy,
    shape: TreeShape,
    schema_text: &str,
    policy_text: &str,
    rng: &mut R,
) -> Result<GeneratedKeys, KeyError> {
    Source {
        schema,
        policy,
        shape,
        schema_text,
        policy_text,
    }
    .setup(rng)
}

/// What a key directory is made for: the policy over its schema, the tree
/// shape, and the two files' text, which the directory keeps.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The schema.
    pub schema: &'a Schema,
    /// The policy.
    pub policy: &'a Policy,
    /// The registry tree shape.
    pub shape: TreeShape,
    /// The schema file's text.
    pub schema_text: &'a str,
    /// The policy file's text.
    pub policy_text: &'a str,
}

impl Source<'_> {
    /// Runs a single-party Groth16 setup.
    pub fn setup<R: RngCore + CryptoRng>(&self, rng: &mut R) -> Result<GeneratedKeys, KeyError> {
        let circuit = StatementCircuit::shape_only(self.schema, self.policy, self.shape);
        let matrices = circuit.matrices()?;
        let (proving_key, _) = Groth16::<Bn254, CircomReduction>::setup(circuit, rng)?;
        Ok(self.keys(proving_key, &matrices, SINGLE_PARTY.to_string(), None))
    }

    /// Imports the final `.zkey` of a snarkjs phase-2 ceremony, the file's
    /// bytes. The key must be for exactly this circuit (the wire and input
    /// counts, the domain, and every coefficient of A and B), and its
    /// contributions must each follow from the ones before, as `snarkjs
    /// zkey verify` checks them. A key with no contribution is refused: its
    /// δ is 1, so anyone can forge its proofs.
    ///
    /// With the powers of tau the ceremony began from, `ptau` (the file's
    /// bytes), the key is checked against it as well: its fixed part (α,
    /// β, the public inputs' query, A and B) and the circuit hash must be
    /// those the ptau gives, and its private wires' and H queries those
    /// over δ. Only then is the key multi-party. Without it, the metadata
    /// says that this was not checked.
    pub fn import(
        &self,
        zkey_bytes: &[u8],
        ptau: Option<&[u8]>,
    ) -> Result<GeneratedKeys, KeyError> {
        let zkey = Zkey::parse(zkey_bytes)?;
        let matrices =
            StatementCircuit::shape_only(self.schema, self.policy, self.shape).matrices()?;
        match ptau {
            Some(ptau) => {
                let ptau = Ptau::parse(ptau).map_err(ZkeyError::from)?;
                zkey.check_ceremony(&matrices, &ptau)?;
            }
            None => {
                zkey.check_circuit(&matrices)?;
                zkey.check_contributions()?;
            }
        }
        let count = zkey.contributions.len();
        if count == 0 {
            return Err(ZkeyError::Uncontributed.into());
        }
        let ceremony = Ceremony::of(&zkey, zkey_bytes, ptau);
        ceremony
            .check()
            .map_err(|problem| crate::zkey::section_error(10, problem))?;
        let beacon = ceremony.contributions.iter().any(|c| c.beacon);
        let what = format!(
            "{count} contribution{}{}",
            if count == 1 { "" } else { "s" },
            if beacon { ", beacon" } else { "" },
        );
        // Only a key checked against its powers of tau is called
        // multi-party, so that no reader of `setup` takes the other for one.
        let setup = if ceremony.is_multi_party() {
            format!("multi-party ({what})")
        } else {
            format!(
                "unverified ceremony ({what}): contributions checked, initial key not checked \
                 against a powers of tau; import with --ptau"
            )
        };
        Ok(self.keys(zkey.proving_key(), &matrices, setup, Some(ceremony)))
    }

    /// The key directory's files and metadata for `proving_key`, a key for
    /// circom's reduction.
    fn keys(
        &self,
        proving_key: ProvingKey<Bn254>,
        matrices: &ConstraintMatrices<Fr>,
        setup: String,
        ceremony: Option<Ceremony>,
    ) -> GeneratedKeys {
        let verifying_key = &proving_key.vk;
        let policy_hash = policy_hash(self.schema, self.policy);
        let mut files = BTreeMap::new();
        let mut pk_bytes = Vec::new();
        proving_key
            .serialize_uncompressed(&mut pk_bytes)
            .expect("serializing into a Vec cannot fail");
        let mut vk_bytes = Vec::new();
        verifying_key
            .serialize_compressed(&mut vk_bytes)
            .expect("serializing into a Vec cannot fail");
        let vk_json = serde_json::to_vec_pretty(&snarkjs::verifying_key_to_json(verifying_key))
            .expect("a JSON value serializes");
        files.insert(PROVING_KEY, pk_bytes);
        files.insert(VERIFYING_KEY, vk_bytes);
        files.insert(VERIFICATION_KEY_JSON, vk_json);
        files.insert(SCHEMA, self.schema_text.as_bytes().to_vec());
        files.insert(POLICY, self.policy_text.as_bytes().to_vec());

        let metadata = Metadata {
            format_version: FORMAT_VERSION,
            key_id: key_id(verifying_key, &policy_hash).to_string(),
            policy: PolicyInfo {
                name: self.policy.name.clone(),
                schema: self.schema.name.clone(),
                hash: policy_hash.to_string(),
            },
            tree: TreeInfo {
                arity: self.shape.arity(),
                depth: self.shape.depth(),
            },
            circuit_digest: circuit_digest(matrices).to_string(),
            reduction: Reduction::Circom,
            constraints: matrices.num_constraints,
            public_inputs: self.policy.public_input_names(),
            setup,
            ceremony,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            files: files
                .iter()
                .map(|(name, bytes)| (name.to_string(), Digest32::of(bytes).to_string()))
                .collect(),
        };
        GeneratedKeys {
            metadata,
            proving_key,
            files,
        }
    }
}

impl GeneratedKeys {
    /// Writes the key directory `out`, which must not exist. The files go
    /// to a hidden sibling directory, are synced, and the directory is
    /// renamed to `out` only once complete.
    pub fn write(&self, out: &Path) -> Result<(), KeyError> {
        files::create_dir_atomically(out, |staging| {
            for (file, bytes) in &self.files {
                files::write_synced(&staging.join(file), bytes)?;
            }
            let metadata = serde_json::to_vec_pretty(&self.metadata).expect("metadata serializes");
            Ok(files::write_synced(&staging.join(METADATA), &metadata)?)
        })
    }
}

impl From<FileError> for KeyError {
    fn from(error: FileError) -> KeyError {
        match error {
            FileError::AlreadyExists { path } => KeyError::AlreadyExists { path },
            FileError::Io { path, source } => KeyError::Io { path, source },
        }
    }
}

/// A key directory whose files all match their recorded hashes and whose
/// key id matches its content.
#[derive(Debug)]
pub struct KeyDir {
    /// Where it is.
    pub path: PathBuf,
    /// Its metadata.
    pub metadata: Metadata,
    /// The verifying key, validated.
    pub verifying_key: VerifyingKey<Bn254>,
    /// The schema file the key was set up from.
    pub schema_text: String,
    /// The policy file the key was set up from.
    pub policy_text: String,
    proving_key_bytes: Vec<u8>,
}

impl KeyDir {
    /// Opens and verifies a key directory: format version, every file's
    /// content hash, the verifying key's points, and the key id.
    pub fn open(path: &Path) -> Result<Self, KeyError> {
        let metadata_path = path.join(METADATA);
        let raw = fs::read(&metadata_path).map_err(|source| KeyError::Io {
            path: metadata_path.clone(),
            source,
        })?;
        let value: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| KeyError::Metadata {
                path: metadata_path.clone(),
                problem: e.to_string(),
            })?;
        // The version is read first, so that a newer layout gets the right error.
        let found = value.get("format_version").and_then(|v| v.as_u64());
        match found {
            // Format 1 has no `reduction`: its keys are libsnark's. From
            // format 2 on, the metadata names it.
            Some(1) if value.get("reduction").is_none() => {}
            Some(1) => {
                return Err(KeyError::Metadata {
                    path: metadata_path,
                    problem: "format 1 has no `reduction`: its keys are for libsnark's".into(),
                })
            }
            Some(v) if v == u64::from(FORMAT_VERSION) && value.get("reduction").is_some() => {}
            Some(v) if v == u64::from(FORMAT_VERSION) => {
                return Err(KeyError::Metadata {
                    path: metadata_path,
                    problem: "missing `reduction`".into(),
                })
            }
            Some(v) => {
                return Err(KeyError::UnsupportedVersion {
                    path: metadata_path,
                    found: u32::try_from(v).unwrap_or(u32::MAX),
                    supported: FORMAT_VERSION,
                })
            }
            None => {
                return Err(KeyError::Metadata {
                    path: metadata_path,
                    problem: "missing `format_version`".into(),
                })
            }
        }
        let metadata: Metadata = serde_json::from_value(value).map_err(|e| KeyError::Metadata {
            path: metadata_path.clone(),
            problem: e.to_string(),
        })?;
        let expected_files = [
            PROVING_KEY,
            VERIFYING_KEY,
            VERIFICATION_KEY_JSON,
            SCHEMA,
            POLICY,
        ];
        let listed: Vec<&str> = metadata.files.keys().map(String::as_str).collect();
        if listed != {
            let mut sorted = expected_files.to_vec();
            sorted.sort();
            sorted
        } {
            return Err(KeyError::Metadata {
                path: metadata_path,
                problem: format!("`files` lists {listed:?}, expected {expected_files:?}"),
            });
        }
        let mut contents = BTreeMap::new();
        for (file, recorded) in &metadata.files {
            let file_path = path.join(file);
            let bytes = fs::read(&file_path).map_err(|source| KeyError::Io {
                path: file_path.clone(),
                source,
            })?;
            let found = Digest32::of(&bytes).to_string();
            if &found != recorded {
                return Err(KeyError::HashMismatch {
                    path: file_path,
                    expected: recorded.clone(),
                    found,
                });
            }
            contents.insert(file.clone(), bytes);
        }
        let mut take = |file: &str| contents.remove(file).expect("every listed file was read");
        let vk_path = path.join(VERIFYING_KEY);
        let verifying_key = VerifyingKey::<Bn254>::deserialize_with_mode(
            &take(VERIFYING_KEY)[..],
            Compress::Yes,
            Validate::Yes,
        )
        .map_err(|e| KeyError::Malformed {
            path: vk_path,
            problem: format!("not a valid verifying key: {e}"),
        })?;
        let policy_hash =
            Digest32::from_hex(&metadata.policy.hash).ok_or_else(|| KeyError::Metadata {
                path: metadata_path.clone(),
                problem: format!(
                    "policy hash {:?} is not 64 hex digits",
                    metadata.policy.hash
                ),
            })?;
        let computed = key_id(&verifying_key, &policy_hash).to_string();
        if computed != metadata.key_id {
            return Err(KeyError::KeyIdMismatch {
                path: metadata_path,
                recorded: metadata.key_id.clone(),
                computed,
            });
        }
        let text = |file: &str, bytes: Vec<u8>| {
            String::from_utf8(bytes).map_err(|_| KeyError::Malformed {
                path: path.join(file),
                problem: "not UTF-8 text".into(),
            })
        };
        let schema_text = text(SCHEMA, take(SCHEMA))?;
        let policy_text = text(POLICY, take(POLICY))?;
        Ok(Self {
            path: path.to_path_buf(),
            metadata,
            verifying_key,
            schema_text,
            policy_text,
            proving_key_bytes: take(PROVING_KEY),
        })
    }

    /// Checks that the key is for `policy` over `schema` and registries of
    /// `shape`: the canonical policy hash and the circuit digest must match.
    /// Returns the checked R1CS matrices, so that a prover need not
    /// synthesize them again.
    pub fn check_circuit(
        &self,
        schema: &Schema,
        policy: &Policy,
        shape: TreeShape,
    ) -> Result<ConstraintMatrices<Fr>, KeyError> {
        let given_hash = policy_hash(schema, policy).to_string();
        if given_hash != self.metadata.policy.hash {
            return Err(KeyError::PolicyMismatch {
                path: self.path.clone(),
                key_policy: self.metadata.policy.name.clone(),
                key_hash: self.metadata.policy.hash.clone(),
                given_policy: policy.name.clone(),
                given_hash,
            });
        }
        let matrices = StatementCircuit::shape_only(schema, policy, shape).matrices()?;
        let given = circuit_digest(&matrices).to_string();
        let tree = self.metadata.tree;
        if given != self.metadata.circuit_digest
            || (tree.arity, tree.depth) != (shape.arity(), shape.depth())
        {
            return Err(KeyError::CircuitMismatch {
                path: self.path.clone(),
                key: format!(
                    "arity {}, depth {}, digest {}",
                    tree.arity, tree.depth, self.metadata.circuit_digest
                ),
                given: format!(
                    "arity {}, depth {}, digest {given}",
                    shape.arity(),
                    shape.depth()
                ),
            });
        }
        Ok(matrices)
    }

    /// The registry tree shape the key is for.
    pub fn shape(&self) -> Result<TreeShape, KeyError> {
        TreeShape::new(self.metadata.tree.arity, self.metadata.tree.depth).map_err(|e| {
            KeyError::Metadata {
                path: self.path.join(METADATA),
                problem: e.to_string(),
            }
        })
    }

    /// The proving key. Its bytes matched their recorded hash when the
    /// directory was opened, and that hash was recorded from a validated
    /// key, so the points are not validated again: loading stays fast.
    pub fn proving_key(&self) -> Result<ProvingKey<Bn254>, KeyError> {
        ProvingKey::<Bn254>::deserialize_with_mode(
            &self.proving_key_bytes[..],
            Compress::No,
            Validate::No,
        )
        .map_err(|e| KeyError::Malformed {
            path: self.path.join(PROVING_KEY),
            problem: format!("not a valid proving key: {e}"),
        })
    }
}
