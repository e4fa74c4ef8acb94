//! The Solidity Groth16 verifier export.
//!
//! [`verifier_contract`] turns a verifying key into a self-contained Solidity
//! contract that checks proofs on any EVM chain with the BN254 precompiles
//! of EIP-196 and EIP-197: `ecAdd` (0x06), `ecMul` (0x07) and `ecPairing`
//! (0x08). The key is embedded as constants. The entry point has the
//! signature snarkjs's verifiers use, so the usual tooling applies:
//!
//! ```solidity
//! function verifyProof(uint[2] calldata _pA, uint[2][2] calldata _pB,
//!     uint[2] calldata _pC, uint[N] calldata _pubSignals) public view returns (bool)
//! ```
//!
//! [`VerifierArgs`] (and its shorthand [`calldata`]) lays out a proof and its
//! public inputs as that function's arguments.
//!
//! The pairing precompile reads an element `c0 + c1·u` of F_q² as `c1`
//! first, then `c0`, while arkworks stores `c0` first. Both the G2 constants
//! in the contract and `_pB` in [`VerifierArgs`] are therefore swapped.
//!
//! ```
//! use ark_bn254::Bn254;
//! use ark_groth16::VerifyingKey;
//! use zkgov_keys::solidity::{verifier_contract, SolidityError};
//!
//! # fn export(vk: &VerifyingKey<Bn254>) -> Result<(), SolidityError> {
//! let source = verifier_contract(vk, "MedicalPremisesVerifier")?;
//! assert!(source.contains("contract MedicalPremisesVerifier {"));
//! # Ok(()) }
//! ```

use std::fmt::{self, Write as _};

use ark_bn254::{Bn254, Fq, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, BigInteger, PrimeField};
use ark_groth16::{Proof, VerifyingKey};

use crate::digest::Digest32;

/// A 256-bit EVM word, as a little-endian array of 64-bit limbs.
pub type Word = BigInt<4>;

/// Why a verifier contract cannot be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SolidityError {
    /// The name is not a Solidity identifier (`[A-Za-z_$][A-Za-z0-9_$]*`).
    #[error(
        "contract name {name:?} is not a Solidity identifier: use ASCII letters, digits, `_` \
         and `$`, not starting with a digit"
    )]
    NotAnIdentifier {
        /// The name as given.
        name: String,
    },
    /// The name is a Solidity keyword, a reserved word, an elementary type
    /// or a global builtin.
    #[error("contract name {name:?} is reserved in Solidity: choose another, such as \"{name}Verifier\"")]
    ReservedWord {
        /// The name as given.
        name: String,
    },
    /// The name is also the name of a constant or function inside the
    /// contract, which Solidity rejects or shadows.
    #[error(
        "contract name {name:?} clashes with a member of the generated contract: choose \
         another, such as \"{name}Verifier\""
    )]
    ClashesWithMember {
        /// The name as given.
        name: String,
    },
    /// The key has no public inputs, and `verifyProof` cannot take them:
    /// Solidity has no zero-length arrays.
    #[error("the verifying key has no public inputs; a Solidity verifier needs at least one")]
    NoPublicInputs,
}

/// What goes into a generated contract besides the key and its name.
#[derive(Debug, Clone, Default)]
pub struct ContractOptions {
    /// The key id named in the contract's header, if known.
    pub key_id: Option<Digest32>,
}

/// The Solidity source of a Groth16 verifier for `vk`, named `contract_name`.
///
/// Same as [`verifier_contract_with`] with default options, so the header
/// names no key id.
pub fn verifier_contract(
    vk: &VerifyingKey<Bn254>,
    contract_name: &str,
) -> Result<String, SolidityError> {
    verifier_contract_with(vk, contract_name, &ContractOptions::default())
}

/// The Solidity source of a Groth16 verifier for `vk`, named `contract_name`.
///
/// The contract returns false, and does not revert, for a public signal
/// that is not below r, a proof coordinate that is not below q, a point off
/// its curve or outside its group, or a failed pairing check.
pub fn verifier_contract_with(
    vk: &VerifyingKey<Bn254>,
    contract_name: &str,
    options: &ContractOptions,
) -> Result<String, SolidityError> {
    check_contract_name(contract_name)?;
    let n = vk
        .gamma_abc_g1
        .len()
        .checked_sub(1)
        .filter(|&n| n > 0)
        .ok_or(SolidityError::NoPublicInputs)?;
    let mut s = String::new();
    write_contract(&mut s, vk, n, contract_name, options).expect("writing to a String cannot fail");
    Ok(s)
}

/// The arguments of `verifyProof` in the order and layout the contract reads
/// them: `_pB` holds `[[x.c1, x.c0], [y.c1, y.c0]]`.
///
/// `Display` prints them as `snarkjs zkey export soliditycalldata` does:
/// `["0x…","0x…"],[["0x…","0x…"],["0x…","0x…"]],["0x…","0x…"],["0x…",…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierArgs {
    /// `_pA`: the proof's A as (x, y).
    pub a: [Word; 2],
    /// `_pB`: the proof's B as `[[x.c1, x.c0], [y.c1, y.c0]]`.
    pub b: [[Word; 2]; 2],
    /// `_pC`: the proof's C as (x, y).
    pub c: [Word; 2],
    /// `_pubSignals`: the public inputs, in statement order.
    pub public: Vec<Word>,
}

impl VerifierArgs {
    /// Lays out `proof` and its public inputs `public` for `verifyProof`.
    pub fn new(proof: &Proof<Bn254>, public: &[Fr]) -> Self {
        Self {
            a: g1_words(&proof.a),
            b: g2_words(&proof.b),
            c: g1_words(&proof.c),
            public: public.iter().map(|x| x.into_bigint()).collect(),
        }
    }

    /// The ABI encoding of the arguments, without the function selector.
    ///
    /// Every argument is a static array, so this is just the words in
    /// order, each 32 bytes big-endian.
    pub fn abi_encode(&self) -> Vec<u8> {
        self.words().flat_map(|w| w.to_bytes_be()).collect()
    }

    fn words(&self) -> impl Iterator<Item = &Word> {
        self.a
            .iter()
            .chain(self.b.iter().flatten())
            .chain(&self.c)
            .chain(&self.public)
    }
}

impl fmt::Display for VerifierArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, words: &[Word]) -> fmt::Result {
            f.write_char('[')?;
            for (i, w) in words.iter().enumerate() {
                if i > 0 {
                    f.write_char(',')?;
                }
                write!(f, "\"0x{}\"", hex::encode(w.to_bytes_be()))?;
            }
            f.write_char(']')
        }
        list(f, &self.a)?;
        f.write_str(",[")?;
        list(f, &self.b[0])?;
        f.write_char(',')?;
        list(f, &self.b[1])?;
        f.write_str("],")?;
        list(f, &self.c)?;
        f.write_char(',')?;
        list(f, &self.public)
    }
}

/// The arguments of `verifyProof` for `proof` and `public`, as
/// `snarkjs zkey export soliditycalldata` prints them. See [`VerifierArgs`].
pub fn calldata(proof: &Proof<Bn254>, public: &[Fr]) -> String {
    VerifierArgs::new(proof, public).to_string()
}

/// (x, y); the point at infinity is (0, 0), as the precompiles encode it.
fn g1_words(p: &G1Affine) -> [Word; 2] {
    let (x, y) = p.xy().unwrap_or((Fq::from(0u8), Fq::from(0u8)));
    [x.into_bigint(), y.into_bigint()]
}

/// [[x.c1, x.c0], [y.c1, y.c0]], the order the pairing precompile reads.
fn g2_words(p: &G2Affine) -> [[Word; 2]; 2] {
    match p.xy() {
        Some((x, y)) => [
            [x.c1.into_bigint(), x.c0.into_bigint()],
            [y.c1.into_bigint(), y.c0.into_bigint()],
        ],
        None => [[Word::default(); 2]; 2],
    }
}

/// Solidity keywords, reserved words (including `_` and the future keyword
/// `error`), sub-denominations and global builtins. solc rejects a contract
/// named after the first kinds and warns about shadowing for the builtins.
/// Sized elementary types (`uint8`, `bytes32`, …) are matched apart.
const RESERVED: &[&str] = &[
    "_",
    "error",
    "abi",
    "addmod",
    "assert",
    "blobhash",
    "block",
    "blockhash",
    "ecrecover",
    "gasleft",
    "keccak256",
    "msg",
    "mulmod",
    "now",
    "require",
    "revert",
    "ripemd160",
    "selfdestruct",
    "sha256",
    "sha3",
    "suicide",
    "tx",
    "abstract",
    "after",
    "alias",
    "anonymous",
    "apply",
    "as",
    "assembly",
    "auto",
    "bool",
    "break",
    "byte",
    "calldata",
    "case",
    "catch",
    "constant",
    "constructor",
    "continue",
    "contract",
    "copyof",
    "days",
    "default",
    "define",
    "delete",
    "do",
    "else",
    "emit",
    "enum",
    "ether",
    "event",
    "external",
    "fallback",
    "false",
    "final",
    "for",
    "function",
    "gwei",
    "hex",
    "hours",
    "if",
    "immutable",
    "implements",
    "import",
    "in",
    "indexed",
    "inline",
    "interface",
    "internal",
    "is",
    "let",
    "library",
    "macro",
    "mapping",
    "match",
    "memory",
    "minutes",
    "modifier",
    "mutable",
    "new",
    "null",
    "of",
    "override",
    "partial",
    "payable",
    "pragma",
    "private",
    "promise",
    "public",
    "pure",
    "receive",
    "reference",
    "relocatable",
    "return",
    "returns",
    "sealed",
    "seconds",
    "sizeof",
    "static",
    "storage",
    "string",
    "struct",
    "super",
    "supports",
    "switch",
    "this",
    "true",
    "try",
    "type",
    "typedef",
    "typeof",
    "unchecked",
    "unicode",
    "using",
    "var",
    "view",
    "virtual",
    "weeks",
    "wei",
    "while",
    "years",
    "address",
    "bytes",
    "uint",
    "int",
    "fixed",
    "ufixed",
];

/// Names declared inside the generated contract, besides `IC<i>_X`/`_Y`.
const MEMBERS: &[&str] = &[
    "Q",
    "R",
    "ALPHA_X",
    "ALPHA_Y",
    "BETA_X1",
    "BETA_X0",
    "BETA_Y1",
    "BETA_Y0",
    "GAMMA_X1",
    "GAMMA_X0",
    "GAMMA_Y1",
    "GAMMA_Y0",
    "DELTA_X1",
    "DELTA_X0",
    "DELTA_Y1",
    "DELTA_Y0",
    "verifyProof",
    "publicInputPoint",
    "mulAdd",
    "pairingIsOne",
];

fn check_contract_name(name: &str) -> Result<(), SolidityError> {
    let ident_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == '$';
    let mut chars = name.chars();
    let is_identifier = chars.next().is_some_and(ident_start)
        && chars.all(|c| ident_start(c) || c.is_ascii_digit());
    if !is_identifier {
        return Err(SolidityError::NotAnIdentifier {
            name: name.to_owned(),
        });
    }
    if RESERVED.contains(&name) || is_sized_elementary_type(name) {
        return Err(SolidityError::ReservedWord {
            name: name.to_owned(),
        });
    }
    if MEMBERS.contains(&name) || is_ic_constant(name) {
        return Err(SolidityError::ClashesWithMember {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// `uint8`, `int256`, `bytes32`, `fixed128x18`, `ufixed8x1`, … (and, being
/// conservative, any digits after those prefixes).
fn is_sized_elementary_type(name: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let fixed = |s: &str| {
        s.split_once('x')
            .is_some_and(|(m, n)| digits(m) && digits(n))
    };
    ["uint", "int", "bytes"]
        .iter()
        .any(|p| name.strip_prefix(p).is_some_and(digits))
        || ["ufixed", "fixed"]
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(fixed))
}

fn is_ic_constant(name: &str) -> bool {
    name.strip_prefix("IC")
        .and_then(|rest| rest.strip_suffix("_X").or_else(|| rest.strip_suffix("_Y")))
        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

fn write_g1(s: &mut String, name: &str, p: &G1Affine) -> fmt::Result {
    let [x, y] = g1_words(p);
    writeln!(s, "    uint256 private constant {name}_X = {x};")?;
    writeln!(s, "    uint256 private constant {name}_Y = {y};")
}

fn write_g2(s: &mut String, name: &str, p: &G2Affine) -> fmt::Result {
    let [[x1, x0], [y1, y0]] = g2_words(p);
    writeln!(s, "    uint256 private constant {name}_X1 = {x1};")?;
    writeln!(s, "    uint256 private constant {name}_X0 = {x0};")?;
    writeln!(s, "    uint256 private constant {name}_Y1 = {y1};")?;
    writeln!(s, "    uint256 private constant {name}_Y0 = {y0};")
}

fn write_contract(
    s: &mut String,
    vk: &VerifyingKey<Bn254>,
    n: usize,
    name: &str,
    options: &ContractOptions,
) -> fmt::Result {
    let key = match &options.key_id {
        Some(id) => format!("for key id {id}"),
        None => "for a verifying key exported without its key id".to_owned(),
    };
    let term = |i: usize| format!("s[{i}] * IC{}", i + 1);
    let vk_x = match n {
        1 | 2 => (0..n).fold("IC0".to_owned(), |sum, i| format!("{sum} + {}", term(i))),
        _ => format!("IC0 + {} + ... + {}", term(0), term(n - 1)),
    };
    write!(
        s,
        r#"// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title {name}: a Groth16 verifier on BN254
/// @notice Generated by zkgov {key}.
///         Regenerate it from the verifying key rather than editing it.
/// @dev The embedded key comes from a single-party setup: whoever ran the
///      setup can forge proofs, so it is not fit for production. Production
///      keys come from a multi-party ceremony.
///
///      A proof (A, B, C) is valid for public signals s when
///          e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) = 1,
///      where vk_x = {vk_x}. It uses
///      the precompiles ecAdd (0x06), ecMul (0x07) and ecPairing (0x08).
contract {name} {{
    /// The BN254 base field modulus q: every proof coordinate is below it.
    uint256 private constant Q = {q};
    /// The BN254 scalar field modulus r: every public signal is below it.
    uint256 private constant R = {r};

    // The verifying key. The pairing precompile (EIP-197) reads an element
    // c0 + c1 * u of F_q^2 as c1 first, then c0, so the G2 coordinates are
    // split into X1 (c1) and X0 (c0), and likewise for Y.
"#,
        q = Fq::MODULUS,
        r = Fr::MODULUS,
    )?;
    write_g1(s, "ALPHA", &vk.alpha_g1)?;
    write_g2(s, "BETA", &vk.beta_g2)?;
    write_g2(s, "GAMMA", &vk.gamma_g2)?;
    write_g2(s, "DELTA", &vk.delta_g2)?;
    for (i, p) in vk.gamma_abc_g1.iter().enumerate() {
        write_g1(s, &format!("IC{i}"), p)?;
    }
    write!(
        s,
        r#"
    /// @notice Whether (_pA, _pB, _pC) is a valid proof for _pubSignals.
    /// @dev _pB is [[x.c1, x.c0], [y.c1, y.c0]]. Returns false, without
    ///      reverting, for a signal not below r, a coordinate not below q, a
    ///      point off its curve or outside its group, or a failed pairing
    ///      check. A precompile that rejects its input keeps the gas passed
    ///      to it, so such a call costs most of its gas limit.
    function verifyProof(
        uint[2] calldata _pA,
        uint[2][2] calldata _pB,
        uint[2] calldata _pC,
        uint[{n}] calldata _pubSignals
    ) public view returns (bool) {{
        // ecMul takes any 256-bit scalar, and s and s + r give the same
        // point: only the canonical encoding of a statement may verify.
        for (uint256 i = 0; i < {n}; ++i) {{
            if (_pubSignals[i] >= R) return false;
        }}
        if (_pA[0] >= Q || _pA[1] >= Q || _pC[0] >= Q || _pC[1] >= Q) return false;
        if (_pB[0][0] >= Q || _pB[0][1] >= Q || _pB[1][0] >= Q || _pB[1][1] >= Q) return false;

        (bool ok, uint256 x, uint256 y) = publicInputPoint(_pubSignals);
        if (!ok) return false;

        uint256[24] memory input;
        // -A = (x, q - y). The point at infinity (0, 0) is its own negation,
        // hence the final mod q.
        input[0] = _pA[0];
        input[1] = (Q - _pA[1]) % Q;
        input[2] = _pB[0][0];
        input[3] = _pB[0][1];
        input[4] = _pB[1][0];
        input[5] = _pB[1][1];
        input[6] = ALPHA_X;
        input[7] = ALPHA_Y;
        input[8] = BETA_X1;
        input[9] = BETA_X0;
        input[10] = BETA_Y1;
        input[11] = BETA_Y0;
        input[12] = x;
        input[13] = y;
        input[14] = GAMMA_X1;
        input[15] = GAMMA_X0;
        input[16] = GAMMA_Y1;
        input[17] = GAMMA_Y0;
        input[18] = _pC[0];
        input[19] = _pC[1];
        input[20] = DELTA_X1;
        input[21] = DELTA_X0;
        input[22] = DELTA_Y1;
        input[23] = DELTA_Y0;
        return pairingIsOne(input);
    }}

    /// vk_x = IC0 + s[0] * IC1 + ...; ok is false if a precompile call fails.
    function publicInputPoint(uint[{n}] calldata s) private view returns (bool ok, uint256 x, uint256 y) {{
        (x, y) = (IC0_X, IC0_Y);
"#
    )?;
    for i in 0..n {
        let j = i + 1;
        writeln!(
            s,
            "        (ok, x, y) = mulAdd(x, y, IC{j}_X, IC{j}_Y, s[{i}]);"
        )?;
        writeln!(s, "        if (!ok) return (false, 0, 0);")?;
    }
    s.push_str(
        r#"    }

    /// (x, y) + k * (px, py), with ecMul (0x07) and ecAdd (0x06).
    function mulAdd(uint256 x, uint256 y, uint256 px, uint256 py, uint256 k)
        private
        view
        returns (bool, uint256, uint256)
    {
        (bool ok, bytes memory out) = address(0x07).staticcall(abi.encode(px, py, k));
        if (!ok || out.length != 64) return (false, 0, 0);
        (uint256 kx, uint256 ky) = abi.decode(out, (uint256, uint256));
        (ok, out) = address(0x06).staticcall(abi.encode(x, y, kx, ky));
        if (!ok || out.length != 64) return (false, 0, 0);
        (x, y) = abi.decode(out, (uint256, uint256));
        return (true, x, y);
    }

    /// Whether the product of the pairings in input is one. A rejected
    /// input (a point off its curve or outside its group) counts as no.
    function pairingIsOne(uint256[24] memory input) private view returns (bool) {
        (bool ok, bytes memory out) = address(0x08).staticcall(abi.encode(input));
        return ok && out.length == 32 && abi.decode(out, (uint256)) == 1;
    }
}
"#,
    );
    Ok(())
}
