//! The walk over a parsed module that counts features, bounded in depth.

use crate::Counts;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{BytesLiteral, Comprehension, Decorator, Expr, FString, ModModule, Parameters, Stmt, StringFlags, StringLiteral, TString};
use std::collections::BTreeSet;

/// Quote of an enclosing f-string: (double quotes, triple-quoted), and whether a string with
/// the same quote was found in one of its replacement fields.
struct Enclosing {
    double: bool,
    triple: bool,
    nested: bool,
}

pub(crate) struct Walker {
    pub(crate) counts: Counts,
    pub(crate) imports: BTreeSet<String>,
    pub(crate) hit_limit: bool,
    depth: usize,
    max_depth: usize,
    fstrings: Vec<Enclosing>,
}

/// True for a docstring: a body starting with a plain string expression.
fn has_docstring(body: &[Stmt]) -> bool {
    matches!(body.first(), Some(Stmt::Expr(e)) if e.value.is_string_literal_expr())
}

/// True for `@dataclass`, `@dataclasses.dataclass`, called or not.
fn is_dataclass(d: &Decorator) -> bool {
    let e = match &d.expression {
        Expr::Call(c) => &*c.func,
        e => e,
    };
    match e {
        Expr::Name(n) => n.id.as_str() == "dataclass",
        Expr::Attribute(a) => a.attr.as_str() == "dataclass" && matches!(&*a.value, Expr::Name(n) if n.id.as_str() == "dataclasses"),
        _ => false,
    }
}

impl Walker {
    pub(crate) fn new(max_depth: usize) -> Walker {
        Walker { counts: Counts::default(), imports: BTreeSet::new(), hit_limit: false, depth: 0, max_depth, fstrings: Vec::new() }
    }

    pub(crate) fn module(&mut self, m: &ModModule) {
        self.counts.docstrings += u32::from(has_docstring(&m.body));
        self.visit_body(&m.body);
    }

    /// Enters one level; false (and the limit noted) when that is too deep.
    fn enter(&mut self) -> bool {
        if self.depth >= self.max_depth {
            self.hit_limit = true;
            return false;
        }
        self.depth += 1;
        true
    }

    fn decorators(&mut self, list: &[Decorator]) {
        self.counts.decorators += list.len() as u32;
        self.counts.dataclass_decorators += list.iter().filter(|d| is_dataclass(d)).count() as u32;
    }

    fn parameters(&mut self, p: &Parameters) {
        let annotated =
            p.iter_non_variadic_params().filter(|x| x.parameter.annotation.is_some()).count() + [&p.vararg, &p.kwarg].iter().filter(|v| v.as_ref().is_some_and(|v| v.annotation.is_some())).count();
        self.counts.annotated_params += annotated as u32;
        self.counts.posonly_functions += u32::from(!p.posonlyargs.is_empty());
    }

    fn import(&mut self, module: &str) {
        if let Some(top) = module.split('.').next().filter(|t| !t.is_empty()) {
            self.imports.insert(top.to_string());
        }
        self.counts.dataclass_imports += u32::from(module == "dataclasses");
    }

    /// A string literal inside a replacement field: nested if it uses the quote that would
    /// have closed the enclosing f-string before PEP 701.
    fn string_in_field(&mut self, double: bool, triple: bool) {
        if let Some(outer) = self.fstrings.last_mut()
            && outer.double == double
            && (!outer.triple || triple)
        {
            outer.nested = true;
        }
    }
}

impl<'a> Visitor<'a> for Walker {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        if !self.enter() {
            return;
        }
        let c = &mut self.counts;
        match stmt {
            Stmt::FunctionDef(f) => {
                c.functions += 1;
                c.async_defs += u32::from(f.is_async);
                c.annotated_returns += u32::from(f.returns.is_some());
                c.type_param_lists += u32::from(f.type_params.is_some());
                c.docstrings += u32::from(has_docstring(&f.body));
                self.decorators(&f.decorator_list);
                self.parameters(&f.parameters);
            }
            Stmt::ClassDef(k) => {
                c.classes += 1;
                c.type_param_lists += u32::from(k.type_params.is_some());
                c.docstrings += u32::from(has_docstring(&k.body));
                self.decorators(&k.decorator_list);
            }
            Stmt::AnnAssign(_) => c.annotated_vars += 1,
            Stmt::Match(_) => c.match_stmts += 1,
            Stmt::For(f) => c.async_fors += u32::from(f.is_async),
            Stmt::With(w) => c.async_withs += u32::from(w.is_async),
            Stmt::Try(t) => c.except_star += u32::from(t.is_star),
            Stmt::TypeAlias(t) => {
                c.type_stmts += 1;
                c.type_param_lists += u32::from(t.type_params.is_some());
            }
            Stmt::Global(_) => c.globals += 1,
            Stmt::Nonlocal(_) => c.nonlocals += 1,
            Stmt::Import(i) => {
                for a in &i.names {
                    self.import(a.name.as_str());
                }
            }
            Stmt::ImportFrom(i) if i.level == 0 => {
                if let Some(m) = &i.module {
                    self.import(m.as_str());
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
        self.depth -= 1;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if !self.enter() {
            return;
        }
        let c = &mut self.counts;
        match expr {
            Expr::FString(_) => c.fstrings += 1,
            Expr::TString(_) => c.tstrings += 1,
            Expr::Named(_) => c.walrus += 1,
            Expr::Await(_) => c.awaits += 1,
            Expr::Lambda(l) => {
                c.lambdas += 1;
                if let Some(p) = &l.parameters {
                    c.posonly_functions += u32::from(!p.posonlyargs.is_empty());
                }
            }
            Expr::ListComp(_) => c.list_comps += 1,
            Expr::SetComp(_) => c.set_comps += 1,
            Expr::DictComp(_) => c.dict_comps += 1,
            Expr::Generator(_) => c.generator_exps += 1,
            Expr::Starred(_) => c.starred += 1,
            _ => {}
        }
        visitor::walk_expr(self, expr);
        self.depth -= 1;
    }

    fn visit_comprehension(&mut self, g: &'a Comprehension) {
        self.counts.async_comprehensions += u32::from(g.is_async);
        visitor::walk_comprehension(self, g);
    }

    fn visit_f_string(&mut self, f: &'a FString) {
        self.string_in_field(f.flags.quote_style().is_double(), f.flags.is_triple_quoted());
        self.fstrings.push(Enclosing { double: f.flags.quote_style().is_double(), triple: f.flags.is_triple_quoted(), nested: false });
        visitor::walk_f_string(self, f);
        let done = self.fstrings.pop();
        self.counts.nested_quote_fstrings += u32::from(done.is_some_and(|e| e.nested));
    }

    fn visit_t_string(&mut self, t: &'a TString) {
        self.string_in_field(t.flags.quote_style().is_double(), t.flags.is_triple_quoted());
        visitor::walk_t_string(self, t);
    }

    fn visit_string_literal(&mut self, s: &'a StringLiteral) {
        self.string_in_field(s.flags.quote_style().is_double(), s.flags.is_triple_quoted());
    }

    fn visit_bytes_literal(&mut self, b: &'a BytesLiteral) {
        self.string_in_field(b.flags.quote_style().is_double(), b.flags.is_triple_quoted());
    }
}
