//! The features a report follows, each a test on a blob's facts, grouped as on the page.

/// What makes a blob use a feature.
#[derive(Debug, Clone, Copy)]
pub enum Test {
    /// Any of these counts (columns of the facts) is above zero, in a file that parses.
    Any(&'static [&'static str]),
    /// The file does not parse as Python 3 and looks like Python 2.
    Python2,
}

/// One followed feature.
#[derive(Debug, Clone, Copy)]
pub struct Feature {
    /// Column and file name.
    pub key: &'static str,
    /// Shown on the page.
    pub label: &'static str,
    /// Chart it is drawn in.
    pub group: &'static str,
    /// How it is recognised.
    pub test: Test,
}

const fn f(key: &'static str, label: &'static str, group: &'static str, counts: &'static [&'static str]) -> Feature {
    Feature { key, label, group, test: Test::Any(counts) }
}

/// Chart groups, in page order.
pub const GROUPS: [&str; 5] = ["Typing", "Strings", "Async", "Newer syntax", "Everyday code and Python 2"];

/// Every feature, in page order (at most 64: they are bits of a word).
pub const FEATURES: &[Feature] = &[
    f("annotations", "Any annotation", "Typing", &["annotated_params", "annotated_returns", "annotated_vars"]),
    f("annotated_params", "Annotated parameters", "Typing", &["annotated_params"]),
    f("annotated_returns", "Return annotations", "Typing", &["annotated_returns"]),
    f("annotated_vars", "Annotated variables (PEP 526)", "Typing", &["annotated_vars"]),
    f("type_param_lists", "Type parameter lists (PEP 695)", "Typing", &["type_param_lists"]),
    f("type_stmts", "type statements (PEP 695)", "Typing", &["type_stmts"]),
    f("fstrings", "f-strings (PEP 498)", "Strings", &["fstrings"]),
    f("nested_quote_fstrings", "Nested same quotes (PEP 701)", "Strings", &["nested_quote_fstrings"]),
    f("tstrings", "t-strings (PEP 750)", "Strings", &["tstrings"]),
    f("async", "Any async or await", "Async", &["async_defs", "async_fors", "async_withs", "awaits", "async_comprehensions"]),
    f("async_defs", "async def", "Async", &["async_defs"]),
    f("awaits", "await", "Async", &["awaits"]),
    f("async_fors", "async for", "Async", &["async_fors"]),
    f("async_withs", "async with", "Async", &["async_withs"]),
    f("async_comprehensions", "Async comprehensions", "Async", &["async_comprehensions"]),
    f("walrus", ":= walrus (PEP 572)", "Newer syntax", &["walrus"]),
    f("match_stmts", "match statements (PEP 634)", "Newer syntax", &["match_stmts"]),
    f("except_star", "except* (PEP 654)", "Newer syntax", &["except_star"]),
    f("posonly_functions", "Positional-only params (PEP 570)", "Newer syntax", &["posonly_functions"]),
    f("dataclasses", "dataclasses (PEP 557)", "Newer syntax", &["dataclass_imports", "dataclass_decorators"]),
    f("decorators", "Decorators", "Everyday code and Python 2", &["decorators"]),
    f("docstrings", "Docstrings", "Everyday code and Python 2", &["docstrings"]),
    f("lambdas", "lambda", "Everyday code and Python 2", &["lambdas"]),
    f("list_comps", "List comprehensions", "Everyday code and Python 2", &["list_comps"]),
    f("dict_comps", "Dict comprehensions", "Everyday code and Python 2", &["dict_comps"]),
    f("set_comps", "Set comprehensions", "Everyday code and Python 2", &["set_comps"]),
    f("generator_exps", "Generator expressions", "Everyday code and Python 2", &["generator_exps"]),
    f("starred", "Starred expressions", "Everyday code and Python 2", &["starred"]),
    f("globals", "global", "Everyday code and Python 2", &["globals"]),
    f("nonlocals", "nonlocal", "Everyday code and Python 2", &["nonlocals"]),
    Feature { key: "python2", label: "Python 2 only", group: "Everyday code and Python 2", test: Test::Python2 },
];

/// The count columns the features read, once each.
pub fn count_columns() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for f in FEATURES {
        if let Test::Any(cols) = f.test {
            for c in cols {
                if !out.contains(c) {
                    out.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_reads_real_columns_and_fits_a_word() {
        assert!(FEATURES.len() <= 64);
        let names = pycorpus_analyze::store::count_names();
        for c in count_columns() {
            assert!(names.iter().any(|n| n == c), "{c} is not a facts column");
        }
        for f in FEATURES {
            assert!(GROUPS.contains(&f.group), "{} has an unknown group", f.key);
        }
        let mut keys: Vec<&str> = FEATURES.iter().map(|f| f.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), FEATURES.len(), "feature keys are unique");
    }
}
