//! CSV rows for the exports (studies, demographics, annotation), written with the `csv` crate.

/// One CSV row of the given fields (quoted where needed), with a trailing `\n`. Text that a
/// spreadsheet would run as a formula is neutralised ([`defuse`]).
pub fn row<I, F>(fields: I) -> String
where
    I: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let fields: Vec<Vec<u8>> = fields.into_iter().map(|f| defuse(f.as_ref())).collect();
    w.write_record(&fields).expect("writing to memory");
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("fields are UTF-8")
}

/// CSV injection (OWASP): a cell that starts with `=`, `+`, `-`, `@`, tab or carriage return
/// is a formula to Excel, LibreOffice and Google Sheets (`=HYPERLINK(…)`, `@SUM(…)`, `-2+3`).
/// Such a cell gets a leading `'`, which spreadsheets show as text; numbers (`-1` for a tie,
/// `-0.5`) are left alone, so the exports still parse as data.
fn defuse(cell: &[u8]) -> Vec<u8> {
    let risky = matches!(
        cell.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    let number =
        std::str::from_utf8(cell).is_ok_and(|s| s.parse::<f64>().is_ok_and(f64::is_finite));
    if risky && !number {
        let mut out = Vec::with_capacity(cell.len() + 1);
        out.push(b'\'');
        out.extend_from_slice(cell);
        out
    } else {
        cell.to_vec()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formulas_are_neutralised_numbers_are_not() {
        assert_eq!(
            super::row([
                "=HYPERLINK(\"http://evil.example\",\"x\")",
                "+1+2",
                "-2+3",
                "@SUM(A1)",
                "\tcmd",
                "-1",
                "-0.25",
                "1e3",
                "a=b",
            ]),
            "\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",'+1+2,'-2+3,'@SUM(A1),'\tcmd,-1,-0.25,1e3,a=b\n"
        );
    }

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(
            super::row(["a", "b c", "x,y", "say \"hi\"", "two\nlines", ""]),
            "a,b c,\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",\n"
        );
    }
}
