//! The AST walker: prints PostgreSQL for the constructs it knows, refuses the rest with
//! the construct's position.

use sqlparser::ast::{
    BinaryOperator, CreateFunctionBody, Distinct, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, Ident, JoinConstraint, JoinOperator, ObjectName, ObjectNamePart, OrderByKind, Query, Select,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, SetOperator, SetQuantifier, Spanned, Statement, TableFactor,
    TableWithJoins, TopQuantity, UnaryOperator, Value,
};
use sqlparser::dialect::MsSqlDialect;
use sqlparser::parser::Parser;

use super::Resolver;
use super::rewrite::{self, pg_type_of};
use crate::ddl::{quote_ident, quote_literal};
use crate::typemap::PgType;

/// What the translator knows of an expression's type: enough to choose `||` or `+`, and
/// to keep SQL Server's meaning of casts and date functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Integer types.
    Int,
    /// `numeric`/`decimal`/`money`.
    Dec,
    /// `float` (PostgreSQL `double precision`).
    Float,
    /// `real` (PostgreSQL `real`): SQL Server computes in single precision when one side
    /// is `real` and the other not a float, PostgreSQL would pick double precision.
    Real,
    /// Character strings.
    Str,
    /// `char(n)`/`nchar(n)`: a string SQL Server keeps padded to `n` where PostgreSQL's
    /// `character(n)` drops the padding (concatenation, functions, casts): there it is
    /// used as `rpad(x, n)`.
    Char(u32),
    /// `bit` (PostgreSQL `boolean`).
    Bool,
    /// `date`.
    Date,
    /// `datetime`, `datetime2`, `smalldatetime` (PostgreSQL `timestamp`).
    Timestamp,
    /// Anything else known (binary, time, uuid, xml…).
    Other,
    /// A NULL literal.
    Null,
    /// Not known.
    Unknown,
}

impl Class {
    /// The class of a planned PostgreSQL type.
    pub fn of(t: &PgType) -> Class {
        match t {
            PgType::Boolean => Class::Bool,
            PgType::SmallInt | PgType::Integer | PgType::BigInt => Class::Int,
            PgType::Real => Class::Real,
            PgType::Double => Class::Float,
            PgType::Numeric { .. } => Class::Dec,
            PgType::Char { len } => Class::Char(*len),
            PgType::VarChar { .. } | PgType::Text => Class::Str,
            PgType::Date => Class::Date,
            PgType::Timestamp { .. } => Class::Timestamp,
            _ => Class::Other,
        }
    }
    fn numeric(self) -> bool {
        matches!(self, Class::Int | Class::Dec | Class::Float | Class::Real)
    }
    /// `Char` as the `Str` it is for comparisons.
    fn plain(self) -> Class {
        if let Class::Char(_) = self { Class::Str } else { self }
    }
    fn temporal(self) -> bool {
        matches!(self, Class::Date | Class::Timestamp)
    }
}

/// A column a relation offers: its SQL Server name, PostgreSQL name and class.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The name SQL Server code uses (matched ignoring case).
    pub source: String,
    /// The exact PostgreSQL name.
    pub pg: String,
    /// What is known of its type.
    pub class: Class,
}

/// A translated view body.
pub(crate) struct View {
    pub(crate) query: String,
    pub(crate) columns: Vec<Column>,
    /// `CREATE VIEW v (a, b)`: the names given.
    pub(crate) column_names: Option<Vec<String>>,
}

/// A translated inline function.
pub(crate) struct Inline {
    pub(crate) params: Vec<(String, PgType)>,
    pub(crate) query: String,
}

type R<T> = Result<T, String>;

fn at(node: &impl Spanned, what: impl std::fmt::Display) -> String {
    let s = node.span().start;
    if s.line == 0 { what.to_string() } else { format!("line {} column {}: {what}", s.line, s.column) }
}

/// `def` with a header option `WITH SCHEMABINDING` / `VIEW_METADATA` (between the object's
/// name and its `AS`) blanked out: the parser does not read them, and neither changes
/// what the query returns (PostgreSQL views depend on their tables anyway). Positions
/// stay the same (the option is replaced by spaces). Any other option is left for the
/// parser to refuse.
fn without_header_options(def: &str) -> String {
    use sqlparser::tokenizer::{Token, Tokenizer};
    let dialect = MsSqlDialect {};
    let Ok(tokens) = Tokenizer::new(&dialect, def).tokenize_with_location() else {
        return def.to_string();
    };
    let tokens: Vec<_> = tokens.into_iter().filter(|t| !matches!(t.token, Token::Whitespace(_))).collect();
    let word = |k: usize| match tokens.get(k).map(|t| &t.token) {
        Some(Token::Word(w)) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let Some(create) = (0..tokens.len()).find(|&k| word(k).as_deref() == Some("CREATE")) else {
        return def.to_string();
    };
    let mut depth = 0i32;
    let mut k = create + 1;
    let (mut from, mut to) = (None, None);
    while k < tokens.len() {
        match &tokens[k].token {
            Token::LParen => depth += 1,
            Token::RParen => depth -= 1,
            Token::Word(_) if depth == 0 => match word(k).as_deref() {
                Some("AS") => break,
                Some("WITH") if from.is_none() => from = Some(k),
                Some("SCHEMABINDING" | "VIEW_METADATA") if from.is_some() => to = Some(k),
                _ if from.is_some() => return def.to_string(),
                _ => {}
            },
            Token::Comma if depth == 0 && from.is_some() => {}
            _ if from.is_some() => return def.to_string(),
            _ => {}
        }
        k += 1;
    }
    let (Some(from), Some(to)) = (from, to) else { return def.to_string() };
    let offset = |line: u64, column: u64| -> Option<usize> {
        let start = def.split_inclusive('\n').take(line.checked_sub(1)? as usize).map(str::len).sum::<usize>();
        let rest = &def[start..];
        rest.char_indices().nth(column.checked_sub(1)? as usize).map(|(i, _)| start + i)
    };
    let (s, e) = (tokens[from].span.start, tokens[to].span.end);
    let (Some(a), Some(b)) = (offset(s.line, s.column), offset(e.line, e.column)) else { return def.to_string() };
    if b < a {
        return def.to_string();
    }
    let mut out = String::with_capacity(def.len());
    out.push_str(&def[..a]);
    out.extend(def[a..b].chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
    out.push_str(&def[b..]);
    out
}

fn parse_one(def: &str) -> R<Statement> {
    let def = without_header_options(def);
    let statements = Parser::new(&MsSqlDialect {})
        .try_with_sql(&def)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| format!("the T-SQL parser does not read it: {e}"))?;
    let mut it = statements.into_iter();
    match (it.next(), it.next()) {
        (Some(s), None) => Ok(s),
        (None, _) => Err("the definition holds no statement".into()),
        (Some(_), Some(_)) => Err("the definition holds more than one statement".into()),
    }
}

/// Translates `CREATE VIEW` text.
pub(crate) fn view(def: &str, home: &str, resolver: &mut dyn Resolver) -> R<View> {
    let Statement::CreateView { query, columns, options, materialized, .. } = parse_one(def)? else {
        return Err("the definition is not a CREATE VIEW".into());
    };
    if materialized {
        return Err("a materialized view".into());
    }
    let _ = options; // WITH SCHEMABINDING / VIEW_METADATA: no PostgreSQL meaning (a view depends on its tables anyway).
    let mut e = Emitter { resolver, home: home.to_string(), scopes: Vec::new(), params: Vec::new() };
    let (query, mut cols) = e.query(&query)?;
    let column_names = if columns.is_empty() {
        None
    } else {
        if columns.len() != cols.len() {
            return Err("the view's column list does not match its SELECT".into());
        }
        let names: Vec<String> = columns.iter().map(|c| c.name.value.clone()).collect();
        for (c, n) in cols.iter_mut().zip(&names) {
            c.source = n.clone();
            c.pg = n.clone();
        }
        Some(names)
    };
    check_names(&cols)?;
    Ok(View { query, columns: cols, column_names })
}

fn check_names(cols: &[Column]) -> R<()> {
    for (k, c) in cols.iter().enumerate() {
        if c.pg.is_empty() {
            return Err(format!("column {} of the result has no name", k + 1));
        }
        if c.pg.len() > crate::ddl::MAX_IDENT_BYTES {
            return Err(format!("column name {:?} is longer than 63 bytes", c.pg));
        }
        if cols[..k].iter().any(|o| o.pg == c.pg) {
            return Err(format!("two columns of the result are named {:?}", c.pg));
        }
    }
    Ok(())
}

/// Translates `CREATE FUNCTION … RETURNS TABLE AS RETURN (SELECT …)` text.
pub(crate) fn inline_function(def: &str, home: &str, resolver: &mut dyn Resolver) -> R<Inline> {
    let Statement::CreateFunction(f) = parse_one(def)? else {
        return Err("the definition is not a CREATE FUNCTION".into());
    };
    let mut params = Vec::new();
    for a in f.args.iter().flatten() {
        let name = a.name.as_ref().map(|n| n.value.clone()).ok_or("a parameter without a name")?;
        if a.default_expr.is_some() {
            return Err(format!("parameter {name} has a default"));
        }
        if a.mode.is_some() {
            return Err(format!("parameter {name} has a mode"));
        }
        let t = pg_type_of(&a.data_type).map_err(|e| format!("parameter {name}: {e}"))?;
        params.push((name, t));
    }
    let mut e = Emitter { resolver, home: home.to_string(), scopes: Vec::new(), params: params.clone() };
    let (query, cols) = match &f.function_body {
        Some(CreateFunctionBody::AsReturnExpr(Expr::Subquery(q))) => e.query(q)?,
        Some(CreateFunctionBody::AsReturnSelect(s)) => {
            let (sql, cols, _) = e.select(s)?;
            (sql, cols)
        }
        _ => return Err("not an inline table-valued function (RETURNS TABLE AS RETURN SELECT)".into()),
    };
    check_names(&cols)?;
    Ok(Inline { params, query })
}

/// One relation of a FROM clause, as columns can be resolved against it.
struct Entry {
    /// Names it answers to (alias, else the table name; lower case).
    names: Vec<String>,
    /// The qualifier printed for its columns.
    qualifier: String,
    columns: Vec<Column>,
}

struct Emitter<'r> {
    resolver: &'r mut dyn Resolver,
    home: String,
    /// FROM scopes, innermost last (subqueries see the outer ones).
    scopes: Vec<Vec<Entry>>,
    params: Vec<(String, PgType)>,
}

fn ident_text(i: &Ident) -> &str {
    &i.value
}

fn object_parts(n: &ObjectName) -> R<Vec<&Ident>> {
    n.0.iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => Ok(i),
            other => Err(at(other, "a name part that is not an identifier")),
        })
        .collect()
}

impl Emitter<'_> {
    /// A whole query: `(sql, output columns)`; ORDER BY stands only with TOP.
    fn query(&mut self, q: &Query) -> R<(String, Vec<Column>)> {
        if q.with.is_some() {
            return Err(at(q, "WITH (common table expressions) is not translated"));
        }
        if q.limit_clause.is_some() || q.fetch.is_some() {
            return Err(at(q, "OFFSET/FETCH is not translated"));
        }
        if q.for_clause.is_some() {
            return Err(at(q, "FOR XML/JSON is not translated"));
        }
        if !q.locks.is_empty() {
            return Err(at(q, "a locking clause is not translated"));
        }
        // ORDER BY with TOP: the TOP of a plain SELECT body becomes LIMIT after ORDER BY.
        let (body, cols, limit) = match q.body.as_ref() {
            SetExpr::Select(s) => self.select(s)?,
            other => {
                let (sql, cols) = self.set_expr(other)?;
                (sql, cols, None)
            }
        };
        let mut sql = body;
        if let Some(ob) = &q.order_by {
            if limit.is_none() {
                return Err(at(q, "ORDER BY without TOP in a view (SQL Server does not keep that order)"));
            }
            let OrderByKind::Expressions(exprs) = &ob.kind else {
                return Err(at(q, "ORDER BY ALL is not translated"));
            };
            let mut parts = Vec::new();
            // ORDER BY sees the FROM of the SELECT (re-entered) and the output names.
            let SetExpr::Select(s) = q.body.as_ref() else { unreachable!("limit comes from a SELECT") };
            let entries = self.scope_of_from(&s.from)?;
            self.scopes.push(entries);
            let r = (|| {
                for o in exprs {
                    if o.with_fill.is_some() {
                        return Err(at(&o.expr, "WITH FILL is not translated"));
                    }
                    let text = match &o.expr {
                        Expr::Identifier(i) if cols.iter().any(|c| c.pg.eq_ignore_ascii_case(&i.value)) => {
                            let c = cols.iter().find(|c| c.pg.eq_ignore_ascii_case(&i.value)).expect("found");
                            quote_ident(&c.pg)
                        }
                        Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.chars().all(|c| c.is_ascii_digit())) => {
                            v.value.to_string()
                        }
                        e => self.expr(e)?.0,
                    };
                    // SQL Server sorts NULLs first ascending, last descending.
                    let desc = o.options.asc == Some(false);
                    let nulls = match o.options.nulls_first {
                        Some(true) => " NULLS FIRST",
                        Some(false) => " NULLS LAST",
                        None if desc => " NULLS LAST",
                        None => " NULLS FIRST",
                    };
                    parts.push(format!("{text}{}{nulls}", if desc { " DESC" } else { " ASC" }));
                }
                Ok(())
            })();
            self.scopes.pop();
            r?;
            sql = format!("{sql}\nORDER BY {}", parts.join(", "));
        }
        if let Some(l) = limit {
            sql = format!("{sql}\nLIMIT {l}");
        }
        Ok((sql, cols))
    }

    fn set_expr(&mut self, s: &SetExpr) -> R<(String, Vec<Column>)> {
        match s {
            SetExpr::Select(sel) => {
                let (sql, cols, limit) = self.select(sel)?;
                match limit {
                    // TOP inside a UNION branch: keep it a subquery with its LIMIT.
                    Some(l) => Ok((format!("(SELECT * FROM ({sql}) AS top_n LIMIT {l})"), cols)),
                    None => Ok((sql, cols)),
                }
            }
            SetExpr::Query(q) => {
                let (sql, cols) = self.query(q)?;
                Ok((format!("({sql})"), cols))
            }
            SetExpr::SetOperation { op, set_quantifier, left, right } => {
                let (l, cols) = self.set_expr(left)?;
                let (r, rcols) = self.set_expr(right)?;
                if rcols.len() != cols.len() {
                    return Err("the branches of a UNION have different numbers of columns".into());
                }
                let op = match op {
                    SetOperator::Union => "UNION",
                    SetOperator::Except => "EXCEPT",
                    SetOperator::Intersect => "INTERSECT",
                    other => return Err(format!("set operator {other} is not translated")),
                };
                let q = match set_quantifier {
                    SetQuantifier::None | SetQuantifier::Distinct => "",
                    SetQuantifier::All => " ALL",
                    other => return Err(format!("{op} {other} is not translated")),
                };
                // The class of a column is known only when both branches agree.
                let cols = cols
                    .into_iter()
                    .zip(rcols)
                    .map(|(mut a, b)| {
                        if a.class != b.class && b.class != Class::Null {
                            a.class = if a.class == Class::Null { b.class } else { Class::Unknown };
                        }
                        a
                    })
                    .collect();
                Ok((format!("{l}\n{op}{q}\n{r}"), cols))
            }
            other => Err(at(other, "this kind of query body is not translated")),
        }
    }

    /// Resolves the relations of a FROM clause (nested joins flattened).
    fn scope_of_from(&mut self, from: &[TableWithJoins]) -> R<Vec<Entry>> {
        let mut entries = Vec::new();
        for twj in from {
            self.factor_entries(&twj.relation, &mut entries)?;
            for j in &twj.joins {
                self.factor_entries(&j.relation, &mut entries)?;
            }
        }
        Ok(entries)
    }

    fn factor_entries(&mut self, f: &TableFactor, out: &mut Vec<Entry>) -> R<()> {
        match f {
            TableFactor::Table { name, alias, args, with_hints, version, partitions, sample, .. } => {
                if args.is_some() {
                    return Err(at(name, "a table-valued function call is not translated"));
                }
                if !with_hints.is_empty() {
                    return Err(at(name, "table hints (WITH (…)) are not translated"));
                }
                if version.is_some() || !partitions.is_empty() || sample.is_some() {
                    return Err(at(name, "this table reference is not translated"));
                }
                let parts = object_parts(name)?;
                let (schema, table) = match parts.as_slice() {
                    [t] => (None, *t),
                    [s, t] => (Some(ident_text(s)), *t),
                    _ => return Err(at(name, format!("{name}: names with a database or server are not translated"))),
                };
                let rel = self.resolver.relation(schema, ident_text(table), &self.home).map_err(|e| at(name, e))?;
                let (names, qualifier) = match alias {
                    Some(a) => {
                        if !a.columns.is_empty() {
                            return Err(at(name, "column aliases on a table are not translated"));
                        }
                        (vec![a.name.value.to_lowercase()], quote_ident(&a.name.value))
                    }
                    None => (vec![table.value.to_lowercase()], quote_ident(&rel.name)),
                };
                out.push(Entry { names, qualifier, columns: rel.columns });
                Ok(())
            }
            TableFactor::Derived { lateral, subquery, alias } => {
                if *lateral {
                    return Err(at(subquery.as_ref(), "LATERAL is not translated"));
                }
                let Some(a) = alias else {
                    return Err(at(subquery.as_ref(), "a derived table without an alias"));
                };
                let (_, mut cols) = self.query(subquery)?;
                if !a.columns.is_empty() {
                    if a.columns.len() != cols.len() {
                        return Err(at(subquery.as_ref(), "a derived table's column list does not match its SELECT"));
                    }
                    for (c, n) in cols.iter_mut().zip(&a.columns) {
                        c.source = n.name.value.clone();
                        c.pg = n.name.value.clone();
                    }
                }
                out.push(Entry {
                    names: vec![a.name.value.to_lowercase()],
                    qualifier: quote_ident(&a.name.value),
                    columns: cols,
                });
                Ok(())
            }
            TableFactor::NestedJoin { table_with_joins, alias } => {
                if alias.is_some() {
                    return Err(at(f, "an aliased nested join is not translated"));
                }
                self.factor_entries(&table_with_joins.relation, out)?;
                for j in &table_with_joins.joins {
                    self.factor_entries(&j.relation, out)?;
                }
                Ok(())
            }
            other => Err(at(other, "this kind of FROM item is not translated")),
        }
    }

    /// FROM text (entries must be in scope for the ON conditions).
    fn factor_sql(&mut self, f: &TableFactor) -> R<String> {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let parts = object_parts(name)?;
                let (schema, table) = match parts.as_slice() {
                    [t] => (None, *t),
                    [s, t] => (Some(ident_text(s)), *t),
                    _ => unreachable!("checked in factor_entries"),
                };
                let rel = self.resolver.relation(schema, ident_text(table), &self.home).map_err(|e| at(name, e))?;
                Ok(match alias {
                    Some(a) => format!("{} AS {}", rel.qualified, quote_ident(&a.name.value)),
                    None => rel.qualified,
                })
            }
            TableFactor::Derived { subquery, alias, .. } => {
                let (sql, _) = self.query(subquery)?;
                let a = alias.as_ref().expect("checked in factor_entries");
                let cols = if a.columns.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        a.columns.iter().map(|c| quote_ident(&c.name.value)).collect::<Vec<_>>().join(", ")
                    )
                };
                Ok(format!("({sql}) AS {}{cols}", quote_ident(&a.name.value)))
            }
            TableFactor::NestedJoin { table_with_joins, .. } => Ok(format!("({})", self.twj_sql(table_with_joins)?)),
            other => Err(at(other, "this kind of FROM item is not translated")),
        }
    }

    fn twj_sql(&mut self, twj: &TableWithJoins) -> R<String> {
        let mut sql = self.factor_sql(&twj.relation)?;
        for j in &twj.joins {
            let right = self.factor_sql(&j.relation)?;
            let (kw, c) = match &j.join_operator {
                JoinOperator::Join(c) | JoinOperator::Inner(c) => ("JOIN", Some(c)),
                JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => ("LEFT JOIN", Some(c)),
                JoinOperator::Right(c) | JoinOperator::RightOuter(c) => ("RIGHT JOIN", Some(c)),
                JoinOperator::FullOuter(c) => ("FULL JOIN", Some(c)),
                JoinOperator::CrossJoin(JoinConstraint::None) => ("CROSS JOIN", None),
                JoinOperator::CrossApply => return Err(at(&j.relation, "CROSS APPLY is not translated")),
                JoinOperator::OuterApply => return Err(at(&j.relation, "OUTER APPLY is not translated")),
                _ => return Err(at(&j.relation, "this kind of join is not translated")),
            };
            match c {
                None => sql = format!("{sql} {kw} {right}"),
                Some(JoinConstraint::On(e)) => {
                    let (on, _) = self.expr(e)?;
                    sql = format!("{sql}\n  {kw} {right} ON {on}");
                }
                Some(_) => return Err(at(&j.relation, "a join without ON is not translated")),
            }
        }
        Ok(sql)
    }

    /// A SELECT: `(sql, columns, TOP as LIMIT text)`.
    fn select(&mut self, s: &Select) -> R<(String, Vec<Column>, Option<String>)> {
        if s.into.is_some() {
            return Err(at(s, "SELECT INTO"));
        }
        if !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || !s.named_window.is_empty()
            || s.qualify.is_some()
            || s.connect_by.is_some()
            || s.exclude.is_some()
            || s.value_table_mode.is_some()
        {
            return Err(at(s, "a SELECT clause that is not T-SQL"));
        }
        let entries = self.scope_of_from(&s.from)?;
        self.scopes.push(entries);
        let r = self.select_in_scope(s);
        self.scopes.pop();
        r
    }

    fn select_in_scope(&mut self, s: &Select) -> R<(String, Vec<Column>, Option<String>)> {
        let mut sql = String::from("SELECT ");
        match &s.distinct {
            None => {}
            Some(Distinct::Distinct) => sql.push_str("DISTINCT "),
            Some(Distinct::On(_)) => return Err(at(s, "DISTINCT ON")),
        }
        let limit = match &s.top {
            None => None,
            Some(t) if t.percent => return Err(at(s, "TOP … PERCENT is not translated")),
            Some(t) if t.with_ties => return Err(at(s, "TOP … WITH TIES is not translated")),
            Some(t) => match &t.quantity {
                Some(TopQuantity::Constant(n)) => Some(n.to_string()),
                Some(TopQuantity::Expr(e)) => {
                    let (x, c) = self.expr(e)?;
                    if !matches!(c, Class::Int | Class::Unknown) {
                        return Err(at(e, "TOP with a non-integer count"));
                    }
                    Some(format!("({x})"))
                }
                None => return Err(at(s, "TOP without a count")),
            },
        };
        let mut items = Vec::new();
        let mut cols = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let (x, class) = self.expr(e)?;
                    let name = match e {
                        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                            self.column(e)?.map(|c| c.pg).unwrap_or_default()
                        }
                        _ => String::new(),
                    };
                    items.push(x);
                    cols.push(Column { source: name.clone(), pg: name, class });
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let (x, class) = self.expr(expr)?;
                    items.push(format!("{x} AS {}", quote_ident(&alias.value)));
                    cols.push(Column { source: alias.value.clone(), pg: alias.value.clone(), class });
                }
                SelectItem::Wildcard(opts) => {
                    if opts.opt_ilike.is_some()
                        || opts.opt_exclude.is_some()
                        || opts.opt_except.is_some()
                        || opts.opt_replace.is_some()
                        || opts.opt_rename.is_some()
                    {
                        return Err(at(s, "a wildcard with options"));
                    }
                    let scope = self.scopes.last().expect("in scope");
                    for e in scope {
                        for c in &e.columns {
                            items.push(format!("{}.{}", e.qualifier, quote_ident(&c.pg)));
                            cols.push(c.clone());
                        }
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let SelectItemQualifiedWildcardKind::ObjectName(n) = kind else {
                        return Err(at(s, "this wildcard is not translated"));
                    };
                    let parts = object_parts(n)?;
                    let q = parts.last().ok_or("an empty name")?.value.to_lowercase();
                    let scope = self.scopes.last().expect("in scope");
                    let found: Vec<&Entry> = scope.iter().filter(|e| e.names.contains(&q)).collect();
                    let [e] = found.as_slice() else {
                        return Err(at(n, format!("{n}.* does not name exactly one table of the FROM clause")));
                    };
                    // Spelled out: PostgreSQL would expand it the same way, this keeps the
                    // columns' order and names visible in the definition.
                    for c in &e.columns {
                        items.push(format!("{}.{}", e.qualifier, quote_ident(&c.pg)));
                        cols.push(c.clone());
                    }
                }
            }
        }
        sql.push_str(&items.join(", "));
        if !s.from.is_empty() {
            let mut froms = Vec::new();
            for twj in &s.from {
                froms.push(self.twj_sql(twj)?);
            }
            sql.push_str(&format!("\nFROM {}", froms.join(", ")));
        }
        if let Some(w) = &s.selection {
            let (x, _) = self.expr(w)?;
            sql.push_str(&format!("\nWHERE {x}"));
        }
        match &s.group_by {
            GroupByExpr::Expressions(exprs, mods) => {
                if !mods.is_empty() {
                    return Err(at(s, "GROUP BY modifiers (ROLLUP, CUBE…) are not translated"));
                }
                if !exprs.is_empty() {
                    let mut g = Vec::new();
                    for e in exprs {
                        g.push(self.expr(e)?.0);
                    }
                    sql.push_str(&format!("\nGROUP BY {}", g.join(", ")));
                }
            }
            GroupByExpr::All(_) => return Err(at(s, "GROUP BY ALL is not translated")),
        }
        if let Some(h) = &s.having {
            let (x, _) = self.expr(h)?;
            sql.push_str(&format!("\nHAVING {x}"));
        }
        Ok((sql, cols, limit))
    }

    /// The column an identifier names, searching the scopes innermost first.
    fn column(&self, e: &Expr) -> R<Option<Column>> {
        Ok(self.resolve(e)?.map(|(_, c)| c))
    }

    /// `(printed reference, column)` for an identifier expression.
    fn resolve(&self, e: &Expr) -> R<Option<(String, Column)>> {
        let (qual, name): (Option<&str>, &Ident) = match e {
            Expr::Identifier(i) => (None, i),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [t, c] => (Some(&t.value), c),
                [_, t, c] => (Some(&t.value), c),
                _ => return Err(at(e, "a column name with a database or server")),
            },
            _ => return Ok(None),
        };
        let lname = name.value.to_lowercase();
        for scope in self.scopes.iter().rev() {
            let mut hits = Vec::new();
            for entry in scope {
                if let Some(q) = qual
                    && !entry.names.contains(&q.to_lowercase())
                {
                    continue;
                }
                let exact: Vec<&Column> = entry.columns.iter().filter(|c| c.source == name.value).collect();
                let matched: Vec<&Column> = if exact.len() == 1 {
                    exact
                } else {
                    entry.columns.iter().filter(|c| c.source.to_lowercase() == lname).collect()
                };
                match matched.as_slice() {
                    [] => {}
                    [c] => hits.push((entry, (*c).clone())),
                    _ => return Err(at(e, format!("{} matches several columns differing only in case", name.value))),
                }
            }
            match hits.len() {
                0 => continue,
                1 => {
                    let (entry, c) = hits.pop().expect("one");
                    return Ok(Some((format!("{}.{}", entry.qualifier, quote_ident(&c.pg)), c)));
                }
                _ => return Err(at(e, format!("column {} is ambiguous", name.value))),
            }
        }
        Err(at(e, format!("column {e} is not a column of the tables it reads")))
    }

    /// An expression: `(sql, class)`.
    pub(crate) fn expr(&mut self, e: &Expr) -> R<(String, Class)> {
        match e {
            Expr::Identifier(i) if i.value.starts_with('@') => {
                let k = self
                    .params
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case(&i.value))
                    .ok_or_else(|| at(e, format!("variable {} is not a parameter", i.value)))?;
                Ok((format!("${}", k + 1), Class::of(&self.params[k].1)))
            }
            Expr::Identifier(i) if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("current_timestamp") => {
                Ok(("LOCALTIMESTAMP".into(), Class::Timestamp))
            }
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                let (sql, c) = self.resolve(e)?.expect("an identifier");
                Ok((sql, c.class))
            }
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => {
                    // Printed as written: only digits and one decimal point.
                    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit() || c == '.') || n.matches('.').count() > 1
                    {
                        return Err(at(e, format!("constant {n} is not translated")));
                    }
                    let class = if n.contains('.') { Class::Dec } else { Class::Int };
                    Ok((n.clone(), class))
                }
                Value::SingleQuotedString(s) | Value::NationalStringLiteral(s) => Ok((quote_literal(s), Class::Str)),
                Value::Null => Ok(("NULL".into(), Class::Null)),
                _ => Err(at(e, format!("constant {v} is not translated"))),
            },
            Expr::Nested(inner) => {
                let (x, c) = self.expr(inner)?;
                Ok((format!("({x})"), c))
            }
            Expr::IsNull(x) => Ok((format!("{} IS NULL", self.expr(x)?.0), Class::Bool)),
            Expr::IsNotNull(x) => Ok((format!("{} IS NOT NULL", self.expr(x)?.0), Class::Bool)),
            Expr::UnaryOp { op, expr } => {
                let (x, c) = self.expr(expr)?;
                match op {
                    UnaryOperator::Not => Ok((format!("NOT {x}"), Class::Bool)),
                    UnaryOperator::Minus if c.numeric() => Ok((format!("-{x}"), c)),
                    UnaryOperator::Plus if c.numeric() => Ok((x, c)),
                    _ => Err(at(e, format!("operator {op} is not translated here"))),
                }
            }
            Expr::BinaryOp { left, op, right } => self.binary(e, left, op, right),
            Expr::Between { expr, negated, low, high } => {
                let (x, xc) = self.expr(expr)?;
                let (l, lc) = self.expr(low)?;
                let (h, hc) = self.expr(high)?;
                self.comparable(e, xc, lc)?;
                self.comparable(e, xc, hc)?;
                let not = if *negated { "NOT " } else { "" };
                Ok((format!("{x} {not}BETWEEN {l} AND {h}"), Class::Bool))
            }
            Expr::InList { expr, list, negated } => {
                let (x, xc) = self.expr(expr)?;
                let mut items = Vec::new();
                for i in list {
                    let (s, c) = self.expr(i)?;
                    self.comparable(e, xc, c)?;
                    items.push(s);
                }
                let not = if *negated { "NOT " } else { "" };
                Ok((format!("{x} {not}IN ({})", items.join(", ")), Class::Bool))
            }
            Expr::InSubquery { expr, subquery, negated } => {
                let (x, _) = self.expr(expr)?;
                let (q, cols) = self.query(subquery)?;
                if cols.len() != 1 {
                    return Err(at(e, "IN (subquery) with more than one column"));
                }
                let not = if *negated { "NOT " } else { "" };
                Ok((format!("{x} {not}IN ({q})"), Class::Bool))
            }
            Expr::Exists { subquery, negated } => {
                let (q, _) = self.query(subquery)?;
                let not = if *negated { "NOT " } else { "" };
                Ok((format!("{not}EXISTS ({q})"), Class::Bool))
            }
            Expr::Subquery(q) => {
                let (sql, cols) = self.query(q)?;
                if cols.len() != 1 {
                    return Err(at(e, "a scalar subquery with more than one column"));
                }
                Ok((format!("({sql})"), cols[0].class))
            }
            Expr::Like { negated, any, expr, pattern, escape_char } => {
                if *any || escape_char.is_some() {
                    return Err(at(e, "LIKE ANY / ESCAPE is not translated"));
                }
                let (x, xc) = padded(self.expr(expr)?);
                let (p, _) = self.expr(pattern)?;
                // T-SQL patterns have [ ] character classes PostgreSQL's LIKE lacks.
                match pattern.as_ref() {
                    Expr::Value(v) if matches!(&v.value, Value::SingleQuotedString(s) | Value::NationalStringLiteral(s) if !s.contains('[')) =>
                        {}
                    _ => return Err(at(e, "LIKE with a pattern that is not a constant without [ ]")),
                }
                if xc != Class::Str {
                    return Err(at(e, "LIKE on a value that is not known to be a string"));
                }
                let not = if *negated { "NOT " } else { "" };
                Ok((format!("{x} {not}LIKE {p}"), Class::Bool))
            }
            Expr::Case { operand, conditions, else_result, .. } => {
                let mut sql = String::from("CASE");
                if let Some(o) = operand {
                    sql.push(' ');
                    sql.push_str(&self.expr(o)?.0);
                }
                let mut class: Option<Class> = None;
                let mut merge = |c: Class| {
                    class = Some(match class {
                        None | Some(Class::Null) => c,
                        Some(k) if k == c || c == Class::Null => k,
                        _ => Class::Unknown,
                    })
                };
                for w in conditions {
                    let (cond, _) = self.expr(&w.condition)?;
                    let (res, rc) = self.expr(&w.result)?;
                    merge(rc);
                    sql.push_str(&format!(" WHEN {cond} THEN {res}"));
                }
                if let Some(el) = else_result {
                    let (res, rc) = self.expr(el)?;
                    merge(rc);
                    sql.push_str(&format!(" ELSE {res}"));
                }
                sql.push_str(" END");
                Ok((sql, class.unwrap_or(Class::Unknown)))
            }
            Expr::Cast { expr, data_type, format, kind } => {
                if format.is_some() {
                    return Err(at(e, "CAST … FORMAT is not translated"));
                }
                if !matches!(kind, sqlparser::ast::CastKind::Cast) {
                    return Err(at(e, "TRY_CAST / :: is not translated"));
                }
                let (x, c) = padded(self.expr(expr)?);
                rewrite::cast(&x, c, data_type, None).map_err(|m| at(e, m))
            }
            Expr::Convert { is_try, expr, data_type, charset, target_before_value: _, styles } => {
                if *is_try || charset.is_some() {
                    return Err(at(e, "TRY_CONVERT / CONVERT … USING is not translated"));
                }
                let Some(dt) = data_type else { return Err(at(e, "CONVERT without a type")) };
                let style = match styles.as_slice() {
                    [] => None,
                    [Expr::Value(v)] => match &v.value {
                        Value::Number(n, _) => Some(n.parse::<u32>().map_err(|_| at(e, "a CONVERT style"))?),
                        _ => return Err(at(e, "a CONVERT style that is not a number")),
                    },
                    _ => return Err(at(e, "a CONVERT style that is not a number")),
                };
                let (x, c) = padded(self.expr(expr)?);
                rewrite::cast(&x, c, dt, style).map_err(|m| at(e, m))
            }
            Expr::Function(f) => self.function(e, f),
            Expr::Substring {
                expr,
                substring_from: Some(from),
                substring_for: Some(len),
                special: true,
                shorthand: false,
            } => {
                let args = [padded(self.expr(expr)?), self.expr(from)?, self.expr(len)?];
                rewrite::function("substring", false, &args).map_err(|m| at(e, m))
            }
            other => Err(at(other, format!("{} is not translated", describe(other)))),
        }
    }

    fn comparable(&self, e: &Expr, a: Class, b: Class) -> R<()> {
        let (a, b) = (a.plain(), b.plain());
        // An untyped string compared with a date: PostgreSQL reads the string as a date of
        // the column's type, as SQL Server converts it; other mixes are SQL Server's
        // implicit conversions PostgreSQL does not make the same way.
        let ok = a == b
            || a == Class::Null
            || b == Class::Null
            || (a.numeric() && b.numeric())
            || (a.temporal() && b.temporal())
            || (a.temporal() && b == Class::Str)
            || (b.temporal() && a == Class::Str);
        if ok { Ok(()) } else { Err(at(e, format!("a comparison of {a:?} with {b:?} (an implicit conversion)"))) }
    }

    fn binary(&mut self, e: &Expr, left: &Expr, op: &BinaryOperator, right: &Expr) -> R<(String, Class)> {
        let (l, lc) = self.expr(left)?;
        let (r, rc) = self.expr(right)?;
        use BinaryOperator as B;
        let (l, lc, r, rc) = if *op == B::Plus {
            let ((l, lc), (r, rc)) = (padded((l, lc)), padded((r, rc)));
            (l, lc, r, rc)
        } else {
            (l, lc, r, rc)
        };
        match op {
            B::And | B::Or => Ok((format!("{l} {op} {r}"), Class::Bool)),
            B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq => {
                // A bit column compared with a number: boolean in PostgreSQL.
                let bitnum = |c: Class, other: Class| c == Class::Bool && other == Class::Int;
                let l2 = if bitnum(lc, rc) && is_column(left) { format!("({l})::integer") } else { l };
                let r2 = if bitnum(rc, lc) && is_column(right) { format!("({r})::integer") } else { r };
                let (lc2, rc2) =
                    (if bitnum(lc, rc) { Class::Int } else { lc }, if bitnum(rc, lc) { Class::Int } else { rc });
                self.comparable(e, lc2, rc2)?;
                let op = if *op == B::NotEq { "<>".to_string() } else { op.to_string() };
                Ok((format!("{l2} {op} {r2}"), Class::Bool))
            }
            B::Plus => {
                if lc == Class::Str && rc == Class::Str {
                    Ok((format!("{l} || {r}"), Class::Str))
                } else if lc.numeric() && rc.numeric() {
                    let (l, r) = single_precision(l, lc, r, rc);
                    Ok((format!("{l} + {r}"), wider(lc, rc)))
                } else if (lc == Class::Null && rc == Class::Str) || (lc == Class::Str && rc == Class::Null) {
                    Ok((format!("{l} || {r}"), Class::Str))
                } else {
                    Err(at(
                        e,
                        format!("+ between {lc:?} and {rc:?}: not known to be a string or a number on both sides"),
                    ))
                }
            }
            B::Minus | B::Multiply => {
                if lc.numeric() && rc.numeric() {
                    let (l, r) = single_precision(l, lc, r, rc);
                    Ok((format!("{l} {op} {r}"), wider(lc, rc)))
                } else {
                    Err(at(e, format!("{op} between {lc:?} and {rc:?}")))
                }
            }
            B::Divide => {
                if lc.numeric() && rc.numeric() {
                    // int / int is integer division in both.
                    let (l, r) = single_precision(l, lc, r, rc);
                    Ok((format!("{l} / {r}"), wider(lc, rc)))
                } else {
                    Err(at(e, format!("/ between {lc:?} and {rc:?}")))
                }
            }
            B::Modulo if lc == Class::Int && rc == Class::Int => Ok((format!("{l} % {r}"), Class::Int)),
            other => Err(at(e, format!("operator {other} is not translated"))),
        }
    }

    fn function(&mut self, e: &Expr, f: &Function) -> R<(String, Class)> {
        if f.over.is_some() {
            return Err(at(e, format!("window function {} … OVER is not translated", f.name)));
        }
        if f.filter.is_some() || !f.within_group.is_empty() || f.null_treatment.is_some() {
            return Err(at(e, format!("{}: clause not translated", f.name)));
        }
        if !matches!(f.parameters, FunctionArguments::None) {
            return Err(at(e, format!("{}: parameters not translated", f.name)));
        }
        let parts = object_parts(&f.name)?;
        if parts.len() != 1 {
            return Err(at(e, format!("function {} (user-defined functions are not translated)", f.name)));
        }
        let name = parts[0].value.to_lowercase();
        let (distinct, args): (bool, Vec<&FunctionArg>) = match &f.args {
            FunctionArguments::None => (false, Vec::new()),
            FunctionArguments::List(l) => {
                if !l.clauses.is_empty() {
                    return Err(at(e, format!("{}: clause not translated", f.name)));
                }
                let d = match l.duplicate_treatment {
                    None | Some(sqlparser::ast::DuplicateTreatment::All) => false,
                    Some(sqlparser::ast::DuplicateTreatment::Distinct) => true,
                };
                (d, l.args.iter().collect())
            }
            FunctionArguments::Subquery(_) => return Err(at(e, "a function over a subquery")),
        };
        // COUNT(*).
        if name == "count" && args.len() == 1 && matches!(args[0], FunctionArg::Unnamed(FunctionArgExpr::Wildcard)) {
            return Ok(("count(*)".into(), Class::Int));
        }
        let mut raw: Vec<&Expr> = Vec::new();
        for a in &args {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => raw.push(x),
                _ => return Err(at(e, format!("{}: an argument form not translated", f.name))),
            }
        }
        // Date functions take a datepart keyword first, not an expression.
        if matches!(name.as_str(), "dateadd" | "datediff" | "datepart") {
            let part = match raw.first() {
                Some(Expr::Identifier(i)) if i.quote_style.is_none() => i.value.to_lowercase(),
                _ => return Err(at(e, format!("{name} without a datepart"))),
            };
            let mut xs = Vec::new();
            for x in &raw[1..] {
                xs.push(self.expr(x)?);
            }
            return rewrite::date_function(&name, &part, &xs).map_err(|m| at(e, m));
        }
        let mut xs = Vec::new();
        for x in &raw {
            let v = self.expr(x)?;
            // Aggregates keep the column's type (MIN/MAX of a char(n) column is char(n)).
            xs.push(if matches!(name.as_str(), "min" | "max" | "count") { v } else { padded(v) });
        }
        rewrite::function(&name, distinct, &xs).map_err(|m| at(e, m))
    }
}

/// A value used as a string: a `char(n)` one with its padding, as SQL Server has it.
fn padded((x, c): (String, Class)) -> (String, Class) {
    match c {
        Class::Char(n) => (format!("rpad({x}, {n})"), Class::Str),
        _ => (x, c),
    }
}

fn is_column(e: &Expr) -> bool {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Nested(x) => is_column(x),
        _ => false,
    }
}

/// `real` with an integer or decimal: SQL Server converts the other side to `real` and
/// computes in single precision; PostgreSQL, left alone, would use double precision.
fn single_precision(l: String, lc: Class, r: String, rc: Class) -> (String, String) {
    let exact = |c: Class| matches!(c, Class::Int | Class::Dec);
    match (lc, rc) {
        (Class::Real, c) if exact(c) => (l, format!("CAST({r} AS real)")),
        (c, Class::Real) if exact(c) => (format!("CAST({l} AS real)"), r),
        _ => (l, r),
    }
}

fn wider(a: Class, b: Class) -> Class {
    match (a, b) {
        (Class::Float, _) | (_, Class::Float) => Class::Float,
        (Class::Real, _) | (_, Class::Real) => Class::Real,
        (Class::Dec, _) | (_, Class::Dec) => Class::Dec,
        _ => Class::Int,
    }
}

fn describe(e: &Expr) -> String {
    let text = e.to_string();
    let short: String = text.chars().take(60).collect();
    if short.len() < text.len() { format!("{short}…") } else { short }
}
