//! CSV rows for the exports (studies, demographics, annotation), written with the `csv` crate.

/// One CSV row of the given fields (quoted where needed), with a trailing `\n`.
pub fn row<I, F>(fields: I) -> String
where
    I: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    w.write_record(fields).expect("writing to memory");
    String::from_utf8(w.into_inner().expect("flush to memory")).expect("fields are UTF-8")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(
            super::row(["a", "b c", "x,y", "say \"hi\"", "two\nlines", ""]),
            "a,b c,\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",\n"
        );
    }
}
