//! Recognising Python 2 among files that do not parse as Python 3, from constructs that exist
//! only there, line by line (the file did not parse, so there is no tree to ask).

/// `Some(number of print statements)` when the text holds Python 2 constructs: `print x`,
/// `print >>f, x`, `exec code`, `except E, e:`, `raise E, "message"`. `None` otherwise.
pub(crate) fn python2_prints(text: &str) -> Option<u32> {
    let (mut prints, mut other) = (0u32, false);
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("print") {
            if rest.trim_start().starts_with(">>") || statement_argument(rest) {
                prints += 1;
            }
        } else if let Some(rest) = t.strip_prefix("exec") {
            other |= statement_argument(rest);
        } else if let Some(rest) = t.strip_prefix("except ") {
            // `except E, e:` (a tuple of classes is parenthesised: `except (A, B):`)
            other |= !rest.trim_start().starts_with('(') && rest.split(':').next().is_some_and(|head| head.contains(','));
        } else if let Some(rest) = t.strip_prefix("raise ") {
            other |= !rest.trim_start().starts_with('(') && rest.split('#').next().is_some_and(|head| head.contains(", \"") || head.contains(", '"));
        }
    }
    (prints > 0 || other).then_some(prints)
}

/// True when `rest` (what follows a keyword-like name) starts a statement argument: blank,
/// then something that is not `(`, `=`, `.`, `[`, `,`, `)`, `:` or an operator.
fn statement_argument(rest: &str) -> bool {
    let Some(first) = rest.chars().next() else { return false };
    if !first.is_whitespace() {
        return false;
    }
    match rest.trim_start().chars().next() {
        Some(c) => c.is_alphanumeric() || c == '_' || c == '"' || c == '\'' || c == '%' || c == '-' || c == '`',
        None => false,
    }
}
