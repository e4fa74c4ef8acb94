//! What the fuzz targets share.

use std::sync::OnceLock;
use zkgov_circuits::schema::Schema;

/// The three shipped schemas: real estate, business licences, medical licences.
pub fn schemas() -> &'static [Schema; 3] {
    static SCHEMAS: OnceLock<[Schema; 3]> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let read = |name, text| Schema::from_toml(name, text).expect("a shipped schema reads");
        [
            read(
                "real-estate",
                include_str!("../../schemas/real-estate.toml"),
            ),
            read(
                "business-licence",
                include_str!("../../schemas/business-licence.toml"),
            ),
            read(
                "medical-licence",
                include_str!("../../schemas/medical-licence.toml"),
            ),
        ]
    })
}
