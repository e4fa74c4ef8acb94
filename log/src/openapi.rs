//! Schemas of the log's JSON for an OpenAPI document (feature `utoipa`).
//!
//! The entries hold some values as plain strings that follow a stricter
//! form (field elements, times, hashes), and the snarkjs proofs and keys as
//! JSON values, parsed only when they are checked. The types here give
//! those forms their schemas; `#[schema(value_type = ...)]` on a field
//! names them. They are never built: they exist for their schemas alone.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::entry::Entry;

/// The canonical decimal form of a field element: digits only, no sign,
/// no leading zero.
const DECIMAL: &str = "^(0|[1-9][0-9]*)$";

fn reference<T: ToSchema>() -> RefOr<Schema> {
    Ref::from_schema_name(T::name()).into()
}

/// An array of exactly `n` items of `T`.
fn tuple<T: ToSchema>(n: usize, description: &str) -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(reference::<T>())
        .min_items(Some(n))
        .max_items(Some(n))
        .description(Some(description))
        .into()
}

fn constant(value: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]))
}

/// Declares a schema type: its name is the type's, and `$dependencies`
/// are the schemas it refers to.
macro_rules! schema {
    ($(#[$doc:meta])* $name:ident [$($dependency:ident),*] => $schema:expr) => {
        $(#[$doc])*
        pub enum $name {}

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            #[allow(unused_variables)]
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $(
                    schemas.push(($dependency::name().into(), $dependency::schema()));
                    $dependency::schemas(schemas);
                )*
            }
        }
    };
}

schema! {
    /// An element of the BN254 scalar field, canonical decimal.
    FieldElement [] => ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "An element of the BN254 scalar field in canonical decimal form: ASCII digits \
             only, no sign, no leading zero, strictly below r = \
             21888242871839275222246405745257275088548364400416034343698204186575808495617. \
             Nothing is ever reduced: a value at or above r is refused.",
        ))
        .pattern(Some(DECIMAL))
        .min_length(Some(1))
        .max_length(Some(77))
        .examples([json!("0"), json!("42")])
        .into()
}

schema! {
    /// An element of the BN254 base field, canonical decimal.
    BaseFieldElement [] => ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "An element of the BN254 base field in canonical decimal form: ASCII digits \
             only, no sign, no leading zero, strictly below q = \
             21888242871839275222246405745257275088696311157297823662689037894645226208583.",
        ))
        .pattern(Some(DECIMAL))
        .min_length(Some(1))
        .max_length(Some(77))
        .into()
}

schema! {
    /// An element of Fq2.
    Fq2 [BaseFieldElement] => tuple::<BaseFieldElement>(
        2,
        "An element c0 + c1·u of Fq2 = Fq[u]/(u² + 1), written `[c0, c1]`, real part first.",
    )
}

schema! {
    /// An element of Fq6.
    Fq6 [Fq2] => tuple::<Fq2>(
        3,
        "An element a0 + a1·v + a2·v² of Fq6 = Fq2[v]/(v³ − (9 + u)), written `[a0, a1, a2]`.",
    )
}

schema! {
    /// An element of Fq12.
    Fq12 [Fq6] => tuple::<Fq6>(
        2,
        "An element c0 + c1·w of Fq12 = Fq6[w]/(w² − v), written `[c0, c1]`.",
    )
}

schema! {
    /// A G1 point as snarkjs writes it.
    G1Point [BaseFieldElement] => tuple::<BaseFieldElement>(
        3,
        "A G1 point `[x, y, z]` as snarkjs writes it: affine with z = \"1\", or the identity \
         `[\"0\", \"1\", \"0\"]`. It must lie on the curve and in the prime-order subgroup. The \
         identity is refused in proofs and in `vk_alpha_1` as malformed; in a verifying key's \
         `IC` it parses, but the rules refuse the key (400 `identity_point`).",
    )
}

schema! {
    /// A G2 point as snarkjs writes it.
    G2Point [Fq2] => tuple::<Fq2>(
        3,
        "A G2 point `[x, y, z]` of Fq2 elements, affine with z = [\"1\", \"0\"]. It must lie on \
         the twist and in the prime-order subgroup; the identity is refused.",
    )
}

schema! {
    /// A Groth16 proof in snarkjs JSON.
    SnarkjsProof [G1Point, G2Point] => ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A Groth16 proof on BN254 in snarkjs 0.7 JSON (`snarkjs groth16 prove`). Every \
             coordinate must be canonical and below q, every point on the curve, in the \
             prime-order subgroup and not the identity; otherwise the proof is refused with \
             `malformed_proof`, naming the JSON path (such as `pi_b[1][0]`). Other keys are \
             ignored, as snarkjs does.",
        ))
        .property("pi_a", reference::<G1Point>())
        .property("pi_b", reference::<G2Point>())
        .property("pi_c", reference::<G1Point>())
        .property("protocol", constant("groth16"))
        .property(
            "curve",
            constant("bn128").description(Some("snarkjs's name for BN254 (alt_bn128).")),
        )
        .required("pi_a")
        .required("pi_b")
        .required("pi_c")
        .required("protocol")
        .required("curve")
        .into()
}

schema! {
    /// A Groth16 verifying key in snarkjs JSON.
    SnarkjsVerifyingKey [G1Point, G2Point, Fq12] => ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A Groth16 verifying key on BN254 in snarkjs 0.7 JSON (`snarkjs zkey export \
             verificationkey`). Every coordinate and point is validated as in a proof, and no \
             point may be the identity; `nPublic` must equal `IC.length - 1`; \
             `vk_alphabeta_12` may be absent, and if present must equal e(vk_alpha_1, \
             vk_beta_2). Other keys are ignored.",
        ))
        .property("protocol", constant("groth16"))
        .property("curve", constant("bn128"))
        .property(
            "nPublic",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .description(Some("The number of public inputs.")),
        )
        .property("vk_alpha_1", reference::<G1Point>())
        .property("vk_beta_2", reference::<G2Point>())
        .property("vk_gamma_2", reference::<G2Point>())
        .property("vk_delta_2", reference::<G2Point>())
        .property("vk_alphabeta_12", reference::<Fq12>())
        .property(
            "IC",
            ArrayBuilder::new()
                .items(reference::<G1Point>())
                .min_items(Some(1))
                .description(Some(
                    "IC[0], then one G1 point per public input, in order. None may be the \
                     identity (400 `identity_point`): an identity point would leave its public \
                     input unbound.",
                )),
        )
        .required("protocol")
        .required("curve")
        .required("nPublic")
        .required("vk_alpha_1")
        .required("vk_beta_2")
        .required("vk_gamma_2")
        .required("vk_delta_2")
        .required("IC")
        .into()
}

schema! {
    /// A key id.
    KeyId [] => ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "A key id: lowercase hex SHA-256 over the compressed verifying key and the \
             policy's canonical hash.",
        ))
        .pattern(Some("^[0-9a-f]{64}$"))
        .into()
}

schema! {
    /// A time, RFC 3339 UTC to the second.
    Time [] => ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(
            "RFC 3339 UTC time to the second, such as `2026-11-24T10:00:00Z`.",
        ))
        .pattern(Some(
            "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
        ))
        .into()
}

schema! {
    /// A SHA-256 hash in standard base64.
    Base64Hash [] => ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "A SHA-256 hash (32 bytes) in standard base64 with padding, as in checkpoints.",
        ))
        .content_encoding("base64")
        .pattern(Some("^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"))
        .into()
}

schema! {
    /// A checkpoint, a C2SP signed note.
    SignedNote [] => ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "A checkpoint of the log in the C2SP signed-note format (c2sp.org/tlog-checkpoint, \
             c2sp.org/signed-note): the origin line, the tree size in decimal, the RFC 6962 \
             root hash in base64, each on its own line, then a blank line and one signature \
             line `— <origin> <base64 key hash and Ed25519 signature>`. Check it with the log's \
             verifier key (`name+hash+base64`).",
        ))
        .examples([json!(
            "zkgov.localhost/log\n42\nLXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=\n\n\
             — zkgov.localhost/log Az3gr8s…\n"
        )])
        .into()
}

schema! {
    /// What a decision decided.
    DecisionOutcome [] => ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["approved", "refused", "revoked"]))
        .into()
}

schema! {
    /// Why an item of evidence cannot be proved.
    UnmetReason [] => ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["not_satisfied", "subject_not_found", "revoked", "invalid_input"]))
        .into()
}

schema! {
    /// An entry's canonical JSON text.
    EntryText [Entry] => ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "The entry, canonical JSON text (RFC 8785): exactly the bytes its leaf hash covers.",
        ))
        .content_media_type("application/json")
        .content_schema(Some(Ref::from_schema_name("Entry")))
        .into()
}
