//! A phase-2-prepared powers of tau file, `.ptau` (snarkjs, BN254): the
//! parts of it a circuit's initial `.zkey` is made from, read with every
//! point checked.
//!
//! The file is `"ptau"`, a version (1) and a section count, then sections
//! as in a `.zkey` (an id, a byte length and the bytes). Section 1 holds
//! the base field's size and prime and the file's power p; 2 the powers
//! τⁱ·G1 for i below 2^(p+1) − 1; 4 and 5 α·τⁱ·G1 and β·τⁱ·G1; 6 β·G2.
//! `powersoftau prepare phase2` adds 12 to 15: the Lagrange bases of every
//! domain of 2^k points, k up to p (and p + 1 in section 12), at τ, the
//! block for 2^k starting at point 2^k − 1: 12 in G1, 13 in G2, 14 times α
//! and 15 times β, in G1. Points are encoded as in a `.zkey`.

use ark_bn254::{Fq, G1Affine, G2Affine};
use ark_ff::{BigInteger, PrimeField};

use crate::zkey::{read_g1, read_g2, G1_BYTES, G2_BYTES};

/// The magic bytes at the start of a `.ptau` file.
pub const MAGIC: &[u8; 4] = b"ptau";

/// Why a `.ptau` file is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PtauError {
    /// The file does not start with `ptau` and version 1, or its sections
    /// do not fit it.
    #[error("not a snarkjs .ptau file (version 1): {0}")]
    NotPtau(String),
    /// A section is missing, repeated or too short, or a point in it is
    /// not valid.
    #[error("section {section}: {problem}")]
    Section {
        /// The section id.
        section: u32,
        /// What is wrong with it.
        problem: String,
    },
    /// The file is for another curve than BN254.
    #[error("its curve is not BN254")]
    OtherCurve,
    /// The file has no Lagrange bases: `prepare phase2` was not run.
    #[error(
        "it is not prepared for phase 2 (no section 12); run `snarkjs powersoftau prepare phase2`"
    )]
    NotPrepared,
    /// The file's power is too small for the domain.
    #[error("its power {power} is too small for a domain of 2^{needed}")]
    TooSmall {
        /// The file's power.
        power: u32,
        /// The power the domain needs.
        needed: u32,
    },
}

/// A `.ptau` file's bytes, its sections located.
pub struct Ptau<'a> {
    /// The file's power: its τ has 2^power Lagrange points per basis.
    pub power: u32,
    sections: [Option<&'a [u8]>; 15],
}

impl<'a> Ptau<'a> {
    /// Locates the sections of `bytes` and checks the header. Points are
    /// read, and checked, only when asked for.
    pub fn parse(bytes: &'a [u8]) -> Result<Ptau<'a>, PtauError> {
        let not = |why: &str| PtauError::NotPtau(why.to_string());
        if bytes.len() < 12 || &bytes[..4] != MAGIC {
            return Err(not("no `ptau` magic"));
        }
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        if u32_at(bytes, 4) != 1 {
            return Err(not(&format!("version {}", u32_at(bytes, 4))));
        }
        let count = u32_at(bytes, 8);
        let mut sections: [Option<&[u8]>; 15] = [None; 15];
        let mut rest = &bytes[12..];
        for _ in 0..count {
            if rest.len() < 12 {
                return Err(not("a section header is cut short"));
            }
            let id = u32_at(rest, 0);
            let length = u64::from_le_bytes(rest[4..12].try_into().unwrap());
            rest = &rest[12..];
            let length = usize::try_from(length)
                .ok()
                .filter(|&n| n <= rest.len())
                .ok_or_else(|| not(&format!("section {id} is longer than the file")))?;
            // Sections beyond 15 (none are defined) are skipped, as snarkjs does.
            if let Some(slot) = id.checked_sub(1).and_then(|i| sections.get_mut(i as usize)) {
                if slot.is_some() {
                    return Err(PtauError::Section {
                        section: id,
                        problem: "appears twice".into(),
                    });
                }
                *slot = Some(&rest[..length]);
            }
            rest = &rest[length..];
        }
        let header = sections[0].ok_or_else(|| not("no header (section 1)"))?;
        if header.len() != 4 + 32 + 8 {
            return Err(PtauError::OtherCurve);
        }
        if u32_at(header, 0) != 32 || header[4..36] != Fq::MODULUS.to_bytes_le()[..] {
            return Err(PtauError::OtherCurve);
        }
        let power = u32_at(header, 36);
        if !(1..=27).contains(&power) {
            return Err(not(&format!("power {power}")));
        }
        if sections[11].is_none() {
            return Err(PtauError::NotPrepared);
        }
        Ok(Ptau { power, sections })
    }

    fn section(&self, id: u32) -> Result<&'a [u8], PtauError> {
        self.sections[id as usize - 1].ok_or_else(|| PtauError::Section {
            section: id,
            problem: "is missing".into(),
        })
    }

    /// Points `start..start + count` of section `id`, each `size` bytes.
    fn slice(
        &self,
        id: u32,
        start: usize,
        count: usize,
        size: usize,
    ) -> Result<&'a [u8], PtauError> {
        let section = self.section(id)?;
        section
            .get(start * size..(start + count) * size)
            .ok_or_else(|| PtauError::Section {
                section: id,
                problem: format!("holds no points {start} to {}", start + count - 1),
            })
    }

    /// G1 points `start..start + count` of section `id`, checked.
    pub fn g1(&self, id: u32, start: usize, count: usize) -> Result<Vec<G1Affine>, PtauError> {
        let bytes = self.slice(id, start, count, G1_BYTES)?;
        bytes
            .chunks(G1_BYTES)
            .map(|b| {
                read_g1(b).map_err(|problem| PtauError::Section {
                    section: id,
                    problem,
                })
            })
            .collect()
    }

    /// G2 points `start..start + count` of section `id`, checked.
    pub fn g2(&self, id: u32, start: usize, count: usize) -> Result<Vec<G2Affine>, PtauError> {
        let bytes = self.slice(id, start, count, G2_BYTES)?;
        bytes
            .chunks(G2_BYTES)
            .map(|b| {
                read_g2(b).map_err(|problem| PtauError::Section {
                    section: id,
                    problem,
                })
            })
            .collect()
    }

    /// Checks that the file covers a domain of `2^needed` points.
    pub fn covers(&self, needed: u32) -> Result<(), PtauError> {
        if needed > self.power {
            return Err(PtauError::TooSmall {
                power: self.power,
                needed,
            });
        }
        Ok(())
    }
}
