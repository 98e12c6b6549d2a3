//! SQL Server `geography` and `geometry` values as PostGIS values: a decoder of SQL
//! Server's serialisation into EWKB (PostGIS's extended well-known binary, with the SRID).
//!
//! # Source format
//! Microsoft's [MS-SSCLRT], section 2.1 ("GEOGRAPHY and GEOMETRY structure"), all
//! integers and doubles little-endian:
//!
//! | field | size | notes |
//! | --- | --- | --- |
//! | SRID | int32 | |
//! | version | 1 | 1 (SQL Server 2008+) or 2 (2012+: curves, FULLGLOBE, larger than a hemisphere) |
//! | properties | 1 | `0x01` Z values, `0x02` M values, `0x04` valid, `0x08` single point, `0x10` single line segment, `0x20` larger than a hemisphere (geography) |
//! | number of points | uint32 | absent for a single point or line segment |
//! | points | 16 each | geometry: x, y; **geography: latitude, then longitude** |
//! | Z values, M values | 8 each | one array per flag, after all the points |
//! | number of figures, figures | uint32, 5 each | attribute byte, offset of the figure's first point |
//! | number of shapes, shapes | uint32, 9 each | parent shape offset (int32, -1 at the top), first figure offset (int32, -1 when empty), OGC type byte |
//! | number of segments, segments | uint32, 1 each | version 2 only, with circular arcs |
//!
//! A single point is SRID, version, properties, the point, then its Z and M; a single
//! line segment the same with two points (`z1 z2 m1 m2`). Shapes are in pre-order: a
//! collection's children follow it and name it as their parent. Figure attributes are,
//! in version 1, 0 interior ring, 1 stroke, 2 exterior ring (all straight lines); in
//! version 2, 0 point, 1 line, 2 arc, 3 composite curve. OGC types: 1 Point,
//! 2 LineString, 3 Polygon, 4 MultiPoint, 5 MultiLineString, 6 MultiPolygon,
//! 7 GeometryCollection, 8 CircularString, 9 CompoundCurve, 10 CurvePolygon,
//! 11 FullGlobe.
//!
//! # Output
//! EWKB in little-endian (NDR) order as PostGIS itself writes it (`ST_AsEWKB(g, 'NDR')`):
//! the type word carries `0x80000000` for Z, `0x40000000` for M and `0x20000000` when an
//! SRID follows (top level only, and only for a non-zero SRID, as PostGIS omits SRID 0);
//! geography points as (longitude, latitude); an empty point as NaN coordinates. Writing
//! exactly PostGIS's form is what lets validation compare the bytes sent with
//! `ST_AsEWKB` of what PostgreSQL holds.
//!
//! # Refused, by name and byte offset ([`Refusal`])
//! Circular arcs (CircularString, CompoundCurve, CurvePolygon, arc figures and segments),
//! FULLGLOBE and geography larger than a hemisphere (PostGIS has no equivalent: it takes
//! the smaller side of a ring), geography coordinates PostGIS would move (latitude outside
//! ±90°, longitude outside ±180°), non-finite coordinates, unknown versions, property bits,
//! figure attributes and shape types, and any structure whose counts and offsets do not
//! account for every point and figure exactly once (that check is the decoder's own
//! evidence: the points written must equal the header's point count).
//!
//! [MS-SSCLRT]: https://learn.microsoft.com/en-us/openspecs/sql_server_protocols/ms-ssclrt/

use serde::{Deserialize, Serialize};

/// Which of the two SQL Server spatial types a value is (they share the serialisation;
/// geography stores latitude before longitude).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpatialKind {
    /// `geography`: ellipsoidal coordinates, points stored (latitude, longitude).
    Geography,
    /// `geometry`: planar coordinates, points stored (x, y).
    Geometry,
}

impl SpatialKind {
    /// The type name, the same in SQL Server and PostGIS.
    pub fn name(self) -> &'static str {
        match self {
            SpatialKind::Geography => "geography",
            SpatialKind::Geometry => "geometry",
        }
    }
}

/// Whether `geography`/`geometry` columns become PostGIS columns (`--postgis`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostgisMode {
    /// Raw bytes in `bytea`, as before PostGIS support (the library default, so that
    /// plans made without a target, such as the pipeline's, do not depend on one).
    #[default]
    Off,
    /// PostGIS types when the target server offers the extension and the role may create
    /// it; otherwise `bytea`, with the reason in the report. The command line's default.
    Auto,
}

impl std::str::FromStr for PostgisMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(PostgisMode::Auto),
            "off" => Ok(PostgisMode::Off),
            other => Err(format!("--postgis takes auto or off, not {other:?}")),
        }
    }
}

/// Why a value was not converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The value ends before a field the structure announces.
    #[error("the value ends before its {0} ({1} bytes long)")]
    Truncated(&'static str, usize),
    /// A serialisation version other than 1 and 2.
    #[error("serialisation version {0} is not described by MS-SSCLRT (1 and 2 are)")]
    Version(u8),
    /// Property bits the specification does not define, or a contradictory set.
    #[error("properties byte 0x{0:02x} is not understood")]
    Properties(u8),
    /// Circular arcs: CircularString, CompoundCurve, CurvePolygon, arc figures, segments.
    #[error("circular arcs ({0}) are not converted to PostGIS")]
    CircularArcs(&'static str),
    /// FULLGLOBE: PostGIS has no value for the whole globe.
    #[error("FULLGLOBE has no PostGIS equivalent")]
    FullGlobe,
    /// A geography larger than a hemisphere: PostGIS geography would take the other side.
    #[error("a geography larger than a hemisphere: PostGIS geography would take the smaller side of its rings")]
    LargerThanHemisphere,
    /// An OGC type byte outside 1..=11.
    #[error("shape type {0} is not understood")]
    ShapeType(u8),
    /// A figure attribute outside the version's values.
    #[error("figure attribute {0} is not understood in version {1}")]
    FigureAttribute(u8, u8),
    /// Counts and offsets that do not make one tree using every point and figure once.
    #[error("inconsistent structure: {0}")]
    Structure(String),
    /// A coordinate PostGIS would not keep as it is.
    #[error("{0}")]
    Coordinate(String),
    /// Bytes after the last field.
    #[error("{0} bytes after the end of the structure")]
    Trailing(usize),
}

/// A value that cannot be converted: what, and where in the value's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} value refused at byte {offset} of {len}: {refusal}")]
pub struct SpatialError {
    /// `geography` or `geometry`.
    pub kind: &'static str,
    /// Byte offset in the SQL Server value where the problem was found.
    pub offset: usize,
    /// The value's length in bytes.
    pub len: usize,
    /// What was refused.
    pub refusal: Refusal,
}

/// A converted value.
#[derive(Debug, Clone, PartialEq)]
pub struct Ewkb {
    /// EWKB, little-endian, SRID included when not 0.
    pub bytes: Vec<u8>,
    /// The SRID of the SQL Server value.
    pub srid: i32,
    /// Points written, equal to the header's point count (checked).
    pub points: u32,
}

const WKB_Z: u32 = 0x8000_0000;
const WKB_M: u32 = 0x4000_0000;
const WKB_SRID: u32 = 0x2000_0000;

const PROP_Z: u8 = 0x01;
const PROP_M: u8 = 0x02;
const PROP_VALID: u8 = 0x04;
const PROP_POINT: u8 = 0x08;
const PROP_SEGMENT: u8 = 0x10;
const PROP_HEMISPHERE: u8 = 0x20;

/// Little-endian reader that knows its offset, for refusals that say where.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], (usize, Refusal)> {
        match self.pos.checked_add(n).filter(|&end| end <= self.b.len()) {
            Some(end) => {
                let s = &self.b[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err((self.pos, Refusal::Truncated(what, n))),
        }
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, (usize, Refusal)> {
        Ok(self.take(1, what)?[0])
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, (usize, Refusal)> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, (usize, Refusal)> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    /// `n` doubles, as a slice of their bytes (checked for length before any allocation).
    fn doubles(&mut self, n: usize, what: &'static str) -> Result<(usize, &'a [u8]), (usize, Refusal)> {
        let at = self.pos;
        let len = n.checked_mul(8).ok_or((at, Refusal::Truncated(what, usize::MAX)))?;
        Ok((at, self.take(len, what)?))
    }
}

fn f64_at(s: &[u8], i: usize) -> f64 {
    f64::from_le_bytes(s[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

/// The decoded arrays, and how to write points of them.
struct Points<'a> {
    kind: SpatialKind,
    /// Point pairs as stored (x, y) or (latitude, longitude), and where they start.
    xy: &'a [u8],
    xy_at: usize,
    z: Option<&'a [u8]>,
    m: Option<&'a [u8]>,
    written: u32,
}

impl Points<'_> {
    fn count(&self) -> usize {
        self.xy.len() / 16
    }

    /// Appends point `i` as WKB ordinates (x y [z] [m]); geography as (longitude, latitude).
    fn write(&mut self, out: &mut Vec<u8>, i: usize) -> Result<(), (usize, Refusal)> {
        let at = self.xy_at + i * 16;
        let (a, b) = (f64_at(self.xy, 2 * i), f64_at(self.xy, 2 * i + 1));
        if !a.is_finite() || !b.is_finite() {
            return Err((at, Refusal::Coordinate(format!("point {i} has a non-finite coordinate ({a}, {b})"))));
        }
        let (x, y) = match self.kind {
            SpatialKind::Geometry => (a, b),
            SpatialKind::Geography => {
                if !(-90.0..=90.0).contains(&a) {
                    return Err((at, Refusal::Coordinate(format!("point {i} has latitude {a}, outside ±90°"))));
                }
                if !(-180.0..=180.0).contains(&b) {
                    return Err((
                        at,
                        Refusal::Coordinate(format!(
                            "point {i} has longitude {b}, outside ±180° (PostGIS geography would wrap it)"
                        )),
                    ));
                }
                (b, a)
            }
        };
        out.extend_from_slice(&x.to_le_bytes());
        out.extend_from_slice(&y.to_le_bytes());
        for arr in [self.z, self.m].into_iter().flatten() {
            out.extend_from_slice(&arr[i * 8..i * 8 + 8]);
        }
        self.written += 1;
        Ok(())
    }

    fn write_empty_point(&self, out: &mut Vec<u8>) {
        let dims = 2 + usize::from(self.z.is_some()) + usize::from(self.m.is_some());
        for _ in 0..dims {
            out.extend_from_slice(&f64::NAN.to_le_bytes());
        }
    }
}

/// One figure: its attribute and the range of its points.
#[derive(Clone, Copy)]
struct Figure {
    start: usize,
    end: usize,
}

/// One shape: parent, the range of its own figures, and type.
#[derive(Clone, Copy)]
struct Shape {
    ty: u8,
    figures: (usize, usize),
    at: usize,
}

struct Writer<'a, 'p> {
    points: &'p mut Points<'a>,
    figures: Vec<Figure>,
    shapes: Vec<Shape>,
    children: Vec<Vec<usize>>,
    flags: u32,
    srid: i32,
    figures_used: usize,
}

fn wkb_type(ty: u8) -> u32 {
    u32::from(ty)
}

impl Writer<'_, '_> {
    fn header(&self, out: &mut Vec<u8>, ty: u8, top: bool) {
        out.push(1);
        let srid = top && self.srid != 0;
        out.extend_from_slice(&(wkb_type(ty) | self.flags | if srid { WKB_SRID } else { 0 }).to_le_bytes());
        if srid {
            out.extend_from_slice(&self.srid.to_le_bytes());
        }
    }

    fn ring(&mut self, out: &mut Vec<u8>, f: Figure) -> Result<(), (usize, Refusal)> {
        out.extend_from_slice(&((f.end - f.start) as u32).to_le_bytes());
        for i in f.start..f.end {
            self.points.write(out, i)?;
        }
        Ok(())
    }

    fn shape(&mut self, out: &mut Vec<u8>, i: usize, top: bool) -> Result<(), (usize, Refusal)> {
        let s = self.shapes[i];
        let own = &self.figures[s.figures.0..s.figures.1];
        let own: Vec<Figure> = own.to_vec();
        self.figures_used += own.len();
        match s.ty {
            1..=3 if !self.children[i].is_empty() => {
                return Err((s.at, Refusal::Structure(format!("shape {i} of type {} has child shapes", s.ty))));
            }
            4..=7 if !own.is_empty() => {
                return Err((s.at, Refusal::Structure(format!("collection shape {i} has figures of its own"))));
            }
            _ => {}
        }
        self.header(out, s.ty, top);
        match s.ty {
            1 => match own.as_slice() {
                [] => self.points.write_empty_point(out),
                [f] if f.end - f.start == 1 => self.points.write(out, f.start)?,
                _ => {
                    return Err((s.at, Refusal::Structure(format!("point shape {i} is not one figure of one point"))));
                }
            },
            2 => match own.as_slice() {
                [] => out.extend_from_slice(&0u32.to_le_bytes()),
                [f] => self.ring(out, *f)?,
                _ => return Err((s.at, Refusal::Structure(format!("line string shape {i} has several figures")))),
            },
            3 => {
                out.extend_from_slice(&(own.len() as u32).to_le_bytes());
                for f in own {
                    self.ring(out, f)?;
                }
            }
            4..=7 => {
                let children = self.children[i].clone();
                out.extend_from_slice(&(children.len() as u32).to_le_bytes());
                for c in children {
                    let want = match s.ty {
                        4 => Some(1),
                        5 => Some(2),
                        6 => Some(3),
                        _ => None,
                    };
                    if want.is_some_and(|w| w != self.shapes[c].ty) {
                        return Err((
                            self.shapes[c].at,
                            Refusal::Structure(format!(
                                "shape {c} of type {} inside a shape of type {}",
                                self.shapes[c].ty, s.ty
                            )),
                        ));
                    }
                    self.shape(out, c, false)?;
                }
            }
            _ => unreachable!("shape types are checked when read"),
        }
        Ok(())
    }
}

/// Converts one SQL Server `geography`/`geometry` value (its serialised bytes) into EWKB.
///
/// # Errors
/// A [`SpatialError`] naming what was refused and the byte offset where (see the module
/// docs for the list); nothing is ever guessed.
pub fn to_ewkb(raw: &[u8], kind: SpatialKind) -> Result<Ewkb, SpatialError> {
    decode(raw, kind).map_err(|(offset, refusal)| SpatialError { kind: kind.name(), offset, len: raw.len(), refusal })
}

fn decode(raw: &[u8], kind: SpatialKind) -> Result<Ewkb, (usize, Refusal)> {
    let mut r = Reader { b: raw, pos: 0 };
    let srid = r.i32("SRID")?;
    let version = r.u8("version")?;
    if !matches!(version, 1 | 2) {
        return Err((4, Refusal::Version(version)));
    }
    let props = r.u8("properties")?;
    let known = PROP_Z | PROP_M | PROP_VALID | PROP_POINT | PROP_SEGMENT | PROP_HEMISPHERE;
    if props & !known != 0 || (props & PROP_POINT != 0 && props & PROP_SEGMENT != 0) {
        return Err((5, Refusal::Properties(props)));
    }
    if props & PROP_HEMISPHERE != 0 {
        return Err(match kind {
            SpatialKind::Geography => (5, Refusal::LargerThanHemisphere),
            SpatialKind::Geometry => (5, Refusal::Properties(props)),
        });
    }
    if kind == SpatialKind::Geography && srid == 0 {
        return Err((0, Refusal::Coordinate("a geography with SRID 0".into())));
    }
    // PostGIS keeps SRIDs 0..=999999 and would change others (clamp_srid).
    if !(0..=999_999).contains(&srid) {
        return Err((0, Refusal::Coordinate(format!("SRID {srid} is outside PostGIS's 0..999999"))));
    }
    let (has_z, has_m) = (props & PROP_Z != 0, props & PROP_M != 0);
    let single = if props & PROP_POINT != 0 {
        Some(1)
    } else if props & PROP_SEGMENT != 0 {
        Some(2)
    } else {
        None
    };
    let n = match single {
        Some(n) => n,
        None => r.u32("number of points")? as usize,
    };
    let (xy_at, xy) = r.doubles(n.saturating_mul(2), "points")?;
    let z = if has_z { Some(r.doubles(n, "Z values")?.1) } else { None };
    let m = if has_m { Some(r.doubles(n, "M values")?.1) } else { None };
    let mut points = Points { kind, xy, xy_at, z, m, written: 0 };
    let flags = if has_z { WKB_Z } else { 0 } | if has_m { WKB_M } else { 0 };

    let (figures, shapes, children) = match single {
        Some(1) => (vec![Figure { start: 0, end: 1 }], vec![Shape { ty: 1, figures: (0, 1), at: 5 }], vec![vec![]]),
        Some(_) => (vec![Figure { start: 0, end: 2 }], vec![Shape { ty: 2, figures: (0, 1), at: 5 }], vec![vec![]]),
        None => read_tree(&mut r, version, n)?,
    };
    if r.pos != raw.len() {
        return Err((r.pos, Refusal::Trailing(raw.len() - r.pos)));
    }
    let nfig = figures.len();
    let mut out = Vec::with_capacity(16 + raw.len());
    let mut w = Writer { points: &mut points, figures, shapes, children, flags, srid, figures_used: 0 };
    w.shape(&mut out, 0, true)?;
    let used = w.figures_used;
    if used != nfig || points.written as usize != points.count() {
        return Err((
            5,
            Refusal::Structure(format!(
                "{} of {} points and {used} of {nfig} figures belong to a shape",
                points.written,
                points.count()
            )),
        ));
    }
    Ok(Ewkb { bytes: out, srid, points: points.written })
}

type Tree = (Vec<Figure>, Vec<Shape>, Vec<Vec<usize>>);

/// Reads figures, shapes (and, in version 2, segments) after the point arrays, and checks
/// that they form one tree over contiguous, ordered point and figure ranges.
fn read_tree(r: &mut Reader<'_>, version: u8, npoints: usize) -> Result<Tree, (usize, Refusal)> {
    let nfig_at = r.pos;
    let nfig = r.u32("number of figures")? as usize;
    // Five bytes each: refuse a count the value cannot hold before allocating for it.
    if nfig.saturating_mul(5) > r.b.len() - r.pos {
        return Err((nfig_at, Refusal::Truncated("figures", nfig.saturating_mul(5))));
    }
    let mut starts = Vec::with_capacity(nfig);
    for k in 0..nfig {
        let at = r.pos;
        let attr = r.u8("figure attribute")?;
        match (version, attr) {
            (1, 0..=2) | (2, 0 | 1) => {}
            (2, 2) => return Err((at, Refusal::CircularArcs("an arc figure"))),
            (2, 3) => return Err((at, Refusal::CircularArcs("a composite curve figure"))),
            _ => return Err((at, Refusal::FigureAttribute(attr, version))),
        }
        let start = r.u32("figure point offset")? as usize;
        let prev = starts.last().copied().unwrap_or(0);
        if (k == 0 && start != 0) || start < prev || start > npoints {
            return Err((at + 1, Refusal::Structure(format!("figure {k} starts at point {start}"))));
        }
        starts.push(start);
    }
    let figures: Vec<Figure> =
        (0..nfig).map(|k| Figure { start: starts[k], end: starts.get(k + 1).copied().unwrap_or(npoints) }).collect();
    if nfig == 0 && npoints != 0 {
        return Err((nfig_at, Refusal::Structure(format!("{npoints} points and no figure"))));
    }

    let nshape_at = r.pos;
    let nshape = r.u32("number of shapes")? as usize;
    if nshape == 0 {
        return Err((nshape_at, Refusal::Structure("no shape".into())));
    }
    if nshape.saturating_mul(9) > r.b.len() - r.pos {
        return Err((nshape_at, Refusal::Truncated("shapes", nshape.saturating_mul(9))));
    }
    let mut raw_shapes = Vec::with_capacity(nshape);
    let mut children = vec![Vec::new(); nshape];
    for k in 0..nshape {
        let at = r.pos;
        let parent = r.i32("shape parent offset")?;
        let first = r.i32("shape figure offset")?;
        let ty = r.u8("shape type")?;
        match ty {
            1..=7 => {}
            8 => return Err((at + 8, Refusal::CircularArcs("CircularString"))),
            9 => return Err((at + 8, Refusal::CircularArcs("CompoundCurve"))),
            10 => return Err((at + 8, Refusal::CircularArcs("CurvePolygon"))),
            11 => return Err((at + 8, Refusal::FullGlobe)),
            other => return Err((at + 8, Refusal::ShapeType(other))),
        }
        match (k, parent) {
            (0, -1) => {}
            (0, p) => return Err((at, Refusal::Structure(format!("the first shape has parent {p}")))),
            (_, p) if p >= 0 && (p as usize) < k && matches!(raw_shapes[p as usize], (_, 4..=7, _)) => {
                children[p as usize].push(k);
            }
            (_, p) => return Err((at, Refusal::Structure(format!("shape {k} has parent {p}")))),
        }
        if first < -1 || (first >= 0 && first as usize > nfig) {
            return Err((at + 4, Refusal::Structure(format!("shape {k} starts at figure {first}"))));
        }
        raw_shapes.push((first, ty, at));
    }
    // A shape's own figures run from its first figure to the next shape's that has one
    // (collections start where their first child does, so they own none).
    let mut shapes = Vec::with_capacity(nshape);
    let mut last_first = 0usize;
    for k in 0..nshape {
        let (first, ty, at) = raw_shapes[k];
        let figures = if first < 0 {
            (0, 0)
        } else {
            let start = first as usize;
            if start < last_first {
                return Err((
                    at + 4,
                    Refusal::Structure(format!("shape {k} starts at figure {start}, before the last")),
                ));
            }
            last_first = start;
            let end = raw_shapes[k + 1..].iter().find(|(f, ..)| *f >= 0).map_or(nfig, |(f, ..)| *f as usize);
            if end < start {
                return Err((at + 4, Refusal::Structure(format!("shape {k} ends at figure {end}"))));
            }
            (start, end)
        };
        shapes.push(Shape { ty, figures, at });
    }
    if version == 2 && r.pos < r.b.len() {
        let at = r.pos;
        let nseg = r.u32("number of segments")?;
        if nseg > 0 {
            return Err((at, Refusal::CircularArcs("segments")));
        }
    }
    Ok((figures, shapes, children))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a SQL Server value from the layout in the module docs.
    struct Sql {
        b: Vec<u8>,
    }

    impl Sql {
        fn new(srid: i32, version: u8, props: u8) -> Self {
            let mut b = srid.to_le_bytes().to_vec();
            b.push(version);
            b.push(props);
            Sql { b }
        }
        fn u32(mut self, x: u32) -> Self {
            self.b.extend_from_slice(&x.to_le_bytes());
            self
        }
        fn f(mut self, xs: &[f64]) -> Self {
            for x in xs {
                self.b.extend_from_slice(&x.to_le_bytes());
            }
            self
        }
        fn figures(mut self, f: &[(u8, u32)]) -> Self {
            self.b.extend_from_slice(&(f.len() as u32).to_le_bytes());
            for (a, o) in f {
                self.b.push(*a);
                self.b.extend_from_slice(&o.to_le_bytes());
            }
            self
        }
        fn shapes(mut self, s: &[(i32, i32, u8)]) -> Self {
            self.b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            for (p, f, t) in s {
                self.b.extend_from_slice(&p.to_le_bytes());
                self.b.extend_from_slice(&f.to_le_bytes());
                self.b.push(*t);
            }
            self
        }
    }

    /// Builds the expected EWKB by hand.
    struct Wkb(Vec<u8>);

    impl Wkb {
        fn geom(ty: u32, srid: Option<i32>) -> Self {
            let mut b = vec![1];
            b.extend_from_slice(&(ty | if srid.is_some() { WKB_SRID } else { 0 }).to_le_bytes());
            if let Some(s) = srid {
                b.extend_from_slice(&s.to_le_bytes());
            }
            Wkb(b)
        }
        fn u32(mut self, x: u32) -> Self {
            self.0.extend_from_slice(&x.to_le_bytes());
            self
        }
        fn f(mut self, xs: &[f64]) -> Self {
            for x in xs {
                self.0.extend_from_slice(&x.to_le_bytes());
            }
            self
        }
        fn sub(mut self, ty: u32) -> Self {
            self.0.push(1);
            self.0.extend_from_slice(&ty.to_le_bytes());
            self
        }
    }

    fn ok(raw: &Sql, kind: SpatialKind) -> Ewkb {
        to_ewkb(&raw.b, kind).unwrap_or_else(|e| panic!("{e}"))
    }

    fn refused(raw: &Sql, kind: SpatialKind) -> SpatialError {
        to_ewkb(&raw.b, kind).expect_err("refused")
    }

    #[test]
    fn single_point_geography_swaps_to_longitude_latitude() {
        // POINT(-122.35 47.65) in geography: latitude 47.65 stored first.
        let raw = Sql::new(4326, 1, PROP_VALID | PROP_POINT).f(&[47.65, -122.35]);
        let got = ok(&raw, SpatialKind::Geography);
        assert_eq!(got.bytes, Wkb::geom(1, Some(4326)).f(&[-122.35, 47.65]).0);
        assert_eq!((got.srid, got.points), (4326, 1));
        // The same bytes as geometry keep their order, and SRID 0 is not written.
        let raw = Sql::new(0, 1, PROP_VALID | PROP_POINT).f(&[3.0, 4.0]);
        assert_eq!(ok(&raw, SpatialKind::Geometry).bytes, Wkb::geom(1, None).f(&[3.0, 4.0]).0);
    }

    #[test]
    fn single_point_with_z_and_m() {
        let raw = Sql::new(0, 1, PROP_VALID | PROP_POINT | PROP_Z | PROP_M).f(&[1.0, 2.0, 3.0, 4.0]);
        let want = Wkb::geom(1 | WKB_Z | WKB_M, None).f(&[1.0, 2.0, 3.0, 4.0]).0;
        assert_eq!(ok(&raw, SpatialKind::Geometry).bytes, want);
    }

    #[test]
    fn single_line_segment_with_z() {
        // Points, then z1 z2.
        let raw = Sql::new(4326, 1, PROP_VALID | PROP_SEGMENT | PROP_Z).f(&[10.0, 20.0, 11.0, 21.0, 5.0, 6.0]);
        let want = Wkb::geom(2 | WKB_Z, Some(4326)).u32(2).f(&[20.0, 10.0, 5.0, 21.0, 11.0, 6.0]).0;
        let got = ok(&raw, SpatialKind::Geography);
        assert_eq!(got.bytes, want);
        assert_eq!(got.points, 2);
    }

    #[test]
    fn linestring_of_three_points() {
        let raw = Sql::new(0, 1, PROP_VALID)
            .u32(3)
            .f(&[0.0, 0.0, 1.0, 1.0, 2.0, 0.0])
            .figures(&[(1, 0)])
            .shapes(&[(-1, 0, 2)]);
        assert_eq!(ok(&raw, SpatialKind::Geometry).bytes, Wkb::geom(2, None).u32(3).f(&[0., 0., 1., 1., 2., 0.]).0);
    }

    #[test]
    fn polygon_with_a_hole() {
        let outer = [0., 0., 10., 0., 10., 10., 0., 10., 0., 0.];
        let inner = [2., 2., 2., 3., 3., 3., 2., 2.];
        let mut pts = outer.to_vec();
        pts.extend_from_slice(&inner);
        let raw = Sql::new(32633, 1, PROP_VALID).u32(9).f(&pts).figures(&[(2, 0), (0, 5)]).shapes(&[(-1, 0, 3)]);
        let want = Wkb::geom(3, Some(32633)).u32(2).u32(5).f(&outer).u32(4).f(&inner).0;
        let got = ok(&raw, SpatialKind::Geometry);
        assert_eq!(got.bytes, want);
        assert_eq!(got.points, 9);
    }

    #[test]
    fn multipoint_multilinestring_multipolygon() {
        let raw = Sql::new(0, 1, PROP_VALID).u32(2).f(&[1., 2., 3., 4.]).figures(&[(1, 0), (1, 1)]).shapes(&[
            (-1, 0, 4),
            (0, 0, 1),
            (0, 1, 1),
        ]);
        let want = Wkb::geom(4, None).u32(2).sub(1).f(&[1., 2.]).sub(1).f(&[3., 4.]).0;
        assert_eq!(ok(&raw, SpatialKind::Geometry).bytes, want);

        let raw = Sql::new(0, 1, PROP_VALID)
            .u32(4)
            .f(&[0., 0., 1., 1., 5., 5., 6., 6.])
            .figures(&[(1, 0), (1, 2)])
            .shapes(&[(-1, 0, 5), (0, 0, 2), (0, 1, 2)]);
        let want = Wkb::geom(5, None).u32(2).sub(2).u32(2).f(&[0., 0., 1., 1.]).sub(2).u32(2).f(&[5., 5., 6., 6.]).0;
        assert_eq!(ok(&raw, SpatialKind::Geometry).bytes, want);

        let a = [0., 0., 1., 0., 1., 1., 0., 0.];
        let b = [5., 5., 6., 5., 6., 6., 5., 5.];
        let pts: Vec<f64> = a.iter().chain(&b).copied().collect();
        let raw = Sql::new(0, 1, PROP_VALID).u32(8).f(&pts).figures(&[(2, 0), (2, 4)]).shapes(&[
            (-1, 0, 6),
            (0, 0, 3),
            (0, 1, 3),
        ]);
        let want = Wkb::geom(6, None).u32(2).sub(3).u32(1).u32(4).f(&a).sub(3).u32(1).u32(4).f(&b).0;
        assert_eq!(ok(&raw, SpatialKind::Geometry).bytes, want);
    }

    #[test]
    fn collection_with_a_point_a_line_and_an_empty_point() {
        // GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 3 3), POINT EMPTY) with Z.
        let raw = Sql::new(4326, 1, PROP_VALID | PROP_Z)
            .u32(3)
            .f(&[2., 1., 0., 0., 3., 3.])
            .f(&[7., 8., 9.])
            .figures(&[(1, 0), (1, 1)])
            .shapes(&[(-1, 0, 7), (0, 0, 1), (0, 1, 2), (0, -1, 1)]);
        let nan = f64::NAN;
        let want = Wkb::geom(7 | WKB_Z, Some(4326))
            .u32(3)
            .sub(1 | WKB_Z)
            .f(&[1., 2., 7.])
            .sub(2 | WKB_Z)
            .u32(2)
            .f(&[0., 0., 8., 3., 3., 9.])
            .sub(1 | WKB_Z)
            .f(&[nan, nan, nan])
            .0;
        let got = ok(&raw, SpatialKind::Geography);
        assert_eq!(got.bytes, want);
        assert_eq!(got.points, 3);
    }

    #[test]
    fn empties() {
        // POINT EMPTY and GEOMETRYCOLLECTION EMPTY: no points, no figures, one shape.
        let raw = Sql::new(4326, 1, PROP_VALID).u32(0).figures(&[]).shapes(&[(-1, -1, 1)]);
        let nan = f64::NAN;
        assert_eq!(ok(&raw, SpatialKind::Geography).bytes, Wkb::geom(1, Some(4326)).f(&[nan, nan]).0);
        let raw = Sql::new(0, 1, PROP_VALID).u32(0).figures(&[]).shapes(&[(-1, -1, 7)]);
        assert_eq!(ok(&raw, SpatialKind::Geometry).bytes, Wkb::geom(7, None).u32(0).0);
    }

    #[test]
    fn refusals_name_the_cause_and_offset() {
        let g = SpatialKind::Geography;
        let e = refused(&Sql::new(4326, 3, 0), g);
        assert_eq!((e.offset, e.refusal.clone()), (4, Refusal::Version(3)));
        assert_eq!(
            e.to_string(),
            "geography value refused at byte 4 of 6: serialisation version 3 is not described by MS-SSCLRT (1 and 2 are)"
        );
        assert_eq!(refused(&Sql::new(4326, 1, 0x40), g).refusal, Refusal::Properties(0x40));
        assert_eq!(refused(&Sql::new(4326, 1, PROP_POINT | PROP_SEGMENT), g).refusal, Refusal::Properties(0x18));
        assert_eq!(refused(&Sql::new(4326, 2, PROP_HEMISPHERE), g).refusal, Refusal::LargerThanHemisphere);
        // Truncated single point.
        let e = refused(&Sql::new(4326, 1, PROP_POINT).f(&[1.0]), g);
        assert_eq!((e.offset, e.refusal), (6, Refusal::Truncated("points", 16)));
        // A longitude PostGIS would wrap.
        let e = refused(&Sql::new(4326, 1, PROP_POINT).f(&[10.0, 190.0]), g);
        assert!(matches!(e.refusal, Refusal::Coordinate(ref s) if s.contains("longitude 190")), "{e}");
        // Trailing bytes.
        let e = refused(&Sql::new(4326, 1, PROP_POINT).f(&[1.0, 2.0, 3.0]), g);
        assert_eq!((e.offset, e.refusal), (22, Refusal::Trailing(8)));
        // A huge point count is refused before anything is allocated.
        let e = refused(&Sql::new(0, 1, 0).u32(u32::MAX), SpatialKind::Geometry);
        assert!(matches!(e.refusal, Refusal::Truncated("points", _)), "{e}");
    }

    #[test]
    fn curves_and_fullglobe_are_refused_by_name() {
        let geo = SpatialKind::Geometry;
        // CIRCULARSTRING(0 0, 1 1, 2 0): version 2, an arc figure.
        let raw =
            Sql::new(0, 2, PROP_VALID).u32(3).f(&[0., 0., 1., 1., 2., 0.]).figures(&[(2, 0)]).shapes(&[(-1, 0, 8)]);
        let e = refused(&raw, geo);
        assert_eq!((e.offset, e.refusal), (62, Refusal::CircularArcs("an arc figure")));
        // The same with a line figure: refused at the shape type.
        let raw =
            Sql::new(0, 2, PROP_VALID).u32(3).f(&[0., 0., 1., 1., 2., 0.]).figures(&[(1, 0)]).shapes(&[(-1, 0, 8)]);
        assert_eq!(refused(&raw, geo).refusal, Refusal::CircularArcs("CircularString"));
        // FULLGLOBE: no points, no figures, one shape of type 11.
        let raw = Sql::new(4326, 2, PROP_VALID).u32(0).figures(&[]).shapes(&[(-1, -1, 11)]);
        assert_eq!(refused(&raw, SpatialKind::Geography).refusal, Refusal::FullGlobe);
        // Segments after a linear shape in version 2.
        let raw =
            Sql::new(0, 2, PROP_VALID).u32(2).f(&[0., 0., 1., 1.]).figures(&[(1, 0)]).shapes(&[(-1, 0, 2)]).u32(1);
        let mut raw = raw;
        raw.b.push(0);
        assert_eq!(refused(&raw, geo).refusal, Refusal::CircularArcs("segments"));
        // Unknown shape type and figure attribute.
        let raw = Sql::new(0, 1, 0).u32(1).f(&[0., 0.]).figures(&[(1, 0)]).shapes(&[(-1, 0, 12)]);
        assert_eq!(refused(&raw, geo).refusal, Refusal::ShapeType(12));
        let raw = Sql::new(0, 1, 0).u32(1).f(&[0., 0.]).figures(&[(3, 0)]).shapes(&[(-1, 0, 1)]);
        assert_eq!(refused(&raw, geo).refusal, Refusal::FigureAttribute(3, 1));
    }

    #[test]
    fn structure_must_use_every_point_once() {
        let geo = SpatialKind::Geometry;
        // A point shape whose figure holds two points.
        let raw = Sql::new(0, 1, 0).u32(2).f(&[0., 0., 1., 1.]).figures(&[(1, 0)]).shapes(&[(-1, 0, 1)]);
        assert!(matches!(refused(&raw, geo).refusal, Refusal::Structure(_)));
        // A figure no shape owns: a multipoint whose second child is missing.
        let raw =
            Sql::new(0, 1, 0).u32(2).f(&[0., 0., 1., 1.]).figures(&[(1, 0), (1, 1)]).shapes(&[(-1, 0, 4), (0, 0, 1)]);
        assert!(matches!(refused(&raw, geo).refusal, Refusal::Structure(_)));
        // A child naming a non-collection parent.
        let raw =
            Sql::new(0, 1, 0).u32(2).f(&[0., 0., 1., 1.]).figures(&[(1, 0), (1, 1)]).shapes(&[(-1, 0, 1), (0, 1, 1)]);
        assert!(matches!(refused(&raw, geo).refusal, Refusal::Structure(_)));
        // A multipolygon holding a point.
        let raw = Sql::new(0, 1, 0).u32(1).f(&[0., 0.]).figures(&[(1, 0)]).shapes(&[(-1, 0, 6), (0, 0, 1)]);
        assert!(matches!(refused(&raw, geo).refusal, Refusal::Structure(_)));
        // Figures out of order.
        let raw = Sql::new(0, 1, 0).u32(2).f(&[0., 0., 1., 1.]).figures(&[(1, 1), (1, 0)]).shapes(&[(-1, 0, 2)]);
        assert!(matches!(refused(&raw, geo).refusal, Refusal::Structure(_)));
    }
}
