//! SVG charts to PNG, with resvg and the system's fonts.

use crate::ReportError;
use resvg::{tiny_skia, usvg};
use std::path::Path;

/// Renders SVG text to PNG; holds the font database, loaded once.
pub struct Renderer {
    options: usvg::Options<'static>,
    /// False when the system has no fonts: charts then render without their text.
    pub has_fonts: bool,
}

impl Renderer {
    /// Loads the system's fonts.
    pub fn new() -> Renderer {
        let mut options = usvg::Options::default();
        let db = options.fontdb_mut();
        db.load_system_fonts();
        let has_fonts = !db.is_empty();
        // A generic `sans-serif` falls back to a family the system really has.
        for family in ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"] {
            if db.faces().any(|f| f.families.iter().any(|(n, _)| n == family)) {
                db.set_sans_serif_family(family);
                break;
            }
        }
        Renderer { options, has_fonts }
    }

    /// Renders `svg` at twice its size (sharp on high-density screens) to PNG bytes.
    pub fn png(&self, svg: &str, path: &Path) -> Result<Vec<u8>, ReportError> {
        let bad = |e: &dyn std::fmt::Display| ReportError::Write { path: path.to_path_buf(), source: std::io::Error::other(e.to_string()) };
        let tree = usvg::Tree::from_str(svg, &self.options).map_err(|e| bad(&e))?;
        let size = tree.size().to_int_size();
        let mut pixmap = tiny_skia::Pixmap::new(size.width() * 2, size.height() * 2).ok_or_else(|| bad(&"chart has no area"))?;
        resvg::render(&tree, tiny_skia::Transform::from_scale(2.0, 2.0), &mut pixmap.as_mut());
        pixmap.encode_png().map_err(|e| bad(&e))
    }
}

impl Default for Renderer {
    fn default() -> Renderer {
        Renderer::new()
    }
}
