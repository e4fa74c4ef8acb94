//! snarkjs's Groth16 proving key file, `.zkey` (BN254), read with every
//! field checked, and its phase-2 contributions checked as `snarkjs zkey
//! verify` checks them.
//!
//! The file is `"zkey"`, a version (1) and a section count, each a
//! little-endian `u32`, then sections in any order, each an id (`u32`), a
//! byte length (`u64`) and its bytes:
//!
//! | id | content |
//! |---|---|
//! | 1 | the protocol, 1 for Groth16 |
//! | 2 | the field sizes and primes, the wire, public input and domain counts, then α₁, β₁, β₂, γ₂, δ₁, δ₂ |
//! | 3 | the public inputs' query (arkworks' `gamma_abc_g1`), `n_public + 1` points |
//! | 4 | the coefficients of A and B, with one input row per public wire |
//! | 5, 6, 7 | the A, B (G1) and B (G2) queries, a point per wire |
//! | 8 | the private wires' query (arkworks' `l_query`), divided by δ |
//! | 9 | the H query of circom's reduction: the odd Lagrange points of the double domain, divided by δ |
//! | 10 | the circuit hash and the contributions |
//!
//! Points are affine, each coordinate in Montgomery form, little-endian;
//! a G2 coordinate is `c0 ‖ c1`, and the point at infinity is all zero
//! bytes. Hashes see another encoding, snarkjs's "uncompressed" one:
//! standard form, big-endian, `c1 ‖ c0`. A coefficient is stored as
//! `c·R² mod r`, the form snarkjs's prover multiplies by a witness.
//!
//! Nothing here reduces a value: a coordinate, a coefficient or a prime
//! that is not below its modulus is refused, as is a point off the curve
//! or outside the prime-order subgroup (which snarkjs does not check).

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::pairing::Pairing;
use ark_ec::short_weierstrass::SWCurveConfig;
use ark_ec::{AffineRepr, CurveConfig, CurveGroup, VariableBaseMSM};
use ark_ff::{BigInt, BigInteger, Field, PrimeField, UniformRand, Zero};
use ark_groth16::{ProvingKey, VerifyingKey};
use ark_relations::r1cs::ConstraintMatrices;
use blake2::{Blake2b512, Digest};
use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::Sha256;

use crate::binfile::{self, BinFileError, Unknown};
use crate::ptau::{Ptau, PtauError};

/// The magic bytes at the start of a `.zkey` file.
pub const MAGIC: &[u8; 4] = b"zkey";

/// Bytes per base or scalar field element.
const N8: usize = 32;
/// Bytes of a G1 point.
pub(crate) const G1_BYTES: usize = 2 * N8;
/// Bytes of a G2 point.
pub(crate) const G2_BYTES: usize = 4 * N8;
/// Bytes of a contribution record before its parameters.
const RECORD_BYTES: usize = 3 * G1_BYTES + G2_BYTES + 64 + 4 + 4;

/// The largest beacon iteration exponent checked: 2^32 SHA-256 hashes take
/// minutes, and a file may ask for 2^63.
pub const MAX_BEACON_EXP: u8 = 32;

/// Why a `.zkey` file is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ZkeyError {
    /// The file does not start with `zkey` and version 1.
    #[error("not a snarkjs .zkey file (version 1): {0}")]
    NotZkey(String),
    /// A section is missing, repeated, unknown or of the wrong length.
    #[error("section {section}: {problem}")]
    Section {
        /// The section id.
        section: u32,
        /// What is wrong with it.
        problem: String,
    },
    /// The key is not for this circuit.
    #[error("the .zkey is not for this circuit: {0}")]
    OtherCircuit(String),
    /// The powers of tau file is refused.
    #[error("the powers of tau: {0}")]
    Ptau(#[from] PtauError),
    /// The key has no contribution: its δ is 1.
    #[error(
        "it has no contribution, so its δ is 1 and anyone can forge its proofs; contribute to \
         it first (`snarkjs zkey contribute`)"
    )]
    Uncontributed,
    /// A contribution does not follow from the ones before it.
    #[error("contribution {index} ({name}): {problem}")]
    Contribution {
        /// Its position, from 1.
        index: usize,
        /// Its name, or `unnamed`.
        name: String,
        /// Which check it fails.
        problem: String,
    },
}

pub(crate) fn section_error(section: u32, problem: impl Into<String>) -> ZkeyError {
    ZkeyError::Section {
        section,
        problem: problem.into(),
    }
}

/// A base field element in Montgomery form, little-endian.
fn read_fq(bytes: &[u8]) -> Result<Fq, String> {
    let raw = BigInt(std::array::from_fn(|i| {
        u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"))
    }));
    if raw >= Fq::MODULUS {
        return Err("a coordinate is not below q".into());
    }
    Ok(Fq::new_unchecked(raw))
}

/// A G1 point (64 bytes), on the curve, or all zeros for infinity.
pub(crate) fn read_g1(bytes: &[u8]) -> Result<G1Affine, String> {
    let (x, y) = (read_fq(&bytes[..N8])?, read_fq(&bytes[N8..2 * N8])?);
    if x.is_zero() && y.is_zero() {
        return Ok(G1Affine::zero());
    }
    let point = G1Affine::new_unchecked(x, y);
    if !point.is_on_curve() || !point.is_in_correct_subgroup_assuming_on_curve() {
        return Err("a G1 point is not on the curve".into());
    }
    Ok(point)
}

/// A G2 point (128 bytes, each coordinate `c0 ‖ c1`), on the curve and in
/// the prime-order subgroup, or all zeros for infinity.
pub(crate) fn read_g2(bytes: &[u8]) -> Result<G2Affine, String> {
    let fq = |i: usize| read_fq(&bytes[i * N8..(i + 1) * N8]);
    let (x, y) = (Fq2::new(fq(0)?, fq(1)?), Fq2::new(fq(2)?, fq(3)?));
    if x.is_zero() && y.is_zero() {
        return Ok(G2Affine::zero());
    }
    let point = G2Affine::new_unchecked(x, y);
    if !point.is_on_curve() {
        return Err("a G2 point is not on the curve".into());
    }
    if !point.is_in_correct_subgroup_assuming_on_curve() {
        return Err("a G2 point is not in the prime-order subgroup".into());
    }
    Ok(point)
}

/// A coefficient of the A or B matrix (section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coefficient {
    /// 0 for A, 1 for B.
    pub matrix: u32,
    /// The constraint (row); rows from the circuit's constraint count on
    /// are the input rows.
    pub constraint: u32,
    /// The wire (column).
    pub signal: u32,
    /// The coefficient.
    pub value: Fr,
}

/// How a contribution drew its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// From entropy its contributor kept secret.
    Contribution,
    /// From a public random beacon: SHA-256 iterated `2^iterations_exp`
    /// times on `hash`.
    Beacon {
        /// The exponent of the iteration count.
        iterations_exp: u8,
        /// The beacon's value.
        hash: Vec<u8>,
    },
}

/// A phase-2 contribution (a record of section 10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// δ₁ after this contribution.
    pub delta_after: G1Affine,
    /// The contributor's base point `s·G1`.
    pub g1_s: G1Affine,
    /// `s·x·G1`, where x is the contribution's secret.
    pub g1_sx: G1Affine,
    /// `x` times the point that the transcript hashes to in G2.
    pub g2_spx: G2Affine,
    /// BLAKE2b-512 of the circuit hash, the earlier contributions and this
    /// one's `g1_s` and `g1_sx`.
    pub transcript: [u8; 64],
    /// Contribution or beacon.
    pub kind: Kind,
    /// The name the contributor gave, if any (at most 64 bytes, as snarkjs
    /// cuts it).
    pub name: Option<String>,
}

/// A parsed `.zkey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zkey {
    /// Wires, including the constant one.
    pub n_vars: u32,
    /// Public inputs, not counting the constant one.
    pub n_public: u32,
    /// The QAP domain's size, a power of two.
    pub domain_size: u32,
    /// α·G1.
    pub alpha_g1: G1Affine,
    /// β·G1.
    pub beta_g1: G1Affine,
    /// β·G2.
    pub beta_g2: G2Affine,
    /// γ·G2.
    pub gamma_g2: G2Affine,
    /// δ·G1.
    pub delta_g1: G1Affine,
    /// δ·G2.
    pub delta_g2: G2Affine,
    /// Section 3.
    pub ic: Vec<G1Affine>,
    /// Section 4, in file order.
    pub coefficients: Vec<Coefficient>,
    /// Section 5.
    pub a: Vec<G1Affine>,
    /// Section 6.
    pub b_g1: Vec<G1Affine>,
    /// Section 7.
    pub b_g2: Vec<G2Affine>,
    /// Section 8.
    pub c: Vec<G1Affine>,
    /// Section 9.
    pub h: Vec<G1Affine>,
    /// The circuit hash `zkey new` computed (section 10).
    pub circuit_hash: [u8; 64],
    /// The contributions, oldest first.
    pub contributions: Vec<Contribution>,
}

/// A little-endian reader over one section, whose errors name it.
struct Reader<'a> {
    bytes: &'a [u8],
    section: u32,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ZkeyError> {
        if self.bytes.len() < n {
            return Err(section_error(self.section, "ends early"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, ZkeyError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, ZkeyError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn limbs(&mut self) -> Result<[u64; 4], ZkeyError> {
        let bytes = self.take(N8)?;
        Ok(std::array::from_fn(|i| {
            u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"))
        }))
    }

    fn g1(&mut self) -> Result<G1Affine, ZkeyError> {
        let section = self.section;
        read_g1(self.take(G1_BYTES)?).map_err(|problem| section_error(section, problem))
    }

    fn g2(&mut self) -> Result<G2Affine, ZkeyError> {
        let section = self.section;
        read_g2(self.take(G2_BYTES)?).map_err(|problem| section_error(section, problem))
    }

    fn g1s(&mut self, n: usize) -> Result<Vec<G1Affine>, ZkeyError> {
        (0..n).map(|_| self.g1()).collect()
    }

    fn end(&self) -> Result<(), ZkeyError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(section_error(
                self.section,
                format!("{} bytes beyond its content", self.bytes.len()),
            ))
        }
    }
}

/// The sections of a bin file, by id; ids 1 to 10 each exactly once.
fn sections(bytes: &[u8]) -> Result<[&[u8]; 10], ZkeyError> {
    let found: [Option<&[u8]>; 10] =
        binfile::sections(bytes, MAGIC, Unknown::Refuse).map_err(|e| match e {
            BinFileError::NotFile(why) => ZkeyError::NotZkey(why),
            BinFileError::Section { id, problem } => section_error(id, problem),
        })?;
    let mut out: [&[u8]; 10] = [&[]; 10];
    for (i, section) in found.into_iter().enumerate() {
        out[i] = section.ok_or_else(|| section_error(i as u32 + 1, "is missing"))?;
    }
    Ok(out)
}

impl Zkey {
    /// Parses a `.zkey` file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Zkey, ZkeyError> {
        let sections = sections(bytes)?;
        let reader = |id: u32| Reader {
            bytes: sections[id as usize - 1],
            section: id,
        };

        let mut protocol = reader(1);
        let id = protocol.u32()?;
        if id != 1 {
            return Err(section_error(
                1,
                format!("protocol {id} is not Groth16 (1)"),
            ));
        }
        protocol.end()?;

        let mut header = reader(2);
        for (name, modulus) in [
            ("q", Fq::MODULUS.to_bytes_le()),
            ("r", Fr::MODULUS.to_bytes_le()),
        ] {
            let n8 = header.u32()?;
            if n8 as usize != N8 || header.take(N8)? != modulus.as_slice() {
                return Err(section_error(2, format!("{name} is not BN254's")));
            }
        }
        let (n_vars, n_public, domain_size) = (header.u32()?, header.u32()?, header.u32()?);
        if n_public >= n_vars {
            return Err(section_error(2, "more public inputs than wires"));
        }
        if !domain_size.is_power_of_two() {
            return Err(section_error(2, "the domain size is not a power of two"));
        }
        let (alpha_g1, beta_g1, beta_g2) = (header.g1()?, header.g1()?, header.g2()?);
        let (gamma_g2, delta_g1, delta_g2) = (header.g2()?, header.g1()?, header.g2()?);
        header.end()?;

        let points = |id: u32, count: usize, size: usize| -> Result<Reader, ZkeyError> {
            let r = reader(id);
            if r.bytes.len() != count * size {
                return Err(section_error(
                    id,
                    format!("holds {} bytes, not {count} points", r.bytes.len()),
                ));
            }
            Ok(r)
        };
        let (vars, publics) = (n_vars as usize, n_public as usize);
        let ic = points(3, publics + 1, G1_BYTES)?.g1s(publics + 1)?;
        let a = points(5, vars, G1_BYTES)?.g1s(vars)?;
        let b_g1 = points(6, vars, G1_BYTES)?.g1s(vars)?;
        let mut b2 = points(7, vars, G2_BYTES)?;
        let b_g2 = (0..vars).map(|_| b2.g2()).collect::<Result<_, _>>()?;
        let private = vars - publics - 1;
        let c = points(8, private, G1_BYTES)?.g1s(private)?;
        let h = points(9, domain_size as usize, G1_BYTES)?.g1s(domain_size as usize)?;

        let coefficients = read_coefficients(reader(4), n_vars, domain_size)?;
        let (circuit_hash, contributions) = read_contributions(reader(10))?;
        Ok(Zkey {
            n_vars,
            n_public,
            domain_size,
            alpha_g1,
            beta_g1,
            beta_g2,
            gamma_g2,
            delta_g1,
            delta_g2,
            ic,
            coefficients,
            a,
            b_g1,
            b_g2,
            c,
            h,
            circuit_hash,
            contributions,
        })
    }

    /// Checks that the key is for the circuit of `matrices`: the same wire,
    /// public input and domain counts, and section 4 holding exactly the
    /// circuit's A and B, row by row, then one input row per public wire,
    /// in the order `snarkjs groth16 setup` writes them.
    pub fn check_circuit(&self, matrices: &ConstraintMatrices<Fr>) -> Result<(), ZkeyError> {
        let other = |why: String| Err(ZkeyError::OtherCircuit(why));
        let vars = matrices.num_instance_variables + matrices.num_witness_variables;
        let publics = matrices.num_instance_variables - 1;
        if self.n_vars as usize != vars || self.n_public as usize != publics {
            return other(format!(
                "it has {} wires and {} public inputs, the circuit {vars} and {publics}",
                self.n_vars, self.n_public
            ));
        }
        let domain = domain_size(matrices);
        if self.domain_size as usize != domain {
            return other(format!(
                "its domain has {} points, the circuit's {domain}",
                self.domain_size
            ));
        }
        let expected = coefficients(matrices);
        if self.coefficients.len() != expected.len() {
            return other(format!(
                "it has {} coefficients, the circuit {}",
                self.coefficients.len(),
                expected.len()
            ));
        }
        if let Some(i) = (0..expected.len()).find(|&i| self.coefficients[i] != expected[i]) {
            return other(format!(
                "coefficient {i} is {:?}, the circuit's {:?}",
                self.coefficients[i], expected[i]
            ));
        }
        Ok(())
    }

    /// The arkworks proving key, for circom's reduction.
    pub fn proving_key(&self) -> ProvingKey<Bn254> {
        ProvingKey {
            vk: VerifyingKey {
                alpha_g1: self.alpha_g1,
                beta_g2: self.beta_g2,
                gamma_g2: self.gamma_g2,
                delta_g2: self.delta_g2,
                gamma_abc_g1: self.ic.clone(),
            },
            beta_g1: self.beta_g1,
            delta_g1: self.delta_g1,
            a_query: self.a.clone(),
            b_g1_query: self.b_g1.clone(),
            b_g2_query: self.b_g2.clone(),
            h_query: self.h.clone(),
            l_query: self.c.clone(),
        }
    }

    /// Checks the chain of contributions as `snarkjs zkey verify` does,
    /// without the powers of tau: each transcript hashes the circuit hash,
    /// the contributions before it and its own base points; each
    /// contribution's secret is the same in G1 and G2 and moves δ by it; a
    /// beacon's secret is the one its public value derives; and the
    /// header's δ is the last contribution's.
    pub fn check_contributions(&self) -> Result<(), ZkeyError> {
        let mut transcript = Blake2b512::new();
        transcript.update(self.circuit_hash);
        let mut delta = G1Affine::generator();
        for (i, contribution) in self.contributions.iter().enumerate() {
            let fail = |problem: &str| ZkeyError::Contribution {
                index: i + 1,
                name: contribution
                    .name
                    .clone()
                    .unwrap_or_else(|| "unnamed".into()),
                problem: problem.to_string(),
            };
            let mut own = transcript.clone();
            own.update(uncompressed_g1(&contribution.g1_s));
            own.update(uncompressed_g1(&contribution.g1_sx));
            if own.finalize().as_slice() != contribution.transcript {
                return Err(fail("its transcript is not the hash of the ones before it"));
            }
            let g2_sp = hash_to_g2(&contribution.transcript);
            if !same_ratio(
                contribution.g1_s,
                contribution.g1_sx,
                g2_sp,
                contribution.g2_spx,
            ) {
                return Err(fail("its secret differs between G1 and G2"));
            }
            if !same_ratio(delta, contribution.delta_after, g2_sp, contribution.g2_spx) {
                return Err(fail("δ did not move by its secret"));
            }
            if let Kind::Beacon {
                iterations_exp,
                hash,
            } = &contribution.kind
            {
                if *iterations_exp > MAX_BEACON_EXP {
                    return Err(fail(&format!(
                        "its beacon asks for 2^{iterations_exp} hashes; zkgov checks at most \
                         2^{MAX_BEACON_EXP}"
                    )));
                }
                let (secret, g1_s) = draw_secret(&mut beacon_rng(hash, *iterations_exp));
                if g1_s != contribution.g1_s || (g1_s * secret).into_affine() != contribution.g1_sx
                {
                    return Err(fail("its secret is not the one its beacon derives"));
                }
            }
            transcript.update(public_key(contribution));
            delta = contribution.delta_after;
        }
        if delta != self.delta_g1 {
            return Err(section_error(2, "δ₁ is not the last contribution's"));
        }
        if !same_ratio(
            G1Affine::generator(),
            self.delta_g1,
            G2Affine::generator(),
            self.delta_g2,
        ) {
            return Err(section_error(2, "δ₁ and δ₂ differ"));
        }
        Ok(())
    }
    /// The file's bytes: sections 1 to 10 in order, as `snarkjs zkey
    /// contribute` and `zkey beacon` write them.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_in([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    }

    /// The file's bytes as `snarkjs groth16 setup` writes an initial key,
    /// its sections in the order it makes them.
    pub fn to_initial_bytes(&self) -> Vec<u8> {
        self.to_bytes_in([1, 2, 4, 3, 9, 8, 5, 6, 7, 10])
    }

    fn to_bytes_in(&self, order: [u32; 10]) -> Vec<u8> {
        let mut header = Writer::default();
        for modulus in [Fq::MODULUS.to_bytes_le(), Fr::MODULUS.to_bytes_le()] {
            header.u32(N8 as u32);
            header.bytes(&modulus);
        }
        header.u32(self.n_vars);
        header.u32(self.n_public);
        header.u32(self.domain_size);
        header.g1(&self.alpha_g1);
        header.g1(&self.beta_g1);
        header.g2(&self.beta_g2);
        header.g2(&self.gamma_g2);
        header.g1(&self.delta_g1);
        header.g2(&self.delta_g2);
        let mut coefficients = Writer::default();
        coefficients.u32(self.coefficients.len() as u32);
        for c in &self.coefficients {
            coefficients.u32(c.matrix);
            coefficients.u32(c.constraint);
            coefficients.u32(c.signal);
            // c·R² as an integer: the Montgomery form of the element c·R.
            let times_r = Fr::from_bigint(c.value.0).expect("a Montgomery form is below r");
            coefficients.bytes(&times_r.0.to_bytes_le());
        }
        let mut contributions = Writer::default();
        contributions.bytes(&self.circuit_hash);
        contributions.u32(self.contributions.len() as u32);
        for c in &self.contributions {
            contributions.g1(&c.delta_after);
            contributions.g1(&c.g1_s);
            contributions.g1(&c.g1_sx);
            contributions.g2(&c.g2_spx);
            contributions.bytes(&c.transcript);
            let mut params = Writer::default();
            if let Some(name) = &c.name {
                params.bytes(&[1, name.len() as u8]);
                params.bytes(name.as_bytes());
            }
            contributions.u32(match &c.kind {
                Kind::Contribution => 0,
                Kind::Beacon {
                    iterations_exp,
                    hash,
                } => {
                    params.bytes(&[2, *iterations_exp, 3, hash.len() as u8]);
                    params.bytes(hash);
                    1
                }
            });
            contributions.u32(params.0.len() as u32);
            contributions.bytes(&params.0);
        }
        let points = |g1: &[G1Affine]| {
            let mut w = Writer::default();
            g1.iter().for_each(|p| w.g1(p));
            w.0
        };
        let mut b_g2 = Writer::default();
        self.b_g2.iter().for_each(|p| b_g2.g2(p));
        let sections: [Vec<u8>; 10] = [
            1u32.to_le_bytes().to_vec(),
            header.0,
            points(&self.ic),
            coefficients.0,
            points(&self.a),
            points(&self.b_g1),
            b_g2.0,
            points(&self.c),
            points(&self.h),
            contributions.0,
        ];
        let mut file = Writer::default();
        file.bytes(MAGIC);
        file.u32(1);
        file.u32(sections.len() as u32);
        for id in order {
            let section = &sections[id as usize - 1];
            file.u32(id);
            file.bytes(&(section.len() as u64).to_le_bytes());
            file.bytes(section);
        }
        file.0
    }

    /// The initial key `snarkjs groth16 setup` makes for the circuit of
    /// `matrices` from the powers of tau `ptau`, with no contribution: α
    /// and β from the ptau, γ and δ the generators, every query from the
    /// ptau's Lagrange bases over the circuit's domain, and the circuit
    /// hash, byte for byte as snarkjs computes them.
    pub fn initial(matrices: &ConstraintMatrices<Fr>, ptau: &Ptau) -> Result<Zkey, ZkeyError> {
        let n_public = matrices.num_instance_variables - 1;
        let n_vars = matrices.num_instance_variables + matrices.num_witness_variables;
        let rows = matrices.num_constraints;
        let domain = domain_size(matrices);
        let power = domain.trailing_zeros();
        ptau.covers(power)?;
        // snarkjs hashes one more H point for domains above 2^14, which
        // needs τ^(2d − 1): a ptau of the domain's own power lacks it.
        if domain > 1 << 14 && power == ptau.power {
            return Err(PtauError::TooSmall {
                power: ptau.power,
                needed: power + 1,
            }
            .into());
        }
        let block = |id| ptau.g1(id, domain - 1, domain);
        let (tau, alpha_tau, beta_tau) = (block(12)?, block(14)?, block(15)?);
        let tau_g2 = ptau.g2(13, domain - 1, domain)?;

        // Each wire's terms, a Lagrange point's row and a coefficient: in
        // A, in B, and in K = β·A + α·B + C (IC and the private wires' C).
        let one = Fr::from(1u64);
        let mut a = vec![Vec::new(); n_vars];
        let mut b = vec![Vec::new(); n_vars];
        let mut k = vec![Vec::new(); n_vars];
        let rows_abc = matrices.a.iter().zip(&matrices.b).zip(&matrices.c);
        for (row, ((ra, rb), rc)) in rows_abc.enumerate() {
            for &(value, wire) in ra {
                a[wire].push((tau[row], value));
                k[wire].push((beta_tau[row], value));
            }
            for &(value, wire) in rb {
                b[wire].push((row, value));
                k[wire].push((alpha_tau[row], value));
            }
            for &(value, wire) in rc {
                k[wire].push((tau[row], value));
            }
        }
        for wire in 0..=n_public {
            a[wire].push((tau[rows + wire], one));
            k[wire].push((beta_tau[rows + wire], one));
        }
        let b_in = |points: &[G1Affine]| -> Vec<Vec<(G1Affine, Fr)>> {
            b.iter()
                .map(|t| t.iter().map(|&(row, v)| (points[row], v)).collect())
                .collect()
        };
        let (a_points, b_g1, k_points) = (sums(&a), sums(&b_in(&tau)), sums(&k));
        let b_g2: Vec<G2Affine> = b
            .iter()
            .map(|t| {
                let (bases, scalars): (Vec<_>, Vec<_>) =
                    t.iter().map(|&(row, v)| (tau_g2[row], v)).unzip();
                G2Projective::msm_unchecked(&bases, &scalars).into_affine()
            })
            .collect();
        let ic = k_points[..=n_public].to_vec();
        let c = k_points[n_public + 1..].to_vec();
        let h: Vec<G1Affine> = ptau
            .g1(12, 2 * domain - 1, 2 * domain)?
            .into_iter()
            .skip(1)
            .step_by(2)
            .collect();

        let alpha_g1 = ptau.g1(4, 0, 1)?[0];
        let beta_g1 = ptau.g1(5, 0, 1)?[0];
        let beta_g2 = ptau.g2(6, 0, 1)?[0];
        let (gamma_g2, delta_g1, delta_g2) = (
            G2Affine::generator(),
            G1Affine::generator(),
            G2Affine::generator(),
        );

        // The circuit hash: the header's points, then IC, the classic H
        // query (Z(τ)·τⁱ·G1, from the ptau's powers), C, A and the two B.
        let mut hash = Blake2b512::new();
        hash.update(uncompressed_g1(&alpha_g1));
        hash.update(uncompressed_g1(&beta_g1));
        hash.update(uncompressed_g2(&beta_g2));
        hash.update(uncompressed_g2(&gamma_g2));
        hash.update(uncompressed_g1(&delta_g1));
        hash.update(uncompressed_g2(&delta_g2));
        let hash_g1 = |hash: &mut Blake2b512, points: &[G1Affine]| {
            hash.update((points.len() as u32).to_be_bytes());
            points.iter().for_each(|p| hash.update(uncompressed_g1(p)));
        };
        hash_g1(&mut hash, &ic);
        let classic = if domain > 1 << 14 { domain } else { domain - 1 };
        let powers = ptau.g1(2, 0, domain + classic)?;
        hash.update(((domain - 1) as u32).to_be_bytes());
        for i in 0..classic {
            let z = (powers[i + domain].into_group() - powers[i]).into_affine();
            hash.update(uncompressed_g1(&z));
        }
        hash_g1(&mut hash, &c);
        hash_g1(&mut hash, &a_points);
        hash_g1(&mut hash, &b_g1);
        hash.update((b_g2.len() as u32).to_be_bytes());
        b_g2.iter().for_each(|p| hash.update(uncompressed_g2(p)));

        Ok(Zkey {
            n_vars: n_vars as u32,
            n_public: n_public as u32,
            domain_size: domain as u32,
            alpha_g1,
            beta_g1,
            beta_g2,
            gamma_g2,
            delta_g1,
            delta_g2,
            ic,
            coefficients: coefficients(matrices),
            a: a_points,
            b_g1,
            b_g2,
            c,
            h,
            circuit_hash: hash.finalize().into(),
            contributions: Vec::new(),
        })
    }

    /// Checks the whole ceremony, as `snarkjs zkey verify` does: the
    /// contributions ([`Zkey::check_contributions`]), then the key against
    /// the initial key of the circuit of `matrices` and `ptau`
    /// ([`Zkey::check_against`]).
    pub fn check_ceremony(
        &self,
        matrices: &ConstraintMatrices<Fr>,
        ptau: &Ptau,
    ) -> Result<(), ZkeyError> {
        self.check_circuit(matrices)?;
        self.check_contributions()?;
        self.check_against(&Zkey::initial(matrices, ptau)?)
    }

    /// Checks the key against the initial key of its circuit and ptau
    /// ([`Zkey::initial`]), as `snarkjs zkey verify` does: the same header
    /// but δ, the same circuit hash, IC, coefficients, A and B, and the
    /// private wires' and H queries the initial ones divided by δ (a random
    /// linear combination of each, compared by pairings). With
    /// [`Zkey::check_contributions`], which shows δ to be moved by each
    /// contribution in turn, this is the whole ceremony's check.
    pub fn check_against(&self, initial: &Zkey) -> Result<(), ZkeyError> {
        if (self.n_vars, self.n_public, self.domain_size)
            != (initial.n_vars, initial.n_public, initial.domain_size)
        {
            return Err(ZkeyError::OtherCircuit(format!(
                "it has {} wires, {} public inputs and a domain of {}; the circuit {}, {} and {}",
                self.n_vars,
                self.n_public,
                self.domain_size,
                initial.n_vars,
                initial.n_public,
                initial.domain_size
            )));
        }
        let initial_key = "the initial key's, from the powers of tau and the circuit";
        let differs = |section: u32| section_error(section, format!("is not {initial_key}"));
        if (self.alpha_g1, self.beta_g1) != (initial.alpha_g1, initial.beta_g1)
            || (self.beta_g2, self.gamma_g2) != (initial.beta_g2, initial.gamma_g2)
        {
            return Err(section_error(2, format!("α, β or γ is not {initial_key}")));
        }
        if self.circuit_hash != initial.circuit_hash {
            return Err(section_error(
                10,
                format!("the circuit hash is not {initial_key}"),
            ));
        }
        for (section, same) in [
            (3, self.ic == initial.ic),
            (4, self.coefficients == initial.coefficients),
            (5, self.a == initial.a),
            (6, self.b_g1 == initial.b_g1),
            (7, self.b_g2 == initial.b_g2),
        ] {
            if !same {
                return Err(differs(section));
            }
        }
        let mut rng = rand::rngs::OsRng;
        for (section, ours, theirs) in [(8, &self.c, &initial.c), (9, &self.h, &initial.h)] {
            let rho: Vec<Fr> = (0..ours.len()).map(|_| Fr::rand(&mut rng)).collect();
            let mine = G1Projective::msm_unchecked(ours, &rho).into_affine();
            let init = G1Projective::msm_unchecked(theirs, &rho).into_affine();
            if Bn254::pairing(mine, self.delta_g2) != Bn254::pairing(init, initial.delta_g2) {
                return Err(section_error(
                    section,
                    format!("is not {initial_key}, divided by δ"),
                ));
            }
        }
        Ok(())
    }

    /// The key after one more contribution, whose secret and base point
    /// are drawn from `rng`, as `snarkjs zkey contribute` (with a `kind` of
    /// [`Kind::Contribution`]) and `zkey beacon` (with the beacon's
    /// parameters, and `rng` from [`beacon_rng`]) make it: δ times the
    /// secret, the private wires' and H queries divided by it, and the
    /// contribution's record appended. `name` is cut to 64 bytes, at a
    /// character boundary.
    pub fn contribute(&self, rng: &mut ChaCha20Rng, kind: Kind, name: Option<&str>) -> Zkey {
        let (secret, g1_s) = draw_secret(rng);
        let g1_sx = (g1_s * secret).into_affine();
        let mut transcript = self.transcript();
        transcript.update(uncompressed_g1(&g1_s));
        transcript.update(uncompressed_g1(&g1_sx));
        let transcript: [u8; 64] = transcript.finalize().into();
        let g2_spx = (hash_to_g2(&transcript) * secret).into_affine();
        let inverse = secret.inverse().expect("a drawn secret is not zero");
        let divide = |points: &[G1Affine]| -> Vec<G1Affine> {
            #[cfg(feature = "parallel")]
            use rayon::prelude::*;
            #[cfg(feature = "parallel")]
            let scaled: Vec<_> = points.par_iter().map(|p| *p * inverse).collect();
            #[cfg(not(feature = "parallel"))]
            let scaled: Vec<_> = points.iter().map(|p| *p * inverse).collect();
            ark_bn254::G1Projective::normalize_batch(&scaled)
        };
        let mut next = self.clone();
        next.delta_g1 = (self.delta_g1 * secret).into_affine();
        next.delta_g2 = (self.delta_g2 * secret).into_affine();
        next.c = divide(&self.c);
        next.h = divide(&self.h);
        next.contributions.push(Contribution {
            delta_after: next.delta_g1,
            g1_s,
            g1_sx,
            g2_spx,
            transcript,
            kind,
            name: name.map(|n| {
                let mut end = n.len().min(64);
                while !n.is_char_boundary(end) {
                    end -= 1;
                }
                n[..end].to_string()
            }),
        });
        next
    }

    /// The transcript hash so far: the circuit hash and every
    /// contribution's public key.
    fn transcript(&self) -> Blake2b512 {
        let mut transcript = Blake2b512::new();
        transcript.update(self.circuit_hash);
        for c in &self.contributions {
            transcript.update(public_key(c));
        }
        transcript
    }
}

/// The QAP domain's size for the circuit of `matrices`: the smallest power
/// of two above its constraints and public inputs, as snarkjs and arkworks
/// both take it (room for one input row per public wire and the constant).
fn domain_size(matrices: &ConstraintMatrices<Fr>) -> usize {
    (matrices.num_constraints + matrices.num_instance_variables).next_power_of_two()
}

/// Section 4 of the circuit's keys, as `snarkjs groth16 setup` writes it:
/// for each constraint its A terms, then its B terms, then an input row of
/// coefficient 1 for each public wire (the constant one included).
fn coefficients(matrices: &ConstraintMatrices<Fr>) -> Vec<Coefficient> {
    let mut out = Vec::new();
    for (row, (a, b)) in matrices.a.iter().zip(&matrices.b).enumerate() {
        for (matrix, terms) in [(0, a), (1, b)] {
            out.extend(terms.iter().map(|&(value, wire)| Coefficient {
                matrix,
                constraint: row as u32,
                signal: wire as u32,
                value,
            }));
        }
    }
    out.extend(
        (0..matrices.num_instance_variables).map(|wire| Coefficient {
            matrix: 0,
            constraint: (matrices.num_constraints + wire) as u32,
            signal: wire as u32,
            value: Fr::from(1u64),
        }),
    );
    out
}

/// Each wire's sum of its terms, a point times a coefficient.
fn sums(terms: &[Vec<(G1Affine, Fr)>]) -> Vec<G1Affine> {
    let sum = |t: &Vec<(G1Affine, Fr)>| {
        let (bases, scalars): (Vec<_>, Vec<_>) = t.iter().copied().unzip();
        G1Projective::msm_unchecked(&bases, &scalars)
    };
    #[cfg(feature = "parallel")]
    let points: Vec<G1Projective> = {
        use rayon::prelude::*;
        terms.par_iter().map(sum).collect()
    };
    #[cfg(not(feature = "parallel"))]
    let points: Vec<G1Projective> = terms.iter().map(sum).collect();
    G1Projective::normalize_batch(&points)
}

/// A little-endian writer.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    /// A base field element in Montgomery form.
    fn fq(&mut self, x: &Fq) {
        self.bytes(&x.0.to_bytes_le());
    }

    fn g1(&mut self, p: &G1Affine) {
        match p.xy() {
            None => self.bytes(&[0; G1_BYTES]),
            Some((x, y)) => {
                self.fq(&x);
                self.fq(&y);
            }
        }
    }

    fn g2(&mut self, p: &G2Affine) {
        match p.xy() {
            None => self.bytes(&[0; G2_BYTES]),
            Some((x, y)) => {
                for c in [x.c0, x.c1, y.c0, y.c1] {
                    self.fq(&c);
                }
            }
        }
    }
}

/// A contribution's secret and base point `s·G1`, drawn in snarkjs's order.
fn draw_secret(rng: &mut ChaCha20Rng) -> (Fr, G1Affine) {
    let secret = fr_from_rng(rng);
    (secret, g1_from_rng(rng))
}

/// A ChaCha for a contribution's secret, as snarkjs seeds it: from
/// BLAKE2b-512 of 64 bytes of the operating system's randomness and the
/// contributor's `entropy` text.
pub fn contribution_rng(entropy: &str) -> ChaCha20Rng {
    let mut random = [0u8; 64];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let mut hasher = Blake2b512::new();
    hasher.update(random);
    hasher.update(entropy.as_bytes());
    chacha(&hasher.finalize())
}

fn read_coefficients(
    mut r: Reader,
    n_vars: u32,
    domain_size: u32,
) -> Result<Vec<Coefficient>, ZkeyError> {
    let count = r.u32()? as usize;
    if r.bytes.len() != count * (12 + N8) {
        return Err(section_error(
            4,
            format!("does not hold {count} coefficients"),
        ));
    }
    (0..count)
        .map(|_| {
            let (matrix, constraint, signal) = (r.u32()?, r.u32()?, r.u32()?);
            let raw = BigInt(r.limbs()?);
            if matrix > 1 || constraint >= domain_size || signal >= n_vars {
                return Err(section_error(4, "a coefficient lies outside the matrices"));
            }
            if raw >= Fr::MODULUS {
                return Err(section_error(4, "a coefficient is not below r"));
            }
            // raw = c·R² mod r; as a Montgomery form it is c·R, whose
            // standard form, read as a Montgomery form again, is c.
            let value = Fr::new_unchecked(Fr::new_unchecked(raw).into_bigint());
            Ok(Coefficient {
                matrix,
                constraint,
                signal,
                value,
            })
        })
        .collect()
}

fn read_contributions(mut r: Reader) -> Result<([u8; 64], Vec<Contribution>), ZkeyError> {
    let circuit_hash: [u8; 64] = r.take(64)?.try_into().expect("64 bytes");
    let count = r.u32()?;
    let mut contributions = Vec::new();
    for _ in 0..count {
        if r.bytes.len() < RECORD_BYTES {
            return Err(section_error(10, "a contribution is cut short"));
        }
        let (delta_after, g1_s, g1_sx) = (r.g1()?, r.g1()?, r.g1()?);
        let g2_spx = r.g2()?;
        let transcript: [u8; 64] = r.take(64)?.try_into().expect("64 bytes");
        let kind = r.u32()?;
        let length = r.u32()? as usize;
        let mut params = Reader {
            bytes: r.take(length)?,
            section: 10,
        };
        let (mut name, mut iterations_exp, mut hash) = (None, None, None);
        let mut last_key = 0;
        while !params.bytes.is_empty() {
            let key = params.u8()?;
            if key <= last_key {
                return Err(section_error(10, "contribution parameters out of order"));
            }
            last_key = key;
            match key {
                1 => {
                    let n = params.u8()? as usize;
                    let text = std::str::from_utf8(params.take(n)?)
                        .map_err(|_| section_error(10, "a contribution name is not UTF-8"))?;
                    name = Some(text.to_string());
                }
                2 => iterations_exp = Some(params.u8()?),
                3 => {
                    let n = params.u8()? as usize;
                    hash = Some(params.take(n)?.to_vec());
                }
                other => {
                    return Err(section_error(
                        10,
                        format!("unknown contribution parameter {other}"),
                    ))
                }
            }
        }
        let kind = match (kind, iterations_exp, hash) {
            (0, None, None) => Kind::Contribution,
            (1, Some(iterations_exp), Some(hash)) => Kind::Beacon {
                iterations_exp,
                hash,
            },
            _ => {
                return Err(section_error(
                    10,
                    "a contribution is neither a contribution nor a beacon",
                ))
            }
        };
        contributions.push(Contribution {
            delta_after,
            g1_s,
            g1_sx,
            g2_spx,
            transcript,
            kind,
            name,
        });
    }
    r.end()?;
    Ok((circuit_hash, contributions))
}

impl Contribution {
    /// The contribution's hash, as snarkjs prints it after contributing and
    /// verifying: BLAKE2b-512 of its public key.
    pub fn hash(&self) -> [u8; 64] {
        Blake2b512::digest(public_key(self)).into()
    }
}

/// A hash as snarkjs prints it: four lines of four groups of eight hex
/// digits.
pub fn format_hash(hash: &[u8; 64]) -> String {
    hash.chunks(16)
        .map(|line| {
            line.chunks(4)
                .map(hex::encode)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// snarkjs's `hashPubKey`: the contribution's points, uncompressed, and its
/// transcript.
fn public_key(c: &Contribution) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(3 * G1_BYTES + G2_BYTES + 64);
    bytes.extend(uncompressed_g1(&c.delta_after));
    bytes.extend(uncompressed_g1(&c.g1_s));
    bytes.extend(uncompressed_g1(&c.g1_sx));
    bytes.extend(uncompressed_g2(&c.g2_spx));
    bytes.extend(c.transcript);
    bytes
}

fn big_endian(x: &Fq) -> Vec<u8> {
    x.into_bigint().to_bytes_be()
}

/// snarkjs's uncompressed G1: x and y big-endian, infinity as zeros.
pub fn uncompressed_g1(p: &G1Affine) -> Vec<u8> {
    match p.xy() {
        None => vec![0; G1_BYTES],
        Some((x, y)) => [big_endian(&x), big_endian(&y)].concat(),
    }
}

/// snarkjs's uncompressed G2: each coordinate `c1 ‖ c0`, big-endian.
pub fn uncompressed_g2(p: &G2Affine) -> Vec<u8> {
    match p.xy() {
        None => vec![0; G2_BYTES],
        Some((x, y)) => [
            big_endian(&x.c1),
            big_endian(&x.c0),
            big_endian(&y.c1),
            big_endian(&y.c0),
        ]
        .concat(),
    }
}

/// `e(a, bx) = e(ax, b)`, with no point at infinity.
fn same_ratio(a: G1Affine, ax: G1Affine, b: G2Affine, bx: G2Affine) -> bool {
    if a.is_zero() || ax.is_zero() || b.is_zero() || bx.is_zero() {
        return false;
    }
    Bn254::pairing(a, bx) == Bn254::pairing(ax, b)
}

/// ffjavascript's ChaCha, seeded with eight big-endian words: rand_chacha's
/// ChaCha20 with each word's bytes reversed.
fn chacha(seed: &[u8]) -> ChaCha20Rng {
    let mut bytes = [0u8; 32];
    for (word, out) in seed[..32].chunks(4).zip(bytes.chunks_mut(4)) {
        out.copy_from_slice(&[word[3], word[2], word[1], word[0]]);
    }
    ChaCha20Rng::from_seed(bytes)
}

/// ffjavascript's `nextU64`: the first word high.
fn next_u64(rng: &mut ChaCha20Rng) -> u64 {
    let high = rng.next_u32() as u64;
    (high << 32) | rng.next_u32() as u64
}

/// ffjavascript's `F.fromRng` for a 254-bit prime field: four words, the
/// first lowest, masked to the modulus's bits and drawn again until below
/// it, taken as a Montgomery form.
fn raw_from_rng<const BITS: u32>(rng: &mut ChaCha20Rng, modulus: BigInt<4>) -> BigInt<4> {
    loop {
        let mut limbs: [u64; 4] = std::array::from_fn(|_| next_u64(rng));
        limbs[3] &= (1u64 << (BITS - 192)) - 1;
        let v = BigInt(limbs);
        if v < modulus {
            return v;
        }
    }
}

fn fq_from_rng(rng: &mut ChaCha20Rng) -> Fq {
    Fq::new_unchecked(raw_from_rng::<254>(rng, Fq::MODULUS))
}

fn fr_from_rng(rng: &mut ChaCha20Rng) -> Fr {
    Fr::new_unchecked(raw_from_rng::<254>(rng, Fr::MODULUS))
}

/// Whether `x`, in standard form, is above `(q−1)/2`.
fn fq_is_negative(x: &Fq) -> bool {
    x.into_bigint() > Fq::MODULUS_MINUS_ONE_DIV_TWO
}

fn g1_from_rng(rng: &mut ChaCha20Rng) -> G1Affine {
    let b = Fq::from(3u64);
    loop {
        let x = fq_from_rng(rng);
        let greatest = rng.next_u32() & 1 == 1;
        if let Some(mut y) = (x.square() * x + b).sqrt() {
            if greatest != fq_is_negative(&y) {
                y = -y;
            }
            return G1Affine::new_unchecked(x, y);
        }
    }
}

/// snarkjs's `hashToG2`: G2's `fromRng` on a ChaCha seeded with the
/// transcript's first 32 bytes, the point multiplied by the cofactor as an
/// integer.
fn hash_to_g2(transcript: &[u8; 64]) -> G2Affine {
    let mut rng = chacha(transcript);
    let b = ark_bn254::g2::Config::COEFF_B;
    loop {
        let x = Fq2::new(fq_from_rng(&mut rng), fq_from_rng(&mut rng));
        let greatest = rng.next_u32() & 1 == 1;
        if let Some(mut y) = (x.square() * x + b).sqrt() {
            let negative = if y.c1.is_zero() {
                fq_is_negative(&y.c0)
            } else {
                fq_is_negative(&y.c1)
            };
            if greatest != negative {
                y = -y;
            }
            let point = G2Affine::new_unchecked(x, y);
            return point
                .mul_bigint(ark_bn254::g2::Config::COFACTOR)
                .into_affine();
        }
    }
}

/// snarkjs's beacon generator: SHA-256 iterated `2^iterations_exp` times on
/// the beacon's value, then a ChaCha seeded with the result. An exponent
/// over [`MAX_BEACON_EXP`] would take hours; callers refuse it first.
pub fn beacon_rng(hash: &[u8], iterations_exp: u8) -> ChaCha20Rng {
    let mut value = hash.to_vec();
    for _ in 0..1u64 << iterations_exp {
        value = Sha256::digest(&value).to_vec();
    }
    chacha(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FINAL: &[u8] = include_bytes!("../tests/data/zkey/multiplier_final.zkey");
    const INITIAL: &[u8] = include_bytes!("../tests/data/zkey/multiplier_0000.zkey");
    const PRINTED: &str = include_str!("../tests/data/zkey/multiplier_final.json");

    /// The byte range of section `id` in `bytes`.
    fn section_range(bytes: &[u8], id: u32) -> std::ops::Range<usize> {
        let mut at = 12;
        loop {
            let found = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
            let length = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize;
            if found == id {
                return at + 12..at + 12 + length;
            }
            at += 12 + length;
        }
    }

    #[test]
    fn a_snarkjs_key_reads_with_the_hashes_snarkjs_printed() {
        let zkey = Zkey::parse(FINAL).unwrap();
        let printed: Value = serde_json::from_str(PRINTED).unwrap();
        assert_eq!(
            hex::encode(zkey.circuit_hash),
            printed["circuit_hash"].as_str().unwrap()
        );
        let expected = printed["contributions"].as_array().unwrap();
        assert_eq!(zkey.contributions.len(), expected.len());
        for (c, e) in zkey.contributions.iter().zip(expected) {
            assert_eq!(hex::encode(c.hash()), e["hash"].as_str().unwrap());
            assert_eq!(c.name.as_deref(), e["name"].as_str());
            match (&c.kind, e.get("beacon")) {
                (Kind::Contribution, None) => {}
                (
                    Kind::Beacon {
                        iterations_exp,
                        hash,
                    },
                    Some(b),
                ) => {
                    assert_eq!(hex::encode(hash), b["hash"].as_str().unwrap());
                    assert_eq!(u64::from(*iterations_exp), b["iterations_exp"]);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(zkey.n_public, 2);
        assert_eq!(zkey.ic.len(), 3);
        assert_eq!(zkey.h.len(), zkey.domain_size as usize);
        assert_eq!(
            zkey.c.len(),
            (zkey.n_vars - zkey.n_public - 1) as usize,
            "one C point per private wire"
        );
        assert_eq!(zkey.gamma_g2, G2Affine::generator());
        zkey.check_contributions().unwrap();
        assert_eq!(
            format_hash(&zkey.contributions[0].hash()).lines().next(),
            Some("86e728f1 ed5093a4 2fb4e19c 4db175f7")
        );
    }

    #[test]
    fn contributions_leave_what_they_must_and_the_initial_key_has_none() {
        let initial = Zkey::parse(INITIAL).unwrap();
        let last = Zkey::parse(FINAL).unwrap();
        assert!(initial.contributions.is_empty());
        assert_eq!(initial.delta_g1, G1Affine::generator());
        initial.check_contributions().unwrap();
        assert_eq!(initial.circuit_hash, last.circuit_hash);
        assert_eq!(
            (&initial.ic, &initial.a, &initial.b_g1, &initial.b_g2),
            (&last.ic, &last.a, &last.b_g1, &last.b_g2)
        );
        assert_eq!(initial.coefficients, last.coefficients);
        assert_ne!(initial.delta_g1, last.delta_g1);
        // Section 4 holds A and B, then one input row per public wire.
        let inputs: Vec<_> = last
            .coefficients
            .iter()
            .filter(|c| c.matrix == 0 && c.value == Fr::from(1u64))
            .rev()
            .take(3)
            .map(|c| c.signal)
            .collect();
        assert_eq!(inputs, [2, 1, 0]);
    }

    #[test]
    fn a_tampered_contribution_is_refused_and_named() {
        let range = section_range(FINAL, 10);
        // The second record's transcript: after the circuit hash, the count
        // and the first record (392 bytes and a 15-byte name parameter),
        // then three G1 points and a G2 point.
        let first = RECORD_BYTES + 2 + "land registry".len();
        let transcript = range.start + 68 + first + 3 * G1_BYTES + G2_BYTES;
        let mut bytes = FINAL.to_vec();
        bytes[transcript] ^= 1;
        let error = Zkey::parse(&bytes)
            .unwrap()
            .check_contributions()
            .unwrap_err();
        assert_eq!(
            error,
            ZkeyError::Contribution {
                index: 2,
                name: "unnamed".into(),
                problem: "its transcript is not the hash of the ones before it".into(),
            }
        );
        // The header's δ, swapped for the one before the beacon.
        let earlier = Zkey::parse(FINAL).unwrap().contributions[1].delta_after;
        let mut zkey = Zkey::parse(FINAL).unwrap();
        zkey.delta_g1 = earlier;
        assert_eq!(
            zkey.check_contributions().unwrap_err().to_string(),
            "section 2: δ₁ is not the last contribution's"
        );
        // The beacon's value, changed.
        let mut zkey = Zkey::parse(FINAL).unwrap();
        if let Kind::Beacon { hash, .. } = &mut zkey.contributions[2].kind {
            hash[0] ^= 1;
        }
        let error = zkey.check_contributions().unwrap_err().to_string();
        assert_eq!(
            error,
            "contribution 3 (final beacon): its secret is not the one its beacon derives"
        );
        // A secret that differs between G1 and G2.
        let mut zkey = Zkey::parse(FINAL).unwrap();
        zkey.contributions[0].g1_sx =
            (zkey.contributions[0].g1_sx + G1Affine::generator()).into_affine();
        let error = zkey.check_contributions().unwrap_err().to_string();
        assert!(
            error.starts_with("contribution 1 (land registry): "),
            "{error}"
        );
    }

    #[test]
    fn a_snarkjs_key_writes_back_byte_for_byte() {
        assert!(Zkey::parse(FINAL).unwrap().to_bytes() == FINAL);
    }

    #[test]
    fn a_contribution_and_a_beacon_check_as_snarkjs_checks_them() {
        let zkey = Zkey::parse(FINAL).unwrap();
        let next = zkey.contribute(
            &mut contribution_rng("test entropy"),
            Kind::Contribution,
            Some("health department, whose name is longer than sixty-four bytes: é"),
        );
        next.check_contributions().unwrap();
        let added = next.contributions.last().unwrap();
        // 65 bytes, the last two an `é`: cut to 63, not through the `é`.
        assert_eq!(
            added.name.as_deref(),
            Some("health department, whose name is longer than sixty-four bytes: ")
        );
        assert_ne!(next.delta_g1, zkey.delta_g1);
        assert_eq!((&next.a, &next.ic), (&zkey.a, &zkey.ic));
        // C and H are divided by the secret δ moved by.
        assert_ne!(next.h, zkey.h);
        let reread = Zkey::parse(&next.to_bytes()).unwrap();
        assert_eq!(reread, next);

        let hash = vec![7u8; 32];
        let beacon = next.contribute(
            &mut beacon_rng(&hash, 10),
            Kind::Beacon {
                iterations_exp: 10,
                hash,
            },
            Some("beacon"),
        );
        beacon.check_contributions().unwrap();
        // The same beacon derives the same secret: a second one adds the
        // same g1_s.
        let again = next.contribute(&mut beacon_rng(&[7u8; 32], 10), Kind::Contribution, None);
        assert_eq!(
            again.contributions.last().unwrap().g1_s,
            beacon.contributions.last().unwrap().g1_s
        );
    }

    #[test]
    fn malformed_files_are_refused_with_the_section_named() {
        let refuse = |bytes: &[u8]| Zkey::parse(bytes).unwrap_err().to_string();
        assert_eq!(
            refuse(b"ptau\x01\0\0\0\0\0\0\0"),
            "not a snarkjs .zkey file (version 1): no `zkey` magic"
        );
        assert_eq!(
            refuse(&FINAL[..FINAL.len() - 1]),
            "section 10: is longer than the file"
        );
        // A coordinate of α₁ set to q: not below q, never reduced.
        let header = section_range(FINAL, 2);
        let mut bytes = FINAL.to_vec();
        let alpha = header.start + 4 + 32 + 4 + 32 + 12;
        bytes[alpha..alpha + 32].copy_from_slice(&Fq::MODULUS.to_bytes_le());
        assert_eq!(refuse(&bytes), "section 2: a coordinate is not below q");
        // α₁ moved off the curve.
        let mut bytes = FINAL.to_vec();
        bytes[alpha] ^= 1;
        assert_eq!(refuse(&bytes), "section 2: a G1 point is not on the curve");
        // A coefficient not below r.
        let coefficients = section_range(FINAL, 4);
        let mut bytes = FINAL.to_vec();
        let value = coefficients.start + 4 + 12;
        bytes[value..value + 32].copy_from_slice(&Fr::MODULUS.to_bytes_le());
        assert_eq!(refuse(&bytes), "section 4: a coefficient is not below r");
        // A section given twice: the protocol's id on the header.
        let mut bytes = FINAL.to_vec();
        let at = section_range(FINAL, 2).start - 12;
        bytes[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(refuse(&bytes), "section 1: appears twice");
        // Every truncation is refused, none panics.
        for cut in (0..FINAL.len()).step_by(97) {
            assert!(Zkey::parse(&FINAL[..cut]).is_err(), "cut at {cut}");
        }
    }
}
