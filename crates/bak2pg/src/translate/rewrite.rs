//! The rewrite rules: T-SQL functions, casts and date parts to PostgreSQL, each keeping
//! SQL Server's result (or refused with the reason where it would not).
//!
//! The function knowledge is that of [`crate::ddl::translate_expr`] (`isnull` →
//! `coalesce`, `len` → `length(rtrim())`, `getdate()`…), extended to what views use.

use sqlparser::ast::DataType;

use super::emit::Class;
use crate::typemap::PgType;

type R<T> = Result<T, String>;

/// The PostgreSQL type for a T-SQL type name in a CAST, CONVERT or parameter, as the
/// migration maps columns of that type (`crate::typemap`): `varchar` without a length is
/// `varchar(30)` as in SQL Server's CAST; `(max)` is `text`.
///
/// # Errors
/// A type that is not mapped here (binary, xml, sql_variant, CLR types…).
pub fn pg_type_of(d: &DataType) -> R<PgType> {
    let text = d.to_string().to_lowercase();
    let (name, args) = match text.split_once('(') {
        Some((n, a)) => (n.trim().to_string(), Some(a.trim_end_matches(')').to_string())),
        None => (text.trim().to_string(), None),
    };
    let nums: Vec<&str> = args.as_deref().map(|a| a.split(',').map(str::trim).collect()).unwrap_or_default();
    let num = |k: usize| -> R<Option<u32>> {
        match nums.get(k) {
            None => Ok(None),
            Some(&"max") => Ok(None),
            Some(s) => s.parse::<u32>().map(Some).map_err(|_| format!("type {text}")),
        }
    };
    let is_max = nums.first() == Some(&"max");
    Ok(match name.as_str() {
        "bit" => PgType::Boolean,
        "tinyint" | "smallint" => PgType::SmallInt,
        "int" | "integer" => PgType::Integer,
        "bigint" => PgType::BigInt,
        "real" => PgType::Real,
        "float" => match num(0)? {
            Some(n) if n <= 24 => PgType::Real,
            _ => PgType::Double,
        },
        "decimal" | "numeric" | "dec" => {
            let p = num(0)?.unwrap_or(18);
            let s = num(1)?.unwrap_or(0);
            if p == 0 || p > 38 || s > p {
                return Err(format!("type {text}"));
            }
            PgType::Numeric { precision: p as u8, scale: s as u8 }
        }
        "money" => PgType::Numeric { precision: 19, scale: 4 },
        "smallmoney" => PgType::Numeric { precision: 10, scale: 4 },
        "char" | "nchar" | "character" => PgType::Char { len: num(0)?.unwrap_or(1) },
        "varchar" | "nvarchar" | "character varying" if is_max => PgType::Text,
        "varchar" | "nvarchar" | "character varying" => PgType::VarChar { len: num(0)?.unwrap_or(30) },
        "text" | "ntext" => PgType::Text,
        "date" => PgType::Date,
        "datetime" => PgType::Timestamp { precision: 3 },
        "smalldatetime" => PgType::Timestamp { precision: 0 },
        "datetime2" => PgType::Timestamp { precision: num(0)?.unwrap_or(7).min(6) as u8 },
        "uniqueidentifier" => PgType::Uuid,
        _ => return Err(format!("type {text} is not translated")),
    })
}

/// SQL Server's CONVERT date styles to PostgreSQL `to_char` patterns (the styles whose
/// text PostgreSQL reproduces exactly; 0/100/109/113/130… spell month names or AM/PM with
/// SQL Server's own padding and are refused).
pub fn date_style(style: u32) -> Option<&'static str> {
    Some(match style {
        101 => "MM/DD/YYYY",
        1 => "MM/DD/YY",
        102 => "YYYY.MM.DD",
        2 => "YY.MM.DD",
        103 => "DD/MM/YYYY",
        3 => "DD/MM/YY",
        104 => "DD.MM.YYYY",
        4 => "DD.MM.YY",
        105 => "DD-MM-YYYY",
        5 => "DD-MM-YY",
        110 => "MM-DD-YYYY",
        10 => "MM-DD-YY",
        111 => "YYYY/MM/DD",
        11 => "YY/MM/DD",
        112 => "YYYYMMDD",
        12 => "YYMMDD",
        23 => "YYYY-MM-DD",
        108 | 8 | 24 => "HH24:MI:SS",
        120 | 20 => "YYYY-MM-DD HH24:MI:SS",
        121 | 21 | 25 => "YYYY-MM-DD HH24:MI:SS.MS",
        _ => return None,
    })
}

/// `CAST(x AS t)` / `CONVERT(t, x[, style])` for a value of class `from`.
///
/// # Errors
/// Conversions whose result SQL Server spells differently (dates or floats to text
/// without a known style, numbers to `bit`…).
pub fn cast(x: &str, from: Class, to: &DataType, style: Option<u32>) -> R<(String, Class)> {
    let t = pg_type_of(to)?;
    let class = Class::of(&t);
    let ty = t.sql();
    if let Some(st) = style {
        if class == Class::Str && matches!(from, Class::Date | Class::Timestamp) {
            let pattern = date_style(st).ok_or_else(|| format!("CONVERT style {st} is not translated"))?;
            return Ok((format!("CAST(to_char({x}, '{pattern}') AS {ty})"), Class::Str));
        }
        // The style only matters for dates, floats and money to or from text.
        let matters = matches!((from, class), (Class::Str, _) | (_, Class::Str))
            && !(matches!(from, Class::Int | Class::Dec | Class::Str) && class == Class::Str && st == 0);
        if matters && st != 0 {
            return Err(format!("CONVERT style {st} for this conversion is not translated"));
        }
    }
    match (from, class) {
        (Class::Date | Class::Timestamp, Class::Str) => {
            Err("a date converted to text without a style (SQL Server's default text is not PostgreSQL's)".into())
        }
        (Class::Float | Class::Real, Class::Str) => {
            Err("a float converted to text (SQL Server's digits differ)".into())
        }
        // PostgreSQL converts a real to numeric through 6 significant digits; SQL Server
        // rounds its exact binary value: through double precision that value is kept.
        (Class::Real, Class::Dec) => Ok((format!("CAST(CAST({x} AS double precision) AS {ty})"), class)),
        (Class::Str, Class::Date | Class::Timestamp) => Ok((format!("CAST({x} AS {ty})"), class)),
        // SQL Server truncates towards zero when converting a fraction to an integer.
        (Class::Dec | Class::Float | Class::Real, Class::Int) => Ok((format!("CAST(trunc({x}) AS {ty})"), class)),
        (_, Class::Bool) => Err("a conversion to bit is not translated".into()),
        (Class::Bool, _) => Err("a conversion of bit is not translated".into()),
        (Class::Unknown, _) => Err("a conversion of a value of unknown type".into()),
        (Class::Dec, Class::Str) => Ok((format!("CAST({x} AS {ty})"), class)),
        _ => Ok((format!("CAST({x} AS {ty})"), class)),
    }
}

fn one(name: &str, args: &[(String, Class)]) -> R<(String, Class)> {
    match args {
        [a] => Ok(a.clone()),
        _ => Err(format!("{name} with {} arguments", args.len())),
    }
}

fn interval_unit(part: &str) -> Option<(&'static str, i64)> {
    Some(match part {
        "year" | "yy" | "yyyy" => ("year", 1),
        "quarter" | "qq" | "q" => ("month", 3),
        "month" | "mm" | "m" => ("month", 1),
        "day" | "dd" | "d" | "dayofyear" | "dy" | "y" | "weekday" | "dw" | "w" => ("day", 1),
        "week" | "wk" | "ww" => ("day", 7),
        "hour" | "hh" => ("hour", 1),
        "minute" | "mi" | "n" => ("minute", 1),
        "second" | "ss" | "s" => ("second", 1),
        "millisecond" | "ms" => ("millisecond", 1),
        _ => return None,
    })
}

/// `DATEADD`, `DATEDIFF`, `DATEPART` with their datepart keyword and the other arguments
/// already translated.
///
/// # Errors
/// Dateparts whose SQL Server meaning depends on `SET DATEFIRST` or differs from ISO
/// (`week`, `weekday` in DATEPART/DATEDIFF), and arguments that are not dates.
pub fn date_function(name: &str, part: &str, args: &[(String, Class)]) -> R<(String, Class)> {
    match name {
        "dateadd" => {
            let [(n, nc), (d, dc)] = args else { return Err("DATEADD needs 3 arguments".into()) };
            if *nc != Class::Int {
                return Err("DATEADD with a count that is not an integer".into());
            }
            let (unit, k) = interval_unit(part).ok_or_else(|| format!("DATEADD({part}, …) is not translated"))?;
            let step = if k == 1 { format!("interval '1 {unit}'") } else { format!("interval '{k} {unit}'") };
            match dc {
                // date + interval is a timestamp; SQL Server keeps the date type (and
                // refuses sub-day parts on a date).
                Class::Date if matches!(unit, "year" | "month" | "day") => {
                    Ok((format!("CAST({d} + ({n}) * {step} AS date)"), Class::Date))
                }
                Class::Timestamp => Ok((format!("({d} + ({n}) * {step})"), Class::Timestamp)),
                _ => Err("DATEADD on a value not known to be a date".into()),
            }
        }
        "datediff" => {
            let [(a, ac), (b, bc)] = args else { return Err("DATEDIFF needs 3 arguments".into()) };
            if !(matches!(ac, Class::Date | Class::Timestamp) && matches!(bc, Class::Date | Class::Timestamp)) {
                return Err("DATEDIFF on values not known to be dates".into());
            }
            // SQL Server counts the boundaries crossed between the two, not elapsed time.
            let (a, b) = (format!("CAST({a} AS timestamp)"), format!("CAST({b} AS timestamp)"));
            let ey = |x: &str| format!("extract(year FROM {x})");
            let sql = match interval_unit(part).map(|u| u.0) {
                Some("year") if !part.starts_with('q') => format!("CAST({} - {} AS integer)", ey(&b), ey(&a)),
                Some("month") if part.starts_with('q') => format!(
                    "CAST(({} - {}) * 4 + extract(quarter FROM {b}) - extract(quarter FROM {a}) AS integer)",
                    ey(&b),
                    ey(&a)
                ),
                Some("month") => format!(
                    "CAST(({} - {}) * 12 + extract(month FROM {b}) - extract(month FROM {a}) AS integer)",
                    ey(&b),
                    ey(&a)
                ),
                Some("day") if matches!(part, "day" | "dd" | "d" | "dayofyear" | "dy" | "y") => {
                    format!("(CAST({b} AS date) - CAST({a} AS date))")
                }
                Some(u @ ("hour" | "minute" | "second")) => {
                    let secs = match u {
                        "hour" => 3600,
                        "minute" => 60,
                        _ => 1,
                    };
                    format!(
                        "CAST(extract(epoch FROM date_trunc('{u}', {b}) - date_trunc('{u}', {a})) / {secs} AS bigint)"
                    )
                }
                _ => return Err(format!("DATEDIFF({part}, …) is not translated")),
            };
            Ok((sql, Class::Int))
        }
        "datepart" => {
            let [(d, dc)] = args else { return Err("DATEPART needs 2 arguments".into()) };
            if !matches!(dc, Class::Date | Class::Timestamp) {
                return Err("DATEPART on a value not known to be a date".into());
            }
            let field = match part {
                "year" | "yy" | "yyyy" => "year",
                "quarter" | "qq" | "q" => "quarter",
                "month" | "mm" | "m" => "month",
                "day" | "dd" | "d" => "day",
                "dayofyear" | "dy" | "y" => "doy",
                "hour" | "hh" => "hour",
                "minute" | "mi" | "n" => "minute",
                "second" | "ss" | "s" => {
                    return Ok((format!("CAST(floor(extract(second FROM {d})) AS integer)"), Class::Int));
                }
                _ => {
                    return Err(format!(
                        "DATEPART({part}, …) is not translated (week and weekday depend on SET DATEFIRST)"
                    ));
                }
            };
            Ok((format!("CAST(extract({field} FROM {d}) AS integer)"), Class::Int))
        }
        _ => Err(format!("function {name} is not translated")),
    }
}

fn strings(name: &str, args: &[(String, Class)]) -> R<()> {
    if args.iter().all(|(_, c)| matches!(c, Class::Str | Class::Null)) {
        Ok(())
    } else {
        Err(format!("{name} on a value not known to be a string"))
    }
}

/// A function call with its arguments already translated.
///
/// # Errors
/// Functions not in the table, or called with arguments whose types would change the
/// result.
pub fn function(name: &str, distinct: bool, args: &[(String, Class)]) -> R<(String, Class)> {
    let list = |args: &[(String, Class)]| args.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", ");
    if distinct && !matches!(name, "count" | "sum" | "avg" | "min" | "max") {
        return Err(format!("{name}(DISTINCT …) is not translated"));
    }
    let d = if distinct { "DISTINCT " } else { "" };
    match name {
        "getdate" | "sysdatetime" | "current_timestamp" if args.is_empty() => {
            Ok(("LOCALTIMESTAMP".into(), Class::Timestamp))
        }
        "getutcdate" | "sysutcdatetime" if args.is_empty() => {
            Ok(("(now() AT TIME ZONE 'utc')".into(), Class::Timestamp))
        }
        "isnull" => match args {
            [(a, ac), (b, bc)] => {
                let class = if ac == bc || *bc == Class::Null {
                    *ac
                } else if *ac == Class::Null {
                    *bc
                } else if ac.eq(&Class::Int) && matches!(bc, Class::Int) {
                    Class::Int
                } else {
                    // ISNULL converts the replacement to the first argument's type.
                    return Err(format!("ISNULL of {ac:?} with a {bc:?} replacement"));
                };
                Ok((format!("coalesce({a}, {b})"), class))
            }
            _ => Err("ISNULL needs 2 arguments".into()),
        },
        "coalesce" | "nullif" if !args.is_empty() => {
            let c = args.iter().map(|a| a.1).find(|c| *c != Class::Null).unwrap_or(Class::Null);
            if args.iter().any(|a| a.1 != c && a.1 != Class::Null) {
                return Err(format!("{name} over values of different types"));
            }
            Ok((format!("{name}({})", list(args)), c))
        }
        "iif" => match args {
            [(c, _), (a, ac), (b, bc)] => {
                let class = if ac == bc || *bc == Class::Null {
                    *ac
                } else if *ac == Class::Null {
                    *bc
                } else {
                    Class::Unknown
                };
                Ok((format!("CASE WHEN {c} THEN {a} ELSE {b} END"), class))
            }
            _ => Err("IIF needs 3 arguments".into()),
        },
        "year" | "month" | "day" => {
            let (x, c) = one(name, args)?;
            if !matches!(c, Class::Date | Class::Timestamp) {
                return Err(format!("{name} on a value not known to be a date"));
            }
            Ok((format!("CAST(extract({name} FROM {x}) AS integer)"), Class::Int))
        }
        "len" => {
            strings(name, args)?;
            let (x, _) = one(name, args)?;
            // LEN ignores trailing spaces.
            Ok((format!("length(rtrim({x}))"), Class::Int))
        }
        "datalength" => Err("DATALENGTH (bytes in SQL Server's encoding) is not translated".into()),
        "upper" | "lower" | "ltrim" | "rtrim" => {
            strings(name, args)?;
            let (x, _) = one(name, args)?;
            Ok((format!("{name}({x})"), Class::Str))
        }
        "charindex" => match args {
            [(needle, _), (hay, _)] => {
                strings(name, args)?;
                Ok((format!("strpos({hay}, {needle})"), Class::Int))
            }
            _ => Err("CHARINDEX with a start position is not translated".into()),
        },
        "substring" => match args {
            [(s, sc), (start, stc), (len, lc)] if *sc == Class::Str && *stc == Class::Int && *lc == Class::Int => {
                Ok((format!("substr({s}, {start}, {len})"), Class::Str))
            }
            _ => Err("SUBSTRING of a value not known to be a string".into()),
        },
        "left" | "right" => match args {
            [(s, Class::Str), (n, Class::Int)] => Ok((format!("{name}({s}, {n})"), Class::Str)),
            _ => Err(format!("{name} of a value not known to be a string")),
        },
        "round" => match args {
            [(x, c), (n, Class::Int)] if matches!(c, Class::Int | Class::Dec) => Ok((format!("round({x}, {n})"), *c)),
            [(x, c @ (Class::Float | Class::Real)), (n, Class::Int)] => {
                let t = if *c == Class::Real { "real" } else { "double precision" };
                Ok((format!("CAST(round(CAST(CAST({x} AS double precision) AS numeric), {n}) AS {t})"), *c))
            }
            // A non-zero third argument truncates instead of rounding.
            [(x, c), (n, Class::Int), (f, Class::Int)] if matches!(c, Class::Int | Class::Dec) => {
                if f == "0" {
                    Ok((format!("round({x}, {n})"), *c))
                } else {
                    Ok((format!("trunc({x}, {n})"), *c))
                }
            }
            _ => Err("ROUND of a value not known to be a number".into()),
        },
        "abs" => {
            let (x, c) = one(name, args)?;
            if !matches!(c, Class::Int | Class::Dec | Class::Float | Class::Real) {
                return Err("ABS of a value not known to be a number".into());
            }
            Ok((format!("abs({x})"), c))
        }
        "count" => {
            let (x, _) = one(name, args)?;
            Ok((format!("count({d}{x})"), Class::Int))
        }
        "sum" | "min" | "max" => {
            let (x, c) = one(name, args)?;
            if name == "sum" && !matches!(c, Class::Int | Class::Dec | Class::Float | Class::Real) {
                return Err("SUM of a value not known to be a number".into());
            }
            // SQL Server sums reals as float (double precision); PostgreSQL would as real.
            if name == "sum" && c == Class::Real {
                return Ok((format!("sum({d}CAST({x} AS double precision))"), Class::Float));
            }
            Ok((format!("{name}({d}{x})"), c))
        }
        "avg" => {
            let (x, c) = one(name, args)?;
            match c {
                // SQL Server's AVG of integers is an integer (truncated).
                Class::Int => Ok((format!("CAST(trunc(avg({d}{x})) AS bigint)"), Class::Int)),
                Class::Dec | Class::Float => Ok((format!("avg({d}{x})"), c)),
                // avg(real) is double precision in both.
                Class::Real => Ok((format!("avg({d}{x})"), Class::Float)),
                _ => Err("AVG of a value not known to be a number".into()),
            }
        }
        _ => Err(format!("function {} is not translated", name.to_uppercase())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> (String, Class) {
        (x.into(), Class::Str)
    }
    fn i(x: &str) -> (String, Class) {
        (x.into(), Class::Int)
    }
    fn ts(x: &str) -> (String, Class) {
        (x.into(), Class::Timestamp)
    }

    #[test]
    fn functions() {
        assert_eq!(function("isnull", false, &[s("a"), s("'x'")]).unwrap().0, "coalesce(a, 'x')");
        assert!(function("isnull", false, &[s("a"), i("0")]).is_err());
        assert_eq!(function("len", false, &[s("a")]).unwrap().0, "length(rtrim(a))");
        assert!(function("len", false, &[i("a")]).is_err());
        assert_eq!(function("charindex", false, &[s("'x'"), s("a")]).unwrap().0, "strpos(a, 'x')");
        assert_eq!(function("substring", false, &[s("a"), i("2"), i("3")]).unwrap().0, "substr(a, 2, 3)");
        assert_eq!(function("left", false, &[s("a"), i("2")]).unwrap().0, "left(a, 2)");
        assert_eq!(function("right", false, &[s("a"), i("2")]).unwrap().0, "right(a, 2)");
        assert_eq!(function("round", false, &[("x".into(), Class::Dec), i("2")]).unwrap().0, "round(x, 2)");
        assert_eq!(function("round", false, &[("x".into(), Class::Dec), i("2"), i("1")]).unwrap().0, "trunc(x, 2)");
        assert_eq!(
            function("iif", false, &[("c".into(), Class::Bool), i("1"), i("2")]).unwrap().0,
            "CASE WHEN c THEN 1 ELSE 2 END"
        );
        assert_eq!(function("getdate", false, &[]).unwrap().0, "LOCALTIMESTAMP");
        assert_eq!(function("sysdatetime", false, &[]).unwrap().0, "LOCALTIMESTAMP");
        assert_eq!(function("year", false, &[ts("d")]).unwrap().0, "CAST(extract(year FROM d) AS integer)");
        assert_eq!(function("avg", false, &[i("q")]).unwrap().0, "CAST(trunc(avg(q)) AS bigint)");
        assert_eq!(function("count", true, &[i("q")]).unwrap().0, "count(DISTINCT q)");
        assert!(function("replace", false, &[s("a"), s("b"), s("c")]).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(date_function("dateadd", "day", &[i("1"), ts("d")]).unwrap().0, "(d + (1) * interval '1 day')");
        assert_eq!(
            date_function("dateadd", "qq", &[i("1"), ("d".into(), Class::Date)]).unwrap().0,
            "CAST(d + (1) * interval '3 month' AS date)"
        );
        assert_eq!(
            date_function("datediff", "year", &[ts("a"), ts("b")]).unwrap().0,
            "CAST(extract(year FROM CAST(b AS timestamp)) - extract(year FROM CAST(a AS timestamp)) AS integer)"
        );
        assert_eq!(
            date_function("datediff", "day", &[ts("a"), ts("b")]).unwrap().0,
            "(CAST(CAST(b AS timestamp) AS date) - CAST(CAST(a AS timestamp) AS date))"
        );
        assert!(date_function("datediff", "week", &[ts("a"), ts("b")]).is_err());
        assert_eq!(date_function("datepart", "month", &[ts("d")]).unwrap().0, "CAST(extract(month FROM d) AS integer)");
        assert!(date_function("datepart", "weekday", &[ts("d")]).is_err());
    }

    fn dt(t: &str) -> DataType {
        let sql = format!("SELECT CAST(1 AS {t})");
        let st = sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::MsSqlDialect {}, &sql).unwrap();
        let sqlparser::ast::Statement::Query(q) = &st[0] else { panic!() };
        let sqlparser::ast::SetExpr::Select(s) = q.body.as_ref() else { panic!() };
        let sqlparser::ast::SelectItem::UnnamedExpr(sqlparser::ast::Expr::Cast { data_type, .. }) = &s.projection[0]
        else {
            panic!()
        };
        data_type.clone()
    }

    #[test]
    fn casts() {
        assert_eq!(pg_type_of(&dt("money")).unwrap(), PgType::Numeric { precision: 19, scale: 4 });
        assert_eq!(pg_type_of(&dt("nvarchar(max)")).unwrap(), PgType::Text);
        assert_eq!(pg_type_of(&dt("varchar")).unwrap(), PgType::VarChar { len: 30 });
        assert_eq!(pg_type_of(&dt("datetime")).unwrap(), PgType::Timestamp { precision: 3 });
        assert_eq!(cast("x", Class::Float, &dt("money"), None).unwrap().0, "CAST(x AS numeric(19,4))");
        assert_eq!(
            cast("x", Class::Real, &dt("money"), None).unwrap().0,
            "CAST(CAST(x AS double precision) AS numeric(19,4))"
        );
        assert_eq!(cast("x", Class::Dec, &dt("int"), None).unwrap().0, "CAST(trunc(x) AS integer)");
        assert_eq!(
            cast("d", Class::Timestamp, &dt("varchar(10)"), Some(112)).unwrap().0,
            "CAST(to_char(d, 'YYYYMMDD') AS varchar(10))"
        );
        assert!(cast("d", Class::Timestamp, &dt("varchar(30)"), None).is_err());
        assert!(cast("d", Class::Timestamp, &dt("varchar(30)"), Some(109)).is_err());
        assert!(cast("x", Class::Float, &dt("varchar(30)"), None).is_err());
    }
}
