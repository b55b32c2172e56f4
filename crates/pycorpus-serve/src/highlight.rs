//! A file's lines as HTML: Python highlighted by syntect (as CSS classes: the page's CSP
//! allows no inline style), anything else as plain text. Each line is balanced HTML on its
//! own (spans still open at its end are closed there and opened again on the next line), so
//! that a page can give every line its own element and anchor.

use std::sync::OnceLock;
use syntect::html::{ClassStyle, line_tokens_to_classed_spans};
use syntect::parsing::{ParseState, ScopeStack, ScopeStackOp, SyntaxSet};

/// Classes are `hl-` and the scope's atoms (`hl-keyword hl-control`).
const STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

/// Lines longer than this are not highlighted (the grammar's regexes would take long on a
/// 5 MiB line); nor is a file with one of them.
const LINE_MAX: usize = 4096;
/// Nor a file larger than this.
const FILE_MAX: usize = 1 << 20;

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// Whether a file at `path` is highlighted as Python.
pub(crate) fn is_python(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.ends_with(".py") || p.ends_with(".pyi") || p.ends_with(".pyw")
}

/// `text`'s lines as HTML, escaped, highlighted when `python` and the file is small enough
/// (else `None`: the caller shows it as text).
pub(crate) fn python_lines(text: &str) -> Option<Vec<String>> {
    if text.len() > FILE_MAX || text.split_inclusive('\n').any(|l| l.len() > LINE_MAX) {
        return None;
    }
    let set = syntaxes();
    let syntax = set.find_syntax_by_extension("py")?;
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut out = Vec::new();
    for line in text.split_inclusive('\n') {
        // The scopes open at the start of the line, opened again.
        let reopen: Vec<(usize, ScopeStackOp)> = stack.as_slice().iter().map(|s| (0, ScopeStackOp::Push(*s))).collect();
        let (mut html, _) = line_tokens_to_classed_spans("", &reopen, STYLE, &mut ScopeStack::new()).ok()?;
        let ops = state.parse_line(line, set).ok()?;
        let (body, _) = line_tokens_to_classed_spans(line.trim_end_matches(['\n', '\r']), &clip(&ops, line.trim_end_matches(['\n', '\r']).len()), STYLE, &mut stack).ok()?;
        html.push_str(&body);
        // Balance what this line leaves open.
        let opens = html.matches("<span").count();
        let closes = html.matches("</span>").count();
        html.push_str(&"</span>".repeat(opens.saturating_sub(closes)));
        out.push(html);
    }
    Some(out)
}

/// The operations of a line whose ending was cut off, those past its end moved to its end.
fn clip(ops: &[(usize, ScopeStackOp)], len: usize) -> Vec<(usize, ScopeStackOp)> {
    ops.iter().map(|(i, op)| ((*i).min(len), op.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_balanced_and_escaped() {
        let src = "def f(x):\n    \"\"\"doc <b>\n    more\"\"\"\n    return x < 1  # </span><script>\n";
        let lines = python_lines(src).expect("highlighted");
        assert_eq!(lines.len(), 4);
        for l in &lines {
            assert_eq!(l.matches("<span").count(), l.matches("</span>").count(), "{l}");
            assert!(!l.contains("<script>") && !l.contains("<b>"), "{l}");
        }
        assert!(lines[0].contains("hl-keyword") || lines[0].contains("hl-storage"), "{}", lines[0]);
        // the docstring's last line is still inside it (the grammar scopes docstrings as
        // documentation comments)
        assert!(lines[2].contains("hl-documentation") || lines[2].contains("hl-string"), "{}", lines[2]);
        assert!(lines[3].contains("&lt;/span&gt;&lt;script&gt;"), "{}", lines[3]);
    }

    #[test]
    fn long_lines_are_left_to_plain_text() {
        assert!(python_lines(&format!("x = '{}'\n", "a".repeat(LINE_MAX))).is_none());
        assert!(python_lines("x = 1").is_some_and(|l| l.len() == 1));
    }
}
