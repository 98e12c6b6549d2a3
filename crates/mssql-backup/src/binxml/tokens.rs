//! The token values of binary XML ([MS-BINXML]; `BinXmlToken.cs` of dotnet/runtime's
//! `XmlSqlBinaryReader`), and which of them are typed values.

pub(super) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

// Structure tokens (dotnet/runtime BinXmlToken.cs).
pub(super) const T_XMLDECL: u8 = 0xFE;
pub(super) const T_ENCODING: u8 = 0xFD;
pub(super) const T_DOCTYPE: u8 = 0xFC;
pub(super) const T_SYSTEM: u8 = 0xFB;
pub(super) const T_PUBLIC: u8 = 0xFA;
pub(super) const T_SUBSET: u8 = 0xF9;
pub(super) const T_ELEMENT: u8 = 0xF8;
pub(super) const T_ENDELEM: u8 = 0xF7;
pub(super) const T_ATTR: u8 = 0xF6;
pub(super) const T_ENDATTRS: u8 = 0xF5;
pub(super) const T_PI: u8 = 0xF4;
pub(super) const T_COMMENT: u8 = 0xF3;
pub(super) const T_CDATA: u8 = 0xF2;
pub(super) const T_ENDCDATA: u8 = 0xF1;
pub(super) const T_NAME: u8 = 0xF0;
pub(super) const T_QNAME: u8 = 0xEF;
pub(super) const T_XMLTEXT: u8 = 0xED;
pub(super) const T_NEST: u8 = 0xEC;
pub(super) const T_ENDNEST: u8 = 0xEB;
pub(super) const T_EXTN: u8 = 0xEA;
pub(super) const T_NMFLUSH: u8 = 0xE9;

// Typed value tokens.
pub(super) const SQL_SMALLINT: u8 = 0x01;
pub(super) const SQL_INT: u8 = 0x02;
pub(super) const SQL_REAL: u8 = 0x03;
pub(super) const SQL_FLOAT: u8 = 0x04;
pub(super) const SQL_MONEY: u8 = 0x05;
pub(super) const SQL_BIT: u8 = 0x06;
pub(super) const SQL_TINYINT: u8 = 0x07;
pub(super) const SQL_BIGINT: u8 = 0x08;
pub(super) const SQL_UUID: u8 = 0x09;
pub(super) const SQL_DECIMAL: u8 = 0x0A;
pub(super) const SQL_NUMERIC: u8 = 0x0B;
pub(super) const SQL_BINARY: u8 = 0x0C;
pub(super) const SQL_CHAR: u8 = 0x0D;
pub(super) const SQL_NCHAR: u8 = 0x0E;
pub(super) const SQL_VARBINARY: u8 = 0x0F;
pub(super) const SQL_VARCHAR: u8 = 0x10;
pub(super) const SQL_NVARCHAR: u8 = 0x11;
pub(super) const SQL_DATETIME: u8 = 0x12;
pub(super) const SQL_SMALLDATETIME: u8 = 0x13;
pub(super) const SQL_SMALLMONEY: u8 = 0x14;
pub(super) const SQL_TEXT: u8 = 0x16;
pub(super) const SQL_IMAGE: u8 = 0x17;
pub(super) const SQL_NTEXT: u8 = 0x18;
pub(super) const SQL_UDT: u8 = 0x1B;
pub(super) const XSD_KATMAI_TIMEOFFSET: u8 = 0x7A;
pub(super) const XSD_KATMAI_DATETIMEOFFSET: u8 = 0x7B;
pub(super) const XSD_KATMAI_DATEOFFSET: u8 = 0x7C;
pub(super) const XSD_KATMAI_TIME: u8 = 0x7D;
pub(super) const XSD_KATMAI_DATETIME: u8 = 0x7E;
pub(super) const XSD_KATMAI_DATE: u8 = 0x7F;
pub(super) const XSD_TIME: u8 = 0x81;
pub(super) const XSD_DATETIME: u8 = 0x82;
pub(super) const XSD_DATE: u8 = 0x83;
pub(super) const XSD_BINHEX: u8 = 0x84;
pub(super) const XSD_BASE64: u8 = 0x85;
pub(super) const XSD_BOOLEAN: u8 = 0x86;
pub(super) const XSD_DECIMAL: u8 = 0x87;
pub(super) const XSD_BYTE: u8 = 0x88;
pub(super) const XSD_UNSIGNEDSHORT: u8 = 0x89;
pub(super) const XSD_UNSIGNEDINT: u8 = 0x8A;
pub(super) const XSD_UNSIGNEDLONG: u8 = 0x8B;
pub(super) const XSD_QNAME: u8 = 0x8C;

/// Every token value this decoder knows, with its [MS-BINXML] / `BinXmlToken` name.
pub const TOKEN_NAMES: &[(u8, &str)] = &[
    (T_XMLDECL, "XmlDecl"),
    (T_ENCODING, "Encoding"),
    (T_DOCTYPE, "DocType"),
    (T_SYSTEM, "System"),
    (T_PUBLIC, "Public"),
    (T_SUBSET, "Subset"),
    (T_ELEMENT, "Element"),
    (T_ENDELEM, "EndElem"),
    (T_ATTR, "Attr"),
    (T_ENDATTRS, "EndAttrs"),
    (T_PI, "PI"),
    (T_COMMENT, "Comment"),
    (T_CDATA, "CData"),
    (T_ENDCDATA, "EndCData"),
    (T_NAME, "Name"),
    (T_QNAME, "QName"),
    (T_XMLTEXT, "XmlText"),
    (T_NEST, "Nest"),
    (T_ENDNEST, "EndNest"),
    (T_EXTN, "Extn"),
    (T_NMFLUSH, "NmFlush"),
    (SQL_SMALLINT, "SQL_SMALLINT"),
    (SQL_INT, "SQL_INT"),
    (SQL_REAL, "SQL_REAL"),
    (SQL_FLOAT, "SQL_FLOAT"),
    (SQL_MONEY, "SQL_MONEY"),
    (SQL_BIT, "SQL_BIT"),
    (SQL_TINYINT, "SQL_TINYINT"),
    (SQL_BIGINT, "SQL_BIGINT"),
    (SQL_UUID, "SQL_UUID"),
    (SQL_DECIMAL, "SQL_DECIMAL"),
    (SQL_NUMERIC, "SQL_NUMERIC"),
    (SQL_BINARY, "SQL_BINARY"),
    (SQL_CHAR, "SQL_CHAR"),
    (SQL_NCHAR, "SQL_NCHAR"),
    (SQL_VARBINARY, "SQL_VARBINARY"),
    (SQL_VARCHAR, "SQL_VARCHAR"),
    (SQL_NVARCHAR, "SQL_NVARCHAR"),
    (SQL_DATETIME, "SQL_DATETIME"),
    (SQL_SMALLDATETIME, "SQL_SMALLDATETIME"),
    (SQL_SMALLMONEY, "SQL_SMALLMONEY"),
    (SQL_TEXT, "SQL_TEXT"),
    (SQL_IMAGE, "SQL_IMAGE"),
    (SQL_NTEXT, "SQL_NTEXT"),
    (SQL_UDT, "SQL_UDT"),
    (XSD_KATMAI_TIMEOFFSET, "XSD_KATMAI_TIMEOFFSET"),
    (XSD_KATMAI_DATETIMEOFFSET, "XSD_KATMAI_DATETIMEOFFSET"),
    (XSD_KATMAI_DATEOFFSET, "XSD_KATMAI_DATEOFFSET"),
    (XSD_KATMAI_TIME, "XSD_KATMAI_TIME"),
    (XSD_KATMAI_DATETIME, "XSD_KATMAI_DATETIME"),
    (XSD_KATMAI_DATE, "XSD_KATMAI_DATE"),
    (XSD_TIME, "XSD_TIME"),
    (XSD_DATETIME, "XSD_DATETIME"),
    (XSD_DATE, "XSD_DATE"),
    (XSD_BINHEX, "XSD_BINHEX"),
    (XSD_BASE64, "XSD_BASE64"),
    (XSD_BOOLEAN, "XSD_BOOLEAN"),
    (XSD_DECIMAL, "XSD_DECIMAL"),
    (XSD_BYTE, "XSD_BYTE"),
    (XSD_UNSIGNEDSHORT, "XSD_UNSIGNEDSHORT"),
    (XSD_UNSIGNEDINT, "XSD_UNSIGNEDINT"),
    (XSD_UNSIGNEDLONG, "XSD_UNSIGNEDLONG"),
    (XSD_QNAME, "XSD_QNAME"),
];

pub(super) fn is_value_token(t: u8) -> bool {
    matches!(t, 0x01..=0x18 | SQL_UDT | 0x7A..=0x7F | 0x81..=0x8C) && t != 0x15
}
