//! A policy circuit's R1CS in iden3's binary `.r1cs` format, version 1: the
//! file circom writes and snarkjs reads (`snarkjs r1cs info`, `snarkjs
//! groth16 setup`).
//!
//! The file is `"r1cs"`, the version (1) and the section count, each a
//! little-endian integer, then sections, each a type (`u32`), a byte
//! length (`u64`) and its bytes:
//!
//! 1. the header: the field's byte size `n8` (32), its prime (`n8` bytes,
//!    little-endian), then the wire count, the public outputs, the public
//!    inputs and the private inputs (`u32` each), the label count (`u64`)
//!    and the constraint count (`u32`);
//! 2. the constraints: for each, its linear combinations A, B and C, each a
//!    term count (`u32`) and the terms, a wire (`u32`) and a coefficient
//!    (`n8` bytes, little-endian, in standard form, not Montgomery's);
//! 3. the map from wires to labels (`u64` each).
//!
//! Wires are arkworks' variables in their order: wire 0 is the constant
//! one, wires 1 to the public input count are the public inputs (circom's
//! public inputs, with no outputs before them), and every later wire is a
//! witness variable, which the file counts as internal (no private inputs):
//! the circuit takes its private values through the witness, as circom's
//! internal signals. Each wire is its own label. The input-consistency
//! rows of the QAP are not constraints: every Groth16 setup adds them
//! itself.

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};
use ark_relations::r1cs::ConstraintMatrices;

/// The magic bytes at the start of a `.r1cs` file.
pub const MAGIC: &[u8; 4] = b"r1cs";

/// The format version written.
pub const VERSION: u32 = 1;

/// Bytes per field element.
const N8: u32 = 32;

/// Why a circuit cannot be written as `.r1cs`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum R1csError {
    /// A count does not fit the format's 32-bit field.
    #[error("the circuit has {count} {what}, more than the .r1cs format's 2^32 - 1")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// How many.
        count: usize,
    },
}

fn u32_of(what: &'static str, count: usize) -> Result<u32, R1csError> {
    u32::try_from(count).map_err(|_| R1csError::TooLarge { what, count })
}

/// The `.r1cs` file of `matrices`.
pub fn to_bytes(matrices: &ConstraintMatrices<Fr>) -> Result<Vec<u8>, R1csError> {
    let wires = matrices.num_instance_variables + matrices.num_witness_variables;
    let wire_count = u32_of("wires", wires)?;
    let public_inputs = u32_of("public inputs", matrices.num_instance_variables - 1)?;
    let constraint_count = u32_of("constraints", matrices.num_constraints)?;

    let mut header = Vec::with_capacity(4 + N8 as usize + 28);
    header.extend_from_slice(&N8.to_le_bytes());
    header.extend_from_slice(&Fr::MODULUS.to_bytes_le());
    header.extend_from_slice(&wire_count.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes()); // public outputs
    header.extend_from_slice(&public_inputs.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes()); // private inputs
    header.extend_from_slice(&(wires as u64).to_le_bytes()); // labels
    header.extend_from_slice(&constraint_count.to_le_bytes());

    let mut constraints = Vec::new();
    let rows = matrices.a.iter().zip(&matrices.b).zip(&matrices.c);
    for ((a, b), c) in rows.take(matrices.num_constraints) {
        for combination in [a, b, c] {
            constraints
                .extend_from_slice(&u32_of("terms in a row", combination.len())?.to_le_bytes());
            for (coefficient, wire) in combination {
                constraints.extend_from_slice(&u32_of("wires", *wire)?.to_le_bytes());
                constraints.extend_from_slice(&coefficient.into_bigint().to_bytes_le());
            }
        }
    }

    let labels: Vec<u8> = (0..wires as u64).flat_map(u64::to_le_bytes).collect();

    let mut file =
        Vec::with_capacity(12 + 3 * 12 + header.len() + constraints.len() + labels.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&VERSION.to_le_bytes());
    file.extend_from_slice(&3u32.to_le_bytes());
    for (kind, bytes) in [(1u32, &header), (2, &constraints), (3, &labels)] {
        file.extend_from_slice(&kind.to_le_bytes());
        file.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        file.extend_from_slice(bytes);
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::One;
    use ark_relations::r1cs::ConstraintMatrices;

    /// x · y = product, (x + 2y) · 1 = sum: two public inputs, two
    /// witness variables.
    fn matrices() -> ConstraintMatrices<Fr> {
        let one = Fr::one();
        ConstraintMatrices {
            num_instance_variables: 3,
            num_witness_variables: 2,
            num_constraints: 2,
            a_num_non_zero: 3,
            b_num_non_zero: 2,
            c_num_non_zero: 2,
            a: vec![vec![(one, 3)], vec![(one, 3), (Fr::from(2u64), 4)]],
            b: vec![vec![(one, 4)], vec![(one, 0)]],
            c: vec![vec![(one, 1)], vec![(one, 2)]],
        }
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    fn u64_at(bytes: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn the_file_holds_the_header_every_term_and_the_identity_map() {
        let file = to_bytes(&matrices()).unwrap();
        assert_eq!(&file[..4], MAGIC);
        assert_eq!(u32_at(&file, 4), 1);
        assert_eq!(u32_at(&file, 8), 3);
        // Section 1, the header: 4 + 32 + 4 · 4 + 8 + 4 bytes.
        assert_eq!(u32_at(&file, 12), 1);
        assert_eq!(u64_at(&file, 16), 64);
        let header = &file[24..88];
        assert_eq!(u32_at(header, 0), 32);
        assert_eq!(&header[4..36], Fr::MODULUS.to_bytes_le().as_slice());
        let counts: Vec<u32> = (0..4).map(|i| u32_at(header, 36 + 4 * i)).collect();
        assert_eq!(counts, [5, 0, 2, 0]);
        assert_eq!(u64_at(header, 52), 5);
        assert_eq!(u32_at(header, 60), 2);
        // Section 2: 6 combinations of 7 terms, 36 bytes a term.
        assert_eq!(u32_at(&file, 88), 2);
        assert_eq!(u64_at(&file, 92), 6 * 4 + 7 * 36);
        let constraints = &file[100..100 + 6 * 4 + 7 * 36];
        // The second constraint's A: two terms, the second 2 · wire 4.
        let a1 = 4 + 36 + 4 + 36 + 4 + 36;
        assert_eq!(u32_at(constraints, a1), 2);
        assert_eq!(u32_at(constraints, a1 + 4 + 36), 4);
        let two = &constraints[a1 + 4 + 36 + 4..a1 + 4 + 36 + 36];
        assert_eq!(two[0], 2);
        assert!(
            two[1..].iter().all(|b| *b == 0),
            "standard form, not Montgomery"
        );
        // Section 3: wire i is label i.
        let map = 100 + constraints.len();
        assert_eq!(u32_at(&file, map), 3);
        assert_eq!(u64_at(&file, map + 4), 5 * 8);
        let labels: Vec<u64> = (0..5).map(|i| u64_at(&file, map + 12 + 8 * i)).collect();
        assert_eq!(labels, [0, 1, 2, 3, 4]);
        assert_eq!(file.len(), map + 12 + 40);
    }
}
