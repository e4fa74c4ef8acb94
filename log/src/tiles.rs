//! C2SP `tlog-tiles`: the log's hashes and entries cut into immutable
//! tiles of 256, so that an auditor downloads only what is new since its
//! last checkpoint. No I/O: a [`TileSource`] fetches tile bytes, and
//! everything fetched is checked against a signed root before it is used.
//!
//! - A **hash tile** at level `L`, index `N` holds the hashes of tree level
//!   `8·L` (level-0 tiles hold leaf hashes), positions `256·N` to
//!   `256·N + W − 1`, each 32 bytes, concatenated. A full tile has `W` = 256;
//!   the right edge of a tree has *partial* tiles, of width 1 to 255.
//! - An **entry bundle** `N` holds entries `256·N` to `256·N + W − 1`, each
//!   as a big-endian `uint16` length followed by the entry's bytes.
//! - Paths are `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, with
//!   `N` written in groups of three digits, all but the last prefixed by
//!   `x`: index 1234067 is `x001/x234/067`. `L` and `W` are decimal with no
//!   leading zeros; only one spelling of each tile is accepted.
//!
//! Every tile of a tree of size `S` is either on its right edge (the one
//! partial tile of each level, whose hashes are exactly what the root of
//! `S` is folded from) or full, and then its own root is a hash of its
//! parent tile. So a set of tiles closed under parents is checked by
//! computing the root from them and each full tile's root from its parent
//! ([`fetch_tiles`]). The tiles that grow from size `old` to size `new`
//! ([`tiles_for_growth`]) form such a set, and they also hold every node the
//! root of `old` is folded from: the consistency of `old` with `new` is that
//! root, recomputed from tiles already checked against `new`.
//!
//! Specification: <https://c2sp.org/tlog-tiles>.
//!
//! ```
//! use zkgov_log::tiles::Tile;
//!
//! let tile = Tile::parse("tile/0/x001/x234/067.p/8").unwrap();
//! assert_eq!((tile.index, tile.width), (1_234_067, 8));
//! assert_eq!(tile.path(), "tile/0/x001/x234/067.p/8");
//! assert!(Tile::parse("tile/0/x001/x234/67").is_err());
//! ```

use std::collections::BTreeMap;
use std::ops::Range;

use crate::tree::{node_hash, root, Hash, NodeId, NodeReader, TreeError};

/// The height of a tile: each holds 2^8 hashes.
pub const TILE_HEIGHT: u8 = 8;

/// The hashes (or entries) of a full tile.
pub const TILE_WIDTH: u16 = 1 << TILE_HEIGHT;

/// The largest tile level a path may name (C2SP allows 0 to 63; a log of
/// at most 2^64 − 1 entries has hashes at levels 0 to 7 only).
pub const MAX_LEVEL: u8 = 63;

/// What a tile holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// Hashes of tree level `8 · level`.
    Hashes {
        /// The tile level, 0 to [`MAX_LEVEL`].
        level: u8,
    },
    /// Entries, length-prefixed.
    Entries,
}

/// One tile: its kind, its index within its level and its width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    /// Hashes of which level, or entries.
    pub kind: TileKind,
    /// Its position among the tiles of its level.
    pub index: u64,
    /// How many hashes or entries it holds: 1 to [`TILE_WIDTH`], the full
    /// width.
    pub width: u16,
}

/// Why a path names no tile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TilePathError {
    /// The path does not start with `tile/`, or has too few elements.
    #[error("not a tile path: it must read tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>]")]
    NotATile,
    /// The level is not a decimal number from 0 to 63.
    #[error("the tile level must be a decimal number from 0 to 63")]
    BadLevel,
    /// An element of the index is not `xDDD` (or `DDD` for the last).
    #[error("the tile index must be groups of three digits, all but the last prefixed by `x`")]
    BadIndex,
    /// The width is not a decimal number from 1 to 255.
    #[error("a partial tile's width must be a decimal number from 1 to 255")]
    BadWidth,
    /// The tile's first hash or entry is beyond any log.
    #[error("the tile index is beyond any log")]
    IndexTooLarge,
    /// The path is another spelling of a tile (leading zeros, an empty
    /// group `x000` in front).
    #[error("not the canonical path of its tile; it is {canonical}")]
    NonCanonical {
        /// The tile's one path.
        canonical: String,
    },
}

/// A decimal number with no sign and no leading zeros.
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// `n` in groups of three digits, all but the last prefixed by `x`.
fn encode_index(n: u64) -> String {
    let mut groups = vec![format!("{:03}", n % 1000)];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

impl Tile {
    /// The full hash tile at `level`, `index`.
    pub fn hashes(level: u8, index: u64) -> Tile {
        Tile {
            kind: TileKind::Hashes { level },
            index,
            width: TILE_WIDTH,
        }
    }

    /// The full entry bundle `index`.
    pub fn entries(index: u64) -> Tile {
        Tile {
            kind: TileKind::Entries,
            index,
            width: TILE_WIDTH,
        }
    }

    /// This tile with another width.
    pub fn with_width(self, width: u16) -> Tile {
        Tile { width, ..self }
    }

    /// Whether the tile has its full width, and so never changes.
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// Its path, relative to the log's prefix.
    pub fn path(&self) -> String {
        let level = match self.kind {
            TileKind::Hashes { level } => level.to_string(),
            TileKind::Entries => "entries".to_string(),
        };
        let mut path = format!("tile/{level}/{}", encode_index(self.index));
        if !self.is_full() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses a path relative to the log's prefix, refusing every form but
    /// the canonical one.
    pub fn parse(path: &str) -> Result<Tile, TilePathError> {
        let rest = path.strip_prefix("tile/").ok_or(TilePathError::NotATile)?;
        let mut elements: Vec<&str> = rest.split('/').collect();
        if elements.len() < 2 {
            return Err(TilePathError::NotATile);
        }
        let kind = match elements.remove(0) {
            "entries" => TileKind::Entries,
            level => TileKind::Hashes {
                level: parse_decimal(level)
                    .filter(|&l| l <= u64::from(MAX_LEVEL))
                    .ok_or(TilePathError::BadLevel)? as u8,
            },
        };
        let mut width = TILE_WIDTH;
        let last = elements.len() - 1;
        if last >= 1 {
            if let Some(before) = elements[last - 1].strip_suffix(".p") {
                width = parse_decimal(elements[last])
                    .filter(|w| (1..u64::from(TILE_WIDTH)).contains(w))
                    .ok_or(TilePathError::BadWidth)? as u16;
                elements[last - 1] = before;
                elements.pop();
            }
        }
        let last = elements.len() - 1;
        let mut index: u64 = 0;
        for (i, element) in elements.iter().enumerate() {
            let digits = if i < last {
                element.strip_prefix('x')
            } else {
                Some(*element)
            };
            let group = digits
                .filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
                .ok_or(TilePathError::BadIndex)?;
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(group.parse::<u64>().expect("three digits")))
                .ok_or(TilePathError::IndexTooLarge)?;
        }
        let tile = Tile { kind, index, width };
        let span = tile.span().ok_or(TilePathError::IndexTooLarge)?;
        if span.end > tile.capacity() {
            return Err(TilePathError::IndexTooLarge);
        }
        let canonical = tile.path();
        if canonical != path {
            return Err(TilePathError::NonCanonical { canonical });
        }
        Ok(tile)
    }

    /// How many hashes (or entries) of its kind a log of 2^64 − 1 entries
    /// has: a bound no index can pass.
    fn capacity(&self) -> u64 {
        match self.kind {
            TileKind::Hashes { level } => count_at(u64::MAX, level),
            TileKind::Entries => u64::MAX,
        }
    }

    /// The positions it holds: of hashes at tree level `8 · level`, or of
    /// entries. `None` if they are beyond `u64`.
    fn span(&self) -> Option<Range<u64>> {
        let start = self.index.checked_mul(u64::from(TILE_WIDTH))?;
        Some(start..start.checked_add(u64::from(self.width))?)
    }

    /// The width this tile's index has in a log of `size` entries: 0 if the
    /// log has nothing in it yet.
    pub fn width_in(&self, size: u64) -> u16 {
        let count = match self.kind {
            TileKind::Hashes { level } => count_at(size, level),
            TileKind::Entries => size,
        };
        let start = self.index.saturating_mul(u64::from(TILE_WIDTH));
        count.saturating_sub(start).min(u64::from(TILE_WIDTH)) as u16
    }

    /// Whether a log of `size` entries holds everything this tile holds.
    pub fn is_in(&self, size: u64) -> bool {
        self.width <= self.width_in(size)
    }

    /// The entries an entry bundle holds (empty for a hash tile).
    pub fn entry_range(&self) -> Range<u64> {
        match (self.kind, self.span()) {
            (TileKind::Entries, Some(span)) => span,
            _ => 0..0,
        }
    }

    /// The complete subtrees whose hashes a hash tile holds, in order
    /// (none for an entry bundle).
    pub fn nodes(&self) -> Vec<NodeId> {
        match (self.kind, self.span()) {
            (TileKind::Hashes { level }, Some(span)) if level < 8 => span
                .map(|index| NodeId {
                    level: level * TILE_HEIGHT,
                    index,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The number of hashes at tree level `8 · level` in a log of `size`
/// entries: its complete subtrees of that height.
fn count_at(size: u64, level: u8) -> u64 {
    size.checked_shr(u32::from(level) * u32::from(TILE_HEIGHT))
        .unwrap_or(0)
}

/// The hash tiles of levels that a log of `size` has, lowest first.
fn levels(size: u64) -> impl Iterator<Item = u8> {
    (0..8u8).take_while(move |&level| count_at(size, level) > 0)
}

/// The hash tiles that change when a log grows from `old` to `new`
/// entries, at their widths in the log of `new`: at each level, from the
/// tile that held the right edge of `old` to the right edge of `new`. With
/// `old` = 0 these are every tile of the log.
pub fn tiles_for_growth(old: u64, new: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    for level in levels(new) {
        let first = count_at(old.min(new), level) >> TILE_HEIGHT;
        let last = (count_at(new, level) - 1) >> TILE_HEIGHT;
        for index in first..=last {
            let tile = Tile::hashes(level, index);
            tiles.push(tile.with_width(tile.width_in(new)));
        }
    }
    tiles
}

/// The entry bundles that hold entries `from..size` of a log of `size`, at
/// their widths in that log. The first may start before `from`.
pub fn bundles_for(from: u64, size: u64) -> Vec<Tile> {
    if from >= size {
        return Vec::new();
    }
    (from >> TILE_HEIGHT..=(size - 1) >> TILE_HEIGHT)
        .map(|index| {
            let tile = Tile::entries(index);
            tile.with_width(tile.width_in(size))
        })
        .collect()
}

/// The bytes of a hash tile, read from the log's stored nodes.
pub fn hash_tile<R: NodeReader>(tile: &Tile, reader: &R) -> Result<Vec<u8>, TreeError<R::Error>> {
    let ids = tile.nodes();
    let hashes = reader.read_nodes(&ids).map_err(TreeError::Read)?;
    if hashes.len() != ids.len() {
        return Err(TreeError::ShortRead {
            asked: ids.len(),
            found: hashes.len(),
        });
    }
    Ok(hashes.concat())
}

/// Why an entry bundle cannot be made or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// An entry is longer than a `uint16` length can say.
    #[error("entry {position} of the bundle is {len} bytes, more than 65535")]
    EntryTooLong {
        /// Its position in the bundle.
        position: usize,
        /// Its length.
        len: usize,
    },
    /// The bytes end inside an entry or its length.
    #[error("the bundle ends inside entry {position}")]
    Truncated {
        /// The position of the entry cut short.
        position: usize,
    },
    /// Bytes follow the last entry.
    #[error("{extra} bytes follow the bundle's {count} entries")]
    TrailingBytes {
        /// The entries expected.
        count: usize,
        /// The bytes left over.
        extra: usize,
    },
}

/// An entry bundle: each entry as a big-endian `uint16` length and its
/// bytes.
pub fn encode_bundle<B: AsRef<[u8]>>(entries: &[B]) -> Result<Vec<u8>, BundleError> {
    let mut bytes = Vec::new();
    for (position, entry) in entries.iter().enumerate() {
        let entry = entry.as_ref();
        let len = u16::try_from(entry.len()).map_err(|_| BundleError::EntryTooLong {
            position,
            len: entry.len(),
        })?;
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(entry);
    }
    Ok(bytes)
}

/// Reads exactly `count` entries from a bundle, and nothing after them.
pub fn decode_bundle(bytes: &[u8], count: usize) -> Result<Vec<&[u8]>, BundleError> {
    let mut entries = Vec::with_capacity(count);
    let mut rest = bytes;
    for position in 0..count {
        let truncated = BundleError::Truncated { position };
        let (len, tail) = rest.split_first_chunk::<2>().ok_or(truncated.clone())?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(truncated);
        }
        let (entry, tail) = tail.split_at(len);
        entries.push(entry);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(BundleError::TrailingBytes {
            count,
            extra: rest.len(),
        });
    }
    Ok(entries)
}

/// Fetches tiles: the network, for a client.
pub trait TileSource {
    /// The error of a fetch.
    type Error;
    /// The bytes served at `tile`'s path.
    fn fetch(&self, tile: &Tile) -> Result<Vec<u8>, Self::Error>;
}

/// Why fetched tiles cannot be trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TileError<E> {
    /// A tile could not be fetched.
    #[error("fetching {path}: {source}")]
    Fetch {
        /// The tile's path.
        path: String,
        /// Why.
        source: E,
    },
    /// A hash tile is not 32 bytes for each hash of its width.
    #[error("{path} is {found} bytes, not {expected}")]
    WrongLength {
        /// The tile's path.
        path: String,
        /// Bytes expected.
        expected: usize,
        /// Bytes served.
        found: usize,
    },
    /// The right edge of the tiles does not hash to the signed root.
    #[error("the tiles of the log of {size} entries do not hash to its signed root")]
    RootMismatch {
        /// The size signed.
        size: u64,
    },
    /// A full tile does not hash to the hash its parent tile holds for it.
    #[error("{path} does not hash to the hash its parent tile holds for it")]
    TileMismatch {
        /// The tile's path.
        path: String,
    },
    /// The tiles, checked against the new root, do not hash to the old
    /// root: the old log is not a prefix of the new one.
    #[error("the log of {new} entries does not extend the trusted log of {old}")]
    Inconsistent {
        /// The trusted size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// An entry bundle is malformed.
    #[error("{path}: {source}")]
    Bundle {
        /// The bundle's path.
        path: String,
        /// What is wrong.
        source: BundleError,
    },
    /// An entry of a bundle does not hash to its leaf in the checked tiles.
    #[error("entry {index} served in {path} is not the entry the signed tree holds")]
    EntryMismatch {
        /// The entry's index.
        index: u64,
        /// The bundle's path.
        path: String,
    },
}

/// The RFC 6962 hash of a perfect subtree, from its 2^k hashes of one
/// level.
fn subtree_hash(hashes: &[Hash]) -> Hash {
    match hashes {
        [one] => *one,
        _ => {
            let (left, right) = hashes.split_at(hashes.len() / 2);
            node_hash(&subtree_hash(left), &subtree_hash(right))
        }
    }
}

/// Hash tiles of one log size, every one checked against its signed root.
/// It reads as the log's nodes: those in or below the hashes of its tiles.
#[derive(Clone, Debug, Default)]
pub struct VerifiedTiles {
    size: u64,
    /// The hashes of each tile, by (level, index).
    tiles: BTreeMap<(u8, u64), Vec<Hash>>,
}

impl NodeReader for VerifiedTiles {
    /// A node that no tile of the set covers.
    type Error = NodeId;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, NodeId> {
        ids.iter()
            .map(|&id| {
                let (level, below) = (id.level / TILE_HEIGHT, id.level % TILE_HEIGHT);
                // A node `below` levels above a tile's level covers 2^below
                // of its hashes, all in one tile.
                let first = id.index.checked_shl(u32::from(below)).ok_or(id)?;
                let tile = self.tiles.get(&(level, first >> TILE_HEIGHT)).ok_or(id)?;
                let start = (first % u64::from(TILE_WIDTH)) as usize;
                let hashes = tile.get(start..start + (1 << below)).ok_or(id)?;
                Ok(subtree_hash(hashes))
            })
            .collect()
    }
}

impl VerifiedTiles {
    /// The log size the tiles were checked at.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The leaf hash of entry `index`, if a level-0 tile of the set holds it.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.read_nodes(&[NodeId { level: 0, index }])
            .ok()
            .map(|h| h[0])
    }

    /// The root of the first `size` entries, if the set holds every node
    /// it is folded from.
    pub fn root_at(&self, size: u64) -> Option<Hash> {
        if size > self.size {
            return None;
        }
        root(size, self).ok()
    }

    /// Checks that the tiles are those of the log of `size` entries whose
    /// root is `signed`: the right edge folds to the root, and each full
    /// tile hashes to the hash its parent holds for it.
    fn check<E>(&self, signed: &Hash) -> Result<(), TileError<E>> {
        if self.root_at(self.size).as_ref() != Some(signed) {
            return Err(TileError::RootMismatch { size: self.size });
        }
        // From the top down, so that a bad tile is named rather than its
        // honest children.
        for (&(level, index), hashes) in self.tiles.iter().rev() {
            if hashes.len() != usize::from(TILE_WIDTH) {
                continue;
            }
            let parent = self
                .tiles
                .get(&(level + 1, index >> TILE_HEIGHT))
                .and_then(|p| p.get((index % u64::from(TILE_WIDTH)) as usize));
            if parent != Some(&subtree_hash(hashes)) {
                return Err(TileError::TileMismatch {
                    path: Tile::hashes(level, index).path(),
                });
            }
        }
        Ok(())
    }

    /// The entries `wanted` (up to the tiles' size) out of their bundles,
    /// fetched from `source` at their widths in the tiles' log, each
    /// checked against its leaf hash.
    pub fn fetch_entries<S: TileSource>(
        &self,
        source: &S,
        wanted: Range<u64>,
    ) -> Result<Vec<Vec<u8>>, TileError<S::Error>> {
        let wanted = wanted.start..wanted.end.min(self.size);
        let mut entries = Vec::new();
        for bundle in bundles_for(wanted.start, wanted.end) {
            let bundle = bundle.with_width(bundle.width_in(self.size));
            let path = bundle.path();
            let bytes = source.fetch(&bundle).map_err(|source| TileError::Fetch {
                path: path.clone(),
                source,
            })?;
            let decoded = decode_bundle(&bytes, usize::from(bundle.width)).map_err(|source| {
                TileError::Bundle {
                    path: path.clone(),
                    source,
                }
            })?;
            for (index, entry) in bundle.entry_range().zip(decoded) {
                if self.leaf(index) != Some(crate::tree::leaf_hash(entry)) {
                    return Err(TileError::EntryMismatch { index, path });
                }
                if wanted.contains(&index) {
                    entries.push(entry.to_vec());
                }
            }
        }
        Ok(entries)
    }
}

/// Fetches the hash tiles that grew from `from` to `size` entries and
/// checks them against `root`, the signed root of `size`; then, if a
/// `trusted` (size, root) is given, checks that it is a prefix of the log
/// they hold. `from` is at most the trusted size (it may be lower, for a
/// caller that also wants the entries from there on).
pub fn fetch_tiles<S: TileSource>(
    source: &S,
    from: u64,
    trusted: Option<(u64, &Hash)>,
    size: u64,
    signed: &Hash,
) -> Result<VerifiedTiles, TileError<S::Error>> {
    let from = trusted.map_or(from, |(old, _)| from.min(old));
    let mut tiles = VerifiedTiles {
        size,
        tiles: BTreeMap::new(),
    };
    for tile in tiles_for_growth(from, size) {
        let TileKind::Hashes { level } = tile.kind else {
            unreachable!("growth is of hash tiles")
        };
        let path = tile.path();
        let bytes = source.fetch(&tile).map_err(|source| TileError::Fetch {
            path: path.clone(),
            source,
        })?;
        let expected = usize::from(tile.width) * 32;
        if bytes.len() != expected {
            return Err(TileError::WrongLength {
                path,
                expected,
                found: bytes.len(),
            });
        }
        let hashes = bytes
            .chunks_exact(32)
            .map(|h| h.try_into().expect("32 bytes"))
            .collect();
        tiles.tiles.insert((level, tile.index), hashes);
    }
    tiles.check(signed)?;
    if let Some((old, old_root)) = trusted {
        if old > size || tiles.root_at(old).as_ref() != Some(old_root) {
            return Err(TileError::Inconsistent { old, new: size });
        }
    }
    Ok(tiles)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::tree::{leaf_hash, MemoryTree, EMPTY_ROOT};

    /// A log in memory that serves its tiles, and remembers what was asked.
    struct MemoryLog {
        tree: MemoryTree,
        entries: Vec<Vec<u8>>,
        fetched: RefCell<Vec<Tile>>,
        /// Changes served bytes: (tile, bytes) to bytes.
        tamper: Option<fn(&Tile, &mut Vec<u8>)>,
    }

    impl MemoryLog {
        fn new(size: u64) -> MemoryLog {
            let mut log = MemoryLog {
                tree: MemoryTree::new(),
                entries: Vec::new(),
                fetched: RefCell::new(Vec::new()),
                tamper: None,
            };
            log.grow(size);
            log
        }

        fn grow(&mut self, size: u64) {
            let start = self.entries.len() as u64;
            let new: Vec<Vec<u8>> = (start..size)
                .map(|i| format!("entry {i}").into_bytes())
                .collect();
            let leaves: Vec<Hash> = new.iter().map(|e| leaf_hash(e)).collect();
            self.tree.append(&leaves);
            self.entries.extend(new);
        }

        fn root(&self) -> Hash {
            self.tree.root_at(self.tree.size())
        }
    }

    impl TileSource for MemoryLog {
        type Error = String;

        fn fetch(&self, tile: &Tile) -> Result<Vec<u8>, String> {
            self.fetched.borrow_mut().push(*tile);
            if !tile.is_in(self.tree.size()) {
                return Err(format!("{} is not in the log", tile.path()));
            }
            let mut bytes = match tile.kind {
                TileKind::Hashes { .. } => hash_tile(tile, &self.tree).unwrap(),
                TileKind::Entries => {
                    let range = tile.entry_range();
                    encode_bundle(&self.entries[range.start as usize..range.end as usize]).unwrap()
                }
            };
            if let Some(tamper) = self.tamper {
                tamper(tile, &mut bytes);
            }
            Ok(bytes)
        }
    }

    #[test]
    fn the_specs_path_examples() {
        let tile = Tile::parse("tile/0/x001/x234/067").unwrap();
        assert_eq!(tile, Tile::hashes(0, 1_234_067));
        let partial = Tile::parse("tile/0/x001/x234/067.p/8").unwrap();
        assert_eq!(partial, Tile::hashes(0, 1_234_067).with_width(8));
        let bundle = Tile::parse("tile/entries/x001/x234/067").unwrap();
        assert_eq!(bundle, Tile::entries(1_234_067));
        for (tile, path) in [
            (Tile::hashes(0, 0), "tile/0/000"),
            (Tile::hashes(1, 999), "tile/1/999"),
            (Tile::hashes(2, 1000), "tile/2/x001/000"),
            (Tile::hashes(3, 1_234_067), "tile/3/x001/x234/067"),
            (Tile::hashes(0, 5).with_width(255), "tile/0/005.p/255"),
            (Tile::entries(42).with_width(1), "tile/entries/042.p/1"),
        ] {
            assert_eq!(tile.path(), path);
            assert_eq!(Tile::parse(path), Ok(tile), "{path}");
        }
    }

    #[test]
    fn other_spellings_and_bad_paths_are_refused() {
        use TilePathError::*;
        let cases = [
            ("tile/0", NotATile),
            ("tiles/0/000", NotATile),
            ("/tile/0/000", NotATile),
            ("tile/00/000", BadLevel),
            ("tile/64/000", BadLevel),
            ("tile/-1/000", BadLevel),
            ("tile/+1/000", BadLevel),
            ("tile/0/67", BadIndex),
            ("tile/0/0067", BadIndex),
            ("tile/0/001/234", BadIndex),
            ("tile/0/x001", BadIndex),
            ("tile/0/x001/x234/", BadIndex),
            ("tile/0/x00a/000", BadIndex),
            ("tile/0/000/", BadIndex),
            ("tile/0/000.p/0", BadWidth),
            ("tile/0/000.p/256", BadWidth),
            ("tile/0/000.p/08", BadWidth),
            ("tile/0/000.p/", BadWidth),
            ("tile/entries/000.p/300", BadWidth),
            ("tile/0/x018/x446/x744/x073/x709/x551/615", IndexTooLarge),
            ("tile/7/001", IndexTooLarge),
            (
                "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
                IndexTooLarge,
            ),
        ];
        for (path, error) in cases {
            assert_eq!(Tile::parse(path), Err(error), "{path}");
        }
        assert_eq!(
            Tile::parse("tile/0/x000/067"),
            Err(NonCanonical {
                canonical: "tile/0/067".into()
            })
        );
        // Every error is an error, never a panic, on any short input.
        for path in [
            "",
            "tile/",
            "tile//",
            "tile/0/",
            "tile/entries",
            "tile/0/.p/3",
        ] {
            assert!(Tile::parse(path).is_err(), "{path}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_path_is_parsed_or_refused_and_never_panics(path in "tile/[0-9a-z./]{0,40}") {
            if let Ok(tile) = Tile::parse(&path) {
                proptest::prop_assert_eq!(tile.path(), path);
            }
        }

        #[test]
        fn every_tile_of_a_log_round_trips(
            level in 0u8..7,
            index in proptest::prelude::any::<u64>(),
            width in 1u16..=256,
            entries in proptest::prelude::any::<bool>(),
        ) {
            let kind = if entries { TileKind::Entries } else { TileKind::Hashes { level } };
            let index = index % (count_at(u64::MAX, level + 1)).max(1);
            let tile = Tile { kind, index, width };
            proptest::prop_assert_eq!(Tile::parse(&tile.path()), Ok(tile));
        }
    }

    #[test]
    fn a_tree_has_full_tiles_and_one_partial_tile_per_level() {
        let paths =
            |size| -> Vec<String> { tiles_for_growth(0, size).iter().map(Tile::path).collect() };
        assert!(paths(0).is_empty());
        assert_eq!(paths(1), ["tile/0/000.p/1"]);
        assert_eq!(paths(255), ["tile/0/000.p/255"]);
        assert_eq!(paths(256), ["tile/0/000", "tile/1/000.p/1"]);
        assert_eq!(
            paths(257),
            ["tile/0/000", "tile/0/001.p/1", "tile/1/000.p/1"]
        );
        assert_eq!(paths(512).len(), 3);
        let big = paths(65_536 + 256 * 3 + 7);
        assert_eq!(big.len(), 260 + 2 + 1);
        assert_eq!(big[259], "tile/0/259.p/7");
        assert_eq!(
            &big[260..],
            ["tile/1/000", "tile/1/001.p/3", "tile/2/000.p/1"]
        );
        // Growth starts at the tiles that held the old right edge.
        assert_eq!(
            tiles_for_growth(300, 600)
                .iter()
                .map(Tile::path)
                .collect::<Vec<_>>(),
            ["tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2"]
        );
        assert_eq!(
            bundles_for(300, 600)
                .iter()
                .map(Tile::path)
                .collect::<Vec<_>>(),
            ["tile/entries/001", "tile/entries/002.p/88"]
        );
        assert!(bundles_for(600, 600).is_empty());
    }

    #[test]
    fn a_tiles_width_in_a_log_decides_whether_it_is_served() {
        let tile = Tile::hashes(0, 1);
        assert_eq!(tile.width_in(256), 0);
        assert_eq!(tile.width_in(300), 44);
        assert_eq!(tile.width_in(512), 256);
        assert!(!tile.is_in(511));
        assert!(tile.is_in(512));
        assert!(tile.with_width(44).is_in(300) && tile.with_width(44).is_in(10_000));
        assert!(!tile.with_width(45).is_in(300));
        assert_eq!(Tile::hashes(1, 0).width_in(65_535), 255);
        assert_eq!(Tile::hashes(63, 0).width_in(u64::MAX), 0);
        assert!(Tile::hashes(9, 0).nodes().is_empty());
    }

    #[test]
    fn bundles_round_trip_and_bad_bundles_are_refused() {
        let entries: Vec<&[u8]> = vec![b"", b"a", &[7u8; 300]];
        let bytes = encode_bundle(&entries).unwrap();
        assert_eq!(&bytes[..5], &[0, 0, 0, 1, b'a']);
        assert_eq!(decode_bundle(&bytes, 3).unwrap(), entries);
        assert_eq!(
            decode_bundle(&bytes, 2),
            Err(BundleError::TrailingBytes {
                count: 2,
                extra: 302
            })
        );
        assert_eq!(
            decode_bundle(&bytes, 4),
            Err(BundleError::Truncated { position: 3 })
        );
        assert_eq!(
            decode_bundle(&bytes[..bytes.len() - 1], 3),
            Err(BundleError::Truncated { position: 2 })
        );
        assert_eq!(
            encode_bundle(&[vec![0u8; 65_536]]),
            Err(BundleError::EntryTooLong {
                position: 0,
                len: 65_536
            })
        );
    }

    #[test]
    fn tiles_rebuild_the_root_and_proofs_of_the_tree() {
        for size in [
            1,
            2,
            255,
            256,
            257,
            511,
            512,
            513,
            700,
            65_536,
            65_537 + 300,
        ] {
            let log = MemoryLog::new(size);
            let tiles = fetch_tiles(&log, 0, None, size, &log.root()).unwrap();
            for old in [0, 1, size / 3, size - 1, size] {
                assert_eq!(
                    tiles.root_at(old),
                    Some(log.tree.root_at(old)),
                    "{size} {old}"
                );
                let proof = crate::tree::consistency_proof(old, size, &tiles).unwrap();
                assert_eq!(
                    proof,
                    crate::tree::consistency_proof(old, size, &log.tree).unwrap()
                );
            }
            let index = size / 2;
            assert_eq!(
                crate::tree::inclusion_proof(index, size, &tiles).unwrap(),
                crate::tree::inclusion_proof(index, size, &log.tree).unwrap()
            );
            let entries = tiles.fetch_entries(&log, 0..size).unwrap();
            assert_eq!(entries, log.entries);
        }
    }

    #[test]
    fn growth_fetches_only_the_new_tiles_and_proves_consistency() {
        let mut log = MemoryLog::new(1000);
        let old_root = log.root();
        log.grow(1300);
        let tiles = fetch_tiles(&log, 1000, Some((1000, &old_root)), 1300, &log.root()).unwrap();
        let fetched: Vec<String> = log.fetched.borrow().iter().map(Tile::path).collect();
        assert_eq!(
            fetched,
            [
                "tile/0/003",
                "tile/0/004",
                "tile/0/005.p/20",
                "tile/1/000.p/5"
            ]
        );
        log.fetched.borrow_mut().clear();
        let entries = tiles.fetch_entries(&log, 1000..u64::MAX).unwrap();
        assert_eq!(entries, log.entries[1000..]);
        let fetched: Vec<String> = log.fetched.borrow().iter().map(Tile::path).collect();
        assert_eq!(
            fetched,
            [
                "tile/entries/003",
                "tile/entries/004",
                "tile/entries/005.p/20"
            ]
        );
        // A part of the log, in bundles of their full width.
        let part = tiles.fetch_entries(&log, 1100..1110).unwrap();
        assert_eq!(part, log.entries[1100..1110]);

        // Another log of 1000 entries is no prefix of this one.
        let mut other = MemoryLog::new(999);
        other.entries.push(b"another entry".to_vec());
        other.tree.append(&[leaf_hash(b"another entry")]);
        assert_eq!(
            fetch_tiles(&log, 1000, Some((1000, &other.root())), 1300, &log.root()).unwrap_err(),
            TileError::Inconsistent {
                old: 1000,
                new: 1300
            }
        );
        // The empty log is a prefix of every log, with its own root only.
        fetch_tiles(&log, 0, Some((0, &EMPTY_ROOT)), 1300, &log.root()).unwrap();
        assert!(fetch_tiles(&log, 0, Some((0, &[1; 32])), 1300, &log.root()).is_err());
        // The same size again needs the right edge only.
        log.fetched.borrow_mut().clear();
        fetch_tiles(&log, 1300, Some((1300, &log.root())), 1300, &log.root()).unwrap();
        assert_eq!(log.fetched.borrow().len(), 2);
    }

    #[test]
    fn a_tampered_tile_or_entry_is_caught() {
        let mut log = MemoryLog::new(70_000);
        let root = log.root();
        // A full level-0 tile inside the tree: its parent catches it.
        log.tamper = Some(|tile, bytes| {
            if *tile == Tile::hashes(0, 3) {
                bytes[40] ^= 1;
            }
        });
        assert_eq!(
            fetch_tiles(&log, 0, None, 70_000, &root).unwrap_err(),
            TileError::TileMismatch {
                path: "tile/0/003".into()
            }
        );
        // A full level-1 tile: its level-2 parent.
        log.tamper = Some(|tile, bytes| {
            if *tile == Tile::hashes(1, 0) {
                bytes[0] ^= 1;
            }
        });
        assert_eq!(
            fetch_tiles(&log, 0, None, 70_000, &root).unwrap_err(),
            TileError::TileMismatch {
                path: "tile/1/000".into()
            }
        );
        // A partial tile: the root.
        log.tamper = Some(|tile, bytes| {
            if !tile.is_full() && tile.kind == (TileKind::Hashes { level: 0 }) {
                bytes[0] ^= 1;
            }
        });
        assert_eq!(
            fetch_tiles(&log, 0, None, 70_000, &root).unwrap_err(),
            TileError::RootMismatch { size: 70_000 }
        );
        // A tile cut short.
        log.tamper = Some(|tile, bytes| {
            if *tile == Tile::hashes(0, 2) {
                bytes.pop();
            }
        });
        assert_eq!(
            fetch_tiles(&log, 0, None, 70_000, &root).unwrap_err(),
            TileError::WrongLength {
                path: "tile/0/002".into(),
                expected: 8192,
                found: 8191
            }
        );
        // An entry changed in its bundle, after the tiles checked out.
        log.tamper = None;
        let tiles = fetch_tiles(&log, 0, None, 70_000, &root).unwrap();
        log.tamper = Some(|tile, bytes| {
            if *tile == Tile::entries(1) {
                let at = bytes.len() - 1;
                bytes[at] ^= 1;
            }
        });
        assert_eq!(
            tiles.fetch_entries(&log, 0..70_000).unwrap_err(),
            TileError::EntryMismatch {
                index: 511,
                path: "tile/entries/001".into()
            }
        );
        log.tamper = Some(|tile, bytes| {
            if *tile == Tile::entries(1) {
                bytes.push(0);
            }
        });
        assert!(matches!(
            tiles.fetch_entries(&log, 0..70_000).unwrap_err(),
            TileError::Bundle { .. }
        ));
        // A root signed for other entries.
        log.tamper = None;
        assert_eq!(
            fetch_tiles(&log, 0, None, 70_000, &[7; 32]).unwrap_err(),
            TileError::RootMismatch { size: 70_000 }
        );
        // A tile the source does not have.
        assert_eq!(
            fetch_tiles(&log, 0, None, 70_001, &root).unwrap_err(),
            TileError::Fetch {
                path: "tile/0/273.p/113".into(),
                source: "tile/0/273.p/113 is not in the log".into()
            }
        );
    }
}
