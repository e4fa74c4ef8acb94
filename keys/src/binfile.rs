//! The iden3 bin-file container that `.zkey` and `.ptau` files share: a
//! 4-byte magic, `u32` version 1, `u32` section count, then each section as
//! `u32` id, `u64` length and its bytes, all little-endian, in any order.

/// Why bytes are not a bin file of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BinFileError {
    /// Not this kind of file at all, or its framing is broken.
    NotFile(String),
    /// A section that is longer than the file, repeated, or unknown.
    Section {
        /// The section id.
        id: u32,
        /// What is wrong with it.
        problem: String,
    },
}

/// What to do with a section id beyond the `N` a file kind defines.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknown {
    /// Refuse the file.
    Refuse,
    /// Skip the section, as snarkjs does for powers of tau.
    Skip,
}

/// The sections 1..=N of a bin file with `magic`, by id, each at most
/// once; nothing may follow the last section.
pub(crate) fn sections<'a, const N: usize>(
    bytes: &'a [u8],
    magic: &[u8; 4],
    unknown: Unknown,
) -> Result<[Option<&'a [u8]>; N], BinFileError> {
    let not = |why: String| BinFileError::NotFile(why);
    let name = String::from_utf8_lossy(magic);
    if bytes.len() < 12 || &bytes[..4] != magic {
        return Err(not(format!("no `{name}` magic")));
    }
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4"));
    let version = u32_at(bytes, 4);
    if version != 1 {
        return Err(not(format!("version {version}")));
    }
    let count = u32_at(bytes, 8);
    let mut found: [Option<&[u8]>; N] = [None; N];
    let mut rest = &bytes[12..];
    for _ in 0..count {
        if rest.len() < 12 {
            return Err(not("a section header is cut short".into()));
        }
        let id = u32_at(rest, 0);
        let length = u64::from_le_bytes(rest[4..12].try_into().expect("8 bytes"));
        rest = &rest[12..];
        let length = usize::try_from(length)
            .ok()
            .filter(|&n| n <= rest.len())
            .ok_or_else(|| BinFileError::Section {
                id,
                problem: "is longer than the file".into(),
            })?;
        match id.checked_sub(1).and_then(|i| found.get_mut(i as usize)) {
            Some(Some(_)) => {
                return Err(BinFileError::Section {
                    id,
                    problem: "appears twice".into(),
                })
            }
            Some(slot) => *slot = Some(&rest[..length]),
            None if unknown == Unknown::Skip => {}
            None => {
                return Err(BinFileError::Section {
                    id,
                    problem: format!("is not a section of a .{name} file"),
                })
            }
        }
        rest = &rest[length..];
    }
    if !rest.is_empty() {
        return Err(not("bytes after the last section".into()));
    }
    Ok(found)
}
