//! SQL Server's comparison rules as PostgreSQL collations (`--case-insensitive icu`).
//!
//! SQL Server compares `char`/`varchar`/`text`/`nchar`/`nvarchar`/`ntext` values by the
//! column's collation: under the usual `SQL_Latin1_General_CP1_CI_AS` 'ABC' = 'abc', so a
//! unique key cannot hold both and `WHERE col = 'abc'` finds 'ABC'. PostgreSQL compares
//! by its deterministic collation: byte-for-byte equality. With
//! [`CaseInsensitive::Icu`], every column whose SQL Server collation ignores case or
//! accents gets a *nondeterministic* ICU collation that compares the same way:
//!
//! | SQL Server | ICU locale (BCP 47 `-u-` keywords) |
//! |------------|-------------------------------------|
//! | `_CI_AS`   | `<lang>-u-ks-level2` (secondary strength: accents count, case does not) |
//! | `_CI_AI`   | `<lang>-u-ks-level1` (primary strength: neither counts) |
//! | `_CS_AI`   | `<lang>-u-ks-level1-kc-true` (primary strength plus the case level) |
//! | `_CS_AS`, `_BIN`, `_BIN2` | unchanged (PostgreSQL's deterministic comparison) |
//!
//! The flags come from the stored collation id (`syscolpars.collationid`), taken apart by
//! [`mssql_backup::CollationParts`]: bit 12 case-insensitive, bit 13 accent-insensitive,
//! bits 14/15 kana/width-insensitive, as `COLLATIONPROPERTY(name, 'CollationID')` and
//! `sys.fn_helpcollations()` have them (see `mssql_backup::collation`). For a `SQL_*`
//! collation the sort order's name must say the same (`_CI_`/`_CS_`, `_AS`/`_AI`).
//!
//! ICU's secondary and primary strengths ignore width (full/half-width forms) and kana
//! (hiragana/katakana) differences, which is what SQL Server does without `_KS`/`_WS`.
//! Collations that cannot be expressed this way are refused by name and their columns
//! keep PostgreSQL's comparison ([`CollationChoice::Refused`]): `_KS` or `_WS` together
//! with `_CI`/`_AI` (ICU would ignore differences SQL Server keeps), `_VSS` (variation
//! selectors count in SQL Server, ICU ignores them), the SQL Server 2000 sort orders
//! without a `SQL_*` name, and families whose language this table does not name.
//!
//! The language subtag follows the collation's family (`French` → `fr`,
//! `Modern_Spanish` → `es`), because some languages' letters compare differently
//! (Turkish dotless ı, Spanish ñ under `_AI`); `Latin1_General` is ICU's root (`und`).
//! Source of the ICU keywords: Unicode Technical Standard #35, part 5 (Collation),
//! "Setting Options" (`ks` strength, `kc` case level); PostgreSQL documentation,
//! "Collation Support", nondeterministic collations.

use std::collections::BTreeMap;

use mssql_backup::{Collation, CollationParts};
use serde::{Deserialize, Serialize};

pub use crate::job::CaseInsensitive;

/// The schema the collations are created in: `public` exists in every new database, and
/// bak2pg's own schema is dropped after the load (with `CASCADE`, which would take the
/// columns along).
pub const COLLATION_SCHEMA: &str = "public";

/// A PostgreSQL collation to create in the loading database before the tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollationPlan {
    /// Schema ([`COLLATION_SCHEMA`]).
    pub schema: String,
    /// Name: the SQL Server collation's (`SQL_Latin1_General_CP1_CI_AS`).
    pub name: String,
    /// ICU locale with its comparison keywords (`und-u-ks-level2`).
    pub locale: String,
}

impl CollationPlan {
    /// `CREATE COLLATION … (provider = icu, locale = …, deterministic = false)`.
    pub fn create_statement(&self) -> String {
        format!(
            "CREATE COLLATION {} (provider = icu, locale = {}, deterministic = false)",
            super::quote::qualified(&self.schema, &self.name),
            super::quote::quote_literal(&self.locale)
        )
    }
    /// `COLLATE "public"."…"`, to follow a column's type.
    pub fn collate_clause(&self) -> String {
        format!("COLLATE {}", super::quote::qualified(&self.schema, &self.name))
    }
}

/// What a SQL Server collation becomes under [`CaseInsensitive::Icu`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollationChoice {
    /// Case- and accent-sensitive or binary: PostgreSQL's comparison already matches
    /// (up to width/kana, see the README).
    Unchanged,
    /// A nondeterministic ICU collation: (SQL Server name, ICU locale).
    Icu {
        /// The SQL Server collation name.
        name: String,
        /// ICU locale and keywords.
        locale: String,
    },
    /// Not expressible (or not known well enough): the columns keep PostgreSQL's
    /// comparison. (SQL Server name or id, reason.)
    Refused {
        /// The collation's name, or its id when it has none.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Language subtags of the Windows collation families whose letters this table vouches
/// for, by family name as `sys.fn_helpcollations()` spells it. Tags from the families'
/// LCIDs (`mssql_backup::collation::FAMILIES`): the primary language of the LCID as its
/// ISO 639-1 code. `Latin1_General` is the Unicode root collation (`und`).
const FAMILY_LANGUAGES: &[(&str, &str)] = &[
    ("Latin1_General", "und"),
    ("Arabic", "ar"),
    ("Chinese_PRC", "zh"),
    ("Croatian", "hr"),
    ("Cyrillic_General", "ru"),
    ("Czech", "cs"),
    ("Danish_Norwegian", "da"),
    ("Estonian", "et"),
    ("Finnish_Swedish", "sv"),
    ("French", "fr"),
    ("German_PhoneBook", "de-u-co-phonebk"),
    ("Greek", "el"),
    ("Hebrew", "he"),
    ("Hungarian", "hu"),
    ("Icelandic", "is"),
    ("Japanese", "ja"),
    ("Korean", "ko"),
    ("Korean_Wansung", "ko"),
    ("Latvian", "lv"),
    ("Lithuanian", "lt"),
    ("Modern_Spanish", "es"),
    ("Polish", "pl"),
    ("Romanian", "ro"),
    ("Slovak", "sk"),
    ("Slovenian", "sl"),
    ("Thai", "th"),
    ("Traditional_Spanish", "es-u-co-trad"),
    ("Turkish", "tr"),
    ("Ukrainian", "uk"),
    ("Vietnamese", "vi"),
];

/// Language subtags of the `SQL_*` sort orders, by the name's prefix.
const SORT_ORDER_LANGUAGES: &[(&str, &str)] = &[
    ("SQL_Latin1_General_", "und"),
    ("SQL_Croatian_", "hr"),
    ("SQL_Czech_", "cs"),
    ("SQL_Danish_", "da"),
    ("SQL_Estonian_", "et"),
    ("SQL_Hungarian_", "hu"),
    ("SQL_Icelandic_", "is"),
    ("SQL_Latvian_", "lv"),
    ("SQL_Lithuanian_", "lt"),
    ("SQL_Polish_", "pl"),
    ("SQL_Romanian_", "ro"),
    ("SQL_Slovak_", "sk"),
    ("SQL_Slovenian_", "sl"),
    ("SQL_SwedishPhone_", "sv"),
    ("SQL_SwedishStd_", "sv"),
    ("SQL_Ukrainian_", "uk"),
];

/// The family part of a Windows collation name (`Latin1_General_100_CI_AS_SC` →
/// `Latin1_General`): everything before the version or the first sensitivity token.
fn family_of(name: &str) -> &str {
    let mut end = name.len();
    for tok in ["_90_", "_100_", "_140_", "_CI_", "_CS_", "_BIN"] {
        if let Some(i) = name.find(tok) {
            end = end.min(i);
        }
    }
    &name[..end]
}

/// What `c` becomes under `--case-insensitive icu` (see the module documentation).
pub fn choose(c: &Collation) -> CollationChoice {
    let display = c.name.clone().unwrap_or_else(|| format!("collation id 0x{:08X}", c.id));
    let refuse = |reason: String| CollationChoice::Refused { name: display.clone(), reason };
    let p = match CollationParts::parse(c.id) {
        Ok(p) => p,
        Err(e) => return refuse(format!("its id cannot be taken apart: {e}")),
    };
    if p.binary || p.binary2 {
        return CollationChoice::Unchanged;
    }
    let name = p.name();
    if p.sort_id != 0 {
        // The sort order's name must say what the flags say; else neither is trusted.
        let says_ci = name.contains("_CI_");
        let says_cs = name.contains("_CS_");
        let says_ai = name.ends_with("_AI");
        let says_as = name.ends_with("_AS");
        if !(says_ci || says_cs) || !(says_ai || says_as) {
            return refuse(format!("{name} is a SQL Server 2000 sort order whose comparison rules are not documented"));
        }
        if says_ci == p.case_sensitive || says_ai == p.accent_sensitive {
            return refuse(format!("the id 0x{:08X} and the sort order name {name} disagree on case/accent", c.id));
        }
    }
    if p.case_sensitive && p.accent_sensitive {
        return CollationChoice::Unchanged;
    }
    if p.kana_sensitive || p.width_sensitive {
        return refuse(format!(
            "{name} is kana- or width-sensitive: ICU at the strength that ignores {} also ignores kana and width",
            if p.case_sensitive { "accents" } else { "case" }
        ));
    }
    if p.variation_selector_sensitive {
        return refuse(format!("{name} is variation-selector sensitive (_VSS); ICU ignores variation selectors"));
    }
    let lang = if p.sort_id != 0 {
        SORT_ORDER_LANGUAGES.iter().find(|(prefix, _)| name.starts_with(prefix)).map(|(_, l)| *l)
    } else {
        let fam = family_of(&name);
        FAMILY_LANGUAGES.iter().find(|(f, _)| *f == fam).map(|(_, l)| *l)
    };
    let Some(lang) = lang else {
        return refuse(format!("{name}: no ICU language is known for this collation's family"));
    };
    let strength = match (p.case_sensitive, p.accent_sensitive) {
        (false, true) => "ks-level2",
        (false, false) => "ks-level1",
        (true, false) => "ks-level1-kc-true",
        (true, true) => unreachable!("returned above"),
    };
    // A tag that already has a `-u-` extension (`de-u-co-phonebk`) gets the keywords
    // appended to it; BCP 47 allows one `-u-` extension only.
    let locale = if lang.contains("-u-") { format!("{lang}-{strength}") } else { format!("{lang}-u-{strength}") };
    CollationChoice::Icu { name, locale }
}

/// A collation refused under [`CaseInsensitive::Icu`], and the columns that keep
/// PostgreSQL's comparison because of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedCollation {
    /// The collation's name, or its id when it has none.
    pub name: String,
    /// Why it is not expressed.
    pub reason: String,
    /// The columns, as `schema.table.column` (source names).
    pub columns: Vec<String>,
}

/// The collations of a database's columns under `mode`: the PostgreSQL collation per
/// SQL Server collation id (none for [`CaseInsensitive::Off`]), and the refusals with
/// the columns they concern (`schema.table.column`), also by id.
pub fn plan_collations<'a>(
    mode: CaseInsensitive,
    columns: impl Iterator<Item = (String, &'a Collation)>,
) -> (BTreeMap<u32, CollationPlan>, BTreeMap<u32, RefusedCollation>) {
    let mut created = BTreeMap::new();
    let mut refused: BTreeMap<u32, RefusedCollation> = BTreeMap::new();
    if mode == CaseInsensitive::Off {
        return (created, refused);
    }
    for (column, c) in columns {
        if created.contains_key(&c.id) {
            continue;
        }
        if let Some(r) = refused.get_mut(&c.id) {
            r.columns.push(column);
            continue;
        }
        match choose(c) {
            CollationChoice::Unchanged => {}
            CollationChoice::Icu { name, locale } => {
                created.insert(c.id, CollationPlan { schema: COLLATION_SCHEMA.into(), name, locale });
            }
            CollationChoice::Refused { name, reason } => {
                refused.insert(c.id, RefusedCollation { name, reason, columns: vec![column] });
            }
        }
    }
    (created, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(id: u32) -> CollationChoice {
        choose(&Collation::from_id(id).unwrap())
    }

    fn icu(name: &str, locale: &str) -> CollationChoice {
        CollationChoice::Icu { name: name.into(), locale: locale.into() }
    }

    #[test]
    fn ids_of_real_backups() {
        // Ids as the fixtures store them (see mssql_backup::collation).
        assert_eq!(choice(0x3400_D008), icu("SQL_Latin1_General_CP1_CI_AS", "und-u-ks-level2"));
        assert_eq!(choice(0xD008), icu("Latin1_General_CI_AS", "und-u-ks-level2"));
        assert_eq!(choice(0xD00B), icu("French_CI_AS", "fr-u-ks-level2"));
        assert_eq!(choice(0xD028), icu("Modern_Spanish_CI_AS", "es-u-ks-level2"));
        assert_eq!(choice(0xD015), icu("Cyrillic_General_CI_AS", "ru-u-ks-level2"));
    }

    #[test]
    fn sensitivity_flags() {
        // Latin1_General: bit 12 CI, 13 AI, 14 KI, 15 WI.
        assert_eq!(choice(0xF008), icu("Latin1_General_CI_AI", "und-u-ks-level1"));
        assert_eq!(choice(0xE008), icu("Latin1_General_CS_AI", "und-u-ks-level1-kc-true"));
        assert_eq!(choice(0xC008), CollationChoice::Unchanged, "CS_AS");
        assert_eq!(choice(0x0800 | 8), CollationChoice::Unchanged, "BIN2");
        assert_eq!(choice(0x1_0000 | 8), CollationChoice::Unchanged, "BIN");
        // Turkish keeps its own i/İ, ı/I.
        assert_eq!(choice(0xD01A), icu("Turkish_CI_AS", "tr-u-ks-level2"));
        assert_eq!(choice(0xD029), icu("German_PhoneBook_CI_AS", "de-u-co-phonebk-ks-level2"));
        // Version 100 with _SC.
        assert_eq!(choice(0x4_D108), icu("Latin1_General_100_CI_AS_SC", "und-u-ks-level2"));
    }

    #[test]
    fn sql_sort_orders_follow_their_names() {
        // SQL_Latin1_General_CP1_CI_AI (54) over Latin1_General_CI_AI.
        assert_eq!(choice(0x3600_F008), icu("SQL_Latin1_General_CP1_CI_AI", "und-u-ks-level1"));
        // SQL_Latin1_General_CP1_CS_AS (51).
        assert_eq!(choice(0x3300_C008), CollationChoice::Unchanged);
        // A sort order whose name and flags disagree is refused.
        assert!(matches!(choice(0x3400_C008), CollationChoice::Refused { .. }));
        assert!(matches!(choice(0x3300_D008), CollationChoice::Refused { .. }));
        // nocase_1252 (72) has no documented rules.
        assert!(matches!(choice(0x4800_D008), CollationChoice::Refused { .. }));
    }

    #[test]
    fn refused_by_name() {
        // Latin1_General_CI_AS_KS_WS: kana- and width-sensitive.
        let CollationChoice::Refused { name, reason } = choice(0x1008) else { panic!() };
        assert_eq!(name, "Latin1_General_CI_AS_KS_WS");
        assert!(reason.contains("kana- or width-sensitive"), "{reason}");
        // Maori (18) has no language in the table.
        assert!(matches!(choice(0xD012), CollationChoice::Refused { .. }));
        // An id that cannot be taken apart.
        let c = Collation { id: 0xD0FF, name: None, code_page: 1252 };
        let CollationChoice::Refused { name, .. } = choose(&c) else { panic!() };
        assert_eq!(name, "collation id 0x0000D0FF");
    }

    #[test]
    fn statements_quote() {
        let p = CollationPlan { schema: "public".into(), name: "a\"b".into(), locale: "und-u-ks-level2".into() };
        assert_eq!(
            p.create_statement(),
            r#"CREATE COLLATION "public"."a""b" (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"#
        );
        assert_eq!(p.collate_clause(), r#"COLLATE "public"."a""b""#);
    }

    #[test]
    fn option_spelling() {
        assert_eq!("icu".parse::<CaseInsensitive>(), Ok(CaseInsensitive::Icu));
        assert_eq!("off".parse::<CaseInsensitive>(), Ok(CaseInsensitive::Off));
        assert!("on".parse::<CaseInsensitive>().is_err());
        assert_eq!(CaseInsensitive::default(), CaseInsensitive::Off);
    }
}
