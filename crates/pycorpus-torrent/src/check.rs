//! Which pieces of a torrent are already on disk and correct: the resume point, the seeder's
//! proof that it holds what it offers, and the datastore's re-verification.

use crate::layout::Layout;
use rayon::prelude::*;
use sha1::{Digest, Sha1};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Checks every piece under `root` on all cores; a missing or short file fails its pieces.
/// `checked` counts bytes looked at, for a progress bar. Stops early (all later pieces
/// `false`) once `cancel` is set.
pub fn check(layout: &Layout, pieces: &[[u8; 20]], root: &Path, checked: &AtomicU64, cancel: &AtomicBool) -> std::io::Result<Vec<bool>> {
    let handles = layout.open_read(root)?;
    let ok = (0..layout.piece_count())
        .into_par_iter()
        .map_init(Vec::new, |buf, i| {
            if cancel.load(Ordering::Relaxed) {
                return false;
            }
            let good = layout.read_piece(&handles, i, buf).is_ok() && Sha1::digest(&buf[..]).as_slice() == pieces[i as usize];
            checked.fetch_add(layout.piece(i).1, Ordering::Relaxed);
            good
        })
        .collect();
    Ok(ok)
}

/// Bytes held by the pieces marked `true`.
pub fn bytes_of(layout: &Layout, have: &[bool]) -> u64 {
    have.iter().enumerate().filter(|(_, h)| **h).map(|(i, _)| layout.piece(i as u64).1).sum()
}
