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

use crate::binfile::{self, BinFileError, Unknown};
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
        // Sections beyond 15 (none are defined) are skipped, as snarkjs does.
        let sections: [Option<&[u8]>; 15] = binfile::sections(bytes, MAGIC, Unknown::Skip)
            .map_err(|e| match e {
                BinFileError::NotFile(why) => PtauError::NotPtau(why),
                BinFileError::Section { id, problem } => PtauError::Section {
                    section: id,
                    problem,
                },
            })?;
        let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
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
        self.points(id, start, count, G1_BYTES, read_g1)
    }

    /// G2 points `start..start + count` of section `id`, checked.
    pub fn g2(&self, id: u32, start: usize, count: usize) -> Result<Vec<G2Affine>, PtauError> {
        self.points(id, start, count, G2_BYTES, read_g2)
    }

    /// Points `start..start + count` of section `id`, each `size` bytes,
    /// each checked by `read`.
    fn points<P>(
        &self,
        id: u32,
        start: usize,
        count: usize,
        size: usize,
        read: fn(&[u8]) -> Result<P, String>,
    ) -> Result<Vec<P>, PtauError> {
        self.slice(id, start, count, size)?
            .chunks(size)
            .map(|b| {
                read(b).map_err(|problem| PtauError::Section {
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

#[cfg(test)]
mod tests {
    use ark_ec::AffineRepr;

    use super::*;

    const FILE: &[u8] = include_bytes!("../tests/data/ptau/power2.ptau");

    /// The sections of a bin file, in order, as (id, bytes).
    fn sections(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut rest = &bytes[12..];
        while !rest.is_empty() {
            let id = u32::from_le_bytes(rest[..4].try_into().unwrap());
            let length = u64::from_le_bytes(rest[4..12].try_into().unwrap()) as usize;
            out.push((id, rest[12..12 + length].to_vec()));
            rest = &rest[12 + length..];
        }
        out
    }

    /// A ptau file of `sections`.
    fn file(sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend(1u32.to_le_bytes());
        out.extend((sections.len() as u32).to_le_bytes());
        for (id, bytes) in sections {
            out.extend(id.to_le_bytes());
            out.extend((bytes.len() as u64).to_le_bytes());
            out.extend(bytes);
        }
        out
    }

    #[test]
    fn a_snarkjs_ptau_reads_with_its_points() {
        let ptau = Ptau::parse(FILE).unwrap();
        assert_eq!(ptau.power, 2);
        ptau.covers(2).unwrap();
        assert_eq!(
            ptau.covers(3),
            Err(PtauError::TooSmall {
                power: 2,
                needed: 3
            })
        );
        // τ⁰·G1 and τ⁰·G2 are the generators.
        assert_eq!(ptau.g1(2, 0, 1).unwrap()[0], G1Affine::generator());
        assert_eq!(ptau.g2(3, 0, 1).unwrap()[0], G2Affine::generator());
        // 2^(p+1) − 1 = 7 powers in G1, and no eighth.
        assert_eq!(ptau.g1(2, 0, 7).unwrap().len(), 7);
        assert!(matches!(
            ptau.g1(2, 7, 1),
            Err(PtauError::Section { section: 2, .. })
        ));
        // The Lagrange basis of the 4-point domain, in G1, sums to G1 (the
        // basis polynomials sum to 1).
        let basis = ptau.g1(12, 3, 4).unwrap();
        let sum: ark_bn254::G1Projective = basis.iter().map(|p| p.into_group()).sum();
        assert_eq!(sum, G1Affine::generator().into_group());
        // Rewritten from its sections, in another order, it is the same.
        let mut reordered = sections(FILE);
        reordered.reverse();
        assert_eq!(Ptau::parse(&file(&reordered)).unwrap().power, 2);
    }

    #[test]
    fn malformed_files_are_refused_without_a_panic() {
        let all = sections(FILE);
        let refuse = |bytes: &[u8]| Ptau::parse(bytes).err().map(|e| e.to_string());
        // A file not prepared for phase 2: no section 12.
        let unprepared: Vec<_> = all.iter().filter(|(id, _)| *id != 12).cloned().collect();
        assert_eq!(
            Ptau::parse(&file(&unprepared)).err(),
            Some(PtauError::NotPrepared)
        );
        let mut twice = all.clone();
        twice.push(all[1].clone());
        assert_eq!(refuse(&file(&twice)).unwrap(), "section 2: appears twice");
        // A section of an id no file defines is skipped, as snarkjs does.
        let mut unknown = all.clone();
        unknown.push((99, vec![1, 2, 3]));
        assert_eq!(Ptau::parse(&file(&unknown)).unwrap().power, 2);
        let mut trailing = FILE.to_vec();
        trailing.push(0);
        assert!(refuse(&trailing)
            .unwrap()
            .contains("bytes after the last section"));
        let mut zkey = FILE.to_vec();
        zkey[..4].copy_from_slice(b"zkey");
        assert!(refuse(&zkey).unwrap().contains("no `ptau` magic"));
        // A point off the curve is refused when it is read: points are
        // read only when asked for.
        let mut off = all.clone();
        off[1].1[G1_BYTES] ^= 1;
        let bytes = file(&off);
        let ptau = Ptau::parse(&bytes).unwrap();
        assert!(matches!(
            ptau.g1(2, 1, 1),
            Err(PtauError::Section { section: 2, .. })
        ));
        // Every truncation is refused, and none panics.
        for cut in 0..FILE.len() {
            if let Ok(ptau) = Ptau::parse(&FILE[..cut]) {
                panic!(
                    "a file cut at {cut} of {} parsed: power {}",
                    FILE.len(),
                    ptau.power
                );
            }
        }
    }
}
